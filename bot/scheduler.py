"""Time-driven work, level-triggered: each job asks the database what is due now.

`run_due(now)` is safe to call at any moment, any number of times, from a
restarted process or after a clock jump: unique ledger keys and outbox keys
make sure each announcement, nudge and reminder is planned once. The console
calls it on `:clock`; `cohortbot clock` runs it every minute with APScheduler.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bot import markup
from bot.clock import Clock
from bot.config import Settings
from bot.domain import (
    ExtensionState,
    LearnerProgress,
    ReviewState,
    Role,
    SubmissionState,
    WindowPlan,
    as_utc,
    format_age,
    own_deadline,
    parse_duration,
    plan_nudges,
    send_time,
    short_id,
    stamp,
    unmet_criteria,
    zone,
)
from bot.messages import Card, CardKind, Destination, Message
from bot.notices import (
    channel_nudge,
    learner_nudge,
    who_owes,
    window_card,
    window_closed,
    window_counts,
    window_opened,
)
from bot.storage import (
    Cohort,
    Extension,
    Inbound,
    Member,
    NudgeLedger,
    Reminder,
    Review,
    Submission,
    Version,
    Window,
)
from bot.storage.db import Database, insert_many_once, insert_once
from bot.storage.roster import enrolled, members_with_role
from bot.workflows.members import tz_of
from bot.workflows.reminders import cron_trigger, next_run
from bot.workflows.reviews import post_task, release_claim
from bot.workflows.sending import Outgoing, cohort_news, send

log = logging.getLogger(__name__)

REMINDER_GRACE = timedelta(hours=12)  # a reminder missed by longer than this is skipped
# Platforms retry a request within minutes (Slack: three times in about five); a week of
# request keys is ample to know a retry, and keeps the ledger from growing forever.
REQUESTS_KEPT = timedelta(days=7)
FORGET_BATCH = 5_000  # rows a transaction deletes, so no write waits long behind it


@dataclass
class TickReport:
    opened: int = 0
    nudges: int = 0
    closed: int = 0
    reminders: int = 0
    reviews: int = 0
    forgotten: int = 0


async def announce_openings(db: Database, now: datetime) -> int:
    async with db.transaction() as session:
        windows = list(
            await session.scalars(
                select(Window).where(
                    Window.opens_at <= now,
                    Window.open_announced_at.is_(None),
                    Window.closed_at.is_(None),
                    Window.closes_at > now,
                )
            )
        )
        for window in windows:
            window.open_announced_at = now
            await send(
                session, window.workspace_id, now, *cohort_news(window, window_opened(window, now), "opened")
            )
    return len(windows)


CHUNK = 1000  # learners planned per round trip: memory stays flat however big a cohort is
# Windows planned at once on PostgreSQL, each in its own transaction (their ledger and outbox
# keys never overlap): the server's inserts for one overlap our CPU for the next.
PLAN_CONCURRENCY = 3


def quiet_days_of(cohort: Cohort) -> frozenset[date]:
    return frozenset(date.fromisoformat(d) for d in cohort.quiet_days or [])


async def unmet_by_submission(session: AsyncSession, submission_ids: list[int]) -> dict[int, list[str]]:
    """Criteria not yet met in each submission's latest revision request."""
    if not submission_ids:
        return {}
    latest = (
        select(func.max(Review.id))
        .where(Review.submission_id.in_(submission_ids), Review.decision == "revise")
        .group_by(Review.submission_id)
    )
    rows = await session.execute(select(Review.submission_id, Review.scores).where(Review.id.in_(latest)))
    return {sid: unmet_criteria(scores) for sid, scores in rows.all()}


