"""The service layer every adapter calls: one command in, one reply out.

`CohortBot.handle` runs a command as one unit of work: it records who is
asking, parses, checks and changes state, queues outbound messages, and
commits all of it together. Bad input rolls everything back and answers with
one sentence; an unexpected error is logged and answered politely.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.directory import Directory, Profile
from bot.domain import UserError
from bot.grammar import parse
from bot.handlers import HANDLERS, Context
from bot.messages import Reply
from bot.storage import Member, Workspace
from bot.storage.db import Database

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


async def upsert_member(session: AsyncSession, workspace: Workspace, profile: Profile,
                        now: datetime, default_tz: str) -> Member:
    """Create or refresh a member from the platform's profile."""
    member = await session.scalar(select(Member).where(
        Member.workspace_id == workspace.id, Member.user_id == profile.user_id))
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


class CohortBot:
    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self.db, self.settings, self.clock = db, settings, clock

    async def handle(self, origin: Origin, text: str, directory: Directory) -> Reply:
        """Run one command; a write that lost a race with another is run again, afresh."""
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await self._handle_once(origin, text, directory)
            except (IntegrityError, DBAPIError) as exc:
                if attempt == ATTEMPTS or not retryable(exc):
                    log.exception("command failed: %r from %s", text[:200], origin)
                    return Reply.text(SORRY, ok=False, crashed=True)
                log.info("retrying %r after a conflict: %s", text[:80], exc.orig)
        raise AssertionError("unreachable")

    async def _handle_once(self, origin: Origin, text: str, directory: Directory) -> Reply:
        now = self.clock.now()
        try:
            async with self.db.transaction() as session:
                command = parse(text)
                workspace = await workspace_for(session, origin, now)
                profile = await directory.profile(origin.user_id) or Profile(
                    origin.user_id, origin.user_id)
                actor = await upsert_member(session, workspace, profile, now,
                                            self.settings.default_timezone)
                ctx = Context(session=session, db=self.db, workspace=workspace, actor=actor,
                              channel=origin.channel, now=now, settings=self.settings,
                              directory=directory)
                reply = await HANDLERS[(command.verb, command.action)](ctx, command.args)
            reply.followups.extend(ctx.followups)
            return reply
        except UserError as exc:
            return Reply.text(str(exc), ok=False)
        except DBAPIError:
            raise  # the caller decides whether running it again can help
        except Exception:
            log.exception("command failed: %r from %s", text[:200], origin)
            return Reply.text(SORRY, ok=False, crashed=True)

    async def run_followups(self, reply: Reply) -> None:
        """Slow work that waits until after the ack (link checks and the like)."""
        for followup in reply.followups:
            try:
                await followup()
            except Exception:
                log.exception("follow-up failed")
