"""Dates and times as coordinators type them: read in the window's or cohort's zone against a
fixed now, each phrase to one moment, or refused saying what was understood."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.domain import (
    MORNING,
    START_OF_DAY,
    UserError,
    date_words,
    looks_like_zone,
    parse_days,
    parse_when,
    zone,
)
from bot.grammar import SPECS, VERBS, help_text, parse

CHICAGO = ZoneInfo("America/Chicago")
MONDAY = datetime(2026, 12, 7, 16, 0, tzinfo=UTC)  # Mon 7 Dec 2026, 10:00 CST
FRIDAY = datetime(2026, 12, 11, 16, 0, tzinfo=UTC)  # Fri 11 Dec 2026, 10:00 CST


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=CHICAGO)


def refusal(typed: str, tz: ZoneInfo | str = CHICAGO, now: datetime = MONDAY, **kw: object) -> str:
    with pytest.raises(UserError) as err:
        parse_when(typed, tz, now, **kw)  # type: ignore[arg-type]
    return err.value.message


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("next friday", local(2026, 12, 11, 23, 59)),  # a deadline's day ends at 23:59
        ("friday 5pm", local(2026, 12, 11, 17, 0)),
        ("next friday 5pm", local(2026, 12, 11, 17, 0)),
        ("Friday at 5 pm", local(2026, 12, 11, 17, 0)),
        ("noon friday", local(2026, 12, 11, 12, 0)),
        ("tomorrow 17:00", local(2026, 12, 8, 17, 0)),
        ("tonight", local(2026, 12, 7, 20, 0)),
        ("Dec 20", local(2026, 12, 20, 23, 59)),
        ("the 20th", local(2026, 12, 20, 23, 59)),
        ("20th of December", local(2026, 12, 20, 23, 59)),
        ("12/20", local(2026, 12, 20, 23, 59)),  # only one way to read it
        ("20/12", local(2026, 12, 20, 23, 59)),
        ("20 Dec 2026 5pm", local(2026, 12, 20, 17, 0)),
        ("Dec 20, 2026 5:30pm", local(2026, 12, 20, 17, 30)),
        ("2026-12-20 17:00", local(2026, 12, 20, 17, 0)),
        ("2026-12-20", local(2026, 12, 20, 23, 59)),
        ("jan 5", local(2027, 1, 5, 23, 59)),  # in December, next January
        ("next week", local(2026, 12, 14, 23, 59)),
    ],
)
def test_a_phrase_means_one_moment_in_the_windows_zone(typed: str, meant: datetime) -> None:
    assert parse_when(typed, CHICAGO, MONDAY) == meant.astimezone(UTC)


@pytest.mark.parametrize(
    ("typed", "later"),
    [
        ("in 2 weeks", timedelta(weeks=2)),
        ("in a week", timedelta(weeks=1)),
        ("+3d", timedelta(days=3)),
        ("in 90 minutes", timedelta(minutes=90)),
        ("in 2d", timedelta(days=2)),
    ],
)
def test_a_time_from_now_counts_from_now(typed: str, later: timedelta) -> None:
    assert parse_when(typed, CHICAGO, MONDAY) == MONDAY + later


def test_a_day_without_a_time_means_what_the_command_needs() -> None:
    assert parse_when("friday", CHICAGO, MONDAY, day_at=START_OF_DAY) == local(2026, 12, 11, 0, 0)
    assert parse_when("friday", CHICAGO, MONDAY, day_at=MORNING) == local(2026, 12, 11, 9, 0)


def test_the_calendar_is_the_zones_own() -> None:
    """Mon 7 Dec 23:30 in Chicago is already Tuesday in UTC: `tomorrow` is Chicago's."""
    late_monday = datetime(2026, 12, 8, 5, 30, tzinfo=UTC)
    assert parse_when("tomorrow 9am", CHICAGO, late_monday) == local(2026, 12, 8, 9, 0)


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        (
            "friday",
            "'friday' could be today (Fri 11 Dec 2026, 23:59 CST) or a week from today "
            "(Fri 18 Dec 2026, 23:59 CST); type `today` or `Dec 18`.",
        ),
        (
            "friday 5pm",
            "'friday 5pm' could be today (Fri 11 Dec 2026, 17:00 CST) or a week from today "
            "(Fri 18 Dec 2026, 17:00 CST); type `today 17:00` or `Dec 18 17:00`.",
        ),
    ],
)
def test_the_weekday_of_today_is_refused_as_two_days(typed: str, said: str) -> None:
    assert refusal(typed, now=FRIDAY) == said


