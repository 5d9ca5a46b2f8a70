"""Review decisions are never silently misread: the id people see (S-12) finds its review, a
level or criterion the rubric lacks is refused, criteria the assessor did not judge are never
shown as met, and an assessor may correct a decision they just made, the learner hearing once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from counting import count
from fakes.blockkit import buttons_in
from slack_app import SlackApp, set_up
from sqlalchemy import select

from bot.catalogue import load_catalogue
from bot.platforms.console import ConsoleChat
from bot.storage import Badge, Extension, Review, Submission
from bot.storage.db import Database


@pytest.fixture
def chat(conversation: ConsoleChat) -> ConsoleChat:
    """Each conversation here runs over the console and over Slack's wire (tests/harness.py)."""
    return conversation


SUBMITTED = """
    @alice /submit https://example.org/unit -- Students designed their own tools
"""
CLAIMED = SUBMITTED + "@dana /review claim S-1\n"


def about(chat: ConsoleChat, who: str, ref: str) -> list[str]:
    """What `who` was told by DM about a review or badge."""
    return [t for t in chat.said(f"DM {who}") if ref in t]


# --------------------------------------------------------------------------- the id people see


async def test_a_review_is_claimed_decided_and_released_by_its_submission_id(spring: ConsoleChat) -> None:
    await spring.run(SUBMITTED + "@dana /review claim S-1")
    assert "You claimed R-1 (S-1 by @alice) for *Empowering Students as Creators*" in spring.last(
        "only @dana"
    )
    edited = spring.last("#assessors")  # the task, edited in place
    assert (
        edited.startswith("(edited) 📝 Review task R-1: S-1 by @alice")
        and "Status: claimed by @dana" in edited
    )
    await spring.run("@dana /review release s1")
    assert "Released R-1 (S-1 by @alice); it is back in the queue" in spring.last("only @dana")
    await spring.run("""
        @erin /review claim S-1
        @erin /review revise S-1 reflection: not yet, say what students learned
    """)
    assert "Sent S-1 (R-1) back for revision. Not yet met: Reflection." in spring.last("only @erin")
    assert about(spring, "@alice", "needs a revision (R-1)")


async def test_a_submission_id_without_one_open_review_is_refused_saying_why(
    spring: ConsoleChat, db: Database
) -> None:
    await spring.run(
        CLAIMED
        + """
        @dana /review revise S-1 reflection: not yet
        @erin /review claim S-1
    """
    )
    assert "S-1 has no open review: it waits for the learner's revision." in spring.last("only @erin")
    await spring.run("@erin /review claim S-9")
    assert "There is no submission S-9." in spring.last("only @erin")
    await spring.run("@bob /submit https://example.org/bob")
    async with db.transaction() as session:  # two tasks open for one submission (as data from before)
        first = await session.get_one(Review, 2)
        session.add(
            Review(
                workspace_id=first.workspace_id,
                submission_id=first.submission_id,
                version_id=first.version_id,
                state="open",
                created_at=first.created_at,
                queued_at=first.queued_at,
            )
        )
    await spring.run("@erin /review claim S-2")
    assert (
        "S-2 has 2 open reviews (R-2, R-3); say which one you mean. Example: `/review claim R-2`"
        in spring.last("only @erin")
    )
    async with db.transaction() as session:
        assert [r.state for r in await session.scalars(select(Review).order_by(Review.id))] == [
            "decided",
            "open",
            "open",
        ]


async def test_slack_claim_by_submission_id_says_which_review_it_took(app: SlackApp) -> None:
    await set_up(app)
    await app.say("UALICE", "/submit https://example.org/unit -- reflection")
    task_ts = app.fake.called("chat.postMessage")[-1].response["ts"]
    answer = await app.say("UDANA", "/review claim S-1", channel="CREV")
    assert "You claimed R-1 (S-1 by <@UALICE>) for *Empowering Students as Creators*" in answer
    await app.settle()
    update_ = app.fake.called("chat.update")[-1].args
    assert update_["ts"] == task_ts and "claimed by <@UDANA>" in update_["text"]
    assert set(buttons_in(app.fake.last_post("DUDANA"))) == {"Approve", "Request revision"}


# --------------------------------------------------------------------------- rubric levels and criteria


@pytest.mark.parametrize(
    ("typed", "refusal"),
    [
        (
            "artifacts: excellent",
            "'excellent' is not a level of Student creation artifacts; its levels are "
            "Not yet, Met or Exceeds",
        ),
        (
            "artefacts: exceeds",
            "'artefacts' is not a criterion of this credential; its criteria are artifacts "
            "(Student creation artifacts), self-direction (Student self-direction), "
            "reflection. Did you mean artifacts?",
        ),
    ],
)
async def test_a_level_or_criterion_the_rubric_lacks_is_refused_and_nothing_is_decided(
    spring: ConsoleChat, db: Database, typed: str, refusal: str
) -> None:
    await spring.run(CLAIMED + f"@dana /review approve R-1 {typed}")
    assert refusal in spring.last("only @dana")
    assert not about(spring, "@alice", "Approved")
    async with db.transaction() as session:
        assert (await session.get_one(Review, 1)).state == "claimed"
    assert await count(db, Badge) == 0


