"""Who a Discord member is: from the interaction they sent (Discord includes their member record
and permissions), else from REST (the guild member, the guild's roles and owner), cached for a
few minutes per server.

Discord tells a bot neither a person's e-mail address nor their time zone: profiles carry
neither, and the core copes (the badge address is asked for; times show in the cohort's zone,
and Discord shows each `<t:…>` in the reader's own). Members who may manage the server (Manage
Server, or Administrator, or its owner) are its workspace admins, as Slack's admins are.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from bot.directory import Profile
from bot.platforms.discord.rest import DiscordHttpError, DiscordRest, ErrorCode

PROFILE_TTL = 600.0
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5


def display_name(member: Mapping[str, Any]) -> str:
    """As Discord shows them in the server: their nickname, else their display name."""
    user = member.get("user") or {}
    return str(member.get("nick") or user.get("global_name") or user.get("username") or user.get("id"))


def is_admin(permissions: int) -> bool:
    return bool(permissions & (ADMINISTRATOR | MANAGE_GUILD))


class DiscordDirectory:
    """Profiles of one server's members, cached for `ttl` seconds."""

    def __init__(self, guild_id: str, rest: DiscordRest, ttl: float = PROFILE_TTL) -> None:
        self.guild_id, self.rest, self.ttl = guild_id, rest, ttl
        self.cache: dict[str, tuple[float, Profile | None]] = {}
        self.guild: tuple[float, str, dict[str, int]] | None = None  # (until, owner id, role -> permissions)

    def channel_named(self, name: str) -> str | None:
        return None  # people make a server's channels: a cohort is created in one, or names one

    def seen(self, user_id: str, name: str, permissions: int) -> Profile:
        """The profile of someone who just acted, from the member record their interaction
        carried (with their permissions there): no REST call needed."""
        profile = Profile(user_id=user_id, display_name=name, is_admin=is_admin(permissions))
        self.cache[user_id] = (time.monotonic() + self.ttl, profile)
        return profile

    async def profile(self, user_id: str) -> Profile | None:
        hit = self.cache.get(user_id)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        try:
            member = (await self.rest.call("GET", f"guilds/{self.guild_id}/members/{user_id}")).body
        except DiscordHttpError as error:
            if error.code not in (ErrorCode.UNKNOWN_MEMBER, ErrorCode.UNKNOWN_USER) and error.status != 404:
                raise
            member = None
        profile = None
        if member is not None and not (member.get("user") or {}).get("bot"):
            profile = Profile(
                user_id=user_id,
                display_name=display_name(member),
                is_admin=is_admin(await self.permissions(user_id, member.get("roles") or [])),
            )
        self.cache[user_id] = (time.monotonic() + self.ttl, profile)
        return profile

    async def permissions(self, user_id: str, roles: list[str]) -> int:
        """A member's server-wide permissions: everyone's and their roles' (the owner: all)."""
        if self.guild is None or self.guild[0] <= time.monotonic():
            guild = (await self.rest.call("GET", f"guilds/{self.guild_id}")).body
            listed = (await self.rest.call("GET", f"guilds/{self.guild_id}/roles")).body
            by_role = {str(r["id"]): int(r["permissions"]) for r in listed}
            self.guild = (time.monotonic() + self.ttl, str(guild["owner_id"]), by_role)
        _, owner, by_role = self.guild
        if user_id == owner:
            return ADMINISTRATOR
        value = by_role.get(self.guild_id, 0)  # @everyone has the server's own id
        for role in roles:
            value |= by_role.get(str(role), 0)
        return value

    def forget(self, user_id: str) -> None:
        self.cache.pop(user_id, None)
