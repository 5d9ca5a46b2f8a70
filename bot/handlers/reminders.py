"""Coordinators' own reminders to a cohort channel (Slack reserves /remind)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice, pairwise
from typing import Any

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import select

from bot import markup
from bot.domain import MORNING, UserError, as_utc, format_time, parse_when, short_id, zone
from bot.handlers.base import Context, cohort_named, handles, require_coordinator
from bot.messages import Reply
from bot.storage import Reminder

CRON_EXAMPLE = '/cohort remind spring "0 9 * * mon" Office hours today at 4pm'
MIN_INTERVAL = timedelta(hours=1)  # a channel reminder more often than this is spam
# Successive fire times compared with it. A five-field schedule that breaks the rule names two
# minutes of an hour, which any three successive fire times show; the rest cost next to nothing.
INTERVAL_SAMPLE = 48


def cron_trigger(expression: str, tz: str) -> CronTrigger:
    try:
        return CronTrigger.from_crontab(expression, timezone=zone(tz))
    except ValueError as exc:
        raise UserError(
            f"'{expression}' is not a cron schedule ({exc}); use five fields: minute hour day month weekday.",
            CRON_EXAMPLE,
        ) from None


def fire_times(trigger: CronTrigger, after: datetime) -> Iterator[datetime]:
    """Successive fire times (UTC) strictly after `after`. Stepped in UTC, not in the trigger's
    zone: a step of local time keeps finding the same moment in an hour repeated by a fall-back."""
    moment = as_utc(after)
    while (fire := trigger.get_next_fire_time(None, moment + timedelta(seconds=1))) is not None:
        moment = as_utc(fire)
        yield moment


def shortest_interval(
    trigger: CronTrigger, after: datetime, fires: int = INTERVAL_SAMPLE
) -> timedelta | None:
    """The shortest time between two successive of the next `fires` fire times (in real time,
    so a fall-back hour counts as the hour it is); None if it fires fewer than twice."""
    return min((b - a for a, b in pairwise(islice(fire_times(trigger, after), fires))), default=None)


def check_interval(expression: str, trigger: CronTrigger, now: datetime) -> None:
    """Refuse a schedule that would post to a channel more often than MIN_INTERVAL."""
    interval = shortest_interval(trigger, now)
    if interval is not None and interval < MIN_INTERVAL:
        minutes = int(interval.total_seconds() // 60)
        within = "a minute" if minutes <= 1 else f"{minutes} minutes"
        raise UserError(
            f"'{expression}' would post to the channel twice within {within}; a reminder "
            'can go out at most once an hour, such as "0 * * * *" (hourly) or '
            '"0 9 * * mon" (Mondays at 9:00).',
            CRON_EXAMPLE,
        )


def next_run(reminder: Reminder, after: datetime) -> datetime | None:
    """When the reminder fires next, strictly after `after` and after it last ran; None when
    it never will."""
    if reminder.cancelled_at is not None:
        return None
    if reminder.cron is None:
        if reminder.last_run_at is not None or reminder.run_at is None:
            return None
        return as_utc(reminder.run_at) if as_utc(reminder.run_at) > as_utc(after) else None
    trigger = cron_trigger(reminder.cron, reminder.tz)
    since = max(as_utc(after), as_utc(reminder.last_run_at or reminder.created_at))
    return next(fire_times(trigger, since), None)


def describe(reminder: Reminder, now: datetime) -> str:
    tz = zone(reminder.tz)
    upcoming = next_run(reminder, now)
    when = (
        f"cron `{reminder.cron}` ({reminder.tz})"
        if reminder.cron
        else f"once, {format_time(reminder.run_at, tz)}"
        if reminder.run_at
        else "once"
    )
    nxt = f", next {format_time(upcoming, tz)}" if upcoming and reminder.cron else ""
    return f"{short_id('M', reminder.id)} {when}{nxt}: {reminder.text}"


@handles("cohort", "remind")
async def remind(ctx: Context, args: dict[str, Any]) -> Reply:
    cohort = await cohort_named(ctx, args["name"])
    await require_coordinator(ctx, cohort)
    if not cohort.channel_id:
        raise UserError(f"{cohort.name} has no channel to post reminders in.")
    typed_tz = args["tz"] or cohort.tz  # as typed: parse_when holds EST and the like to their season
    tz = zone(typed_tz).key
    reminder = Reminder(
        workspace_id=ctx.workspace.id,
        cohort_id=cohort.id,
        tz=tz,
        text=args["text"],
        created_by=ctx.actor.id,
        created_at=ctx.now,
    )
    if args["cron"]:
        check_interval(args["cron"], cron_trigger(args["cron"], tz), ctx.now)
        reminder.cron = args["cron"]
    else:  # a day without a time: 09:00
        reminder.run_at = parse_when(args["when"], typed_tz, ctx.now, day_at=MORNING)
    ctx.session.add(reminder)
    await ctx.session.flush()
    ctx.audit("cohort.remind", short_id("M", reminder.id))
    return Reply.text(
        f"Reminder set for {markup.channel(cohort.channel_id)}: {describe(reminder, ctx.now)}. "
        f"Cancel it with `/cohort unremind {short_id('M', reminder.id)}`."
    )


@handles("cohort", "reminders")
async def reminders(ctx: Context, args: dict[str, Any]) -> Reply:
    cohort = await cohort_named(ctx, args["name"])
    await require_coordinator(ctx, cohort)
    rows = [
        r
        for r in await ctx.session.scalars(
            select(Reminder)
            .where(Reminder.cohort_id == cohort.id, Reminder.cancelled_at.is_(None))
            .order_by(Reminder.id)
        )
        if r.cron or r.last_run_at is None
    ]
    if not rows:
        return Reply.text(f"{cohort.name} has no upcoming custom reminders.")
    return Reply.text(
        "\n".join([f"*Reminders for {cohort.name}*", *(f"• {describe(r, ctx.now)}" for r in rows)])
    )


@handles("cohort", "unremind")
async def unremind(ctx: Context, args: dict[str, Any]) -> Reply:
    reminder = await ctx.session.scalar(
        select(Reminder).where(Reminder.workspace_id == ctx.workspace.id, Reminder.id == args["reminder"])
    )
    if reminder is None or reminder.cancelled_at is not None:
        raise UserError(
            f"There is no active reminder {short_id('M', args['reminder'])}.", "/cohort reminders spring"
        )
    await require_coordinator(ctx, reminder.cohort)
    reminder.cancelled_at = ctx.now
    ctx.audit("cohort.unremind", short_id("M", reminder.id))
    return Reply.text(f"Cancelled {short_id('M', reminder.id)}.")
