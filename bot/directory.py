"""Who is in a workspace: the port each platform answers for its own people."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Profile:
    user_id: str
    display_name: str
    email: str | None = None
    tz: str | None = None
    is_admin: bool = False


@dataclass(frozen=True)
class Group:
    """The people in a group someone mentioned (a Discord role), bots left out: the name it
    goes by there, and their profiles."""

    name: str
    people: tuple[Profile, ...]


class Directory(Protocol):
    @property
    def place(self) -> str:
        """What its people call a workspace, in sentences: "workspace" (Slack), "server" (Discord)."""

    async def profile(self, user_id: str) -> Profile | None:
        """The person's profile, or None when they are not in this workspace."""

    async def group(self, group_id: str) -> Group:
        """Everyone in the group a mention names (`grammar.GroupRef`). Raises UserError with
        what to do instead where the platform cannot list a group, or it is not one of this
        workspace's."""

    def channel_named(self, name: str) -> str | None:
        """The channel called `name`, where a platform has one for any name (the console);
        None where people make channels, so a command must name one or be typed in one."""
