"""Nothing of a learner's is public without their say: the cohort channel hears of a badge only
when they press "Share to #channel" (or turned autoshare on), and their reflection shows with the
badge only after they chose to show it. A revocation's reason is public; the coordinator's note
is not. (What the public page and documents hold is checked over HTTP in test_badges_web.py.)"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.platforms.console import ConsoleChat
from bot.storage import Audit, Badge
from bot.storage.db import Database


@pytest.fixture
def chat(conversation: ConsoleChat) -> ConsoleChat:
    """Each conversation here runs over the console and over Slack's wire (tests/harness.py)."""
    return conversation


APPROVED = """
    @alice /submit https://example.org/unit -- Students designed their own tools
    @dana /review claim R-1
    @dana /review approve R-1 -- Wonderful
"""


def celebrations(chat: ConsoleChat) -> list[str]:
    return [text for text in chat.said("#frl") if "earned *Empowering Students as Creators*" in text]


async def test_share_shows_the_options_to_the_learner_alone_and_posts_only_when_they_say(
    spring: ConsoleChat,
) -> None:
    await spring.run(APPROVED + "@alice /badges confirm")
    dm = spring.last("DM @alice")
    assert "Nothing is posted in #frl unless you press *Share to #frl*" in dm
    assert "[Share to #frl → /badges share B-1 #frl]" in dm
    await spring.run("@alice /badges share B-1")
    options = spring.last("only @alice")
    assert "Share *Empowering Students as Creators* (B-1): https://badges.example.org/badges/" in options
    assert "Only you see this. Nothing is posted in #frl unless you press *Share to #frl*" in options
    assert "[Share to #frl → /badges share B-1 #frl]" in options
    assert celebrations(spring) == []
    await spring.run("@alice /badges share B-1 #frl")
    assert "🎉 Celebrated B-1 in #frl." in spring.last("only @alice")
    [posted] = celebrations(spring)
    assert posted.startswith("🎉 @alice earned *Empowering Students as Creators*! Congratulations!")
    await spring.run("@alice /badges share B-1 #frl")
    assert "B-1 was already celebrated in #frl on" in spring.last("only @alice")
    assert "I didn't post it again" in spring.last("only @alice")
    assert len(celebrations(spring)) == 1
    await spring.run("@alice /badges share B-1")
    assert "Celebrated in #frl on" in spring.last("only @alice")
    assert "Share to #frl" not in spring.last("only @alice")


async def test_nobody_but_the_learner_can_share_their_badge_nor_elsewhere_than_the_cohort_channel(
    spring: ConsoleChat, db: Database
) -> None:
    await spring.run(
        APPROVED
        + """
        @alice /badges confirm
        @coord /badges share B-1 #frl
        @bob /badges share B-1 #frl
        @alice /badges share B-1 #assessors
    """
    )
    assert "You have no badge B-1." in spring.last("only @coord")
    assert "You have no badge B-1." in spring.last("only @bob")
    assert "B-1 can be celebrated only in your cohort's channel, #frl." in spring.last("only @alice")
    assert celebrations(spring) == [] and not spring.saw("#assessors", "earned")
    async with db.transaction() as session:
        assert (await session.scalar(select(Badge.shared_at))) is None


async def test_autoshare_still_celebrates_without_a_question(spring: ConsoleChat) -> None:
    await spring.run(
        """
        @alice /badges confirm
        @alice /badges autoshare on
    """
        + APPROVED
    )
    assert len(celebrations(spring)) == 1
    assert "(Shared in #frl, as you asked with autoshare.)" in spring.last("DM @alice")
    assert "Share to #frl" not in spring.last("DM @alice")


async def test_the_address_step_asks_once_whether_to_show_the_reflection(
    spring: ConsoleChat, db: Database
) -> None:
    await spring.run(APPROVED)
    ask = spring.last("DM @alice")
    assert "your badge will be issued to *alice@example.org*" in ask
    assert "your reflection stays private unless you choose to show it" in ask
    assert "[Show my reflection on the public page → /badges reflection B-1 show]" in ask
    assert "[Keep it private → /badges reflection B-1 hide]" in ask
    await spring.run("@alice /badges reflection B-1 show")
    assert "Your reflection is shown on B-1's public page once it is issued" in spring.last("only @alice")
    await spring.run("@alice /badges confirm")
    issued = spring.last("DM @alice")
    assert "You earned *Empowering Students as Creators* (B-1)" in issued
    assert (
        "public page shows your evidence links and your reflection (hide it: "
        "`/badges reflection B-1 hide`)" in issued
    )
    assert "Show my reflection" not in issued  # asked once, with the address
    async with db.transaction() as session:
        assert (await session.scalar(select(Badge.reflection_public))) is True