async def plan_window_nudges(db: Database, settings: Settings, window_id: int, now: datetime) -> int:
    """Plan and queue the nudges due now for one window.

    Learners are read in chunks by id; each chunk's ledger rows go in with one bulk
    INSERT … ON CONFLICT DO NOTHING, and only the rows that insert actually added get
    a message, so two clocks racing plan each nudge once.
    """
    async with db.transaction() as session:
        window = await session.get_one(Window, window_id)
        cohort = window.cohort
        quiet = quiet_days_of(cohort)
        # closed by hand: only learners with deadlines of their own are nudged
        plan_input = WindowPlan(
            window.id, window.opens_at, window.ends_at, tuple(parse_duration(o) for o in window.nudge_offsets)
        )
        sent = 0
        channel = plan_nudges(plan_input, [], now, set()).channel
        if (
            channel is not None
            and cohort.channel_id
            and await insert_once(
                session,
                NudgeLedger,
                dict(window_id=window.id, target="channel", nudge_key=channel.key, planned_at=now),
                ["window_id", "target", "nudge_key"],
            )
        ):
            counts = await window_counts(session, window)
            at = send_time(now, zone(cohort.tz), window.closes_at, quiet, quiet_hours=False)
            await send(
                session,
                window.workspace_id,
                now,
                Outgoing(
                    Destination.channel(cohort.channel_id),
                    channel_nudge(window, counts, at),
                    f"nudge:{window.id}:channel:{channel.key}",
                    window_id=window.id,
                    cohort_id=cohort.id,
                    send_at=at,
                ),
            )
            sent += 1
        extension = (
            select(Extension.member_id, func.max(Extension.closes_at).label("closes_at"))
            .where(Extension.window_id == window.id, Extension.state == ExtensionState.APPROVED)
            .group_by(Extension.member_id)
            .subquery()
        )  # the latest, as /submit reads it
        last_id = 0
        while True:
            found = (
                await session.execute(
                    select(
                        Member.id,
                        Member.user_id,
                        Member.tz,
                        Submission.id,
                        Submission.state,
                        extension.c.closes_at,
                    )
                    .outerjoin(
                        Submission, (Submission.member_id == Member.id) & (Submission.window_id == window.id)
                    )
                    .outerjoin(extension, extension.c.member_id == Member.id)
                    .where(Member.id.in_(enrolled(cohort.id, Role.LEARNER)), Member.id > last_id)
                    .order_by(Member.id)
                    .limit(CHUNK)
                )
            ).all()
            if not found:
                break
            last_id = found[-1][0]
            rows = [(*row[:5], own_deadline(window.ends_at, row[5])) for row in found]
            by_member = {r[0]: r for r in rows}
            learners = [
                LearnerProgress(
                    member_id,
                    sub_id is not None and state != SubmissionState.WITHDRAWN,
                    state == SubmissionState.REVISION_REQUESTED,
                    own,
                )
                for member_id, _, _, sub_id, state, own in rows
            ]
            plan = plan_nudges(plan_input, learners, now, set(), channel=False)
            if not plan.nudges:
                continue
            fresh = set(
                await insert_many_once(
                    session,
                    NudgeLedger,
                    [
                        dict(window_id=window.id, target=n.target, nudge_key=n.key, planned_at=now)
                        for n in plan.nudges
                    ],
                    ["window_id", "target", "nudge_key"],
                    NudgeLedger.target,
                )
            )
            todo = [(n, by_member[n.member_id]) for n in plan.direct if n.target in fresh]
            revising = {row[3] for _, row in todo if row[4] == SubmissionState.REVISION_REQUESTED}
            unmet = await unmet_by_submission(session, sorted(revising))
            messages = []
            for nudge, (_, user_id, tz_name, sub_id, _, own) in todo:
                deadline = own or window.closes_at
                tz = tz_of(tz_name, settings, cohort.tz)  # theirs, else their cohort's: never held back
                at = send_time(now, tz, deadline, quiet)  # "N days left" as of when it arrives
                message = learner_nudge(
                    window,
                    tz,
                    deadline,
                    sub_id if sub_id in revising else None,
                    unmet.get(sub_id, []),
                    at,
                    extended=own is not None,
                )
                messages.append(
                    Outgoing(
                        Destination.dm(user_id),
                        message,
                        f"nudge:{window.id}:{nudge.target}:{nudge.key}",
                        window_id=window.id,
                        cohort_id=cohort.id,
                        send_at=at,
                    )
                )
            sent += await send(session, window.workspace_id, now, *messages)
    return sent


async def plan_due_nudges(db: Database, settings: Settings, now: datetime) -> int:
    """Windows that may owe a nudge: open ones, and closed ones (on time or by hand) whose
    learners have later deadlines of their own."""
    extended = select(Extension.window_id).where(
        Extension.state == ExtensionState.APPROVED, Extension.closes_at > now
    )
    async with db.transaction() as session:
        window_ids = list(
            await session.scalars(
                select(Window.id).where(
                    Window.opens_at <= now,
                    or_(and_(Window.closed_at.is_(None), Window.closes_at > now), Window.id.in_(extended)),
                )
            )
        )
    if db.is_sqlite:  # one writer at a time: windows would only queue for it
        return sum([await plan_window_nudges(db, settings, w, now) for w in window_ids])
    turns = asyncio.Semaphore(PLAN_CONCURRENCY)

    async def plan(window_id: int) -> int:
        async with turns:
            return await plan_window_nudges(db, settings, window_id, now)

    return sum(await asyncio.gather(*(plan(w) for w in window_ids)))


