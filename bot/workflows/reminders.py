"""When a coordinator's reminder fires: its cron schedule read in its zone, its next firing,
and the rule that a channel hears one at most hourly. The command that sets one and the clock
that sends it read these the same way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from itertools import islice, pairwise

from apscheduler.triggers.cron import CronTrigger

from bot.domain import UserError, as_utc, zone
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
