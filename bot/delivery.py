"""The worker's half of the outbox: every message sent, none twice.

`Deliverer` claims due rows under a lease, sends each through its platform's `Transport`
within the rate limits (`bot/ratelimit.py`), retries with backoff, looks up what may have
arrived before a crashed worker's rows go again, and parks poison messages as dead letters
for coordinators to see.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from operator import attrgetter
from typing import Any, TypeVar

from sqlalchemy import (
    Integer,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    exists,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.dml import ReturningUpdate

from bot.clock import Clock
from bot.domain import Role, as_utc
from bot.messages import Destination, Message
from bot.outbox import DeliveryError, Transport, dedupe_window, enqueue, lookup_limits, publish_to
from bot.ratelimit import Limit, RateLimiter, SharedRates
from bot.storage import Outbox, OutboxState, Workspace
from bot.storage.db import Database, once_more_if_dropped
from bot.storage.roster import members_with_role

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
CLAIM_LOCK = 0x6F7574626F78  # "outbox": PostgreSQL advisory lock, one claim at a time
MARK_BATCH = 250  # "sent" marks written in one statement: on SQLite a transaction costs ~4 ms of the
# event loop, its rows little (100 rows 5 ms, 250 rows 5 ms)
MARK_AGE = 0.25  # seconds a "sent" mark may wait to be written (at most a quarter of the lease): after a
# crash, the sends of the last MARK_AGE seconds (and those in flight) are the ones looked up
LOOKUPS = 4  # history lookups in flight at once, apart from `concurrency`
CLAIM_SECONDS, CLAIM_MIN = 2.0, 50  # a claim: about 2 s of sending at the rates learned, 50 rows at least
CHAT_KINDS = ("channel", "dm")  # what a chat platform's transport delivers; other kinds need their own


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential with full jitter, capped at an hour."""
    cap = min(3600.0, 2.0 * 2**attempts)
    return timedelta(seconds=(rng or random).uniform(cap / 2, cap))


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    recovered: int = 0  # found already delivered after a crash, not sent again


async def tell_coordinators(session: AsyncSession, row: Held, error: str, now: datetime) -> None:
    """A dead letter is news for the cohort's coordinators (a notice about a notice is not)."""
    if row.cohort_id is None or row.key.startswith("dead-letter:"):
        return
    for coordinator in await members_with_role(session, row.cohort_id, Role.COORDINATOR):
        await enqueue(
            session,
            row.workspace_id,
            Destination.dm(coordinator.user_id),
            Message(
                f"⚠️ A message could not be delivered ({row.key}): {error[:300]}. It is kept as a dead "
                "letter; once the cause is fixed, `cohortbot outbox retry` sends it again."
            ),
            f"dead-letter:{row.id}:{coordinator.id}",
            now,
            cohort_id=row.cohort_id,
        )


@dataclass(slots=True)
class Held:
    """An outbox row this worker has claimed: the columns delivery uses, as plain attributes
    (a claim makes hundreds at once, where ORM objects cost ~30 µs each)."""

    id: int
    key: str
    workspace_id: int
    dest_kind: str
    dest_id: str
    payload: str  # JSON, decoded when its message is about to go (by then the claim is done)
    attempts: int
    lease_until: datetime | None
    cohort_id: int | None


HELD_COLUMNS = (
    Outbox.id,
    Outbox.key,
    Outbox.workspace_id,
    Outbox.dest_kind,
    Outbox.dest_id,
    cast(Outbox.payload, Text),
    Outbox.attempts,
    Outbox.lease_until,
    Outbox.cohort_id,
)  # in Held's order (the payload as text: asyncpg decodes JSON)
Claimed = tuple[Held, Workspace, datetime | None]  # a claimed row, its workspace, and when it was
# first handed to the platform if it may have arrived (None: it cannot have)
T = TypeVar("T")


class LeaseLost(Exception):
    """Another worker holds this row now (our lease ran out): leave it, and its successors."""


def destination(row: Held) -> tuple[int, str, str]:
    return row.workspace_id, row.dest_kind, row.dest_id


