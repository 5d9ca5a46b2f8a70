"""Durable delivery of everything the bot says on its own initiative.

`enqueue` writes a message in the caller's transaction, under an idempotency
key, so it exists exactly when the change that caused it exists. `Deliverer`
sends due messages through a platform `Transport`, retrying with backoff and
parking poison messages as dead letters for coordinators to see.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, func, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.clock import Clock
from bot.domain import Role, as_utc
from bot.messages import Destination, Message
from bot.storage import Enrolment, Member, Outbox, Workspace
from bot.storage.db import Database, insert_many_once, insert_once

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
UNSENT = ("pending", "sending")  # may still go out: what a moved deadline must cancel
CLAIM_LOCK = 0x6F7574626F78  # "outbox": PostgreSQL advisory lock, one claim at a time
HEADROOM = 0.9  # pace sends this far under a platform's limit: requests arrive with jitter
CHAT_KINDS = ("channel", "dm")  # what a chat platform's transport delivers; other kinds need their own


def outbox_row(workspace_id: int, dest: Destination, message: Message, key: str, now: datetime, *,
               window_id: int | None = None, cohort_id: int | None = None,
               send_at: datetime | None = None) -> dict[str, Any]:
    return dict(workspace_id=workspace_id, key=key, dest_kind=dest.kind, dest_id=dest.target,
                payload=message.to_dict(), state="pending", attempts=0,
                next_attempt_at=send_at or now, window_id=window_id, cohort_id=cohort_id,
                created_at=now)


async def enqueue(session: AsyncSession, workspace_id: int, dest: Destination, message: Message,
                  key: str, now: datetime, **where: Any) -> None:
    """Add a message to the outbox (to go at `send_at`, default now); a second message
    with the same key is ignored."""
    await insert_once(session, Outbox, outbox_row(workspace_id, dest, message, key, now, **where),
                      ["key"])


async def enqueue_many(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Many `outbox_row`s in bulk (a fan-out of nudges); returns how many were new."""
    return len(await insert_many_once(session, Outbox, rows, ["key"], Outbox.id))


class DeliveryError(Exception):
    """A failed send. `retry_after` (seconds) when the platform said when to come back;
    `permanent` when sending again cannot help (a channel that no longer exists); `unsure`
    when the message may have arrived anyway (a timeout, a 5xx): look before sending again."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 permanent: bool = False, unsure: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent
        self.unsure = unsure


@dataclass(frozen=True)
class Limit:
    """A token bucket: `rate` sends per second, up to `burst` at once."""

    key: str
    rate: float
    burst: int = 1


class Transport(Protocol):
    async def send(self, workspace: Workspace, dest: Destination, message: Message, key: str,
                   edit_ref: str | None = None) -> str | None:
        """Deliver one message (or edit the one `edit_ref` names); return its reference."""

    def limits(self, workspace: Workspace, dest: Destination) -> list[Limit]:
        """The platform's rate limits this send counts against."""

    async def find(self, workspace: Workspace, dest: Destination, key: str) -> str | None:
        """The reference of a message with this outbox key that already arrived, if any."""


