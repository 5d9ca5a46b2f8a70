"""Dates and names as coordinators type them, in conversations (on SQLite and PostgreSQL).

It is Monday 2 March 2026, 09:00 in Chicago (15:00 UTC) when each conversation starts."""

from __future__ import annotations

import pytest
from harness import DiscordChat

from bot.platforms.console import ConsoleChat, ConsoleDirectory, render
from bot.service import Origin


@pytest.fixture
def chat(conversation: ConsoleChat) -> ConsoleChat:
    """Each conversation here runs over the console and over Slack's wire (tests/harness.py)."""
    return conversation


# Console only: its channel for every name, its bot asked directly, commands Slack never sends
CONSOLE_ONLY = pytest.mark.parametrize("conversation", ["console"], indirect=True)
# Words in the zone the bot chose (the window's, the reminder's): Discord shows each time in its
# reader's own zone, which only their Discord knows (platforms/discord/test_discord.py checks
# the moment)
ZONES_AS_WORDS = pytest.mark.parametrize("conversation", ["console", "slack"], indirect=True)

COHORT = """
    :admin @coord
    @coord /cohort create spring #frl tz America/Chicago
    @coord /cohort add spring @alice
"""


@ZONES_AS_WORDS
async def test_a_window_closes_and_a_reminder_posts_when_the_words_said(chat: ConsoleChat) -> None:
    await chat.run(
        COHORT
        + """
        @coord /window open spring creators closes next friday 5pm remind 1d
        @coord /cohort remind spring friday 9am Bring your rubric notes to office hours
    """
    )
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


@ZONES_AS_WORDS
async def test_a_zone_abbreviation_becomes_the_windows_zone(chat: ConsoleChat) -> None:
    await chat.run(
        COHORT
        + """
        @coord /window open spring creators closes next friday 5pm PT
        @coord /window list spring
    """
    )
    assert chat.errors == 0, chat.transcript
    assert chat.saw("only @coord", "closes Fri 6 Mar 2026, 17:00 PST")
    await chat.run("""
        @coord /window extend W-1 Mar 13 5pm EST
        @coord /window extend W-1 Mar 7 5pm EST
    """)  # New York's clocks go forward on Sunday 8 March
    assert chat.saw(
        "only @coord",
        "EST is ambiguous in summer: on Fri 13 Mar 2026 America/New_York is on EDT; use America/New_York.",
    )
    assert chat.saw(
        "#frl", "New deadline for *Empowering Students as Creators*: closes Sat 7 Mar 2026, 17:00 EST"
    )


async def test_a_time_already_past_is_refused_as_understood(chat: ConsoleChat) -> None:
    await chat.run(
        COHORT
        + """
        @coord /cohort remind spring today 9am Office hours
        @coord /window open spring creators closes monday 5pm
    """
    )
    assert chat.saw(
        "only @coord",
        "'today 9am' is Mon 2 Mar 2026, 09:00 CST, which has passed; did you mean "
        "Tue 3 Mar 2026, 09:00 CST? Type `Mar 3 09:00`.",
    )
    assert chat.saw(
        "only @coord",
        "'monday 5pm' could be today (Mon 2 Mar 2026, 17:00 CST) or a week from "
        "today (Mon 9 Mar 2026, 17:00 CDT); type `today 17:00` or `Mar 9 17:00`.",
    )
    assert not chat.saw("#frl", "open")


# ------------------------------------------------------------------- names


async def test_a_cohort_name_may_be_in_any_letters_or_quoted_in_several_words(chat: ConsoleChat) -> None:
    await chat.run("""
        :admin @coord
        @coord /cohort create "Spring Cohort" #frl tz America/Chicago
        @coord /cohort add "spring cohort" @alice
        @coord /cohort create Año-2026 #año-2026
        @coord /cohort add año-2026 @bob
        @coord /cohort create zoë #zoe
        @coord /window open año-2026 creators closes next friday 5pm
        @bob /submit año-2026 https://example.org/bob -- what I made
        @coord /cohort list
    """)
    assert chat.errors == 0, chat.transcript
    assert chat.saw("only @coord", "Created cohort *spring-cohort* in #frl")
    assert chat.saw("only @coord", "Added @alice to *spring-cohort* as learner")
    assert chat.saw("only @coord", "Created cohort *año-2026* in #año-2026")
    assert chat.saw("#año-2026", "👋 This is the home of cohort *año-2026*")
    assert chat.saw("only @bob", "S-1")
    listed = chat.last("only @coord")
    assert all(name in listed for name in ("spring-cohort", "año-2026", "zoë"))
    await chat.run("@coord /cohort status zoe\u0308")  # the same name, its ë typed as e and a diaeresis
    assert chat.errors == 0, chat.last("only @coord")