async def announce_closings(db: Database, now: datetime) -> int:
    async with db.transaction() as session:
        windows = list(
            await session.scalars(
                select(Window).where(Window.closes_at <= now, Window.close_announced_at.is_(None))
            )
        )
        for window in windows:
            window.close_announced_at = now
            if not window.cohort.channel_id:
                continue
            counts = await window_counts(session, window)
            owing = await who_owes(session, window, now)
            closed = window_closed(window, counts, owing, as_utc(window.closes_at))
            await send(
                session,
                window.workspace_id,
                now,
                *cohort_news(window, closed, f"closed:{stamp(window.closes_at)}"),
            )
    return len(windows)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


async def reviews_in(
    session: AsyncSession, state: ReviewState, since: InstrumentedAttribute[Any], before: datetime
) -> list[Review]:
    """Reviews in `state` since before `before` (queued, or claimed, that long ago)."""
    return list(await session.scalars(select(Review).where(Review.state == state, since <= before)))


async def sweep_reviews(db: Database, settings: Settings, now: datetime) -> int:
    """Review SLAs: tasks nobody claims are posted again, then escalated to coordinators;
    claims left undecided earn the assessor a reminder, then go back to the queue.

    Each step's outbox key carries the moment the task entered its current state, so a
    step happens once per stay in the queue (or per claim), however often this runs.
    """
    acted = 0
    async with db.transaction() as session:
        waiting = await reviews_in(
            session, ReviewState.OPEN, Review.queued_at, now - hours(settings.review_reannounce_hours)
        )
        for review in waiting:
            since = stamp(review.queued_at)
            age = now - review.queued_at
            version = await session.get_one(Version, review.version_id)
            await post_task(
                session,
                now,
                review,
                version,
                review.submission,
                again=f":again:{since}",
                note=f"⏳ Still waiting for an assessor after {format_age(age)}.",
            )
            acted += 1
            if age >= hours(settings.review_escalate_hours):
                cohort = review.submission.window.cohort
                flag = Message(
                    f"🚩 {short_id('R', review.id)} in {markup.bold(cohort.name)} has "
                    f"waited {format_age(age)} with no assessor. Ask an "
                    "assessor to claim it (`/review claim "
                    f"{short_id('R', review.id)}`) or add one: `/cohort add "
                    f"{cohort.name} @someone as assessor`.",
                    card=window_card(CardKind.NUDGE, review.submission.window),
                )
                await send(
                    session,
                    review.workspace_id,
                    now,
                    *(
                        Outgoing(
                            Destination.dm(coordinator.user_id),
                            flag,
                            f"review:{review.id}:escalate:{since}:{coordinator.id}",
                            cohort_id=cohort.id,
                        )
                        for coordinator in await members_with_role(session, cohort.id, Role.COORDINATOR)
                    ),
                )
        claimed = await reviews_in(
            session, ReviewState.CLAIMED, Review.claimed_at, now - hours(settings.review_remind_hours)
        )
        for review in claimed:
            assert review.claimed_at is not None and review.assessor_id is not None
            age = now - review.claimed_at
            assessor = await session.get_one(Member, review.assessor_id)
            rid = short_id("R", review.id)
            cohort = review.submission.window.cohort
            releasing = age >= hours(settings.review_release_hours)
            if releasing:
                told = Message(
                    f"{rid} went back to the queue: it was claimed {format_age(age)} ago without a decision."
                )
                key = f"review:{review.id}:released:{stamp(review.claimed_at)}:note"
            else:
                told = Message(
                    f"⏰ You claimed {rid} {format_age(age)} ago. Please decide "
                    f"(`/review approve {rid}` or `/review revise {rid} …`) or "
                    f"`/review release {rid}` so someone else can.",
                    card=window_card(CardKind.NUDGE, review.submission.window),
                )
                key = f"review:{review.id}:remind:{stamp(review.claimed_at)}"
            outgoing = Outgoing(Destination.dm(assessor.user_id), told, key, cohort_id=cohort.id)
            await send(session, review.workspace_id, now, outgoing)
            if releasing:
                await release_claim(
                    session, now, review, note=f"↩️ Released after {format_age(age)} without a decision."
                )
            acted += 1
    return acted


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