async def test_the_assessor_is_shown_each_criterion_as_judged_and_none_is_met_unjudged(
    spring: ConsoleChat,
) -> None:
    await spring.run(CLAIMED + "@dana /review approve S-1 Artifacts: EXCEEDS, lovely; reflection: met")
    answer = spring.last("only @dana")
    assert "Approved S-1 (R-1); @alice earned *Empowering Students as Creators* (B-1)." in answer
    assert "✅ Student creation artifacts — Exceeds: lovely" in answer
    assert "➖ Student self-direction — not judged" in answer
    assert "✅ Reflection — Met" in answer


async def test_a_revision_names_only_what_was_judged_not_yet_met(spring: ConsoleChat) -> None:
    await spring.run(
        CLAIMED
        + """
        @dana /review revise S-1 reflection: not-yet, say what students learned; artifacts: met
        :clock 2026-03-13T23:00Z
    """
    )
    told = about(spring, "@alice", "needs a revision (R-1)")[0]
    assert "*Not yet met:* Reflection; work on these. Criteria marked ➖ were not judged this time." in told
    assert "✅ Student creation artifacts — Met" in told
    assert "➖ Student self-direction — not judged" in told
    assert "❌ Reflection — Not yet: say what students learned" in told
    nudge = next(t for t in spring.said("DM @alice") if "for your revision of S-1" in t)
    assert "Still to work on: reflection." in nudge  # not the criteria nobody judged


async def test_a_credential_may_count_unmentioned_criteria_as_met(
    spring: ConsoleChat, db: Database, tmp_path: Path
) -> None:
    catalogue = tmp_path / "credentials.yml"
    catalogue.write_text("""credentials:
  - slug: creators
    name: Empowering Students as Creators
    issuer: {name: Future Ready Librarians, url: https://futureready.org/librarians}
    unmentioned_criteria: met
    rubric:
      - {key: artifacts, name: Student creation artifacts}
      - {key: reflection, name: Reflection}
""")
    async with db.transaction() as session:
        await load_catalogue(session, catalogue, datetime(2026, 3, 2, tzinfo=UTC))
    await spring.run(CLAIMED + "@dana /review revise S-1 reflection: not yet")
    told = about(spring, "@alice", "needs a revision (R-1)")[0]
    assert "✅ Student creation artifacts — Met (not mentioned; counts as met for this credential)" in told
    assert "*Not yet met:* Reflection; work on these." in told and "➖" not in told


# --------------------------------------------------------------------------- correcting a decision


async def test_an_approval_corrected_to_a_revision_issues_no_badge_and_tells_the_learner_once(
    spring: ConsoleChat, db: Database
) -> None:
    await spring.run(
        CLAIMED
        + """
        @dana /review approve S-1 -- Wonderful
        :clock +10m
        @dana /review revise S-1 reflection: not yet, say what students learned
    """
    )
    answer = spring.last("only @dana")
    assert "Corrected S-1 (R-1): sent back for revision (was approved). Not yet met: Reflection." in answer
    assert "❌ Reflection — Not yet: say what students learned" in answer
    assert "The learner had the earlier decision, so they get one message saying what changed." in answer
    correction = spring.last("DM @alice")
    assert correction.startswith(
        "✏️ *Correction:* your assessor changed their decision on S-1 (R-1): it "
        "needs a revision after all, and no badge is issued for it."
    )
    assert "❌ Reflection — Not yet: say what students learned" in correction
    assert len(about(spring, "@alice", "R-1")) == 1  # the correction is the one follow-up
    await spring.run("""
        @alice /badges confirm
        @alice /badges
    """)
    assert not spring.saw("DM @alice", "issued to alice@example.org")
    assert "B-1" not in spring.last("only @alice")
    async with db.transaction() as session:
        assert list(await session.scalars(select(Badge.state))) == ["cancelled"]
        assert (await session.get_one(Submission, 1)).state == "revision requested"