async def test_several_words_unquoted_are_refused_with_the_name_to_type_but_an_option_is_one_name(
    chat: ConsoleChat,
) -> None:
    await chat.run("""
        :admin @coord
        @coord /cohort create spring cohort #frl
    """)
    if isinstance(chat, DiscordChat):  # the words are the name option's, one name as if quoted
        assert chat.last("only @coord").startswith("Created cohort *spring-cohort*")
        return
    assert chat.last("only @coord").startswith(
        'A cohort name is one word: for "spring cohort" type `spring-cohort` (or quote the name)'
    )
    assert not chat.saw("#frl")


@CONSOLE_ONLY
async def test_a_cohort_created_without_a_channel_meets_where_it_was_created(chat: ConsoleChat) -> None:
    await chat.run("""
        :admin @coord
        @coord /cohort create autumn
    """)  # the console has every channel: #autumn
    assert chat.saw("only @coord", "Created cohort *autumn* in #autumn")
    assert chat.saw("#autumn", "This is the home of cohort *autumn*")
    in_a_channel = Origin("console", "console", "coord", channel="winter-frl")
    reply = await chat.bot.handle(in_a_channel, "/cohort create winter", chat.directory)
    assert reply.ok and "Created cohort *winter* in #winter-frl" in render(reply.message)


class PeopleMakeChannels(ConsoleDirectory):
    """A platform like Slack: no channel exists just because a command names it."""

    def channel_named(self, name: str) -> str | None:
        return None


@CONSOLE_ONLY
async def test_a_cohort_created_in_a_direct_message_needs_a_channel_named(chat: ConsoleChat) -> None:
    directory = PeopleMakeChannels()
    directory.update("coord", is_admin=True)
    reply = await chat.bot.handle(Origin("console", "console", "coord"), "/cohort create autumn", directory)
    assert not reply.ok
    assert render(reply.message) == (
        "You typed this in a direct message: say which channel the cohort meets "
        "in, or type the command in that channel. Example: "
        "`/cohort create autumn #autumn`"
    )


# ------------------------------------------------------------------- what people meant


# Slack sends an app only the commands it registered and answers a mistyped one (/sumbit) itself
@CONSOLE_ONLY
async def test_a_mistyped_command_or_subcommand_is_answered_with_the_nearest_one(chat: ConsoleChat) -> None:
    await chat.run(
        COHORT
        + """
        @alice /sumbit https://example.org/alice
        @coord /cohort crate autumn #fall
        @alice /submit stauts
        @alice /help reviw
    """
    )
    said = chat.said("only @alice") + chat.said("only @coord")
    assert any(s.startswith("I don't know the command '/sumbit'. Did you mean /submit?") for s in said)
    assert any(s.startswith("'crate' is not a /cohort subcommand; did you mean `create`?") for s in said)
    assert any(s.startswith("'stauts' is not a /submit subcommand; did you mean `status`?") for s in said)
    assert any(s.startswith("There is no /reviw command. Did you mean /review?") for s in said)


async def test_a_refusal_for_want_of_a_role_shows_what_the_person_can_do(chat: ConsoleChat) -> None:
    await chat.run(
        COHORT
        + """
        @coord /cohort create autumn #fall
        @coord /cohort add autumn @zoe as assessor
        @coord /cohort add autumn @yan as coordinator
        @coord /window open spring creators closes next friday 5pm
        @alice /submit https://example.org/alice -- what I made
        @alice /window open spring collection-dev closes next friday 5pm
        @alice /review claim R-1
        @zoe /cohort status spring
        @yan /window close W-1
        @stranger /review queue
    """
    )
    only = f"Only coordinators of spring (or {chat.place} admins) can do that."
    assert chat.last("only @alice") == (
        "Only assessors of this cohort can claim its reviews. As a learner, "
        "you can hand in work with /submit and see where it stands. "
        "Example: `/submit status`"
    )
    assert chat.saw(
        "only @alice",
        f"{only} As a learner, you can hand in work with /submit and see where it "
        "stands. Example: `/submit status`",
    )
    assert chat.last("only @zoe") == (
        f"{only} As an assessor, you can see the review tasks waiting. Example: `/review queue`"
    )
    assert chat.last("only @yan") == f"{only} You coordinate autumn. Example: `/cohort status autumn`"
    assert chat.last("only @stranger") == (
        "You are not an assessor in any cohort; a coordinator adds you as "
        "one. You are in no cohort yet; a coordinator adds you to one. "
        "Example: `/cohort list`"
    )