async def test_a_later_badge_asks_in_its_own_message_and_the_choice_can_change_any_time(
    spring: ConsoleChat, db: Database
) -> None:
    await spring.run(
        APPROVED
        + """
        @alice /badges confirm
        @coord /window open spring collection-dev closes 2026-04-01
        @alice /submit collection-dev https://example.org/plan -- Weeding with students
        @erin /review claim R-2
        @erin /review approve R-2
    """
    )
    issued = spring.last("DM @alice")
    assert "(B-2), issued to alice@example.org" in issued
    assert "your reflection stays private unless you choose to show it" in issued
    assert "[Show my reflection on the public page → /badges reflection B-2 show]" in issued
    await spring.run("@alice /badges reflection B-2 show")
    assert "Your reflection is shown on B-2's public page (https://badges.example.org/badges/" in spring.last(
        "only @alice"
    )
    await spring.run("@alice /badges reflection B-2 hide")
    hidden = spring.last("only @alice")
    assert (
        "Your reflection is private: it is not on B-2's public page nor in its Open Badges documents"
        in hidden
    )
    assert hidden.endswith("Show it again: `/badges reflection B-2 show`.")
    await spring.run("@alice /badges reflection B-1 hide")  # never shown: nothing to show "again"
    assert spring.last("only @alice").endswith("To show it: `/badges reflection B-1 show`.")
    async with db.transaction() as session:
        assert list(await session.scalars(select(Badge.reflection_public).order_by(Badge.id))) == [
            False,
            False,
        ]


async def test_only_the_learner_decides_about_their_reflection_and_without_one_nothing_is_asked(
    spring: ConsoleChat, db: Database
) -> None:
    await spring.run(
        APPROVED
        + """
        @alice /badges confirm
        @bob /submit https://example.org/bob
        @dana /review claim R-2
        @dana /review approve R-2
    """
    )
    assert "reflection" not in spring.last("DM @bob").lower()
    await spring.run("""
        @bob /badges reflection B-1 show
        @coord /badges reflection B-1 show
        @bob /badges reflection B-2 show
    """)
    assert "You have no badge B-1." in spring.said("only @bob")[-2]
    assert "You have no badge B-1." in spring.last("only @coord")
    assert "B-2 was earned without a reflection" in spring.last("only @bob")
    async with db.transaction() as session:
        assert list(await session.scalars(select(Badge.reflection_public))) == [False, False]


async def test_revoking_says_the_reason_is_public_and_keeps_the_private_note_in_the_audit_log(
    spring: ConsoleChat, db: Database
) -> None:
    await spring.run(
        APPROVED
        + """
        @alice /badges confirm
        @coord /badges revoke B-1 Evidence was not the learner's own -- plagiarism report from Ms Lee
    """
    )
    answer = spring.last("only @coord")
    assert "Revoked B-1." in answer
    assert (
        "The reason is public: the learner and anyone checking the badge read "
        '"Evidence was not the learner\'s own".' in answer
    )
    assert "Your private note is kept in the audit log only, never published." in answer
    told = spring.last("DM @alice")
    assert "was revoked: Evidence was not the learner's own." in told and "Ms Lee" not in told
    async with db.transaction() as session:
        badge = await session.scalar(select(Badge))
        entry = await session.scalar(select(Audit).where(Audit.action == "badges.revoke"))
    assert badge is not None and badge.revoked_reason == "Evidence was not the learner's own"
    assert entry is not None and entry.detail == {
        "reason": "Evidence was not the learner's own",
        "note": "plagiarism report from Ms Lee",
    }


async def test_revoking_without_a_note_says_where_one_would_go(spring: ConsoleChat) -> None:
    await spring.run(
        APPROVED
        + """
        @alice /badges confirm
        @coord /badges revoke B-1 Issued by mistake
    """
    )
    answer = spring.last("only @coord")
    assert "The reason is public" in answer
    assert "A private note for the audit log goes after ` -- `; it is never published." in answer