async def test_a_decision_corrected_before_its_message_went_out_replaces_it(
    spring: ConsoleChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    await spring.run(CLAIMED)

    async def worker_behind() -> None:
        return None

    monkeypatch.setattr(spring, "deliver", worker_behind)
    await spring.run("""
        @dana /review approve S-1 -- Wonderful
        @dana /review revise S-1 reflection: not yet, say what students learned
    """)
    assert "The earlier decision had not reached the learner yet; this one replaces it." in spring.last(
        "only @dana"
    )
    monkeypatch.undo()
    await spring.deliver()
    [told] = about(spring, "@alice", "R-1")
    assert told.startswith("✏️ Your submission S-1 for *Empowering Students as Creators* needs a revision")
    assert not spring.saw("DM @alice", "Approved") and not spring.saw("DM @alice", "Correction")


async def test_a_revision_corrected_to_an_approval_issues_one_badge_and_then_stands(
    spring: ConsoleChat, db: Database
) -> None:
    await spring.run(
        "@alice /badges confirm\n"
        + CLAIMED
        + """
        @dana /review revise S-1 reflection: not yet
        @dana /review approve S-1 -- On a second look it is all there
    """
    )
    assert "Corrected S-1 (R-1): approved (was sent back for revision); @alice earned" in spring.last(
        "only @dana"
    )
    assert "B-1 is issued, so this decision is final." in spring.last("only @dana")
    issued = spring.last("DM @alice")
    assert issued.startswith(
        "✏️ *Correction:* your assessor changed their decision on S-1 (R-1): it is "
        "approved after all, so there is nothing to revise."
    )
    assert "You earned *Empowering Students as Creators* (B-1), issued to alice@example.org" in issued
    await spring.run("@dana /review revise S-1 reflection: not yet")
    assert (
        "R-1 was already decided (approved) and its badge B-1 is issued (a coordinator can revoke it: "
        "`/badges revoke B-1 <reason>`), so it can no longer be corrected." in spring.last("only @dana")
    )
    async with db.transaction() as session:
        assert list(await session.scalars(select(Badge.state))) == ["issued"]


async def test_the_learner_reads_each_criterion_the_assessor_judged_with_its_comment(
    spring: ConsoleChat,
) -> None:
    await spring.run(
        CLAIMED
        + """
        @dana /review approve S-1 artifacts: exceeds, students led the design; reflection: met -- Wonderful
        @alice /badges confirm
    """
    )
    for told in (spring.said("DM @alice")[-2], spring.last("DM @alice")):  # asked the address; issued
        judged = "✅ Student creation artifacts — Exceeds: students led the design\n✅ Reflection — Met\n"
        assert judged in told
        assert "*Feedback:* Wonderful" in told and "not judged" not in told


async def test_an_approval_with_new_feedback_keeps_its_one_badge(spring: ConsoleChat, db: Database) -> None:
    await spring.run(
        CLAIMED
        + """
        @dana /review approve S-1 -- Wonderful
        @dana /review approve S-1 artifacts: exceeds -- Wonderful; the podcasts stand out
    """
    )
    note = spring.last("DM @alice")
    assert note.startswith(
        "✏️ *Correction:* your assessor corrected their approval for S-1 (R-1) "
        "(the feedback); this replaces their earlier message."
    )
    assert "*Feedback:* Wonderful; the podcasts stand out" in note
    assert "B-1 still waits for you to confirm its address: `/badges confirm`." in note
    await spring.run("@alice /badges confirm")
    assert "*Feedback:* Wonderful; the podcasts stand out" in spring.last("DM @alice")
    async with db.transaction() as session:
        assert list(await session.scalars(select(Badge.state))) == ["issued"]
    await spring.run("@dana /review revise S-1 reflection: not yet")
    assert "its badge B-1 is issued" in spring.last("only @dana")


async def test_a_revision_with_changed_levels_is_one_follow_up_and_keeps_its_deadline(
    spring: ConsoleChat, db: Database
) -> None:
    await spring.run(
        SUBMITTED
        + """
        :clock 2026-03-21T15:00Z
        @dana /review claim S-1
        @dana /review revise S-1 reflection: not yet -- Nearly there
        :clock +5m
        @dana /review revise S-1 reflection: not yet; artifacts: met -- Nearly there
    """
    )
    assert "Corrected S-1 (R-1): still sent back for revision." in spring.last("only @dana")
    told = about(spring, "@alice", "needs a revision (R-1)")
    assert len(told) == 2 and told[1].startswith(
        "✏️ *Correction:* your assessor corrected their revision request for S-1 (R-1) (Student "
        "creation artifacts: not judged → Met); this replaces their earlier message."
    )
    assert told[0].split("before ")[-1] == told[1].split("before ")[-1]  # the same deadline
    assert await count(db, Extension) == 1


@pytest.mark.parametrize(
    ("meanwhile", "refusal"),
    [
        (
            ":clock +15m",
            "R-1 was already decided (sent back for revision); a decision can be corrected only "
            "within 15 minutes of it, and the learner's resubmission comes back for review.",
        ),
        (
            "@alice /submit https://example.org/v2 -- added interviews",
            "R-1 was already decided (sent back for revision) and the learner has resubmitted, so it can no "
            "longer be corrected.",
        ),
        ("@alice /submit withdraw S-1", "and the learner withdrew the submission"),
    ],
)
async def test_a_decision_is_final_after_fifteen_minutes_or_once_the_learner_acts(
    spring: ConsoleChat, db: Database, meanwhile: str, refusal: str
) -> None:
    await spring.run(
        CLAIMED + "@dana /review revise S-1 reflection: not yet\n" + meanwhile + "\n@dana /review approve R-1"
    )
    assert refusal in spring.last("only @dana")
    assert await count(db, Badge) == 0


async def test_only_the_assessor_who_decided_can_correct_it(spring: ConsoleChat, db: Database) -> None:
    await spring.run(
        CLAIMED
        + """
        @dana /review approve S-1
        @erin /review revise R-1 reflection: not yet
    """
    )
    assert "R-1 was already decided (approved) by another assessor." in spring.last("only @erin")
    async with db.transaction() as session:
        assert (await session.get_one(Review, 1)).decision == "approved"