class RateLimiter:
    """Token buckets on the event loop's clock: waits until a send is allowed."""

    def __init__(self) -> None:
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill)
        self.lock = asyncio.Lock()

    async def acquire(self, limits: list[Limit]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            async with self.lock:
                now = loop.time()
                wait = 0.0
                state = {}
                for limit in limits:
                    rate = limit.rate * HEADROOM
                    tokens, last = self.buckets.get(limit.key, (float(limit.burst), now))
                    tokens = min(float(limit.burst), tokens + (now - last) * rate)
                    state[limit.key] = tokens
                    if tokens < 1.0:
                        wait = max(wait, (1.0 - tokens) / rate)
                if wait == 0.0:
                    for limit in limits:
                        self.buckets[limit.key] = (state[limit.key] - 1.0, now)
                    return
                for limit in limits:
                    self.buckets[limit.key] = (state[limit.key], now)
            await asyncio.sleep(wait)

    def hold(self, limits: list[Limit], seconds: float) -> None:
        """The platform said "come back in N seconds": empty these buckets until then."""
        now = asyncio.get_running_loop().time()
        for limit in limits:
            self.buckets[limit.key] = (-seconds * limit.rate * HEADROOM, now)


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential with full jitter, capped at an hour."""
    cap = min(3600.0, 2.0 * 2 ** attempts)
    return timedelta(seconds=(rng or random).uniform(cap / 2, cap))


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    recovered: int = 0  # found already delivered after a crash, not sent again


async def tell_coordinators(session: AsyncSession, row: Outbox, error: str, now: datetime) -> None:
    """A dead letter is news for the cohort's coordinators (a notice about a notice is not)."""
    if row.cohort_id is None or row.key.startswith("dead-letter:"):
        return
    coordinators = await session.scalars(
        select(Member).join(Enrolment, Enrolment.member_id == Member.id)
        .where(Enrolment.cohort_id == row.cohort_id, Enrolment.role == Role.COORDINATOR))
    for coordinator in coordinators:
        await enqueue(session, row.workspace_id, Destination.dm(coordinator.user_id), Message(
            f"⚠️ A message could not be delivered ({row.key}): {error[:300]}. It is kept as a dead "
            "letter; once the cause is fixed, `cohortbot outbox retry` sends it again."),
            f"dead-letter:{row.id}:{coordinator.id}", now, cohort_id=row.cohort_id)


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
    """

    def __init__(self, db: Database, transports: dict[str, Transport], clock: Clock, *,
                 lease: timedelta = timedelta(seconds=60), concurrency: int = 16,
                 worker: str | None = None) -> None:
        self.db, self.transports, self.clock = db, transports, clock
        self.lease, self.concurrency = lease, concurrency
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}"
        self.limiter = RateLimiter()

    async def claim(self, limit: int) -> list[tuple[Outbox, Workspace, bool]]:
        """Take up to `limit` due rows; the flag says the row's last lease ran out."""
        now = as_utc(self.clock.now())
        platforms = select(Workspace.id).where(Workspace.platform.in_(list(self.transports)))
        held = aliased(Outbox)  # destinations with a message out now or waiting to be retried:
        busy = select(held.workspace_id, held.dest_kind, held.dest_id).where(  # the rest waits
            or_(and_(held.state == "pending", held.attempts > 0, held.next_attempt_at > now),
                and_(held.state == "sending", held.lease_until >= now)))
        due = (select(Outbox.id).where(
            or_(and_(Outbox.workspace_id.in_(platforms), Outbox.dest_kind.in_(CHAT_KINDS)),
                Outbox.dest_kind.in_(list(self.transports))),
            or_(and_(Outbox.state == "pending", Outbox.next_attempt_at <= now),
                and_(Outbox.state == "sending", Outbox.lease_until < now)),
            tuple_(Outbox.workspace_id, Outbox.dest_kind, Outbox.dest_id).not_in(busy))
            .order_by(Outbox.id).limit(limit).with_for_update(skip_locked=True))
        async with self.db.transaction() as session:
            if not self.db.is_sqlite:  # claims take turns (SQLite's BEGIN IMMEDIATE does that), so
                # one worker sees another's claim and never takes a destination's later rows
                await session.execute(select(func.pg_advisory_xact_lock(CLAIM_LOCK)))
            ids = list(await session.scalars(due))
            if not ids:
                return []
            stale = set(await session.scalars(select(Outbox.id).where(
                Outbox.id.in_(ids), Outbox.state == "sending")))
            await session.execute(update(Outbox).where(Outbox.id.in_(ids)).values(
                state="sending", lease_until=now + self.lease, claimed_by=self.worker)
                .execution_options(synchronize_session=False))
            rows = list(await session.scalars(select(Outbox).where(Outbox.id.in_(ids))
                                              .order_by(Outbox.id)))
            workspaces = {w.id: w for w in await session.scalars(select(Workspace).where(
                Workspace.id.in_({r.workspace_id for r in rows})))}
        return [(row, workspaces[row.workspace_id], row.id in stale) for row in rows]

    async def deliver_due(self, limit: int = 500) -> DeliveryReport:
        """Send every message that is due, oldest first per destination."""
        report = DeliveryReport()
        gate = asyncio.Semaphore(self.concurrency)
        while True:
            claimed = await self.claim(limit)
            if not claimed:
                return report
            groups: dict[tuple[int, str, str], list[tuple[Outbox, Workspace, bool]]] = {}
            for item in claimed:
                row = item[0]
                groups.setdefault((row.workspace_id, row.dest_kind, row.dest_id), []).append(item)

            async def run(group: list[tuple[Outbox, Workspace, bool]]) -> None:
                async with gate:
                    for n, (row, workspace, stale) in enumerate(group):
                        if not await self._keep([r for r, _, _ in group[n:]]):
                            return  # our lease ran out and another worker took over
                        if not await self._deliver(row, workspace, stale, report):
                            await self._requeue([r for r, _, _ in group[n + 1:]], row)
                            return
            await asyncio.gather(*(run(g) for g in groups.values()))
            # go round again: sending can queue more (Credly's accept link) and more may be due

    async def _deliver(self, row: Outbox, workspace: Workspace, stale: bool,
                       report: DeliveryReport) -> bool:
        # a service of its own (Credly) by destination kind, else the workspace's chat platform
        transport = self.transports.get(row.dest_kind) or self.transports[workspace.platform]
        dest = Destination(row.dest_kind, row.dest_id)
        message = Message.from_dict(row.payload)
        limits = transport.limits(workspace, dest)
        unsure = stale  # an earlier attempt may have arrived: look before sending again
        try:
            if stale:
                await self.limiter.acquire(limits)
                ref = await transport.find(workspace, dest, row.key)
                if ref is not None:
                    await self._sent(row, ref)
                    report.recovered += 1
                    return True
                unsure = False
            edit_ref = None
            if message.edit_of:
                async with self.db.transaction() as session:
                    edit_ref = await session.scalar(select(Outbox.ref).where(
                        Outbox.key == message.edit_of, Outbox.state == "sent"))
            await self.limiter.acquire(limits)
            ref = await transport.send(workspace, dest, message, row.key, edit_ref)
        except DeliveryError as exc:
            if exc.retry_after:
                self.limiter.hold(limits, exc.retry_after)
            await self._failed(row, exc, report, unsure=unsure or exc.unsure)
            return False
        except Exception as exc:  # a bug or an unexpected error: retry later, never lose it
            log.exception("sending %s failed unexpectedly", row.key)
            await self._failed(row, DeliveryError(f"{type(exc).__name__}: {exc}"), report, unsure=True)
            return False
        await self._sent(row, ref)
        report.sent += 1
        return True

    async def _keep(self, rows: list[Outbox]) -> bool:
        """Before sending rows[0]: is the claim on it still ours? Once half the lease has gone,
        renew it on the destination's remaining rows, so a long batch is never taken over by
        another worker while this one is still working through it. (Only this group's rows:
        groups never share a row, so renewals cannot deadlock.)"""
        now = as_utc(self.clock.now())
        first = rows[0]
        if first.lease_until is not None and as_utc(first.lease_until) - now > self.lease / 2:
            return True
        until = now + self.lease
        async with self.db.transaction() as session:
            kept = set(await session.scalars(update(Outbox).where(
                Outbox.id.in_([r.id for r in rows]), Outbox.state == "sending",
                Outbox.claimed_by == self.worker).values(lease_until=until).returning(Outbox.id)
                .execution_options(synchronize_session=False)))
        for r in rows:
            if r.id in kept:
                r.lease_until = until
        return first.id in kept

    async def _sent(self, row: Outbox, ref: str | None) -> None:
        async with self.db.transaction() as session:
            await session.execute(update(Outbox).where(Outbox.id == row.id).values(
                state="sent", ref=ref, sent_at=self.clock.now(), attempts=row.attempts + 1,
                lease_until=None))

    async def _requeue(self, rows: list[Outbox], after: Outbox) -> None:
        """Later messages to a destination wait for an earlier one that failed, in order."""
        if not rows:
            return
        async with self.db.transaction() as session:
            retry_at = await session.scalar(select(Outbox.next_attempt_at).where(Outbox.id == after.id))
            await session.execute(update(Outbox).where(
                Outbox.id.in_([r.id for r in rows]), Outbox.state == "sending",
                Outbox.claimed_by == self.worker).values(state="pending", lease_until=None,
                next_attempt_at=retry_at or self.clock.now()))

    async def _failed(self, row: Outbox, exc: DeliveryError, report: DeliveryReport, *,
                      unsure: bool = False) -> None:
        """Retry later, or park as a dead letter. When the message may have arrived (`unsure`)
        the row stays "sending" with its lease running out at the retry time, so the next
        attempt, by whichever worker, first asks the platform, as after a crash."""
        attempts = row.attempts + 1
        now = self.clock.now()
        dead = exc.permanent or attempts >= MAX_ATTEMPTS
        wait = timedelta(seconds=exc.retry_after) if exc.retry_after else backoff(attempts)
        retry_at = as_utc(now) + (timedelta() if dead else wait)
        unsure = unsure and not dead
        async with self.db.transaction() as session:
            await session.execute(update(Outbox).where(Outbox.id == row.id).values(
                state="dead" if dead else "sending" if unsure else "pending", attempts=attempts,
                last_error=str(exc)[:2000], lease_until=retry_at if unsure else None,
                next_attempt_at=retry_at))
            if dead:
                await tell_coordinators(session, row, str(exc), now)
        if dead:
            log.warning("outbox %s is a dead letter after %d attempts: %s", row.key, attempts, exc)
            report.dead += 1
        else:
            report.retried += 1
