"""Revisions happen after the deadline: assessors review once a window has closed, and a
learner asked to revise gets a deadline of their own to resubmit by, as the people in the
programme meet it (console on both databases, and once over Slack's wire)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from fakes.blockkit import buttons_in
from slack_app import SlackApp, set_up

from bot.domain import own_deadline
from bot.platforms.console import ConsoleChat


@pytest.fixture
def chat(conversation: ConsoleChat) -> ConsoleChat:
    """Each conversation here runs over the console and over Slack's wire (tests/harness.py)."""
    return conversation


A_WEEK_AFTER_THE_DEADLINE = ":clock 2026-03-27T15:00Z"  # the window closed Fri 20 Mar, 17:00 CDT
REVISE = "@dana /review revise R-1 reflection: not yet, say what students learned -- Lovely unit"


async def test_a_revision_requested_a_week_after_the_deadline_is_resubmitted_and_approved(
    spring: ConsoleChat,
) -> None:
    await spring.run(f"""
        @alice /submit https://example.org/unit -- first reflection
        {A_WEEK_AFTER_THE_DEADLINE}
        @dana /review claim R-1
        {REVISE}
    """)
    told = spring.last("DM @alice")
    assert "needs a revision" in told
    assert "Resubmit with `/submit <links> -- what changed`" in told
    assert "before Fri 10 Apr 2026, 10:00 CDT." in told and "Fri 20 Mar" not in told
    await spring.run("""
        :clock 2026-04-02T15:00Z
        @alice /submit https://example.org/unit https://example.org/interviews -- Added interviews
    """)
    assert "Received a new version of S-1 (version 2)" in spring.last("only @alice")
    evidence = spring.last("DM @dana")
    assert "You claimed R-2" in evidence and "Added interviews" in evidence
    await spring.run("@dana /review approve R-2 -- Now it sings")
    assert "earned *Empowering Students as Creators* (B-1)" in spring.last("only @dana")
    assert "your badge will be issued to" in spring.last("DM @alice")
    assert spring.errors == 0 and spring.crashes == 0, spring.transcript


async def test_a_revision_asked_for_before_the_close_is_due_by_the_close_when_that_is_later(
    spring: ConsoleChat,
) -> None:
    await spring.run(f"""
        @alice /submit https://example.org/unit -- first reflection
        @dana /review claim R-1
        {REVISE}
    """)
    assert "before Fri 20 Mar 2026, 17:00 CDT." in spring.last("DM @alice")  # 14 days is sooner
    await spring.run("""
        :clock 2026-03-19T15:00Z
        @alice /submit https://example.org/unit https://example.org/v2 -- Added the lesson plan
        @dana /review revise R-2 reflection: not yet, one more example
    """)
    assert "before Thu 2 Apr 2026, 10:00 CDT." in spring.last("DM @alice")  # the second round's own
    await spring.run("""
        :clock 2026-03-25T15:00Z
        @alice /submit https://example.org/unit https://example.org/v3 -- Another example
    """)
    assert "Received a new version of S-1 (version 3)" in spring.last("only @alice")


async def test_revise_within_sets_how_long_a_learner_has_to_resubmit(chat: ConsoleChat) -> None:
    await chat.run("""
        :admin @coord
        :user @alice tz=America/Chicago
        @coord /cohort create spring #frl reviews #assessors tz America/Chicago
        @coord /cohort add spring @alice
        @coord /cohort add spring @dana as assessor
        @coord /window open spring creators closes 2026-03-20T17:00 revise within 10d
    """)
    assert "revisions: due within 10d of the request" in chat.last("only @coord")
    await chat.run(f"""
        @alice /submit https://example.org/unit -- first reflection
        {A_WEEK_AFTER_THE_DEADLINE}
        @dana /review claim R-1
        {REVISE}
    """)
    assert "before Mon 6 Apr 2026, 10:00 CDT." in chat.last("DM @alice")
    await chat.run("""
        :clock 2026-04-06T16:00Z
        @alice /submit https://example.org/unit https://example.org/v2 -- too late now
    """)
    refusal = chat.last("only @alice")
    assert (
        "Your own deadline for *Empowering Students as Creators* (spring) passed Mon 6 Apr 2026, "
        "10:00 CDT" in refusal
    )
    assert chat.errors == 1 and chat.crashes == 0


async def test_revise_within_must_be_a_length_of_time(chat: ConsoleChat) -> None:
    await chat.run("""
        :admin @coord
        @coord /cohort create spring #frl
        @coord /window open spring creators closes 2026-03-20T17:00 revise within soon
        @coord /window open spring creators closes 2026-03-20T17:00 revise within 0d
        @coord /window list
    """)
    refusals = chat.said("only @coord")[-3:-1]
    assert all(
        "is not a time for revisions; say how long after a request, like 10d or 2w" in r for r in refusals
    ), refusals
    assert "No windows yet" in chat.last("only @coord")


async def test_a_pending_revision_is_nudged_against_its_own_deadline(spring: ConsoleChat) -> None:
    await spring.run(f"""
        @alice /submit https://example.org/unit -- first reflection
        {A_WEEK_AFTER_THE_DEADLINE}
        @dana /review claim R-1
        {REVISE}
        :clock 2026-04-08T15:00Z
    """)
    nudge = spring.last("DM @alice")
    assert "2 days left for your revision of S-1" in nudge
    assert "resubmit by Fri 10 Apr 2026, 10:00 CDT" in nudge and "Still to work on: reflection" in nudge
    assert not spring.saw("DM @bob", "left")  # nothing handed in, and the window closed for them


