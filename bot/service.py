"""The service layer every adapter calls: one command in, one reply out.

`CohortBot.handle` runs a command as one unit of work: it records who is
asking, parses, checks and changes state, queues outbound messages, and
commits all of it together. Bad input rolls everything back and answers with
one sentence; an unexpected error is logged and answered politely.

Intake: where the platform gives a URL to answer on later (Slack's
response_url), a submission is *taken in* instead: the typed command is
committed as it stands and acknowledged at once, then run (`finish`), and its
answer follows the holding one. Taking in is one small write, so the ack stays
fast however busy the database is; once acknowledged, the command is never
lost: the worker finishes any that a crash left behind.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy.exc
from sqlalchemy import bindparam, null, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.config import Settings
from bot.directory import Directory, Group, Profile
from bot.domain import UserError
from bot.forms import (
    Form,
    FormRequest,
    OneFieldRequest,
    RubricRequest,
    one_field_form,
    resubmit_form,
    rubric_form,
    submit_form,
)
from bot.grammar import Command, GroupRef, Mention, clean_command, parse
from bot.handlers import HANDLERS
from bot.messages import Destination, Message, Reply
from bot.storage import Inbound, Member, Outbox, OutboxState, Workspace
from bot.storage.db import Database, insert_once
from bot.workflows.context import Context
from bot.workflows.members import new_member, refresh
from bot.workflows.reviews import decision_form, revision_asked

log = logging.getLogger(__name__)

ATTEMPTS = 3
RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock


def retryable(exc: DBAPIError) -> bool:
    """Unique-key races, PostgreSQL serialization failures, and a pooled connection the server
    had dropped (a restart: connections are not pinged before use) succeed when run again."""
    if isinstance(exc, IntegrityError) or exc.connection_invalidated:
        return True
    return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES or "locked" in str(exc.orig)


def unavailable(exc: BaseException) -> bool:
    """The database too busy or out of reach to run anything now (no pooled connection free
    in time, SQLite's write lock held elsewhere too long, the server refusing or restarting),
    as opposed to this command failing: run later, it will most likely succeed."""
    if isinstance(exc, (sqlalchemy.exc.TimeoutError, OSError)):
        return True
    if isinstance(exc, sqlite3.OperationalError):  # as BEGIN IMMEDIATE gives up (storage.db.LOCK_WAIT)
        return "locked" in str(exc)
    if isinstance(exc, DBAPIError):
        state = str(getattr(exc.orig, "sqlstate", None) or "")
        return (
            exc.connection_invalidated or "locked" in str(exc.orig) or state[:2] in ("08", "53", "57")
        )  # connection, resources, shutting down
    return False


class Unavailable(Exception):
    """A command taken in could not run because the database was `unavailable`: it stays
    taken in, and the worker runs it later (`stale_intakes`)."""


SORRY = (
    "Sorry, something went wrong on my side and nothing was changed. "
    "Please try again; if it keeps happening, tell your coordinator."
)


@dataclass(frozen=True)
class Origin:
    """Where a command came from, in the platform's own ids."""

    platform: str  # console, slack, discord
    workspace: str  # Slack team id, Discord guild id, "console"
    user_id: str
    channel: str | None = None  # None in a DM
    workspace_name: str = ""


INTAKE = {("submit", "submit")}  # taken in when the platform lets us answer later: see `accept`
HOLDING = "📥 Got it. Saving your submission; your receipt (or what needs fixing) follows here."
REPLY_GRACE = timedelta(seconds=15)  # the process that took a command in answers it within this;
# after it, the worker sends the answer from the outbox (the process may have died)
STALE_INTAKE = timedelta(seconds=30)  # taken in this long ago and not run: the worker runs it


@dataclass(frozen=True)
class Intake:
    """A command acknowledged before it ran: what is needed to run it and to answer."""

    key: str  # the platform request's key (as `request_key`)
    origin: Origin
    text: str  # as typed
    reply_to: str  # the platform's URL for answering this command (kept: see `finish`)

    @property
    def reply_key(self) -> str:
        return f"reply:{self.key}"

    def to_dict(self) -> dict[str, Any]:
        o = self.origin
        return {
            "platform": o.platform,
            "workspace": o.workspace,
            "user": o.user_id,
            "channel": o.channel,
            "workspace_name": o.workspace_name,
            "text": self.text,
            "reply_to": self.reply_to,
        }

    @classmethod
    def from_row(cls, key: str, data: dict[str, Any]) -> Intake:
        return cls(
            key,
            Origin(
                data["platform"],
                data["workspace"],
                data["user"],
                data["channel"],
                data.get("workspace_name", ""),
            ),
            data["text"],
            data["reply_to"],
        )


async def workspace_for(session: AsyncSession, origin: Origin, now: datetime) -> Workspace:
    ws = await session.scalar(
        select(Workspace).where(
            Workspace.platform == origin.platform, Workspace.external_id == origin.workspace
        )
    )
    if ws is None:
        ws = Workspace(
            platform=origin.platform,
            external_id=origin.workspace,
            name=origin.workspace_name or origin.workspace,
            created_at=now,
        )
        session.add(ws)
        await session.flush()
    return ws


# Built once: on the /submit path, building statements cost more than running them.
ANSWERED = (
    update(Outbox)
    .where(Outbox.key == bindparam("reply_key"), Outbox.state == OutboxState.PENDING)
    .values(
        state=OutboxState.SENT, ref=bindparam("sent_ref"), sent_at=bindparam("at", type_=Outbox.sent_at.type)
    )
)
TAKE = (
    update(Inbound)
    .where(Inbound.key == bindparam("intake_key"), Inbound.pending.isnot(None))
    .values(pending=null())
    .execution_options(synchronize_session=False)
)
MEMBER_BY_USER = select(Member).where(
    Member.workspace_id == bindparam("workspace"), Member.user_id == bindparam("user")
)


async def upsert_member(
    session: AsyncSession, workspace: Workspace, profile: Profile, now: datetime
) -> Member:
    """Create or refresh a member from the platform's profile."""
    member = await session.scalar(MEMBER_BY_USER, {"workspace": workspace.id, "user": profile.user_id})
    if member is None:
        member = new_member(workspace.id, profile, now)
        session.add(member)
        await session.flush()
    else:
        refresh(member, profile)
    return member


class GroupsNeeded(Exception):
    """A command reached a group not listed yet: its transaction is undone, the groups are
    listed (outside any transaction) and it runs again. Listing waits until then so that a
    command refused before it gets that far (a learner's `/cohort add spring @Librarians`)
    costs no listing of a role of thousands."""


class Prefetched:
    """Profiles and mentioned groups fetched before the transaction opens, so no platform
    call (users.info, a role's members) ever runs while the database holds a write lock. A
    group the platform refused to list answers with its refusal when the handler asks; one
    named but not listed yet (`unlisted`) raises GroupsNeeded."""

    def __init__(
        self,
        inner: Directory,
        profiles: dict[str, Profile | None],
        groups: dict[str, Group | UserError] | None = None,
        *,
        unlisted: Sequence[str] = (),
    ) -> None:
        self.inner, self.profiles, self.groups = inner, profiles, groups or {}
        self.unlisted = list(dict.fromkeys(unlisted))

    @classmethod
    async def fetch(
        cls, inner: Directory, user_ids: list[str], group_ids: Sequence[str] = (), *, later: bool = False
    ) -> Prefetched:
        unique = list(dict.fromkeys(user_ids))
        found = await asyncio.gather(*(inner.profile(u) for u in unique))
        known = cls(inner, dict(zip(unique, found, strict=True)), unlisted=group_ids)
        if not later:
            await known.list_groups()
        return known

    async def list_groups(self) -> None:
        """List the groups named and not listed yet, their people's profiles with them."""
        for group_id in self.unlisted:
            try:
                group = await self.inner.group(group_id)
            except UserError as refusal:
                self.groups[group_id] = refusal
                continue
            self.groups[group_id] = group
            self.profiles.update((p.user_id, p) for p in group.people)
        self.unlisted = []

    @property
    def place(self) -> str:
        return self.inner.place

    async def profile(self, user_id: str) -> Profile | None:
        if user_id in self.profiles:
            return self.profiles[user_id]
        return await self.inner.profile(user_id)

    async def group(self, group_id: str) -> Group:
        if group_id in self.unlisted:
            raise GroupsNeeded(group_id)
        found = self.groups.get(group_id)
        if isinstance(found, UserError):
            raise found
        return found if found is not None else await self.inner.group(group_id)

    def channel_named(self, name: str) -> str | None:
        return self.inner.channel_named(name)


def mentioned(command: Command) -> list[Mention | GroupRef]:
    return [
        item
        for value in command.args.values()
        for item in (value if isinstance(value, list) else [value])
        if isinstance(item, (Mention, GroupRef))
    ]


async def prefetch(
    directory: Directory, user_id: str, command: Command, *, later: bool = False
) -> Prefetched:
    """The profiles of `user_id` and of the people `command` mentions, and its groups (`later`:
    only once the command asks for one, see GroupsNeeded)."""
    named = mentioned(command)
    return await Prefetched.fetch(
        directory,
        [user_id, *(m.user_id for m in named if isinstance(m, Mention))],
        [g.group_id for g in named if isinstance(g, GroupRef)],
        later=later,
    )


T = TypeVar("T")


class CohortBot:
    def __init__(self, db: Database, settings: Settings, clock: Clock) -> None:
        self.db, self.settings, self.clock = db, settings, clock
        self.workspaces: dict[tuple[str, str], Workspace] = {}  # rows never change once made

    async def handle(
        self,
        origin: Origin,
        command: str | Command,
        directory: Directory,
        request_key: str | None = None,
        *,
        reply_to: str | None = None,
    ) -> Reply:
        """Run one command (typed text, or a Command a form built, cleaned as typed text is);
        a write that lost a race with another is run again, afresh.

        `request_key` names the platform request (a Slack trigger id): a retry of a
        request that already changed something is answered as a duplicate and does
        nothing, because the key commits with the change. With `reply_to` (a URL the
        answer may go to later), a typed submission is only taken in (`accept`).
        """
        try:
            parsed = parse(command) if isinstance(command, str) else clean_command(command)
        except UserError as exc:
            return Reply.text(str(exc), ok=False)
        if reply_to and request_key and isinstance(command, str) and (parsed.verb, parsed.action) in INTAKE:
            return await self.accept(
                Intake(request_key, origin, command, reply_to), parsed.args.get("links", [])
            )
        known = await prefetch(directory, origin.user_id, parsed, later=True)
        try:
            return await self._run(origin, parsed, known, request_key)
        except GroupsNeeded:  # it got past its checks: list the groups, and run it again
            await known.list_groups()
            return await self._run(origin, parsed, known, request_key)

    async def accept(self, intake: Intake, links: list[str]) -> Reply:
        """Take a command in: commit it as typed (one small write) and answer that it is on its
        way, with the `links` it holds, so the person sees at once what was saved; `finish`
        runs it. A retry of the same request is a duplicate. The reply's `intake` says what
        to finish. (The holding answer stays: Slack cannot replace a slash command's
        acknowledgement, so the receipt comes as a second message.)"""
        fresh = await self.db.insert_once_alone(
            Inbound, {"key": intake.key, "at": self.clock.now(), "pending": intake.to_dict()}, ["key"]
        )
        if not fresh:
            return Reply.text("", duplicate=True)
        return Reply(Message("\n".join([HOLDING, *(f"• {link}" for link in links)])), intake=intake)

    async def finish(
        self, intake: Intake, directory: Directory, *, answer_after: timedelta = REPLY_GRACE
    ) -> Reply:
        """Run a command taken in, as `handle` would. Its answer (a receipt, an error, or an
        apology) commits with the outcome, as a DM due `answer_after` from now: the caller
        answers on the platform's URL at once and marks it `answered`, so the DM goes only
        if that failed or the caller died. (A DM, not the URL again: an ephemeral answer
        cannot be looked up afterwards, and it vanishes when Slack reloads; a DM can and
        stays.) Returns a duplicate if another process ran it first: each intake runs once."""
        parsed = parse(intake.text)  # it parsed when it was taken in
        known = await prefetch(directory, intake.origin.user_id, parsed)
        reply = await self._run(
            intake.origin, parsed, known, intake.key, intake=intake, answer_after=answer_after
        )
        if reply.crashed and not await self._answer_alone(intake, known, reply, answer_after):
            return Reply.text("", duplicate=True)
        return reply

    async def answered(self, intake: Intake, ref: str | None = None) -> None:
        """The answer to `intake` reached the person: the worker need not send it."""
        await self.db.write_alone(
            ANSWERED, {"reply_key": intake.reply_key, "sent_ref": ref, "at": self.clock.now()}
        )

    async def stale_intakes(self, older_than: timedelta = STALE_INTAKE, limit: int = 100) -> list[Intake]:
        """Commands taken in at least `older_than` ago and still not run: the process that
        took them in died (or is far behind; `finish` runs each once either way)."""
        async with self.db.transaction() as session:
            rows = await session.execute(
                select(Inbound.key, Inbound.pending)
                .where(Inbound.pending.isnot(None), Inbound.at <= self.clock.now() - older_than)
                .order_by(Inbound.at)
                .limit(limit)
            )
            return [Intake.from_row(key, pending) for key, pending in rows]

    @staticmethod
    async def _take(ctx: Context, intake: Intake) -> bool:
        """Mark `intake` run, in the transaction that runs it: False if another process already
        did. On PostgreSQL a second process running it at the same moment waits here, on the
        row, until the first commits, and then finds it taken."""
        taken = await ctx.session.execute(TAKE, {"intake_key": intake.key})
        return bool(taken.rowcount)  # type: ignore[attr-defined]

    @staticmethod
    async def _answer(ctx: Context, intake: Intake, reply: Reply, answer_after: timedelta) -> None:
        """Queue the stand-by DM of `intake`'s answer (see `finish`)."""
        await ctx.send(
            Destination.dm(intake.origin.user_id),
            reply.message,
            intake.reply_key,
            send_at=ctx.now + answer_after,
        )

    async def _answer_alone(
        self, intake: Intake, directory: Directory, reply: Reply, answer_after: timedelta
    ) -> bool:
        """Take `intake` with `reply` as its answer, when the command's own transaction was
        undone (bad input, a crash); False if another process took it."""
        async with self.context(intake.origin, directory, urgent=False) as ctx:
            if not await self._take(ctx, intake):
                return False
            await self._answer(ctx, intake, reply, answer_after)
        return True

    async def _run(
        self,
        origin: Origin,
        parsed: Command,
        known: Directory,
        request_key: str | None,
        intake: Intake | None = None,
        answer_after: timedelta = REPLY_GRACE,
    ) -> Reply:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await self._handle_once(origin, parsed, known, request_key, intake, answer_after)
            except GroupsNeeded:
                raise
            except (IntegrityError, DBAPIError) as exc:
                if attempt < ATTEMPTS and retryable(exc):
                    log.info("retrying %s %s after a conflict: %s", parsed.verb, parsed.action, exc.orig)
                    continue
                failure: Exception = exc
            except Exception as exc:
                failure = exc
            if intake is not None and unavailable(failure):  # not the learner's fault: run it later
                raise Unavailable(
                    f"{intake.key} waits: the database is unavailable ({failure!r})"
                ) from failure
            log.error("command failed: %s %s from %s", parsed.verb, parsed.action, origin, exc_info=failure)
            return Reply.text(SORRY, ok=False, crashed=True)
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def context(
        self, origin: Origin, directory: Directory, *, urgent: bool = True
    ) -> AsyncIterator[Context]:
        """A unit of work as `origin`'s user; commits when the block ends without error.
        `urgent` (the default) while a platform waits for the answer: it then goes before
        background work, such as a rush of submissions taken in and still to run."""
        now = self.clock.now()
        key = (origin.platform, origin.workspace)
        async with self.db.transaction(urgent=urgent) as session:
            known = self.workspaces.get(key)
            workspace = (
                await session.merge(known, load=False)
                if known is not None
                else await workspace_for(session, origin, now)
            )
            profile = await directory.profile(origin.user_id) or Profile(origin.user_id, origin.user_id)
            actor = await upsert_member(session, workspace, profile, now)
            yield Context(
                session=session,
                db=self.db,
                workspace=workspace,
                actor=actor,
                channel=origin.channel,
                now=now,
                settings=self.settings,
                directory=directory,
            )
        self.workspaces.setdefault(key, workspace)  # only once its row is surely committed

    async def _handle_once(
        self,
        origin: Origin,
        command: Command,
        directory: Directory,
        request_key: str | None,
        intake: Intake | None,
        answer_after: timedelta,
    ) -> Reply:
        try:
            async with self.context(origin, directory, urgent=intake is None) as ctx:
                if intake is not None:
                    if not await self._take(ctx, intake):
                        return Reply.text("", duplicate=True)
                elif request_key and not await insert_once(
                    ctx.session, Inbound, {"key": request_key, "at": ctx.now}, ["key"]
                ):
                    return Reply.text("", duplicate=True)
                reply = await HANDLERS[(command.verb, command.action)](ctx, command.args)
                if intake is not None:
                    await self._answer(ctx, intake, reply, answer_after)
            reply.followups.extend(ctx.followups)
            return reply
        except UserError as exc:
            reply = Reply.text(str(exc), ok=False)
            # the command's changes are undone, the intake's mark with them; its answer still goes
            if intake is not None and not await self._answer_alone(intake, directory, reply, answer_after):
                return Reply.text("", duplicate=True)
            return reply

    async def query(self, origin: Origin, directory: Directory, fn: Callable[[Context], Awaitable[T]]) -> T:
        """Read what a form needs with the same checks as a command; raises UserError."""
        known = await Prefetched.fetch(directory, [origin.user_id])
        async with self.context(origin, known) as ctx:
            return await fn(ctx)

    async def form(self, origin: Origin, directory: Directory, request: FormRequest) -> Form:
        """The form a request opens, for any platform to render. A decision's rubric form is
        built after the checks a typed decision gets (a UserError for anyone else); the
        submission form is the resubmission's where one revision is asked of the person."""
        if isinstance(request, RubricRequest):
            review = request.review
            _, rubric = await self.query(origin, directory, lambda ctx: decision_form(ctx, review))
            return rubric_form(request, rubric)
        if isinstance(request, OneFieldRequest):
            return one_field_form(request)
        asked = await self.query(origin, directory, revision_asked)
        return resubmit_form(asked.links) if asked is not None else submit_form()

    async def run_followups(self, reply: Reply) -> None:
        """Slow work that waits until after the ack (link checks and the like)."""
        for followup in reply.followups:
            try:
                await followup()
            except Exception:
                log.exception("follow-up failed")
