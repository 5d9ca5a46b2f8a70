"""Dates and names as coordinators type them, in conversations (on SQLite and PostgreSQL).

It is Monday 2 March 2026, 09:00 in Chicago (15:00 UTC) when each conversation starts."""

from __future__ import annotations

from bot.adapters.console import ConsoleChat

COHORT = """
    :admin @coord
    @coord /cohort create spring #frl tz America/Chicago
    @coord /cohort add spring @alice
"""


async def test_a_window_closes_and_a_reminder_posts_when_the_words_said(chat: ConsoleChat) -> None:
    await chat.run(COHORT + """
        @coord /window open spring creators closes next friday 5pm remind 1d
        @coord /cohort remind spring friday 9am Bring your rubric notes to office hours
    """)
    assert chat.errors == 0, chat.transcript
    assert chat.saw("only @coord", "closes Fri 6 Mar 2026, 17:00 CST")
    assert chat.saw("only @coord", "M-1 once, Fri 6 Mar 2026, 09:00 CST: Bring your rubric notes")
    await chat.run(":clock 2026-03-06T14:59Z")
    assert not chat.saw("#frl", "Bring your rubric notes")
    await chat.run(":clock 2026-03-06T15:00Z")  # 09:00 in Chicago
    assert chat.saw("#frl", "Bring your rubric notes to office hours")
    await chat.run(":clock 2026-03-06T22:59Z")
    assert not chat.saw("#frl", "closed")
    await chat.run(":clock 2026-03-06T23:00Z")  # 17:00 in Chicago
    assert chat.saw("#frl", "🔒 *Empowering Students as Creators* closed Fri 6 Mar 2026, 17:00 CST")


async def test_a_zone_abbreviation_becomes_the_windows_zone(chat: ConsoleChat) -> None:
    await chat.run(COHORT + """
        @coord /window open spring creators closes next friday 5pm PT
        @coord /window list spring
    """)
    assert chat.errors == 0, chat.transcript
    assert chat.saw("only @coord", "closes Fri 6 Mar 2026, 17:00 PST")
    await chat.run("""
        @coord /window extend W-1 Mar 13 5pm EST
        @coord /window extend W-1 Mar 7 5pm EST
    """)  # New York's clocks go forward on Sunday 8 March
    assert chat.saw("only @coord", "EST is ambiguous in summer: on Fri 13 Mar 2026 America/New_York is on "
                                   "EDT; use America/New_York.")
    assert chat.saw("#frl", "New deadline for *Empowering Students as Creators*: closes Sat 7 Mar 2026, "
                            "17:00 EST")


async def test_a_time_already_past_is_refused_as_understood(chat: ConsoleChat) -> None:
    await chat.run(COHORT + """
        @coord /cohort remind spring today 9am Office hours
        @coord /window open spring creators closes monday 5pm
    """)
    assert chat.saw("only @coord", "'today 9am' is Mon 2 Mar 2026, 09:00 CST, which has passed; did you mean "
                                   "Tue 3 Mar 2026, 09:00 CST? Type `Mar 3 09:00`.")
    assert chat.saw("only @coord", "'monday 5pm' could be today (Mon 2 Mar 2026, 17:00 CST) or a week from "
                                   "today (Mon 9 Mar 2026, 17:00 CDT); type `today 17:00` or `Mar 9 17:00`.")
    assert not chat.saw("#frl", "open")