def test_the_weekday_of_today_after_its_time_is_a_week_later() -> None:
    assert parse_when("friday 9am", CHICAGO, FRIDAY) == local(2026, 12, 18, 9, 0).astimezone(UTC)
    assert parse_when("next friday", CHICAGO, FRIDAY) == local(2026, 12, 18, 23, 59).astimezone(UTC)
    assert parse_when("this friday 5pm", CHICAGO, FRIDAY) == local(2026, 12, 11, 17, 0).astimezone(UTC)


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("3/4", "'3/4' could be March 4 or April 3; type the month's name, like `Mar 4`."),
        (
            "Dec 1",
            "'Dec 1' has passed this year (Tue 1 Dec 2026); for Wed 1 Dec 2027, type the year: `Dec 1 2027`.",
        ),
        (
            "friday midnight",
            "'friday midnight' could mean the start or the end of that day; type 00:00 or 23:59.",
        ),
        ("tomorrow 25:00", "'25:00' is not a time of day; type it like 17:00 or 5pm."),
        ("friday 13pm", "'13pm' is not a time of day"),
        ("dec 32", "I can't read 'dec 32' as a date"),
        ("feb 30", "I can't read 'feb 30' as a date"),
        ("soonish", "I can't read 'soonish' as a date; type it like `next friday 5pm`"),
    ],
)
def test_what_could_be_read_two_ways_or_not_at_all_is_refused_saying_so(typed: str, said: str) -> None:
    assert refusal(typed).startswith(said)


def test_a_past_moment_is_refused_as_understood_with_the_one_probably_meant() -> None:
    said = refusal("today 9am")
    assert said == (
        "'today 9am' is Mon 7 Dec 2026, 09:00 CST, which has passed; did you mean "
        "Tue 8 Dec 2026, 09:00 CST? Type `Dec 8 09:00`."
    )
    assert parse_when("Dec 8 09:00", CHICAGO, MONDAY) == local(2026, 12, 8, 9, 0)  # as suggested
    assert refusal("2026-06-01") == (
        "'2026-06-01' is Mon 1 Jun 2026, 23:59 CDT, which has passed; pick a time still to come."
    )


def test_a_past_moment_is_fine_where_the_past_is() -> None:
    """A window may have opened already; the console's clock may go anywhere."""
    assert parse_when("2026-06-01", CHICAGO, MONDAY, day_at=START_OF_DAY, future=False) == local(
        2026, 6, 1, 0, 0
    )


# ------------------------------------------------------------------- changes of clocks

SPRING_MONDAY = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # the week clocks go forward (Sun 8 Mar)
FALL_MONDAY = datetime(2026, 10, 26, 15, 0, tzinfo=UTC)  # the week clocks go back (Sun 1 Nov)


def test_a_time_on_the_day_clocks_change_is_on_that_days_clock() -> None:
    assert parse_when("sunday 9am", CHICAGO, SPRING_MONDAY) == datetime(2026, 3, 8, 14, 0, tzinfo=UTC)  # CDT
    assert parse_when("2026-03-08", CHICAGO, SPRING_MONDAY) == datetime(2026, 3, 9, 4, 59, tzinfo=UTC)
    assert parse_when("sunday 9am", CHICAGO, FALL_MONDAY) == datetime(2026, 11, 1, 15, 0, tzinfo=UTC)  # CST