def by_destination(claimed: list[Claimed]) -> list[list[Claimed]]:
    """Claimed rows grouped by where they go, each group in the order claimed (oldest first)."""
    groups: dict[tuple[int, str, str], list[Claimed]] = {}
    for item in claimed:
        groups.setdefault(destination(item[0]), []).append(item)
    return list(groups.values())


class SentMarks:
    """ "Sent" marks waiting to be written, up to `size` rows in one statement.

    A transaction for each sent message was most of a worker's CPU, so marks are written
    in batches, at most `age` seconds after the send. Losing a batch to a crash is safe:
    its rows are still "sending" under a lease and marked as handed to the platform
    (`AttemptMarks`); once the lease runs out, the worker that claims them asks the platform
    first (`Transport.find`), finds each message and records it as recovered instead of
    sending it again. (`age` is kept under the lease, so a live worker's sent rows are never
    taken for a dead worker's.)
    """

    STATEMENT = (
        update(Outbox)
        .where(Outbox.id == bindparam("row_id"))
        .values(
            state=OutboxState.SENT,
            ref=bindparam("row_ref"),
            sent_at=bindparam("row_sent_at"),
            attempts=bindparam("row_attempts"),
            lease_until=None,
        )
    )

    def __init__(self, db: Database, size: int = MARK_BATCH, age: float = MARK_AGE) -> None:
        self.db, self.size, self.age = db, size, age
        self.waiting: dict[int, dict[str, Any]] = {}  # row id -> its mark
        self.full = asyncio.Event()
        self.lock = asyncio.Lock()

    def add(self, row: Held, ref: str | None, at: datetime) -> None:
        self.waiting[row.id] = dict(row_id=row.id, row_ref=ref, row_sent_at=at, row_attempts=row.attempts + 1)
        if len(self.waiting) >= self.size:
            self.full.set()

    async def flush(self) -> None:
        """Write every mark added so far (after any batch already being written)."""
        async with self.lock:
            if not self.waiting:
                return
            batch, self.waiting = self.waiting, {}
            self.full.clear()
            try:
                async with self.db.transaction() as session:
                    await (await session.connection()).execute(self.STATEMENT, list(batch.values()))
            except BaseException:
                self.waiting = batch | self.waiting  # written next time, or recovered after a crash
                raise

    async def keep_flushing(self) -> None:
        """Write the marks whenever a batch is full, and at least every `age` seconds."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.full.wait(), self.age)
            try:
                await self.flush()
            except Exception:
                log.exception("writing %d sent marks failed; trying again", len(self.waiting))


class AttemptMarks:
    """ "Handed to the platform" marks (`attempted_at`), each committed before its send.

    After a crash, only a row so marked (and not marked sent) may have arrived, so only it is
    looked up in the platform's history; a row the dead worker had claimed but not yet handed
    over is simply sent. A mark keeps the first hand-over while the message is in doubt (a
    send again does not move it; `Deliverer._failed` clears it once the message surely did
    not arrive): what arrived can have arrived from then on, and a platform that keeps a
    resend single for a while (Discord's nonce) counts from the first send. The marks of
    sends waiting at the same moment are written together
    (a group commit: one statement while the sends wait for their turns), and each write
    also checks that the row is still this worker's (a lease another worker took over is
    not sent by us). A row is marked once it holds a slot of the worker's `concurrency`, so
    a crash leaves at most that many marked rows unsent, beside the sent ones whose marks
    (`SentMarks`) were not written yet.
    """

    STATEMENT = (
        update(Outbox)
        .where(
            Outbox.id.in_(bindparam("ids", expanding=True)),
            Outbox.state == OutboxState.SENDING,
            Outbox.claimed_by == bindparam("claimer"),
        )
        .values(
            attempted_at=func.coalesce(Outbox.attempted_at, bindparam("at", type_=Outbox.attempted_at.type))
        )
        .returning(Outbox.id)
    )

    def __init__(self, db: Database, claimer: Callable[[], str], clock: Clock) -> None:
        self.db, self.claimer, self.clock = db, claimer, clock
        self.waiting: dict[int, asyncio.Future[bool]] = {}
        self.writer: asyncio.Task[None] | None = None

    async def mark(self, row: Held) -> bool:
        """Mark `row` handed over (committed when this returns); False if it is no longer ours."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self.waiting[row.id] = future
        if self.writer is None or self.writer.done():
            self.writer = asyncio.create_task(self._write())
        return await future

    async def _write(self) -> None:
        while self.waiting:
            batch, self.waiting = self.waiting, {}
            try:
                async with self.db.transaction() as session:
                    kept = set(
                        await session.scalars(
                            self.STATEMENT.execution_options(synchronize_session=False),
                            {"ids": list(batch), "claimer": self.claimer(), "at": as_utc(self.clock.now())},
                        )
                    )
            except Exception as exc:  # each send waiting for its mark fails with it
                for future in batch.values():
                    if not future.done():
                        future.set_exception(exc)
                continue
            for row_id, future in batch.items():
                if not future.done():
                    future.set_result(row_id in kept)


