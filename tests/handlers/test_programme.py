"""A programme end to end, as the people in it see it: each scenario runs over the console
and over Slack's wire (tests/harness.py), and the same assertions hold on both."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from counting import count
from harness import Conversation
from sqlalchemy import select

from bot.config import Settings
from bot.scheduler import run_due
from bot.storage import Audit, Badge, NudgeLedger, Outbox, Review, Submission, Version
from bot.storage.db import Database


@pytest.fixture
def chat(conversation: Conversation) -> Conversation:
    """Every scenario here on each platform (`spring` builds on this `chat` too)."""
    return conversation


async def test_nudge_reaches_only_those_who_have_not_submitted(chat: Conversation) -> None:
    await chat.run("""
        :clock 2026-03-02T15:00Z
        :admin @coord
        :user @alice tz=America/Chicago
        :user @bob tz=America/Chicago
        @coord /cohort create spring #frl
        @coord /cohort add spring @alice @bob
        @coord /window open spring creators closes 2026-03-20T17:00 America/Chicago
        @alice /submit https://example.org/a -- my reflection
        :clock 2026-03-18T23:00Z
    """)
    assert chat.saw("DM @bob", "2 days left")
    assert not chat.saw("DM @alice", "left")
    assert chat.saw("#frl", "1 of 2 submitted")


async def test_window_opening_is_announced_in_the_cohort_channel(spring: Conversation) -> None:
    assert spring.saw("#frl", "Empowering Students as Creators* is open for submissions")
    assert spring.saw("#frl", "Fri 20 Mar 2026, 17:00 CDT")


async def test_a_cohort_moved_to_other_channels_meets_and_reviews_there(spring: Conversation) -> None:
    await spring.run("@coord /cohort edit spring #frl-2026 reviews #reviewers")
    assert spring.last("only @coord") == "*spring*: it meets in #frl-2026; review tasks go to #reviewers."
    assert spring.saw("#frl-2026", "Cohort *spring* meets here now.")
    await spring.run("""
        @coord /window open spring collection-dev closes 2026-03-27T17:00
        @alice /submit creators https://example.org/unit -- Students led the design
    """)
    assert spring.saw("#frl-2026", "Fundamentals of Collection Development* is open for submissions")
    assert spring.saw("#reviewers", "Review task R-1: S-1 by @alice")
    assert not spring.saw("#assessors", "Review task R-1")


async def test_submission_gets_a_receipt_and_a_review_task(spring: Conversation) -> None:
    await spring.run(
        "@alice /submit https://example.org/unit https://example.org/reflection "
        "-- Grade 5 unit -- Students led the design"
    )
    receipt = spring.last("only @alice")
    assert "Received S-1 (version 1)" in receipt
    assert "https://example.org/unit" in receipt and "18 days left" in receipt
    assert spring.saw("#assessors", "Review task R-1: S-1 by @alice")
    assert spring.saw("#assessors", "/review claim R-1")


async def test_times_are_shown_in_the_readers_time_zone(spring: Conversation) -> None:
    await spring.run("""
        :user @bob tz=Europe/London
        @bob /submit https://example.org/bob
    """)
    assert "Fri 20 Mar 2026, 22:00 GMT" in spring.last("only @bob")


async def test_claimed_task_sends_evidence_and_rubric_to_the_assessor(spring: Conversation) -> None:
    await spring.run("""
        @alice /submit https://example.org/unit -- Overview here -- Students chose topics
        @dana /review claim R-1
    """)
    evidence = spring.last("DM @dana")
    assert "https://example.org/unit" in evidence
    assert "Students chose topics" in evidence and "Overview here" in evidence
    assert "`self-direction` Student self-direction" in evidence
    assert spring.saw("#assessors", "claimed by @dana")


async def test_revision_feedback_names_met_and_unmet_criteria(spring: Conversation) -> None:
    await spring.run("""
        @alice /submit https://example.org/unit -- my reflection
        @dana /review claim R-1
        @dana /review revise R-1 reflection: not yet, name what students learned -- Lovely work
    """)
    dm = spring.last("DM @alice")
    assert "needs a revision" in dm
    assert "*Not yet met:* Reflection; work on these. Criteria marked ➖ were not judged this time." in dm
    assert "❌ Reflection — Not yet: name what students learned" in dm
    assert "➖ Student creation artifacts — not judged" in dm  # not named: never shown as met
    assert "Lovely work" in dm
    await spring.run("@alice /submit status")
    assert "revision requested" in spring.last("only @alice")
    assert "❌ Reflection" in spring.last("only @alice")


async def test_resubmission_goes_back_to_the_same_assessor_with_what_changed(
    spring: Conversation, db: Database
) -> None:
    await spring.run("""
        @alice /submit https://example.org/unit -- first reflection
        @dana /review claim R-1
        @dana /review revise R-1 reflection: not yet, more detail
        @alice /submit https://example.org/unit https://example.org/interviews -- Added interviews
    """)
    assert "version 2" in spring.last("only @alice")
    evidence = spring.last("DM @dana")
    assert "You claimed R-2" in evidence
    assert "What changed since version 1:* Added interviews" in evidence
    assert "added: https://example.org/interviews" in evidence
    assert not spring.saw("#assessors", "Review task R-2")
    async with db.transaction() as session:
        review = await session.get_one(Review, 2)
        assert review.state == "claimed"
        assert (await session.get_one(Submission, 1)).state == "in review"


async def test_resubmission_without_a_change_note_is_refused(spring: Conversation) -> None:
    await spring.run("""
        @alice /submit https://example.org/unit -- first
        @dana /review claim R-1
        @dana /review revise R-1 reflection: not yet
        @alice /submit https://example.org/v2
    """)
    assert "Tell your assessor what changed" in spring.last("only @alice")


async def test_resubmission_goes_to_the_queue_when_the_assessor_has_left(spring: Conversation) -> None:
    await spring.run("""
        @alice /submit https://example.org/unit -- first
        @dana /review claim R-1
        @dana /review revise R-1 reflection: not yet
        @coord /cohort remove spring @dana as assessor
        @alice /submit https://example.org/v2 -- rewrote it
    """)
    assert spring.saw("#assessors", "Review task R-2: S-1 by @alice (version 2, a resubmission)")


async def test_first_badge_waits_until_the_learner_confirms_the_address(
    spring: Conversation, db: Database
) -> None:
    await spring.run("""
        @alice /submit https://example.org/unit -- reflection
        @dana /review claim R-1
        @dana /review approve R-1 -- Wonderful
    """)
    ask = spring.last("DM @alice")
    assert "your badge will be issued to *alice@example.org*" in ask
    assert "[Issue it to alice@example.org → /badges confirm]" in ask
    assert "badges.example.org" not in ask
    await spring.run("@alice /badges")
    assert "waiting for you to confirm your address" in spring.last("only @alice")
    await spring.run("@alice /badges email alice.ng@school.org")
    assert "Issued B-1 to it" in spring.last("only @alice")
    assert "issued to alice.ng@school.org" in spring.last("DM @alice")


async def test_approval_issues_a_badge_with_share_options(spring: Conversation, db: Database) -> None:
    await spring.run("""
        @alice /submit https://example.org/unit -- reflection
        @dana /review claim R-1
        @dana /review approve R-1 -- Wonderful
        @alice /badges confirm
    """)
    dm = spring.last("DM @alice")
    assert "You earned *Empowering Students as Creators* (B-1)" in dm
    assert "https://badges.example.org/badges/" in dm
    assert "linkedin.com/profile/add?startTask=CERTIFICATION_NAME" in dm
    assert "[Share to #frl → /badges share B-1 #frl]" in dm
    assert "/badges/" in dm and "/assertion.json" in dm and "<img src=" in dm
    assert not spring.saw("#frl", "earned")  # auto-share is off by default
    async with db.transaction() as session:
        badge = await session.scalar(select(Badge))
        assert badge is not None and badge.recipient_email == "alice@example.org"
    await spring.run("@alice /badges share B-1 #frl")
    assert spring.saw("#frl", "@alice earned *Empowering Students as Creators*")


async def test_autoshare_celebrates_in_the_channel_at_once(spring: Conversation) -> None:
    await spring.run("""
        @bob /badges confirm
        @bob /badges autoshare on
        @bob /submit https://example.org/bob
        @erin /review claim R-1
        @erin /review approve R-1
    """)
    assert spring.saw("#frl", "@bob earned *Empowering Students as Creators*")


async def test_badges_are_issued_to_the_address_the_learner_chose(spring: Conversation, db: Database) -> None:
    await spring.run("""
        @carol /badges email carol@school.org
        @carol /submit https://example.org/carol
        @dana /review claim R-1
        @dana /review approve R-1
        @carol /badges
    """)
    assert "issued to carol@school.org (confirmed" in spring.last("only @carol")
    async with db.transaction() as session:
        assert (await session.scalar(select(Badge.recipient_email))) == "carol@school.org"


async def test_blind_review_hides_the_learners_name_from_assessors(spring: Conversation) -> None:
    await spring.run("""
        @coord /window open spring collection-dev closes 2026-04-01
        @alice /submit collection-dev https://example.org/plan -- my plan
        @dana /review claim R-1
    """)
    task = spring.said("#assessors")[-2]
    assert "by the learner with blind code " in task and "@alice" not in task
    assert "@alice" not in spring.last("DM @dana")


async def test_release_puts_a_claim_back_in_the_queue(spring: Conversation) -> None:
    await spring.run("""
        @alice /submit https://example.org/a
        @dana /review claim R-1
        @dana /review release R-1
        @erin /review claim R-1
    """)
    assert "Released R-1 (S-1 by @alice)" in spring.last("only @dana")
    assert "You claimed R-1 (S-1 by @alice)" in spring.last("only @erin")


async def test_new_links_before_review_update_the_waiting_task(spring: Conversation, db: Database) -> None:
    await spring.run("""
        @alice /submit https://example.org/a
        @alice /submit https://example.org/a https://example.org/b
        @dana /review claim R-1
    """)
    assert "version 2" in spring.said("only @alice")[-1]
    assert "https://example.org/b" in spring.last("DM @dana")
    assert await count(db, Review) == 1


async def test_submitting_while_in_review_is_refused(spring: Conversation) -> None:
    await spring.run("""
        @alice /submit https://example.org/a
        @dana /review claim R-1
        @alice /submit https://example.org/b
    """)
    assert "An assessor is reviewing it right now" in spring.last("only @alice")


async def test_withdrawn_submission_leaves_the_queue(spring: Conversation) -> None:
    await spring.run("""
        @alice /submit https://example.org/a
        @alice /submit withdraw
        @dana /review queue
    """)
    assert "Withdrew S-1" in spring.said("only @alice")[-1]
    assert "Nothing to review" in spring.last("only @dana")


async def test_extending_a_window_drops_nudges_planned_for_the_old_deadline(
    spring: Conversation, db: Database
) -> None:
    await spring.run("""
        :clock 2026-03-13T22:00Z
        @coord /window extend spring creators 2026-03-27T17:00
        :clock 2026-03-18T23:00Z
    """)
    assert spring.saw("#frl", "New deadline")
    assert not spring.saw("DM @alice", "2 days left")
    await spring.run(":clock 2026-03-25T23:00Z")
    assert spring.saw("DM @alice", "2 days left")
    assert spring.last("DM @alice").count("Fri 27 Mar 2026") == 1


async def test_restarted_clock_plans_each_nudge_once(spring: Conversation, db: Database) -> None:
    await spring.run("""
        :clock 2026-03-18T23:00Z
        :clock 2026-03-18T23:05Z
        :clock 2026-03-18T23:10Z
    """)
    assert len([t for t in spring.said("DM @alice") if "2 days left" in t]) == 1
    assert await count(db, NudgeLedger) == 4  # the channel and three learners


async def test_closing_summary_names_who_did_not_submit(spring: Conversation) -> None:
    await spring.run("""
        @alice /submit https://example.org/a
        :clock 2026-03-21T01:00Z
    """)
    summary = spring.last("#frl")
    assert "closed" in summary and "1 of 3 submitted" in summary
    assert "Not submitted: @bob, @carol" in summary


async def test_custom_reminder_posts_once_at_its_time(spring: Conversation) -> None:
    await spring.run("""
        @coord /cohort remind spring 2026-03-05T09:00 Office hours today at 4pm
        @coord /cohort reminders spring
        :clock 2026-03-05T16:00Z
        :clock 2026-03-05T17:00Z
    """)
    assert "Office hours" in spring.said("only @coord")[-1]
    assert len([t for t in spring.said("#frl") if "Office hours" in t]) == 1


async def test_reminders_missed_while_the_bot_was_down_are_sent_once_if_recent(
    spring: Conversation, db: Database, settings: Settings
) -> None:
    """Real downtime (no console clock stepping through it): of a daily reminder's missed runs
    only the latest is sent, and only within REMINDER_GRACE; a one-off missed by days is not."""
    await spring.run("""
        @coord /cohort remind spring "0 9 * * *" Share one win from today
        @coord /cohort remind spring 2026-03-03T09:00 Office hours at 4pm
    """)
    spring.clock.set(datetime(2026, 3, 6, 15, 30, tzinfo=UTC))  # up again days later
    await run_due(db, settings, spring.clock.now())
    await spring.deliver()
    assert len([t for t in spring.said("#frl") if "Share one win" in t]) == 1
    assert not spring.saw("#frl", "Office hours")


async def test_cancelled_reminder_never_posts(spring: Conversation) -> None:
    await spring.run("""
        @coord /cohort remind spring 2026-03-05T09:00 Office hours
        @coord /cohort unremind M-1
        :clock 2026-03-05T16:00Z
    """)
    assert not spring.saw("#frl", "Office hours")


async def test_a_learner_lists_the_cohorts_they_are_in(spring: Conversation) -> None:
    await spring.run("""
        @coord /cohort create autumn #autumn
        @coord /cohort add autumn @alice as assessor
        @alice /cohort list
    """)
    assert spring.last("only @alice").splitlines() == [
        "*Your cohorts*",
        "• *autumn* in #autumn — 0 learners, 0 open windows — you: assessor",
        "• *spring* in #frl — 3 learners, 1 open window — you: learner",
    ]


async def test_cohort_status_shows_progress_to_coordinators(spring: Conversation) -> None:
    await spring.run("""
        @alice /submit https://example.org/a
        @coord /cohort status spring
    """)
    status = spring.last("only @coord")
    assert "1 of 3 submitted" in status
    assert "not submitted: @bob, @carol" in status
    assert "Reviews: 1 waiting" in status


async def test_every_change_is_audited(spring: Conversation, db: Database) -> None:
    await spring.run("@alice /submit https://example.org/a")
    async with db.transaction() as session:
        actions = list(await session.scalars(select(Audit.action).order_by(Audit.id)))
    assert actions[:2] == ["cohort.create", "cohort.add"]
    assert "window.open" in actions and actions[-1] == "submit"


async def test_outbound_messages_are_written_with_the_change(spring: Conversation, db: Database) -> None:
    """The review task exists in the outbox exactly when the submission does."""
    await spring.run("@alice /submit https://example.org/a")
    assert await count(db, Version) == 1
    assert await count(db, Outbox, Outbox.key == "review:1:task") == 1
    assert await count(db, Outbox, Outbox.state != "sent") == 0


async def test_unclaimed_review_is_posted_again_then_escalated_once(spring: Conversation) -> None:
    await spring.run("""
        @alice /submit https://example.org/a
        :clock 2026-03-04T16:00Z
        :clock 2026-03-05T16:00Z
        :clock 2026-03-06T16:00Z
        :clock 2026-03-06T17:00Z
    """)
    again = [t for t in spring.said("#assessors") if "Still waiting for an assessor" in t]
    assert len(again) == 1 and "Review task R-1" in again[0]
    escalations = [t for t in spring.said("DM @coord") if "R-1" in t and "no assessor" in t]
    assert len(escalations) == 1
    assert "Ask an assessor to claim it (`/review claim R-1`)" in escalations[0]
    assert "Assign" not in escalations[0]  # coordinators have no command to assign a review


async def test_stale_claim_earns_a_reminder_then_goes_back_to_the_queue(
    spring: Conversation, db: Database
) -> None:
    await spring.run("""
        @alice /submit https://example.org/a
        @dana /review claim R-1
        :clock 2026-03-05T16:00Z
        :clock 2026-03-05T17:00Z
    """)
    reminders = [t for t in spring.said("DM @dana") if "You claimed R-1" in t and "decide" in t]
    assert len(reminders) == 1
    await spring.run(":clock 2026-03-09T16:00Z")
    assert "R-1 went back to the queue" in spring.last("DM @dana")
    assert spring.saw("#assessors", "Released after 7 days without a decision")
    await spring.run("@erin /review claim R-1")
    assert "You claimed R-1 (S-1 by @alice)" in spring.last("only @erin")


# Console only: a :user change reaches Slack's app when it next looks the person up (their own
# command, a mention), and here Carol does nothing after moving; the app keeps Chicago's zone.
@pytest.mark.parametrize("conversation", ["console"], indirect=True)
async def test_dm_due_at_night_waits_for_eight_in_the_morning(spring: Conversation, db: Database) -> None:
    await spring.run("""
        :user @carol tz=Europe/London
        :clock 2026-03-18T23:00Z
    """)
    assert spring.saw("DM @alice", "2 days left")  # 18:00 in Chicago
    assert not spring.saw("DM @carol", "left")  # 23:00 in London: quiet hours
    await spring.run(":clock 2026-03-19T08:00Z")
    dm = spring.last("DM @carol")
    assert "2 days left" in dm and "Fri 20 Mar 2026, 22:00 GMT" in dm


async def test_quiet_days_move_nudges_to_the_next_allowed_day(spring: Conversation) -> None:
    await spring.run("""
        @coord /cohort quiet spring 2026-03-13..2026-03-14
        :clock 2026-03-13T22:00Z
    """)
    assert "2026-03-13, 2026-03-14" in spring.said("only @coord")[-1]
    assert not spring.saw("DM @alice", "left")
    assert not spring.saw("#frl", "7 days left")
    await spring.run(":clock 2026-03-15T13:00Z")
    assert spring.saw("DM @alice", "5 days left")
    assert spring.saw("#frl", "5 days left")


async def test_a_nudge_due_before_the_deadline_is_never_held_past_it(spring: Conversation) -> None:
    await spring.run("""
        :user @alice tz=Asia/Tokyo
        :clock 2026-03-20T20:00Z
    """)
    assert spring.saw("DM @alice", "2 hours left")  # 05:00 in Tokyo, but the deadline is sooner


async def test_learner_gets_their_own_deadline_when_a_coordinator_grants_more_time(
    spring: Conversation, db: Database
) -> None:
    await spring.run("""
        :clock 2026-03-18T23:00Z
        @bob /submit extend Our testing week moved
    """)
    assert "(E-1)" in spring.last("only @bob")
    ask = spring.last("DM @coord")
    assert "@bob asks for more time" in ask and "Our testing week moved" in ask
    assert "[Grant a week → /window grant E-1]" in ask
    await spring.run("@coord /window grant E-1")
    assert "Sat 21 Mar" not in spring.last("DM @bob")
    assert "your deadline for *Empowering Students as Creators* is now Fri 27 Mar 2026" in spring.last(
        "DM @bob"
    )
    await spring.run("""
        :clock 2026-03-21T15:00Z
        @alice /submit https://example.org/late
        @bob /submit https://example.org/bob -- on my own deadline
    """)
    assert "closed" in spring.said("only @alice")[-1]
    assert "Received S-1" in spring.last("only @bob")
    assert "late" not in spring.last("only @bob")
    assert "Your extended deadline is Fri 27 Mar 2026" in spring.last("only @bob")  # not "closed"
    assert "The window closes" not in spring.last("only @bob")


async def test_extended_learner_is_nudged_against_their_own_deadline(spring: Conversation) -> None:
    await spring.run("""
        @bob /submit extend family matters
        @coord /window grant E-1 until 2026-03-27T17:00
        :clock 2026-03-18T23:00Z
    """)
    assert spring.saw("DM @carol", "2 days left")
    assert not spring.saw("DM @bob", "2 days left")
    await spring.run(":clock 2026-03-25T23:00Z")
    assert spring.saw("DM @bob", "your extended deadline is Fri 27 Mar 2026")


async def test_denied_extension_tells_the_learner_why(spring: Conversation) -> None:
    await spring.run("""
        @bob /submit extend please
        @coord /window deny E-1 Everyone closes together this time
        @coord /window grant E-1
    """)
    assert "was not granted. Everyone closes together this time" in spring.last("DM @bob")
    assert "E-1 was already denied" in spring.last("only @coord")


async def test_learner_cannot_grant_their_own_extension(spring: Conversation) -> None:
    await spring.run("""
        @bob /submit extend please
        @bob /window grant E-1
    """)
    assert "Only coordinators of spring" in spring.last("only @bob")
