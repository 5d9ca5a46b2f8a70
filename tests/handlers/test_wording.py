"""Sentences people read: each phrase says its subject once, in the words they would use."""

from __future__ import annotations

import pytest

from bot.platforms.console import ConsoleChat


@pytest.fixture
def chat(conversation: ConsoleChat) -> ConsoleChat:
    """Each conversation here runs over the console and over Slack's wire (tests/harness.py)."""
    return conversation


async def test_a_learner_with_more_time_reads_their_own_deadline_plainly(spring: ConsoleChat) -> None:
    await spring.run("""
        @bob /submit extend Our testing week moved
        @coord /window grant E-1
        @bob /submit https://example.org/b
        @bob /submit status
        @carol /submit status
    """)
    bob = spring.last("only @bob")
    assert (
        "S-1 *Empowering Students as Creators* (spring): submitted, version 1 — your extended "
        "deadline is Fri 27 Mar 2026, 17:00 CDT (25 days left)."
    ) in bob
    assert "window your" not in bob
    assert (
        "*Empowering Students as Creators* (spring): not submitted yet — the window closes "
        "Fri 20 Mar 2026, 17:00 CDT (18 days left)."
    ) in spring.last("only @carol")


async def test_a_closed_window_says_closed_once(spring: ConsoleChat) -> None:
    await spring.run("""
        :clock 2026-03-21T15:00Z
        @coord /cohort status spring
        @coord /window list
        @alice /submit status
    """)
    status, listed = spring.said("only @coord")[-2:]
    assert "• W-1 *creators* closed Fri 20 Mar 2026, 22:00 UTC: " in status
    assert "• W-1 *creators* — spring, closed Fri 20 Mar 2026, 22:00 UTC" in listed
    assert "closed, closed" not in status + listed
    assert "not submitted; the window is closed." in spring.last("only @alice")


async def test_an_open_and_an_upcoming_window_each_say_when(spring: ConsoleChat) -> None:
    await spring.run("""
        @coord /window open spring collection-dev opens 2026-04-01T08:00 closes 2026-04-30T17:00
        @coord /window list
    """)
    listed = spring.last("only @coord")
    assert "• W-1 *creators* — spring, closes Fri 20 Mar 2026, 22:00 UTC (18 days left)" in listed
    assert (
        "• W-2 *collection-dev* — spring, opens Wed 1 Apr 2026, 13:00 UTC, closes Thu 30 Apr 2026, 22:00 UTC"
    ) in listed


async def test_a_task_posted_a_moment_ago_is_waiting_less_than_a_minute(spring: ConsoleChat) -> None:
    await spring.run("""
        @alice /submit https://example.org/a
        @dana /review queue
        @erin /review claim R-1
        @erin /review queue
    """)
    queue = spring.said("only @dana")[-1]
    assert "• R-1 S-1 by @alice — creators (spring), waiting less than a minute" in queue
    assert "claimed less than a minute ago" in spring.last("only @erin")
