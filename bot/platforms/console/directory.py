"""Who is who in the console: everyone it names exists, with a profile `:user` can change."""

from __future__ import annotations

from dataclasses import replace

from bot.directory import Group, Profile
from bot.domain import UserError


class ConsoleDirectory:
    """Everyone the console names exists, and every channel; `:user` and `:admin` adjust
    profiles.

    With `closed=True` only people already known exist, which is how a real
    workspace behaves toward a mention of a stranger.
    """

    place = "workspace"

    def __init__(self, default_tz: str = "UTC", closed: bool = False) -> None:
        self.profiles: dict[str, Profile] = {}
        self.default_tz = default_tz
        self.closed = closed

    def _get(self, user_id: str) -> Profile:
        """What `:user` and `:admin` said of someone (no zone unless one was named)."""
        return self.profiles.get(user_id) or Profile(user_id, user_id, f"{user_id}@example.org")

    def told(self, profile: Profile) -> Profile:
        """A profile as the console tells it: like Slack's, always with a zone (the default
        unless `:user` named one)."""
        return replace(profile, tz=profile.tz or self.default_tz)

    def channel_named(self, name: str) -> str | None:
        return name  # every channel the console names exists, as `#<name>`

    async def group(self, group_id: str) -> Group:
        raise UserError("The console has no groups: mention each person.", "/cohort add spring @alice @bob")

    async def profile(self, user_id: str) -> Profile | None:
        if self.closed and user_id not in self.profiles:
            return None
        return self.told(self._get(user_id))

    def update(self, user_id: str, **changes: object) -> Profile:
        profile = replace(self._get(user_id), **changes)  # type: ignore[arg-type]
        self.profiles[user_id] = profile
        return profile
