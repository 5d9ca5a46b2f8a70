"""Who a Slack user is: `users.info`, cached for a few minutes per workspace."""

from __future__ import annotations

import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.directory import Group, Profile
from bot.domain import UserError

PROFILE_TTL = 600.0


class SlackDirectory:
    """Profiles from `users.info`, cached for a few minutes per workspace."""

    place = "workspace"

    def __init__(self, client: AsyncWebClient, ttl: float = PROFILE_TTL) -> None:
        self.client, self.ttl = client, ttl
        self.cache: dict[str, tuple[float, Profile | None]] = {}

    def channel_named(self, name: str) -> str | None:
        return None  # people make Slack channels: a cohort is created in one, or names one

    async def group(self, group_id: str) -> Group:
        """Not yet: a user group's members come from `usergroups.users.list` (another scope,
        so a reinstall), but as bare ids, and a profile each (`users.info`, about 100 a
        minute) would not answer a big group's slash command within Slack's 3 seconds."""
        raise UserError(
            "I can't add a Slack user group yet: mention each person in it.", "/cohort add spring @alice @bob"
        )

    async def profile(self, user_id: str) -> Profile | None:
        hit = self.cache.get(user_id)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        try:
            data = (await self.client.users_info(user=user_id))["user"]
        except SlackApiError as exc:
            if exc.response.get("error") in ("user_not_found", "users_not_found"):
                self.cache[user_id] = (time.monotonic() + self.ttl, None)
                return None
            raise
        p = data.get("profile", {})
        profile = (
            None
            if data.get("deleted")
            else Profile(
                user_id=user_id,
                display_name=p.get("display_name")
                or p.get("real_name")
                or data.get("real_name")
                or data.get("name")
                or user_id,
                email=p.get("email"),
                tz=data.get("tz"),
                is_admin=bool(data.get("is_admin") or data.get("is_owner")),
            )
        )
        self.cache[user_id] = (time.monotonic() + self.ttl, profile)
        return profile
