"""The outbox: how handlers and jobs say something later.

`enqueue` writes a message in the caller's transaction, under an idempotency key, so it
exists exactly when the change that caused it exists. Nothing here sends: a worker's
`Deliverer` (`bot/delivery.py`) does, through each platform's `Transport`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages import Destination, Message
from bot.ratelimit import Limit, RateLimiter
from bot.storage import Outbox, OutboxState, Workspace
from bot.storage.db import insert_many_once, insert_once

UNSENT = (OutboxState.PENDING, OutboxState.SENDING)  # may still go out: what a moved deadline must cancel


def outbox_row(
    workspace_id: int,
    dest: Destination,
    message: Message,
    key: str,
    now: datetime,
    *,
    window_id: int | None = None,
    cohort_id: int | None = None,
    send_at: datetime | None = None,
) -> dict[str, Any]:
    return dict(
        workspace_id=workspace_id,
        key=key,
        dest_kind=dest.kind,
        dest_id=dest.target,
        payload=message.to_dict(),
        state=OutboxState.PENDING,
        attempts=0,
        next_attempt_at=send_at or now,
        window_id=window_id,
        cohort_id=cohort_id,
        created_at=now,
    )


async def enqueue(
    session: AsyncSession,
    workspace_id: int,
    dest: Destination,
    message: Message,
    key: str,
    now: datetime,
    **where: Any,
) -> None:
    """Add a message to the outbox (to go at `send_at`, default now); a second message
    with the same key is ignored."""
    await insert_once(session, Outbox, outbox_row(workspace_id, dest, message, key, now, **where), ["key"])


async def enqueue_many(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Many `outbox_row`s in bulk (a fan-out of nudges); returns how many were new."""
    return len(await insert_many_once(session, Outbox, rows, ["key"], Outbox.id))


class DeliveryError(Exception):
    """A failed send. `retry_after` (seconds) when the platform said when to come back;
    `permanent` when sending again cannot help (a channel that no longer exists); `unsure`
    when the message may have arrived anyway (a timeout, a 5xx): look before sending again."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, permanent: bool = False, unsure: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.permanent = permanent
        self.unsure = unsure


class Transport(Protocol):
    async def send(
        self, workspace: Workspace, dest: Destination, message: Message, key: str, edit_ref: str | None = None
    ) -> str | None:
        """Deliver one message (or edit the one `edit_ref` names); return its reference."""

    def limits(self, workspace: Workspace, dest: Destination) -> list[Limit]:
        """The platform's rate limits this send counts against: the destination's own first,
        then the one it shares with other destinations (see `RateLimiter`)."""

    async def find(
        self, workspace: Workspace, dest: Destination, key: str, message: Message, since: datetime
    ) -> str | None:
        """The reference of the message `key` names, if it arrived: it was handed over at `since`
        (the first hand-over still in doubt) and may have arrived after it. None when it did not
        (then it is sent). (A transport whose platform limits these lookups apart from sending
        says so in `lookup_limits(workspace, dest) -> list[Limit]`; without it, lookups are not
        limited. One whose platform publishes its limits takes the deliverer's limiter in
        `publish_to(limiter)`, to keep to them: see `RateLimiter.publish`. One whose platform
        keeps a message sent again within a while single says how long in `dedupe_window`.)"""


def publish_to(transport: Transport, limiter: RateLimiter) -> None:
    """Hand the deliverer's limiter to a transport that reads its platform's published limits."""
    own = getattr(transport, "publish_to", None)
    if own is not None:
        own(limiter)


def lookup_limits(transport: Transport, workspace: Workspace, dest: Destination) -> list[Limit]:
    """The limits `transport.find` counts against: the lookup method's own, never the posting's."""
    own = getattr(transport, "lookup_limits", None)
    return list(own(workspace, dest)) if own is not None else []


def dedupe_window(transport: Transport) -> timedelta:
    """How long after its first hand-over a message sent again still arrives once, the platform
    keeping it single (Discord's nonce): no lookup is needed within it. Nothing by default."""
    window = getattr(transport, "dedupe_window", None)
    return window if isinstance(window, timedelta) else timedelta(0)
