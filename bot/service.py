"""The service layer every adapter calls: one command in, one reply out.

`CohortBot.handle` runs a command as one unit of work: it records who is
asking, parses, checks and changes state, queues outbound messages, and
commits all of it together. Bad input rolls everything back and answers with
one sentence; an unexpected error is logged and answered politely.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.directory import Directory, Profile
from bot.domain import UserError
from bot.grammar import Command, Mention, parse
from bot.handlers import HANDLERS, Context
from bot.messages import Reply
from bot.storage import Inbound, Member, Workspace
from bot.storage.db import Database, insert_once

log = logging.getLogger(__name__)

ATTEMPTS = 3
RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock


def retryable(exc: DBAPIError) -> bool:
    """Unique-key races and PostgreSQL serialization failures succeed when run again."""
    if isinstance(exc, IntegrityError):
        return True
    return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES or "locked" in str(exc.orig)


SORRY = ("Sorry, something went wrong on my side and nothing was changed. "
         "Please try again; if it keeps happening, tell your coordinator.")


@dataclass(frozen=True)
class Origin:
    """Where a command came from, in the platform's own ids."""

    platform: str  # console, slack, discord
    workspace: str  # Slack team id, Discord guild id, "console"
    user_id: str
    channel: str | None = None  # None in a DM
    workspace_name: str = ""


async def workspace_for(session: AsyncSession, origin: Origin, now: datetime) -> Workspace:
    ws = await session.scalar(select(Workspace).where(
        Workspace.platform == origin.platform, Workspace.external_id == origin.workspace))
    if ws is None:
        ws = Workspace(platform=origin.platform, external_id=origin.workspace,
                       name=origin.workspace_name or origin.workspace, created_at=now)
        session.add(ws)
        await session.flush()
    return ws


# Built once: on the /submit path, building statements cost more than running them.
MEMBER_BY_USER = select(Member).where(Member.workspace_id == bindparam("workspace"),
                                      Member.user_id == bindparam("user"))


async def upsert_member(session: AsyncSession, workspace: Workspace, profile: Profile,
                        now: datetime, default_tz: str) -> Member:
    """Create or refresh a member from the platform's profile."""
    member = await session.scalar(MEMBER_BY_USER, {"workspace": workspace.id, "user": profile.user_id})
    if member is None:
        member = Member(workspace_id=workspace.id, user_id=profile.user_id,
                        display_name=profile.display_name, email=profile.email,
                        tz=profile.tz or default_tz, is_admin=profile.is_admin, created_at=now)
        session.add(member)
        await session.flush()
    else:
        member.display_name = profile.display_name
        member.email = profile.email or member.email
        member.tz = profile.tz or member.tz
        member.is_admin = profile.is_admin
    return member


class Prefetched:
    """Profiles fetched before the transaction opens, so no platform call (users.info)
    ever runs while the database holds a write lock."""

    def __init__(self, inner: Directory, profiles: dict[str, Profile | None]) -> None:
        self.inner, self.profiles = inner, profiles

    @classmethod
    async def fetch(cls, inner: Directory, user_ids: list[str]) -> Prefetched:
        unique = list(dict.fromkeys(user_ids))
        found = await asyncio.gather(*(inner.profile(u) for u in unique))
        return cls(inner, dict(zip(unique, found, strict=True)))

    async def profile(self, user_id: str) -> Profile | None:
        if user_id in self.profiles:
            return self.profiles[user_id]
        return await self.inner.profile(user_id)


def mentioned(command: Command) -> list[str]:
    out: list[str] = []
    for value in command.args.values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, Mention):
                out.append(item.user_id)
    return out


T = TypeVar("T")


class CohortBot:
    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self.db, self.settings, self.clock = db, settings, clock
        self.workspaces: dict[tuple[str, str], Workspace] = {}  # rows never change once made

    async def handle(self, origin: Origin, command: str | Command, directory: Directory,
                     request_key: str | None = None) -> Reply:
        """Run one command (typed text, or a Command a form built); a write that lost a
        race with another is run again, afresh.

        `request_key` names the platform request (a Slack trigger id): a retry of a
        request that already changed something is answered as a duplicate and does
        nothing, because the key commits with the change.
        """
        text = command if isinstance(command, str) else f"{command.verb} {command.action}"
        try:
            parsed = parse(command) if isinstance(command, str) else command
        except UserError as exc:
            return Reply.text(str(exc), ok=False)
        known = await Prefetched.fetch(directory, [origin.user_id, *mentioned(parsed)])
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await self._handle_once(origin, parsed, known, request_key)
            except (IntegrityError, DBAPIError) as exc:
                if attempt == ATTEMPTS or not retryable(exc):
                    log.exception("command failed: %r from %s", text[:200], origin)
                    return Reply.text(SORRY, ok=False, crashed=True)
                log.info("retrying %r after a conflict: %s", text[:80], exc.orig)
            except Exception:
                log.exception("command failed: %r from %s", text[:200], origin)
                return Reply.text(SORRY, ok=False, crashed=True)
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def context(self, origin: Origin, directory: Directory) -> AsyncIterator[Context]:
        """A unit of work as `origin`'s user; commits when the block ends without error."""
        now = self.clock.now()
        key = (origin.platform, origin.workspace)
        async with self.db.transaction() as session:
            known = self.workspaces.get(key)
            workspace = (await session.merge(known, load=False) if known is not None
                         else await workspace_for(session, origin, now))
            profile = await directory.profile(origin.user_id) or Profile(
                origin.user_id, origin.user_id)
            actor = await upsert_member(session, workspace, profile, now,
                                        self.settings.default_timezone)
            yield Context(session=session, db=self.db, workspace=workspace, actor=actor,
                          channel=origin.channel, now=now, settings=self.settings,
                          directory=directory)
        self.workspaces.setdefault(key, workspace)  # only once its row is surely committed

    async def _handle_once(self, origin: Origin, command: Command, directory: Directory,
                           request_key: str | None) -> Reply:
        try:
            async with self.context(origin, directory) as ctx:
                if request_key and not await insert_once(
                        ctx.session, Inbound, {"key": request_key, "at": ctx.now}, ["key"]):
                    return Reply.text("", duplicate=True)
                reply = await HANDLERS[(command.verb, command.action)](ctx, command.args)
            reply.followups.extend(ctx.followups)
            return reply
        except UserError as exc:
            return Reply.text(str(exc), ok=False)

    async def query(self, origin: Origin, directory: Directory,
                    fn: Callable[[Context], Awaitable[T]]) -> T:
        """Read what a form needs with the same checks as a command; raises UserError."""
        known = await Prefetched.fetch(directory, [origin.user_id])
        async with self.context(origin, known) as ctx:
            return await fn(ctx)

    async def run_followups(self, reply: Reply) -> None:
        """Slow work that waits until after the ack (link checks and the like)."""
        for followup in reply.followups:
            try:
                await followup()
            except Exception:
                log.exception("follow-up failed")
