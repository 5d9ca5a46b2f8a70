"""A coordinator's recurring reminder posts to a whole channel, so it may come at most once an hour."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import test_bad_input_and_roles as bad_input

from bot.domain import UserError
from bot.platforms.console import ConsoleChat
from bot.workflows.reminders import check_interval, cron_trigger, shortest_interval


@pytest.fixture
def chat(conversation: ConsoleChat) -> ConsoleChat:
    """Each conversation here runs over the console and over Slack's wire (tests/harness.py)."""
    return conversation


NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
MINIMUM = "a reminder can go out at most once an hour"


@pytest.mark.parametrize(
    ("cron", "within"),
    [
        ("* * * * *", "within a minute"),
        ("*/30 * * * *", "within 30 minutes"),
        ("0,30 9 * * *", "within 30 minutes"),
        ("* 9 * * *", "within a minute"),
        ("0,59 9 1 * *", "within 59 minutes"),
        ("*/15 9-17 * * mon-fri", "within 15 minutes"),
    ],
)
def test_a_schedule_posting_twice_within_an_hour_is_refused_with_one_that_works(
    cron: str, within: str
) -> None:
    with pytest.raises(UserError) as err:
        check_interval(cron, cron_trigger(cron, "America/Chicago"), NOW)
    assert err.value.message.startswith(f"'{cron}' would post to the channel twice {within}; {MINIMUM}")
    assert '"0 9 * * mon"' in err.value.message and err.value.example


@pytest.mark.parametrize(
    ("cron", "interval"),
    [
        ("0 * * * *", timedelta(hours=1)),
        ("0 9,10 * * *", timedelta(hours=1)),
        ("30 8 * * mon-fri", timedelta(days=1)),
        ("0 9 * * mon", timedelta(weeks=1)),
    ],
)
def test_a_schedule_at_most_hourly_is_accepted(cron: str, interval: timedelta) -> None:
    trigger = cron_trigger(cron, "America/Chicago")
    assert shortest_interval(trigger, NOW) == interval
    check_interval(cron, trigger, NOW)


@pytest.mark.parametrize("cron", ["0 * * * *", "30 1 * * *"])
def test_an_hourly_or_daily_reminder_set_just_before_the_clocks_go_back_is_accepted(cron: str) -> None:
    """01:00-02:00 happens twice in Chicago on 1 Nov 2026: an hour apart, not the same moment."""
    evening = datetime(2026, 11, 1, 4, 0, tzinfo=UTC)  # 23:00 CDT on 31 Oct
    trigger = cron_trigger(cron, "America/Chicago")
    assert shortest_interval(trigger, evening) == timedelta(hours=1)
    check_interval(cron, trigger, evening)


def test_a_schedule_that_never_fires_twice_has_no_interval_to_refuse() -> None:
    assert shortest_interval(cron_trigger("0 9 31 2 *", "UTC"), NOW) is None


async def test_a_coordinator_is_told_the_minimum_and_nothing_is_scheduled(spring: ConsoleChat) -> None:
    await bad_input.all_refused(
        spring,
        [
            ("coord", '/cohort remind spring "* * * * *" Stand up!', MINIMUM),
            ("coord", "/cohort remind spring every */30 * * * * Water break", MINIMUM),
            ("coord", '/cohort remind spring "0,30 9 * * *" Morning check-in', MINIMUM),
            ("coord", '/cohort remind spring "* 9 * * *" Morning check-in', MINIMUM),
        ],
    )
    await spring.run(":clock +2h")
    assert not spring.saw("#frl", "Stand up!")


async def test_an_hourly_and_a_weekly_reminder_are_accepted_and_post(spring: ConsoleChat) -> None:
    await spring.run("""
        @coord /cohort remind spring "0 * * * *" Hourly check
        @coord /cohort remind spring "0 9 * * mon" Office hours today at 4pm
        @coord /cohort reminders spring
    """)
    assert spring.errors == 0, spring.transcript
    listed = spring.last("only @coord")
    assert "M-1 cron `0 * * * *`" in listed and "M-2 cron `0 9 * * mon`" in listed
    await spring.run("""
        :clock 2026-03-02T16:00Z
        :clock 2026-03-02T17:00Z
        :clock 2026-03-02T20:30Z
    """)
    assert len([t for t in spring.said("#frl") if "Hourly check" in t]) == 5  # 16:00 to 20:00
    await spring.run("""
        @coord /cohort unremind M-1
        :clock 2026-03-09T15:00Z
    """)
    assert len([t for t in spring.said("#frl") if "Hourly check" in t]) == 5
    assert len([t for t in spring.said("#frl") if "Office hours today at 4pm" in t]) == 1
