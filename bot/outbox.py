"""Durable delivery of everything the bot says on its own initiative.

`enqueue` writes a message in the caller's transaction, under an idempotency
key, so it exists exactly when the change that caused it exists. `Deliverer`
sends due messages through a platform `Transport`, retrying with backoff and
parking poison messages as dead letters for coordinators to see.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.domain import as_utc
from bot.messages import Destination, Message
from bot.storage import Outbox, Workspace
from bot.storage.db import Database, insert_once

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


async def enqueue(session: AsyncSession, workspace_id: int, dest: Destination, message: Message,
                  key: str, now: datetime, *, window_id: int | None = None,
                  cohort_id: int | None = None) -> None:
    """Add a message to the outbox; a second message with the same key is ignored."""
    values = dict(workspace_id=workspace_id, key=key, dest_kind=dest.kind, dest_id=dest.target,
                  payload=message.to_dict(), state="pending", attempts=0, next_attempt_at=now,
                  window_id=window_id, cohort_id=cohort_id, created_at=now)
    await insert_once(session, Outbox, values, ["key"])


class DeliveryError(Exception):
    """A failed send. `retry_after` (seconds) when the platform said when to come back;
    `permanent` when sending again cannot help (a channel that no longer exists)."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 permanent: bool = False) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent


class Transport(Protocol):
    async def send(self, workspace: Workspace, dest: Destination, message: Message, key: str,
                   edit_ref: str | None = None) -> str | None:
        """Deliver one message (or edit the one `edit_ref` names); return its reference."""


def backoff(attempts: int, rng: random.Random | None = None) -> timedelta:
    """Exponential with full jitter, capped at an hour."""
    cap = min(3600.0, 2.0 * 2 ** attempts)
    return timedelta(seconds=(rng or random).uniform(cap / 2, cap))


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0


class Deliverer:
    """Sends due messages through the transport of each workspace's platform.

    Only platforms this process has a transport for are picked up, so a console
    and a Slack deployment can share a database without stealing each other's rows.
    """

    def __init__(self, db: Database, transports: dict[str, Transport], clock: Clock) -> None:
        self.db, self.transports, self.clock = db, transports, clock

    async def deliver_due(self, limit: int = 500) -> DeliveryReport:
        """Send every message that is due, oldest first."""
        report = DeliveryReport()
        while True:
            now = self.clock.now()
            async with self.db.transaction() as session:
                rows = list(await session.scalars(
                    select(Outbox).join(Workspace, Workspace.id == Outbox.workspace_id)
                    .where(Outbox.state == "pending", Outbox.next_attempt_at <= now,
                           Workspace.platform.in_(list(self.transports)))
                    .order_by(Outbox.id).limit(limit)))
                workspaces = {w.id: w for w in await session.scalars(select(Workspace).where(
                    Workspace.id.in_({r.workspace_id for r in rows})))}
            if not rows:
                return report
            for row in rows:
                await self._deliver(row, workspaces[row.workspace_id], report)
            if len(rows) < limit:
                return report

    async def _deliver(self, row: Outbox, workspace: Workspace, report: DeliveryReport) -> None:
        dest = Destination(row.dest_kind, row.dest_id)
        message = Message.from_dict(row.payload)
        edit_ref = None
        if message.edit_of:
            async with self.db.transaction() as session:
                edit_ref = await session.scalar(select(Outbox.ref).where(
                    Outbox.key == message.edit_of, Outbox.state == "sent"))
        try:
            ref = await self.transports[workspace.platform].send(workspace, dest, message, row.key,
                                                                  edit_ref)
        except DeliveryError as exc:
            await self._failed(row, exc, report)
            return
        async with self.db.transaction() as session:
            await session.execute(update(Outbox).where(Outbox.id == row.id).values(
                state="sent", ref=ref, sent_at=self.clock.now(), attempts=row.attempts + 1))
        report.sent += 1

    async def _failed(self, row: Outbox, exc: DeliveryError, report: DeliveryReport) -> None:
        attempts = row.attempts + 1
        now = self.clock.now()
        dead = exc.permanent or attempts >= MAX_ATTEMPTS
        wait = timedelta(seconds=exc.retry_after) if exc.retry_after else backoff(attempts)
        async with self.db.transaction() as session:
            await session.execute(update(Outbox).where(Outbox.id == row.id).values(
                state="dead" if dead else "pending", attempts=attempts, last_error=str(exc)[:2000],
                next_attempt_at=as_utc(now) + (timedelta() if dead else wait)))
        if dead:
            log.warning("outbox %s is a dead letter after %d attempts: %s", row.key, attempts, exc)
            report.dead += 1
        else:
            report.retried += 1