def test_a_time_from_now_across_a_change_of_clocks_is_that_long_from_now() -> None:
    assert parse_when("in 1 week", CHICAGO, SPRING_MONDAY) == SPRING_MONDAY + timedelta(hours=168)


@pytest.mark.parametrize("typed", ["sunday 2:30am", "2026-03-08T02:30", "Mar 8 2:30am"])
def test_a_time_the_clocks_skip_is_refused(typed: str) -> None:
    assert refusal(typed, now=SPRING_MONDAY).startswith(
        "02:30 does not exist on Sun 8 Mar 2026 in America/Chicago: the clocks go forward an hour"
    )


@pytest.mark.parametrize("typed", ["sunday 1:30am", "2026-11-01 01:30"])
def test_a_time_the_clocks_repeat_is_refused_with_a_way_to_say_which(typed: str) -> None:
    said = refusal(typed, now=FALL_MONDAY)
    assert said.startswith("01:30 happens twice on Sun 1 Nov 2026 in America/Chicago")
    assert "`2026-11-01T06:30Z` for the first" in said
    assert parse_when("2026-11-01T06:30Z", CHICAGO, FALL_MONDAY) == datetime(2026, 11, 1, 6, 30, tzinfo=UTC)


# ------------------------------------------------------------------- zones people name

SUMMER = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("EST", "America/New_York"),
        ("est", "America/New_York"),
        ("ET", "America/New_York"),
        ("CST", "America/Chicago"),
        ("PT", "America/Los_Angeles"),
        ("PST", "America/Los_Angeles"),
        ("CET", "Europe/Paris"),
        ("GMT", "UTC"),
        ("UTC", "UTC"),
        ("Europe/London", "Europe/London"),
    ],
)
def test_a_zone_abbreviation_is_read_as_the_zone_whose_clock_it_is(name: str, key: str) -> None:
    assert looks_like_zone(name) and zone(name).key == key


def test_a_word_that_is_also_an_abbreviation_is_a_zone_only_in_capitals() -> None:
    """`eat` in a reminder's text is a word; EAT is East Africa Time."""
    assert not looks_like_zone("eat") and looks_like_zone("EAT")


def test_an_abbreviation_is_read_in_its_season_and_refused_out_of_it() -> None:
    assert parse_when("friday 5pm", "EST", MONDAY) == datetime(2026, 12, 11, 22, 0, tzinfo=UTC)
    assert parse_when("friday 5pm", "PT", SUMMER) == datetime(2026, 6, 6, 0, 0, tzinfo=UTC)  # 17:00 PDT
    assert refusal("friday 5pm", "EST", SUMMER) == (
        "EST is ambiguous in summer: on Fri 5 Jun 2026 America/New_York is on EDT; use America/New_York."
    )
    assert refusal("friday 5pm", "CEST", MONDAY) == (
        "CEST is ambiguous in winter: on Fri 11 Dec 2026 Europe/Paris is on CET; use Europe/Paris."
    )


def test_an_abbreviation_several_zones_share_is_refused_naming_them() -> None:
    said = refusal("friday 5pm", "IST")
    assert said == (
        "IST names several time zones; use Asia/Kolkata (India), Europe/Dublin (Ireland) "
        "or Asia/Jerusalem (Israel)."
    )


# ------------------------------------------------------------------- where a phrase ends