class Deliverer:
    """Sends due messages through the transport of each workspace's platform.

    A transport registered under a destination kind (e.g. "credly") takes those rows
    whatever the workspace's platform. Rows are claimed with a lease (`FOR UPDATE SKIP
    LOCKED` on PostgreSQL, so several workers never take the same row). A row whose
    lease ran out belonged to a worker
    that died mid-send: before sending it again, the transport is asked whether it
    already arrived. Messages to one destination go out in order; destinations are
    served concurrently within the platform's rate limits. Only platforms this process
    has a transport for are picked up.

    Throughput: to keep a platform's limit busy (Slack's 500 messages a second), the next
    claim is taken while the last one's messages are still going out, each destination is
    served by a task of its own, at most `concurrency` platform calls are in flight (a
    destination waiting for its own rate limit does not hold one of them), and "sent"
    marks are written in batches (`SentMarks`).
    """

    poll = 1.0  # seconds: while destinations are being served, look for newly due rows this often

    def __init__(
        self,
        db: Database,
        transports: dict[str, Transport],
        clock: Clock,
        *,
        lease: timedelta = timedelta(seconds=60),
        concurrency: int = 16,
        worker: str | None = None,
    ) -> None:
        self.db, self.transports, self.clock = db, transports, clock
        self.lease, self.concurrency = lease, concurrency
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.limiter = RateLimiter()
        for transport in transports.values():
            publish_to(transport, self.limiter)  # a platform that publishes its limits keeps to them
        self.rates = SharedRates(db, self.limiter, clock, lambda: self.worker)
        self.calls = asyncio.Semaphore(concurrency)  # platform calls in flight
        self.lookups = asyncio.Semaphore(LOOKUPS)  # history lookups in flight, apart from sends
        self.attempts = AttemptMarks(db, lambda: self.worker, clock)
        self.marks = SentMarks(db, age=min(MARK_AGE, lease.total_seconds() / 4))
        self.serving: set[tuple[int, str, str]] = set()  # destinations whose rows are in hand
        self.statements = self._claim_statements()
        self.renewing = asyncio.Lock()  # one lease renewal at a time: two could deadlock

    def _claim_statements(
        self,
    ) -> tuple[Select[int, datetime | None, int, str, str], ReturningUpdate[*tuple[Any, ...]]]:
        """The claim's statements, built once (~2 ms a claim otherwise): the due rows whose
        destination is free (`now` and `limit` bound at each claim), and taking them."""
        now = bindparam("now", type_=Outbox.next_attempt_at.type)
        platforms = select(Workspace.id).where(Workspace.platform.in_(list(self.transports)))
        held = aliased(Outbox)  # destinations with a message out now or waiting to be retried:
        busy = select(held.workspace_id, held.dest_kind, held.dest_id).where(  # the rest waits
            or_(
                and_(held.state == OutboxState.PENDING, held.attempts > 0, held.next_attempt_at > now),
                and_(held.state == OutboxState.SENDING, held.lease_until >= now),
            )
        )
        # Each database gets the form it plans well whatever its statistics say (a fan-out has
        # just added thousands of rows they have not seen): PostgreSQL hashes a NOT IN list;
        # SQLite compares a row value with each member of one (0.3 s for 2,000 due rows and
        # 500 busy, with the event loop stopped), but indexes a materialized table.
        if self.db.is_sqlite:
            table = busy.cte("busy").prefix_with("MATERIALIZED")
            free = ~exists().where(
                table.c.workspace_id == Outbox.workspace_id,
                table.c.dest_kind == Outbox.dest_kind,
                table.c.dest_id == Outbox.dest_id,
            )
        else:
            free = tuple_(Outbox.workspace_id, Outbox.dest_kind, Outbox.dest_id).not_in(busy)
        due = (
            select(Outbox.id, Outbox.attempted_at, Outbox.workspace_id, Outbox.dest_kind, Outbox.dest_id)
            .where(
                or_(
                    and_(Outbox.workspace_id.in_(platforms), Outbox.dest_kind.in_(CHAT_KINDS)),
                    Outbox.dest_kind.in_(list(self.transports)),
                ),
                or_(
                    and_(Outbox.state == OutboxState.PENDING, Outbox.next_attempt_at <= now),
                    and_(Outbox.state == OutboxState.SENDING, Outbox.lease_until < now),
                ),
                free,
            )
            .order_by(Outbox.id)
            .limit(bindparam("limit", type_=Integer))
            .with_for_update(skip_locked=True)
        )
        take = (
            update(Outbox)
            .where(Outbox.id.in_(bindparam("ids", expanding=True)))
            .values(
                state=OutboxState.SENDING,
                lease_until=bindparam("until", type_=Outbox.lease_until.type),
                claimed_by=bindparam("claimer"),
            )
            .returning(*HELD_COLUMNS)
        )
        return due, take

    async def claim(self, limit: int) -> list[Claimed]:
        """Take up to `limit` due rows, each with when it was handed to the platform if it may
        have arrived (its worker died, or the answer was lost): look before sending it again."""
        now = as_utc(self.clock.now())
        due, take = self.statements
        async with self.db.transaction() as session:
            conn = await session.connection()
            if not self.db.is_sqlite:  # claims take turns (SQLite's BEGIN IMMEDIATE does that), so
                # one worker sees another's claim and never takes a destination's later rows
                await conn.execute(select(func.pg_advisory_xact_lock(CLAIM_LOCK)))
            # never a destination this worker is still serving (its rows' leases are renewed, so
            # this is a second line: a row whose lease ran out in our hands is not ours to retake)
            found = [
                r
                for r in await conn.execute(due, {"now": now, "limit": limit})
                if (r.workspace_id, r.dest_kind, r.dest_id) not in self.serving
            ]
            if not found:
                return []
            handed = {r.id: as_utc(r.attempted_at) for r in found if r.attempted_at is not None}
            await asyncio.sleep(0)  # on SQLite a statement holds the event loop: sends go between
            taken = await conn.execute(
                take, {"ids": [r.id for r in found], "until": now + self.lease, "claimer": self.worker}
            )
            rows = sorted((Held(*r) for r in taken), key=attrgetter("id"))
            workspaces = {
                w.id: w
                for w in await session.scalars(
                    select(Workspace).where(Workspace.id.in_({r.workspace_id for r in rows}))
                )
            }
        return [(row, workspaces[row.workspace_id], handed.get(row.id)) for row in rows]

    async def deliver_due(self, limit: int = 500) -> DeliveryReport:
        """Send every message that is due, oldest first per destination; return when none
        is left to send. Rows are claimed `ahead(limit)` at a time (about two seconds of
        sending at the rates learned, at most `limit`), and claimed again as soon as
        fewer than half as many destinations are left being served (while fewer than four
        claims' worth of rows are in hand): the next claim is ready before the last one runs
        out (at Slack's 500 a second, half a claim lasts half a second; a claim takes 50-200 ms
        on a busy machine), and no destination waits for the slowest one of its claim. The
        lease on every row in hand is renewed each quarter lease, so rows claimed ahead never
        look abandoned meanwhile."""
        report = DeliveryReport()
        # a task for each destination -> (the destination, its rows not yet sent)
        serving: dict[asyncio.Task[None], tuple[tuple[int, str, str], list[Held]]] = {}
        failures: list[BaseException] = []
        finished = asyncio.Event()  # a destination was served: its next rows may be claimable

        def done(task: asyncio.Task[None]) -> None:
            where, _ = serving.pop(task)
            self.serving.discard(where)
            finished.set()
            if not task.cancelled() and task.exception() is not None:
                failures.append(task.exception())  # type: ignore[arg-type]

        def in_hand() -> list[Held]:
            return [row for _, left in serving.values() for row in left]

        try:  # what was learned before (a restart, another worker) paces the first send
            await self.rates.sync()
        except Exception:
            log.exception("reading learned rates failed; going on with what this worker knows")
        upkeep = [
            asyncio.create_task(self.marks.keep_flushing()),
            asyncio.create_task(self._keep_leases(in_hand)),
            asyncio.create_task(self.rates.keep_syncing()),
        ]
        try:
            while not failures:
                finished.clear()
                await self.marks.flush()  # a served destination's next rows become claimable
                ahead = self.ahead(limit)
                claimed = await once_more_if_dropped(partial(self.claim, ahead))  # rolled back if so
                await self._join(claimed)
                for n, group in enumerate(by_destination(claimed), 1):
                    left = [row for row, _, _ in group]
                    task = asyncio.create_task(self._serve(group, left, report))
                    serving[task] = destination(left[0]), left
                    self.serving.add(destination(left[0]))
                    task.add_done_callback(done)
                    if n % 50 == 0:  # each start costs ~25 µs: let sends that are due go between
                        await asyncio.sleep(0)
                if not serving:
                    break
                if not claimed:  # more may fall due, or be freed when a destination is done
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(finished.wait(), self.poll)
                while not failures and (
                    len(serving) >= max(1, ahead // 2)
                    or sum(len(left) for _, left in serving.values()) >= 4 * ahead
                ):
                    await finished.wait()
                    finished.clear()
        except asyncio.CancelledError:
            for task in serving:
                task.cancel()
            raise
        finally:
            if serving:
                await asyncio.wait(list(serving))
            for task in upkeep:
                task.cancel()
            await asyncio.gather(*upkeep, return_exceptions=True)
            await self.marks.flush()
        if failures:
            raise failures[0]
        return report

    def ahead(self, limit: int) -> int:
        """Rows to claim at once: about two seconds of sending at the rates learned (at least
        50, at most `limit`). A worker that dies leaves its claim under its lease until that
        runs out; what it holds must not be most of what is left for the next worker."""
        rate = sum(learned.rate for learned in self.limiter.learned.values() if learned.shared)
        return max(CLAIM_MIN, min(limit, int(rate * CLAIM_SECONDS)))

    async def _join(self, claimed: list[Claimed]) -> None:
        """Before sending under a workspace's budget this worker has not used lately, say so, so
        that every worker takes its share from the first send (`SharedRates`)."""
        keys = set()
        for row, workspace, _ in claimed:
            transport = self.transports.get(row.dest_kind) or self.transports[workspace.platform]
            limits = transport.limits(workspace, Destination(row.dest_kind, row.dest_id))
            if limits and limits[-1].learn:
                keys.add(limits[-1].learn)
        if keys and self.rates.newcomer(keys):
            try:
                await self.rates.sync(keys)
            except Exception:
                log.exception("joining the workers sending under %s failed; going on", keys)

    async def _serve(self, group: list[Claimed], left: list[Held], report: DeliveryReport) -> None:
        """One destination's claimed rows, in order; after a failure the rest wait for it.
        `left` (whose leases `_keep_leases` renews) loses each row once it is dealt with."""
        try:
            for row, workspace, handed_at in group:
                delivered = await self._deliver(row, workspace, handed_at, report, left)
                left.pop(0)
                if not delivered:
                    await self._requeue(left, row)
                    return
        except LeaseLost:
            return  # our lease ran out and another worker took over
        finally:
            left.clear()

    async def _keep_leases(self, in_hand: Callable[[], list[Held]]) -> None:
        """Renew the lease on every row in hand each quarter lease: a row claimed ahead may
        wait its turn longer than a lease, and must not look like a dead worker's meanwhile."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 4)
            rows = in_hand()
            if rows:
                try:
                    await self._renew(rows)
                except Exception:
                    log.exception("renewing the lease on %d rows failed; trying again", len(rows))

    async def _call(
        self,
        limits: list[Limit],
        rows: list[Held],
        call: Callable[[], Awaitable[T]],
        *,
        slots: asyncio.Semaphore,
        handing: bool,
    ) -> T:
        """A platform call for rows[0], within its rate limits and the calls in flight `slots`
        allows, and only while the row is still ours (`LeaseLost` if not): checked last, just
        before the call. The destination's own limits are waited for first, so a destination
        that must wait (a channel's second message this second) holds neither a slot nor a
        turn. A call `handing` the message to the platform marks the row so first
        (`AttemptMarks`), written while it waits for its turn."""
        await self.limiter.ready(limits)
        async with slots:
            marked = asyncio.ensure_future(self.attempts.mark(rows[0])) if handing else None
            try:
                waited = await self.limiter.acquire(limits)
                if not await self._keep(rows) or (marked is not None and not await marked):
                    raise LeaseLost(rows[0].key)
            finally:
                if marked is not None and not marked.done():
                    marked.cancel()
                elif marked is not None and not marked.cancelled():
                    marked.exception()  # retrieved: raised above when it mattered
            began = asyncio.get_running_loop().time()
            try:
                result = await call()
            except DeliveryError as exc:
                if exc.retry_after:  # never before its Retry-After, and the rate is cut
                    self.limiter.refused(limits, exc.retry_after, began)
                raise
            self.limiter.succeeded(limits, waited)
            return result

    async def _deliver(
        self,
        row: Held,
        workspace: Workspace,
        handed_at: datetime | None,
        report: DeliveryReport,
        rows: list[Held],
    ) -> bool:
        """Send `row` (rows[0] of what is left of its destination's claim); False if it failed.
        When it may have arrived already (handed over at `handed_at`), the platform is asked
        first, within the lookup's own limits (a slow lookup holds up this destination only),
        unless the platform itself keeps a message sent again so soon single (`dedupe_window`):
        then it is simply sent again, and the platform answers with the one that arrived."""
        # a service of its own (Credly) by destination kind, else the workspace's chat platform
        transport = self.transports.get(row.dest_kind) or self.transports[workspace.platform]
        dest = Destination(row.dest_kind, row.dest_id)
        try:
            payload = json.loads(row.payload)  # built when its turn comes: a claim starts hundreds
            if handed_at is not None and as_utc(self.clock.now()) - handed_at >= dedupe_window(transport):
                since = handed_at
                ref = await self._call(
                    lookup_limits(transport, workspace, dest),
                    rows,
                    lambda: transport.find(workspace, dest, row.key, Message.from_dict(payload), since),
                    slots=self.lookups,
                    handing=False,
                )
                if ref is not None:
                    self._sent(row, ref)
                    report.recovered += 1
                    return True
                handed_at = None  # it did not arrive: a send refused below is a plain failure
            edit_ref = None
            edit_of = payload.get("edit_of")
            if edit_of:
                await self.marks.flush()  # the message it edits may have gone out a moment ago
                async with self.db.transaction() as session:
                    edit_ref = await session.scalar(
                        select(Outbox.ref).where(Outbox.key == edit_of, Outbox.state == OutboxState.SENT)
                    )
            ref = await self._call(
                transport.limits(workspace, dest),
                rows,
                lambda: transport.send(workspace, dest, Message.from_dict(payload), row.key, edit_ref),
                slots=self.calls,
                handing=True,
            )
        except LeaseLost:
            raise
        except DeliveryError as exc:
            await self._failed(row, exc, report, unsure=handed_at is not None or exc.unsure)
            return False
        except Exception as exc:  # a bug or an unexpected error: retry later, never lose it
            log.exception("sending %s failed unexpectedly", row.key)
            await self._failed(row, DeliveryError(f"{type(exc).__name__}: {exc}"), report, unsure=True)
            return False
        self._sent(row, ref)
        report.sent += 1
        return True

    async def _keep(self, rows: list[Held]) -> bool:
        """Before sending rows[0]: is the claim on it still ours? Once half the lease has gone
        (`_keep_leases` renews it long before, unless the database was slow or down), renew it
        on the destination's remaining rows, or find that another worker has taken over."""
        first = rows[0]
        if (
            first.lease_until is not None
            and as_utc(first.lease_until) - as_utc(self.clock.now()) > self.lease / 2
        ):
            return True
        return first.id in await self._renew(rows)

    async def _renew(self, rows: list[Held]) -> set[int]:
        """Extend the lease on those of `rows` this worker still holds (claimed by it and still
        "sending"); returns their ids. The rest are no longer ours (another worker took them
        over, or a moved deadline cancelled them): their lease is forgotten here, so `_keep`
        asks the database before sending any of them."""
        until = as_utc(self.clock.now()) + self.lease
        kept: set[int] = set()
        async with self.renewing:
            for start in range(0, len(rows), 1000):  # well under any driver's limit of parameters
                async with self.db.transaction() as session:
                    kept |= set(
                        await session.scalars(
                            update(Outbox)
                            .where(
                                Outbox.id.in_([r.id for r in rows[start : start + 1000]]),
                                Outbox.state == OutboxState.SENDING,
                                Outbox.claimed_by == self.worker,
                            )
                            .values(lease_until=until)
                            .returning(Outbox.id)
                            .execution_options(synchronize_session=False)
                        )
                    )
        for r in rows:
            r.lease_until = until if r.id in kept else None
        return kept

    def _sent(self, row: Held, ref: str | None) -> None:
        """Recorded with the next batch of marks (`SentMarks`): written within a second."""
        self.marks.add(row, ref, self.clock.now())

    async def _requeue(self, rows: list[Held], after: Held) -> None:
        """Later messages to a destination wait for an earlier one that failed, in order."""
        if not rows:
            return
        async with self.db.transaction() as session:
            retry_at = await session.scalar(select(Outbox.next_attempt_at).where(Outbox.id == after.id))
            await session.execute(
                update(Outbox)
                .where(
                    Outbox.id.in_([r.id for r in rows]),
                    Outbox.state == OutboxState.SENDING,
                    Outbox.claimed_by == self.worker,
                )
                .values(
                    state=OutboxState.PENDING, lease_until=None, next_attempt_at=retry_at or self.clock.now()
                )
            )

    async def _failed(
        self, row: Held, exc: DeliveryError, report: DeliveryReport, *, unsure: bool = False
    ) -> None:
        """Retry later, or park as a dead letter. When the message may have arrived (`unsure`)
        the row stays "sending" with its lease running out at the retry time, and keeps its
        handed-over mark, so the next attempt, by whichever worker, first asks the platform,
        as after a crash; when it cannot have (a 429, a refusal), the mark is cleared."""
        attempts = row.attempts + 1
        now = self.clock.now()
        dead = exc.permanent or attempts >= MAX_ATTEMPTS
        wait = timedelta(seconds=exc.retry_after) if exc.retry_after else backoff(attempts)
        retry_at = as_utc(now) + (timedelta() if dead else wait)
        unsure = unsure and not dead
        state = OutboxState.DEAD if dead else OutboxState.SENDING if unsure else OutboxState.PENDING
        async with self.db.transaction() as session:
            await session.execute(
                update(Outbox)
                .where(Outbox.id == row.id)
                .values(
                    state=state,
                    attempts=attempts,
                    last_error=str(exc)[:2000],
                    lease_until=retry_at if unsure else None,
                    next_attempt_at=retry_at,
                    **({} if unsure or dead else {"attempted_at": None}),
                )
            )
            if dead:
                await tell_coordinators(session, row, str(exc), now)
        if dead:
            log.warning("outbox %s is a dead letter after %d attempts: %s", row.key, attempts, exc)
            report.dead += 1
        else:
            report.retried += 1
