"""Time-driven work, level-triggered: each job asks the database what is due now.

`run_due(now)` is safe to call at any moment, any number of times, from a
restarted process or after a clock jump: unique ledger keys and outbox keys
make sure each announcement, nudge and reminder is planned once. The console
calls it on `:clock`; `cohortbot clock` runs it every minute with APScheduler.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.domain import (
    Role,
    WindowPlan,
    as_utc,
    format_left,
    parse_duration,
    plan_nudges,
    short_id,
    stamp,
)
from bot.handlers.reminders import cron_trigger
from bot.handlers.reviews import post_task, release_claim
from bot.messages import Destination, Message
from bot.notices import (
    channel_nudge,
    learner_nudge,
    window_closed,
    window_opened,
    window_progress,
)
from bot.outbox import enqueue
from bot.storage import Enrolment, Member, NudgeLedger, Reminder, Review, Version, Window
from bot.storage.db import Database, insert_once

log = logging.getLogger(__name__)

REMINDER_GRACE = timedelta(hours=12)  # a reminder missed by longer than this is skipped


@dataclass
class TickReport:
    opened: int = 0
    nudges: int = 0
    closed: int = 0
    reminders: int = 0
    reviews: int = 0


async def announce_openings(db: Database, now: datetime) -> int:
    async with db.transaction() as session:
        windows = list(await session.scalars(select(Window).where(
            Window.opens_at <= now, Window.open_announced_at.is_(None),
            Window.closed_at.is_(None), Window.closes_at > now)))
        for window in windows:
            window.open_announced_at = now
            if window.cohort.channel_id:
                await enqueue(session, window.workspace_id,
                              Destination.channel(window.cohort.channel_id),
                              window_opened(window, now), f"window:{window.id}:opened", now,
                              window_id=window.id, cohort_id=window.cohort_id)
    return len(windows)


async def unmet_criteria(session: AsyncSession, submission_id: int) -> list[str]:
    review = await session.scalar(select(Review).where(
        Review.submission_id == submission_id, Review.decision == "revise")
        .order_by(Review.id.desc()).limit(1))
    return [s["criterion"] for s in (review.scores or []) if not s["passing"]] if review else []


async def plan_window_nudges(db: Database, settings: Settings, window_id: int,
                             now: datetime) -> int:
    """Plan and queue the nudges due now for one window, in one transaction."""
    async with db.transaction() as session:
        window = await session.get_one(Window, window_id)
        plan_input = WindowPlan(window.id, as_utc(window.opens_at), as_utc(window.closes_at),
                                tuple(parse_duration(o) for o in window.nudge_offsets))
        planned = {f"{t}|{k}" for t, k in (await session.execute(
            select(NudgeLedger.target, NudgeLedger.nudge_key)
            .where(NudgeLedger.window_id == window.id))).all()}
        progress = await window_progress(session, window)
        plan = plan_nudges(plan_input, progress.as_plan_input(), now, planned)
        by_id = dict((m.id, (m, s)) for m, s in progress.learners)
        sent = 0
        for nudge in plan.nudges:
            fresh = await insert_once(session, NudgeLedger, dict(
                window_id=window.id, target=nudge.target, nudge_key=nudge.key, planned_at=now),
                ["window_id", "target", "nudge_key"])
            if not fresh:
                continue  # another clock planned it first
            key = f"nudge:{window.id}:{nudge.target}:{nudge.key}"
            if nudge.member_id is None:
                if not window.cohort.channel_id:
                    continue
                dest = Destination.channel(window.cohort.channel_id)
                message = channel_nudge(window, progress, now)
            else:
                member, submission = by_id[nudge.member_id]
                unmet = await unmet_criteria(session, submission.id) if submission else []
                dest = Destination.dm(member.user_id)
                message = learner_nudge(window, member, submission, unmet, now,
                                        settings.default_timezone)
            await enqueue(session, window.workspace_id, dest, message, key, now,
                          window_id=window.id, cohort_id=window.cohort_id)
            sent += 1
    return sent


async def plan_due_nudges(db: Database, settings: Settings, now: datetime) -> int:
    async with db.transaction() as session:
        window_ids = list(await session.scalars(select(Window.id).where(
            Window.opens_at <= now, Window.closes_at > now, Window.closed_at.is_(None))))
    total = 0
    for window_id in window_ids:
        total += await plan_window_nudges(db, settings, window_id, now)
    return total


async def announce_closings(db: Database, now: datetime) -> int:
    async with db.transaction() as session:
        windows = list(await session.scalars(select(Window).where(
            Window.closes_at <= now, Window.close_announced_at.is_(None))))
        for window in windows:
            window.close_announced_at = now
            if not window.cohort.channel_id:
                continue
            progress = await window_progress(session, window)
            await enqueue(session, window.workspace_id,
                          Destination.channel(window.cohort.channel_id),
                          window_closed(window, progress, as_utc(window.closes_at)),
                          f"window:{window.id}:closed:{stamp(window.closes_at)}", now,
                          window_id=window.id, cohort_id=window.cohort_id)
    return len(windows)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


async def sweep_reviews(db: Database, settings: Settings, now: datetime) -> int:
    """Review SLAs: tasks nobody claims are posted again, then escalated to coordinators;
    claims left undecided earn the assessor a reminder, then go back to the queue.

    Each step's outbox key carries the moment the task entered its current state, so a
    step happens once per stay in the queue (or per claim), however often this runs.
    """
    acted = 0
    async with db.transaction() as session:
        waiting = list(await session.scalars(select(Review).where(
            Review.state == "open", Review.queued_at <= now - hours(settings.review_reannounce_hours))))
        for review in waiting:
            since = stamp(review.queued_at)
            age = now - review.queued_at
            version = await session.get_one(Version, review.version_id)
            await post_task(session, now, review, version, review.submission,
                            again=f":again:{since}",
                            note=f"⏳ Still waiting for an assessor after {format_age(age)}.")
            acted += 1
            if age >= hours(settings.review_escalate_hours):
                cohort = review.submission.window.cohort
                coordinators = await session.scalars(
                    select(Member).join(Enrolment, Enrolment.member_id == Member.id).where(
                        Enrolment.cohort_id == cohort.id, Enrolment.role == Role.COORDINATOR))
                for coordinator in coordinators:
                    await enqueue(session, review.workspace_id, Destination.dm(coordinator.user_id),
                                  Message(f"🚩 {short_id('R', review.id)} in *{cohort.name}* has "
                                          f"waited {format_age(age)} with no assessor. Assign one "
                                          "or add assessors: `/cohort add "
                                          f"{cohort.name} @someone as assessor`."),
                                  f"review:{review.id}:escalate:{since}:{coordinator.id}", now,
                                  cohort_id=cohort.id)
        claimed = list(await session.scalars(select(Review).where(
            Review.state == "claimed", Review.claimed_at <= now - hours(settings.review_remind_hours))))
        for review in claimed:
            assert review.claimed_at is not None and review.assessor_id is not None
            age = now - review.claimed_at
            assessor = await session.get_one(Member, review.assessor_id)
            rid = short_id("R", review.id)
            cohort = review.submission.window.cohort
            if age >= hours(settings.review_release_hours):
                await enqueue(session, review.workspace_id, Destination.dm(assessor.user_id),
                              Message(f"{rid} went back to the queue: it was claimed "
                                      f"{format_age(age)} ago without a decision."),
                              f"review:{review.id}:released:{stamp(review.claimed_at)}:note", now,
                              cohort_id=cohort.id)
                await release_claim(session, now, review,
                                    note=f"↩️ Released after {format_age(age)} without a decision.")
            else:
                await enqueue(session, review.workspace_id, Destination.dm(assessor.user_id),
                              Message(f"⏰ You claimed {rid} {format_age(age)} ago. Please decide "
                                      f"(`/review approve {rid}` or `/review revise {rid} …`) or "
                                      f"`/review release {rid}` so someone else can."),
                              f"review:{review.id}:remind:{stamp(review.claimed_at)}", now,
                              cohort_id=cohort.id)
            acted += 1
    return acted


def format_age(age: timedelta) -> str:
    return format_left(age).removesuffix(" left")


def latest_fire(reminder: Reminder, now: datetime) -> datetime | None:
    """The most recent moment the reminder was due, at or before now, not yet sent."""
    start = as_utc(reminder.last_run_at or reminder.created_at)
    if reminder.cron is None:
        run_at = as_utc(reminder.run_at) if reminder.run_at else None
        return run_at if reminder.last_run_at is None and run_at and run_at <= now else None
    trigger = cron_trigger(reminder.cron, reminder.tz)
    fire = trigger.get_next_fire_time(None, start + timedelta(seconds=1))
    latest = None
    for _ in range(10_000):
        if fire is None or as_utc(fire) > now:
            break
        latest = as_utc(fire)
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return latest


async def send_due_reminders(db: Database, now: datetime) -> int:
    sent = 0
    async with db.transaction() as session:
        reminders = list(await session.scalars(select(Reminder).where(
            Reminder.cancelled_at.is_(None))))
        for reminder in reminders:
            fire = latest_fire(reminder, now)
            if fire is None:
                continue
            reminder.last_run_at = now
            if now - fire > REMINDER_GRACE:
                log.info("skipping %s: missed by %s", short_id("M", reminder.id), now - fire)
                continue
            if reminder.cohort.channel_id:
                await enqueue(session, reminder.workspace_id,
                              Destination.channel(reminder.cohort.channel_id),
                              Message(f"📣 {reminder.text}", context=short_id("M", reminder.id)),
                              f"reminder:{reminder.id}:{stamp(fire)}", now,
                              cohort_id=reminder.cohort_id)
                sent += 1
    return sent


async def run_due(db: Database, settings: Settings, now: datetime) -> TickReport:
    """Everything that is due at `now`, in the order people would expect to read it."""
    return TickReport(
        opened=await announce_openings(db, now),
        nudges=await plan_due_nudges(db, settings, now),
        closed=await announce_closings(db, now),
        reminders=await send_due_reminders(db, now),
        reviews=await sweep_reviews(db, settings, now),
    )