async def test_status_shows_the_learner_and_the_coordinator_the_revision_deadline(
    spring: ConsoleChat,
) -> None:
    await spring.run(f"""
        @alice /submit https://example.org/unit -- first reflection
        {A_WEEK_AFTER_THE_DEADLINE}
        @dana /review claim R-1
        {REVISE}
        @alice /submit status
        @coord /cohort status spring
    """)
    assert (
        "S-1 *Empowering Students as Creators* (spring): revision requested, version 1 — "
        "resubmit by Fri 10 Apr 2026, 10:00 CDT (14 days left)."
    ) in spring.last("only @alice")
    status = spring.last("only @coord")
    assert "own deadlines: @alice until Fri 10 Apr 2026, 15:00 UTC to resubmit (E-1)" in status
    assert "not submitted: @bob, @carol" in status


async def test_a_coordinator_moves_one_learners_revision_deadline(spring: ConsoleChat) -> None:
    await spring.run(f"""
        @alice /submit https://example.org/unit -- first reflection
        {A_WEEK_AFTER_THE_DEADLINE}
        @dana /review claim R-1
        {REVISE}
        @coord /window grant E-1
    """)
    assert (
        "E-1 was already granted: @alice has until Fri 10 Apr 2026, 15:00 UTC. To move that "
        "deadline, say until when."
    ) in spring.last("only @coord")
    await spring.run("@coord /window grant E-1 until 2026-04-20T17:00")
    assert "Moved E-1: @alice has until Mon 20 Apr 2026, 22:00 UTC to resubmit." in spring.last("only @coord")
    assert (
        "Your deadline to resubmit for *Empowering Students as Creators* is now Mon 20 Apr 2026, "
        "17:00 CDT (E-1)."
    ) in spring.last("DM @alice")
    await spring.run("""
        :clock 2026-04-15T15:00Z
        @alice /submit https://example.org/unit https://example.org/v2 -- Added interviews
    """)
    assert "Received a new version of S-1 (version 2)" in spring.last("only @alice")
    assert "You claimed R-2" in spring.last("DM @dana")


async def test_a_revision_is_accepted_after_a_window_closed_by_hand(spring: ConsoleChat) -> None:
    await spring.run(f"""
        @alice /submit https://example.org/unit -- first reflection
        :clock 2026-03-10T15:00Z
        @coord /window close W-1
        @dana /review claim R-1
        {REVISE}
        :clock 2026-03-22T15:00Z
        @alice /submit https://example.org/unit https://example.org/v2 -- Added interviews
        @bob /submit https://example.org/bob
    """)
    assert spring.saw("DM @alice", "before Tue 24 Mar 2026, 10:00 CDT.")
    assert "Received a new version of S-1 (version 2)" in spring.said("only @alice")[-1]
    assert "closed Tue 10 Mar 2026, 10:00 CDT" in spring.last("only @bob")


async def test_closing_announcement_says_who_may_still_hand_in_and_until_when(spring: ConsoleChat) -> None:
    await spring.run("""
        @alice /submit https://example.org/a
        @bob /submit extend Our testing week moved
        @coord /window grant E-1
        :clock 2026-03-21T01:00Z
    """)
    summary = spring.last("#frl")
    assert "1 of 3 submitted" in summary
    assert "Not submitted: @carol." in summary
    assert "Still may hand in, on deadlines of their own: @bob until Fri 27 Mar 2026, 17:00 CDT." in summary
    assert "No other submissions are accepted." in summary
    await spring.run("@coord /cohort status spring")
    status = spring.last("only @coord")
    assert "not submitted: @carol" in status
    assert "own deadlines: @bob until Fri 27 Mar 2026, 22:00 UTC (E-1)" in status


async def test_a_revision_requested_after_the_deadline_over_slack(app: SlackApp) -> None:
    await set_up(app)
    await app.say("UALICE", "/submit https://example.org/unit -- first reflection")
    app.runtime.clock.advance(timedelta(days=25))  # type: ignore[attr-defined]  # 27 Mar, a week late
    await app.click("UDANA", buttons_in(app.fake.last_post("CREV"))["Claim"])
    await app.say("UDANA", "/review revise R-1 reflection: not yet, say what students learned")
    told = app.fake.last_post("DUALICE")["text"]
    assert "needs a revision" in told
    # the deadline in each reader's own zone, the words in the learner's for where Slack cannot
    assert re.search(
        r"before <!date\^\d+\^\{date_short_pretty\} at \{time\}\|Fri 10 Apr 2026, 10:00 CDT>", told
    )
    app.runtime.clock.advance(timedelta(days=6))  # type: ignore[attr-defined]
    answer = await app.say(
        "UALICE", "/submit https://example.org/unit https://example.org/v2 -- Added interviews"
    )
    assert "Received a new version of S-1 (version 2)" in answer
    evidence = app.fake.last_post("DUDANA")
    assert "You claimed R-2" in evidence["text"] and "Added interviews" in evidence["text"]
    assert "earned *Empowering Students as Creators* (B-1)" in await app.say(
        "UDANA", "/review approve R-2 -- Now it sings"
    )
    assert "your badge will be issued to *alice@school.org*" in app.fake.last_post("DUALICE")["text"]


def test_an_own_deadline_counts_only_after_the_window_stops_taking_work() -> None:
    ends = datetime(2026, 3, 20, 22, 0, tzinfo=UTC)
    assert own_deadline(ends, None) is None
    assert own_deadline(ends, ends) is None  # the window's own deadline applies
    assert own_deadline(ends, ends - timedelta(days=1)) is None
    assert own_deadline(ends, ends + timedelta(days=14)) == ends + timedelta(days=14)