@pytest.mark.parametrize(
    ("typed", "phrase"),
    [
        ("next friday 5pm remind 7d,2d", "next friday 5pm"),
        ("friday 9am Office hours at 4pm", "friday 9am"),
        ("friday 9am at the library", "friday 9am"),  # `at the` belongs to the text
        ("in 2 weeks opens tomorrow", "in 2 weeks"),
        ("Dec 20 2026 17:00 America/Chicago", "Dec 20 2026 17:00"),
        ("friday 5pm EST late allow", "friday 5pm"),
        ("friday 9am may I remind you", "friday 9am"),  # a month name alone is no date
        ("friday 9am 3 things to bring", "friday 9am"),  # nor is a number
        ("tomorrow 5 pm sharp", "tomorrow 5 pm"),
        ("Office hours", ""),
    ],
)
def test_a_phrase_ends_at_the_first_word_that_cannot_belong_to_a_date(typed: str, phrase: str) -> None:
    words = typed.split()
    assert " ".join(words[: len(date_words(words))]) == phrase


# ------------------------------------------------------------------- quiet days


def test_quiet_days_are_named_like_other_days_and_a_range_ends_after_it_starts() -> None:
    week = parse_days("next monday..friday", CHICAGO, MONDAY)
    assert [d.isoformat() for d in (week[0], week[-1])] == ["2026-12-14", "2026-12-18"] and len(week) == 5
    holidays = parse_days("dec 24..jan 1", CHICAGO, MONDAY)
    assert (holidays[0].isoformat(), holidays[-1].isoformat()) == ("2026-12-24", "2027-01-01")
    assert [d.day for d in parse_days("2026-12-21 2026-12-23, 2026-12-28", CHICAGO, MONDAY)] == [21, 23, 28]


# ------------------------------------------------------------------- in commands


@pytest.mark.parametrize(
    ("typed", "args"),
    [
        (
            "/window open spring creators closes next friday 5pm remind 7d,2d",
            {"closes": "next friday 5pm", "tz": None, "offsets": [timedelta(days=7), timedelta(days=2)]},
        ),
        (
            "/window open spring creators closes friday 5pm EST opens tomorrow 9am",
            {"closes": "friday 5pm", "tz": "EST", "opens": "tomorrow 9am"},
        ),
        (
            '/window open spring creators closes "Dec 20 5pm" America/Chicago',
            {"closes": "Dec 20 5pm", "tz": "America/Chicago"},
        ),
        ("/window open spring creators closes in 2 weeks late allow", {"closes": "in 2 weeks"}),
        ("/window extend W-3 to 20 Dec 2026 5pm PT", {"closes": "20 Dec 2026 5pm", "tz": "PT"}),
        ("/window grant E-2 until next friday CET", {"until": "next friday", "tz": "CET"}),
        (
            "/cohort remind spring friday 9am Office hours at 4pm",
            {"when": "friday 9am", "tz": None, "text": "Office hours at 4pm"},
        ),
        (
            "/cohort remind spring tomorrow 17:00 est Bring the rubric",
            {"when": "tomorrow 17:00", "tz": "est", "text": "Bring the rubric"},
        ),
        (
            "/cohort quiet spring next monday..friday, dec 24..jan 1",
            {"days": "next monday..friday, dec 24..jan 1"},
        ),
        ("/cohort create spring #frl tz EST", {"tz": "America/New_York"}),
    ],
)
def test_a_command_takes_the_date_phrase_up_to_its_next_keyword(typed: str, args: dict[str, object]) -> None:
    parsed = parse(typed).args
    assert {key: parsed[key] for key in args} == args


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        ("/window open spring creators closes soonish", "I can't read 'soonish' as the close time"),
        ("/window open spring creators closes", "Missing the close time"),
        ("/window open spring creators closes friday 5pm IST", "IST names several time zones"),
    ],
)
def test_a_command_without_a_date_it_can_read_is_refused_at_once(typed: str, said: str) -> None:
    with pytest.raises(UserError) as err:
        parse(typed)
    assert said in err.value.message


def test_no_example_in_help_shows_a_fixed_date() -> None:
    """A fixed date is in the past one day; examples say `next friday 5pm` instead."""
    examples = [s.example for s in SPECS] + [help_text(verb) for verb in VERBS]
    assert not [e for e in examples if re.search(r"\d{4}-\d{2}-\d{2}", e)]