async def send_due_reminders(db: Database, now: datetime, only: int | None = None) -> int:
    """Post each reminder whose time has come, once per firing (the key names the firing).

    Missed while the bot was down: sent once on start if missed by at most
    REMINDER_GRACE, skipped (and logged) if older.
    """
    sent = 0
    async with db.transaction() as session:
        query = select(Reminder).where(Reminder.cancelled_at.is_(None))
        if only is not None:
            query = query.where(Reminder.id == only)
        reminders = list(await session.scalars(query))
        for reminder in reminders:
            fire = latest_fire(reminder, now)
            if fire is None:
                continue
            reminder.last_run_at = now
            if now - fire > REMINDER_GRACE:
                log.info("skipping %s: missed by %s", short_id("M", reminder.id), now - fire)
                continue
            if reminder.cohort.channel_id:
                await send(
                    session,
                    reminder.workspace_id,
                    now,
                    Outgoing(
                        Destination.channel(reminder.cohort.channel_id),
                        Message(
                            f"📣 {reminder.text}",
                            context=short_id("M", reminder.id),
                            card=Card(CardKind.NEWS, reminder.cohort.name),
                        ),
                        f"reminder:{reminder.id}:{stamp(fire)}",
                        cohort_id=reminder.cohort_id,
                    ),
                )
                sent += 1
    return sent


async def next_reminder_due(db: Database, after: datetime, until: datetime) -> datetime | None:
    """The first moment in (after, until] a coordinator's reminder falls due. A clock moved on
    (the console's) stops there first, so the reminder goes out on time as real time passing
    would send it; REMINDER_GRACE is only for time the bot really was down."""
    async with db.transaction() as session:
        reminders = await session.scalars(select(Reminder).where(Reminder.cancelled_at.is_(None)))
        due = [at for r in reminders if (at := next_run(r, after)) is not None and at <= until]
    return min(due, default=None)


async def forget_requests(db: Database, now: datetime) -> int:
    """Forget requests run more than `REQUESTS_KEPT` ago (one row per Slack request,
    kept only to know a retry); a command still waiting to run is never forgotten."""
    old = (
        select(Inbound.id)
        .where(Inbound.at < now - REQUESTS_KEPT, Inbound.pending.is_(None))
        .order_by(Inbound.at)
        .limit(FORGET_BATCH)
        .scalar_subquery()
    )
    forgotten = 0
    while True:
        async with db.transaction() as session:
            result = await session.execute(
                delete(Inbound).where(Inbound.id.in_(old)).execution_options(synchronize_session=False)
            )
        forgotten += result.rowcount  # type: ignore[attr-defined]
        if result.rowcount < FORGET_BATCH:  # type: ignore[attr-defined]
            return forgotten


async def run_due(db: Database, settings: Settings, now: datetime) -> TickReport:
    """Everything that is due at `now`, in the order people would expect to read it."""
    return TickReport(
        opened=await announce_openings(db, now),
        nudges=await plan_due_nudges(db, settings, now),
        closed=await announce_closings(db, now),
        reminders=await send_due_reminders(db, now),
        reviews=await sweep_reviews(db, settings, now),
        forgotten=await forget_requests(db, now),
    )


class ReminderJobs:
    """Coordinators' reminders as APScheduler jobs, so each fires on the second it is due.

    The rows are the truth: `sync` (run at start and every 30 s) adds jobs for new
    reminders, reschedules edited ones and removes cancelled ones, so no restart is
    needed. Each job runs `send_due_reminders` for its reminder; the minute sweep in
    `run_due` is the safety net, and the firing's outbox key keeps the two from ever
    sending twice.
    """

    def __init__(self, db: Database, scheduler: AsyncIOScheduler, clock: Clock) -> None:
        self.db, self.scheduler, self.clock = db, scheduler, clock
        self.known: dict[int, tuple[str | None, str | None, str]] = {}

    async def fire(self, reminder_id: int) -> None:
        await send_due_reminders(self.db, self.clock.now(), only=reminder_id)

    async def sync(self) -> None:
        async with self.db.transaction() as session:
            rows = list(await session.scalars(select(Reminder).where(Reminder.cancelled_at.is_(None))))
        now = self.clock.now()
        wanted = {
            r.id: (r.cron, r.run_at.isoformat() if r.run_at else None, r.tz)
            for r in rows
            if r.cron or (r.run_at and r.last_run_at is None and r.run_at > now)
        }
        for reminder_id in set(self.known) - set(wanted):
            with contextlib.suppress(JobLookupError):
                self.scheduler.remove_job(f"reminder:{reminder_id}")
            del self.known[reminder_id]
        for reminder_id, shape in wanted.items():
            if self.known.get(reminder_id) == shape:
                continue
            cron, run_at, tz = shape
            trigger = (
                cron_trigger(cron, tz)
                if cron
                else DateTrigger(datetime.fromisoformat(run_at), timezone=UTC)
                if run_at
                else None
            )
            self.scheduler.add_job(
                self.fire,
                trigger,
                args=[reminder_id],
                id=f"reminder:{reminder_id}",
                replace_existing=True,
                misfire_grace_time=int(REMINDER_GRACE.total_seconds()),
            )
            self.known[reminder_id] = shape
