"""Who a Discord member is: from the interaction they sent (Discord includes their member record
and permissions), else from REST (the guild member, the guild's roles and owner), cached for a
few minutes per server; and who has a role, from the server's member list.

Discord tells a bot neither a person's e-mail address nor their time zone: profiles carry
neither, and the core copes (the badge address is asked for; times show in the cohort's zone,
and Discord shows each `<t:…>` in the reader's own). Members who may manage the server (Manage
Server, or Administrator, or its owner) are its workspace admins, as Slack's admins are.

A role's members come from List Guild Members, which Discord answers only for an app whose
privileged Server Members Intent is switched on in the Developer Portal (the gateway connection
need not ask for it: REST's restrictions are independent of IDENTIFY's intents). Without it
Discord answers 403 with code 50001, Missing Access, and the person is told what to do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.directory import Group, Profile
from bot.domain import UserError
from bot.platforms.discord.rest import DiscordHttpError, DiscordRest, ErrorCode

log = logging.getLogger(__name__)

PROFILE_TTL = 600.0
ADMINISTRATOR = 1 << 3
MANAGE_GUILD = 1 << 5
PAGE = 1000  # the most members List Guild Members gives at once
WAIT_AT_MOST = 10.0  # seconds of 429s a listing may wait out (the interaction is deferred meanwhile)
EXAMPLE = "/cohort add spring @alice @bob"


def display_name(member: Mapping[str, Any]) -> str:
    """As Discord shows them in the server: their nickname, else their display name."""
    user = member.get("user") or {}
    return str(member.get("nick") or user.get("global_name") or user.get("username") or user.get("id"))


def is_admin(permissions: int) -> bool:
    return bool(permissions & (ADMINISTRATOR | MANAGE_GUILD))


def intent_off(role: str) -> UserError:
    return UserError(
        f"I can't see who has @{role}: Discord shows a server's member list only to bots whose "
        "Server Members Intent is on. Whoever runs Cohort Bot can turn it on (Developer Portal → "
        "the app → Bot → Server Members Intent); until then, mention the people instead.",
        EXAMPLE,
    )


@dataclass(frozen=True)
class Server:
    """What members' permissions are read from, and the roles' names; kept until `until`."""

    until: float
    owner: str
    permissions: dict[str, int]  # role id -> its permissions; @everyone has the server's own id
    names: dict[str, str]  # role id -> its name

    def of(self, guild_id: str, user_id: str, roles: Iterable[str]) -> int:
        """A member's server-wide permissions: everyone's and their roles' (the owner: all)."""
        if user_id == self.owner:
            return ADMINISTRATOR
        value = self.permissions.get(guild_id, 0)
        for role in roles:
            value |= self.permissions.get(str(role), 0)
        return value


