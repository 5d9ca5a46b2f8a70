"""Invisible characters in what people type, as they meet them, on SQLite and PostgreSQL.

PostgreSQL text cannot hold NUL, so a reflection pasted with one used to be acknowledged and
then answered "Sorry, something went wrong"; direction overrides can make a link read as
another. Free text keeps what people can see and loses the rest; an address, a link, a name
or an id holding such a character is refused with one sentence naming it, and nothing changes.
"""

from __future__ import annotations

import test_bad_input_and_roles as bad_input
from sqlalchemy import select

from bot.grammar import Command
from bot.platforms.console import ConsoleChat
from bot.service import Origin
from bot.storage import Member, Version


async def stored_versions(chat: ConsoleChat) -> list[tuple[str, str, list[str]]]:
    async with chat.db.transaction() as session:
        rows = await session.execute(
            select(Version.overview, Version.reflection, Version.links).order_by(Version.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_a_reflection_with_a_nul_is_stored_without_it_and_gets_a_normal_receipt(
    spring: ConsoleChat,
) -> None:
    await spring.run("""
        @alice /submit https://example.org/x -- before\x00after
        @dana /review claim R-1
    """)
    assert spring.crashes == 0 and spring.errors == 0, spring.transcript
    assert "Received S-1 (version 1)" in spring.said("only @alice")[-1]
    assert "*Reflection:* beforeafter" in spring.last("DM @dana")
    assert await stored_versions(spring) == [("", "beforeafter", ["https://example.org/x"])]


async def test_a_direction_override_in_a_reflection_is_gone(spring: ConsoleChat) -> None:
    await spring.run("""
        @alice /submit https://example.org/x -- my notes: \u202egnp.exe\u202c and \u2066more\u2069
        @dana /review claim R-1
    """)
    assert "*Reflection:* my notes: gnp.exe and more" in spring.last("DM @dana")
    assert await stored_versions(spring) == [("", "my notes: gnp.exe and more", ["https://example.org/x"])]


async def test_an_address_with_a_nul_is_refused_naming_it_and_nothing_changes(spring: ConsoleChat) -> None:
    reply = await bad_input.refused(spring, "bob", "/badges email a\x00b@example.org")
    assert reply.startswith(
        "That command contains an invisible control character (U+0000); type it again without it."
    )
    async with spring.db.transaction() as session:
        assert await session.scalar(select(Member.badge_email).where(Member.user_id == "bob")) is None


async def test_a_link_or_a_name_with_an_invisible_character_is_refused_and_nothing_changes(
    spring: ConsoleChat,
) -> None:
    await bad_input.all_refused(
        spring,
        [
            ("alice", "/submit https://example.org/x\u202e -- fine", "text-direction character (U+202E)"),
            ("coord", "/cohort add spring <@UZED|z\x00ed>", "invisible control character (U+0000)"),
            ("coord", "/cohort create aut\ue000umn #fall", "private-use character (U+E000)"),
        ],
    )


async def test_a_submission_typed_in_slack_with_a_nul_is_taken_in_and_stored_without_it(
    spring: ConsoleChat,
) -> None:
    """The typed /submit Slack acknowledges first is stored as typed, then run."""
    origin = Origin("console", "console", "alice")
    ack = await spring.bot.handle(
        origin,
        "/submit https://example.org/x -- before\x00after",
        spring.directory,
        "slack:T1:trigger-1",
        reply_to="https://hooks/1",
    )
    assert ack.intake is not None
    receipt = await spring.bot.finish(ack.intake, spring.directory)
    assert receipt.ok and "Received S-1 (version 1)" in receipt.message.text
    assert await stored_versions(spring) == [("", "beforeafter", ["https://example.org/x"])]


async def test_free_text_a_form_sends_is_cleaned_like_typed_text(spring: ConsoleChat) -> None:
    """Slack's forms build commands directly, without the chat grammar."""

    async def form(user: str, command: Command) -> str:
        reply = await spring.bot.handle(Origin("console", "console", user), command, spring.directory)
        spring.reply(user, reply)
        await spring.deliver()
        return reply.message.text

    receipt = await form(
        "alice",
        Command(
            "submit",
            "submit",
            {
                "window": None,
                "links": ["https://example.org/x"],
                "parts": ["Grade\x00 5", "see \u202egnp.exe"],
            },
        ),
    )
    assert "Received S-1" in receipt
    assert await stored_versions(spring) == [("Grade 5", "see gnp.exe", ["https://example.org/x"])]
    await spring.run("@dana /review claim R-1")
    await form(
        "dana",
        Command(
            "review",
            "revise",
            {
                "review": 1,
                "levels": {"reflection": ("not-yet", "name\x00 what students learned")},
                "feedback": "Lovely\ue000 work",
            },
        ),
    )
    feedback = spring.last("DM @alice")
    assert "name what students learned" in feedback and "Lovely work" in feedback
    refused = await form(
        "alice",
        Command(
            "submit", "submit", {"window": "crea\x00tors", "links": ["https://example.org/y"], "parts": []}
        ),
    )
    assert refused.startswith("That command contains an invisible control character (U+0000)")
    assert len(await stored_versions(spring)) == 1
    assert spring.crashes == 0


async def test_a_reason_and_a_reminder_typed_with_control_characters_arrive_clean(
    spring: ConsoleChat,
) -> None:
    await spring.run("""
        @bob /submit extend Our testing\x00 week \x1b[31mmoved
        @coord /cohort remind spring tomorrow 09:00 Office\x00 hours at \u202e4pm
        :clock 2026-03-03T15:30Z
    """)
    assert spring.crashes == 0 and spring.errors == 0, spring.transcript
    assert "Our testing week [31mmoved" in spring.last("DM @coord")
    assert spring.saw("#frl", "Office hours at 4pm")
