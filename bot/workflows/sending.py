"""The one way the bot sends a message on its own, for handlers (`Context.send`) and scheduled
jobs alike: into the outbox, in the caller's transaction, so it exists exactly when the change
that caused it does; the delivery worker takes it from there."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.messages import Destination, Message
from bot.outbox import enqueue_many, outbox_row
from bot.storage import Window


@dataclass(frozen=True)
class Outgoing:
    """One message to send. Its `key` makes it once: a second message with the same key is
    dropped, however often the step that sends it runs. `cohort_id` is whose coordinators
    hear of it as a dead letter, `window_id` what a moved deadline cancels, and `send_at`
    when it may go (default: now)."""

    dest: Destination
    message: Message
    key: str
    cohort_id: int | None = None
    window_id: int | None = None
    send_at: datetime | None = None


async def send(session: AsyncSession, workspace_id: int, now: datetime, *outgoing: Outgoing) -> int:
    """Queue `outgoing` (one message or a fan-out, in one statement); how many were new."""
    return await enqueue_many(
        session,
        [
            outbox_row(
                workspace_id,
                o.dest,
                o.message,
                o.key,
                now,
                window_id=o.window_id,
                cohort_id=o.cohort_id,
                send_at=o.send_at,
            )
            for o in outgoing
        ],
    )


def cohort_news(window: Window, message: Message, key: str) -> list[Outgoing]:
    """A window's news for its cohort's channel (`window:<id>:<key>`), none where the cohort
    has no channel: openings, closings, new deadlines."""
    channel = window.cohort.channel_id
    if not channel:
        return []
    return [
        Outgoing(
            Destination.channel(channel),
            message,
            f"window:{window.id}:{key}",
            cohort_id=window.cohort_id,
            window_id=window.id,
        )
    ]