class DiscordDirectory:
    """Profiles of one server's members, cached for `ttl` seconds, and its roles' members."""

    place = "server"

    def __init__(self, guild_id: str, rest: DiscordRest, ttl: float = PROFILE_TTL) -> None:
        self.guild_id, self.rest, self.ttl = guild_id, rest, ttl
        self.cache: dict[str, tuple[float, Profile | None]] = {}
        self.server: Server | None = None

    def channel_named(self, name: str) -> str | None:
        return None  # people make a server's channels: a cohort is created in one, or names one

    def seen(self, user_id: str, name: str, permissions: int) -> Profile:
        """The profile of someone who just acted, from the member record their interaction
        carried (with their permissions there): no REST call needed."""
        profile = Profile(user_id=user_id, display_name=name, is_admin=is_admin(permissions))
        self.cache[user_id] = (time.monotonic() + self.ttl, profile)
        return profile

    async def profile(self, user_id: str) -> Profile | None:
        if not user_id.isdigit():  # a name typed as text ("@zoe"), not a mention picked from the list
            return None
        hit = self.cache.get(user_id)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        try:
            member = await self.get(f"guilds/{self.guild_id}/members/{user_id}")
        except DiscordHttpError as error:
            if error.code not in (ErrorCode.UNKNOWN_MEMBER, ErrorCode.UNKNOWN_USER) and error.status != 404:
                raise
            member = None
        profile = None
        if member is not None and not (member.get("user") or {}).get("bot"):
            profile = self.remember(member, await self.facts())
        else:
            self.cache[user_id] = (time.monotonic() + self.ttl, None)
        return profile

    def remember(self, member: Mapping[str, Any], server: Server) -> Profile:
        """A member record (a person's, not a bot's) as a profile, cached."""
        user_id = str(member["user"]["id"])
        roles = [str(r) for r in member.get("roles") or []]
        profile = Profile(
            user_id=user_id,
            display_name=display_name(member),
            is_admin=is_admin(server.of(self.guild_id, user_id, roles)),
        )
        self.cache[user_id] = (time.monotonic() + self.ttl, profile)
        return profile

    async def facts(self) -> Server:
        """The server's owner and roles, fetched at most every `ttl` seconds."""
        if self.server is None or self.server.until <= time.monotonic():
            guild = await self.get(f"guilds/{self.guild_id}")
            listed = await self.get(f"guilds/{self.guild_id}/roles")
            self.server = Server(
                time.monotonic() + self.ttl,
                str(guild["owner_id"]),
                {str(r["id"]): int(r["permissions"]) for r in listed},
                {str(r["id"]): str(r["name"]) for r in listed},
            )
        return self.server

    async def group(self, group_id: str) -> Group:
        """Everyone with the role a mention `<@&id>` names (@everyone: everyone), bots left out,
        read from the server's member list; only this server's roles."""
        server = await self.facts()
        name = server.names.get(group_id)
        if name is None:  # perhaps a role made since the roles were read
            server = await self.refreshed()
            name = server.names.get(group_id)
        if name is None:
            raise UserError("I can't find that role in this server; mention one of its roles.", EXAMPLE)
        name = name.removeprefix("@")
        everyone = group_id == self.guild_id
        people = []
        try:
            async for member in self.members():
                roles = member.get("roles") or []
                if not (member.get("user") or {}).get("bot") and (everyone or group_id in roles):
                    people.append(self.remember(member, server))
        except DiscordHttpError as error:
            if error.status == 403 and error.code == ErrorCode.MISSING_ACCESS:
                log.warning(
                    "Discord would not list server %s's members: the app's Server Members Intent is off",
                    self.guild_id,
                )
                raise intent_off(name) from None
            raise
        return Group(name, tuple(people))

    async def refreshed(self) -> Server:
        self.server = None
        return await self.facts()

    async def members(self) -> AsyncIterator[Mapping[str, Any]]:
        """The server's members, a page of `PAGE` at a time in the order of their ids."""
        after = "0"
        while True:
            page = await self.page_after(after)
            for member in page:
                yield member
            if len(page) < PAGE:
                return
            after = max((str(m["user"]["id"]) for m in page), key=int)

    async def page_after(self, after: str) -> list[Mapping[str, Any]]:
        """One page of members."""
        return list(await self.get(f"guilds/{self.guild_id}/members?limit={PAGE}&after={after}") or [])

    async def get(self, path: str) -> Any:
        """A lookup's answer, a 429 waited out (up to `WAIT_AT_MOST` seconds in all): a line
        that mentions a dozen people looks each up at once, and a person who exists must not
        be reported missing, nor the command fail, for the route's bucket being empty."""
        waited = 0.0
        while True:
            try:
                return (await self.rest.call("GET", path)).body
            except DiscordHttpError as error:
                wait = error.retry_after
                if error.status != 429 or wait is None or waited + wait > WAIT_AT_MOST:
                    raise
                waited += wait
                await asyncio.sleep(wait)

    def forget(self, user_id: str) -> None:
        self.cache.pop(user_id, None)
