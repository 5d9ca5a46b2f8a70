"""A person's own time zone, as they set, read and clear it: over the console, Slack's wire and
Discord's (tests/harness.py), on SQLite and PostgreSQL.

Slack's profile and the console's tell the bot a zone (the console's default is UTC here); Discord
tells none, so there a person's zone is unknown until they set it, and their cohort's applies.
It is Monday 2 March 2026, 09:00 in Chicago (15:00 UTC) when each conversation starts."""

from __future__ import annotations

import pytest
from harness import Conversation, DiscordChat, SlackChat

COHORT = """
    :admin @coord
    @coord /cohort create spring #frl tz America/Chicago
    @coord /cohort add spring @alice @bob
"""
# Where a profile tells the bot a zone: Slack's, and the console's standing in for one
PROFILES = pytest.mark.parametrize("conversation", ["console", "slack"], indirect=True)
DISCORD = pytest.mark.parametrize("conversation", ["discord"], indirect=True)


@pytest.fixture
async def chat(conversation: Conversation) -> Conversation:
    await conversation.run(COHORT)
    assert conversation.errors == 0, conversation.transcript
    return conversation


def platform(chat: Conversation) -> str:
    return (
        "Discord" if isinstance(chat, DiscordChat) else "Slack" if isinstance(chat, SlackChat) else "Console"
    )


async def test_a_person_sets_reads_and_clears_their_own_time_zone(chat: Conversation) -> None:
    await chat.run("@alice /badges timezone berlin")
    assert chat.last("only @alice") == (
        "Your time zone is now Europe/Berlin (it's Mon 2 Mar 2026, 16:00 CET there). "
        "`/badges timezone auto` goes back to automatic."
    )
    await chat.run("@alice /badges timezone")
    assert "Your time zone is Europe/Berlin (it's Mon 2 Mar 2026, 16:00 CET there), which you set." in (
        chat.last("only @alice")
    )
    await chat.run("@alice /badges timezone auto")
    cleared = chat.last("only @alice")
    assert cleared.startswith("Done: I no longer use the zone you set.")
    assert "Europe/Berlin (it's" not in cleared
    if isinstance(chat, DiscordChat):
        assert "I don't know your time zone (your Discord profile doesn't tell me)." in cleared
        assert "In spring I use its zone, America/Chicago (it's Mon 2 Mar 2026, 09:00 CST there)" in cleared
    else:
        assert (
            f"Your time zone is UTC (it's Mon 2 Mar 2026, 15:00 UTC there), from your {platform(chat)}"
            in cleared
        )


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("Europe/Berlin", "Europe/Berlin (it's Mon 2 Mar 2026, 16:00 CET"),
        ("new york", "America/New_York (it's Mon 2 Mar 2026, 10:00 EST"),
        ("EST", "America/New_York (it's Mon 2 Mar 2026, 10:00 EST"),
        ("cet", "Europe/Paris (it's Mon 2 Mar 2026, 16:00 CET"),
    ],
)
@PROFILES
async def test_a_zone_is_taken_as_people_type_it_and_said_back_as_its_iana_name(
    chat: Conversation, typed: str, meant: str
) -> None:
    await chat.run(f"@alice /badges timezone {typed}")
    assert chat.last("only @alice").startswith(f"Your time zone is now {meant}")


async def test_a_zone_that_is_no_zone_is_refused_with_an_example_and_changes_nothing(
    chat: Conversation,
) -> None:
    await chat.run("@alice /badges timezone Mars/Olympus")
    refusal = chat.last("only @alice")
    assert "'Mars/Olympus' is not a time zone I know" in refusal
    assert "a city such as Berlin" in refusal and "`/badges timezone Europe/Berlin`" in refusal
    await chat.run("@alice /badges timezone berln")
    assert "(did you mean Europe/Berlin?)" in chat.last("only @alice")
    await chat.run("@alice /badges timezone")
    assert "Europe/Berlin (it's" not in chat.last("only @alice")


@DISCORD
async def test_a_discord_learner_with_no_zone_reads_their_cohorts_zone_in_words(chat: Conversation) -> None:
    await chat.run("""
        @coord /cohort create autumn #fall tz Europe/London
        @coord /cohort add autumn @alice
        @alice /badges timezone
        @erin /badges timezone
    """)
    assert chat.last("only @alice") == (
        "I don't know your time zone (your Discord profile doesn't tell me). In each of your cohorts "
        "I use its zone: autumn Europe/London (it's Mon 2 Mar 2026, 15:00 GMT there); spring "
        "America/Chicago (it's Mon 2 Mar 2026, 09:00 CST there); elsewhere the default, UTC (it's "
        "Mon 2 Mar 2026, 15:00 UTC there). Set yours with `/badges timezone Europe/Berlin` (a city "
        "or CET will do too)."
    )
    assert "I use the default, UTC (it's Mon 2 Mar 2026, 15:00 UTC there)" in chat.last("only @erin")


async def test_your_time_is_said_only_in_a_zone_the_bot_knows_to_be_yours(chat: Conversation) -> None:
    """A window in the cohort's zone: a coordinator whose zone is known also reads it on their
    own clock; one whose zone is unknown (Discord) is not told a made-up "your time"."""
    await chat.run("@coord /window open spring creators closes 2026-03-20T17:00")
    opened = chat.last("only @coord")
    assert "closes Fri 20 Mar 2026, 17:00 CDT" in opened
    assert ("your time" in opened) != isinstance(chat, DiscordChat)
    await chat.run("""
        @coord /window close W-1
        @coord /badges timezone Europe/London
        @coord /window open spring creators closes 2026-03-27T17:00
    """)
    assert "closes Fri 27 Mar 2026, 17:00 CDT (Fri 27 Mar 2026, 22:00 GMT your time)" in chat.last(
        "only @coord"
    )


@DISCORD
async def test_a_learner_with_no_zone_is_nudged_on_their_cohorts_clock_never_held_back(
    chat: Conversation,
) -> None:
    """The 2-day nudge falls due at 22:00 UTC, 17:00 in Chicago: bob (no zone) gets it at once, on
    his cohort's clock; alice, who set London's, at 08:00 hers, not in her night."""
    await chat.run("""
        @alice /badges timezone Europe/London
        @coord /window open spring creators closes 2026-03-20T17:00
        :clock 2026-03-18T22:05Z
    """)
    assert chat.saw("DM @bob", "2 days left")
    assert not chat.saw("DM @alice", "left")
    await chat.run(":clock 2026-03-19T08:05Z")
    assert chat.saw("DM @alice", "2 days left")


@PROFILES
async def test_a_zone_someone_chose_outlives_a_change_of_their_profile(chat: Conversation) -> None:
    await chat.run("""
        :user @alice tz=America/Chicago
        @alice /badges timezone Europe/Berlin
        :user @alice tz=Asia/Tokyo
        @alice /badges timezone
    """)
    assert "Your time zone is Europe/Berlin" in chat.last("only @alice")
    assert "which you set" in chat.last("only @alice")
    await chat.run("@alice /badges timezone auto")
    tokyo = "Your time zone is Asia/Tokyo (it's Tue 3 Mar 2026, 00:00 JST there)"
    assert f"{tokyo}, from your {platform(chat)} profile" in chat.last("only @alice")


@PROFILES  # Discord's own help is its command list: tests/platforms/discord/test_discord.py
async def test_the_time_zone_command_is_in_the_help(chat: Conversation) -> None:
    await chat.run("@alice /badges help")
    assert "`/badges timezone [<zone> | auto]`" in chat.last("only @alice")
    assert "e.g. `/badges timezone Europe/Berlin`" in chat.last("only @alice")


async def test_a_cohorts_zone_is_changed_and_new_dates_are_read_in_it_while_open_windows_stand(
    chat: Conversation,
) -> None:
    await chat.run("""
        @coord /window open spring creators closes 2026-03-20T17:00
        @coord /cohort edit spring tz berlin
    """)
    assert chat.last("only @coord") == (
        "*spring*: its time zone is Europe/Berlin (was America/Chicago; open windows keep their deadlines)."
    )
    await chat.run("@coord /window open spring collection-dev closes 2026-03-27T17:00")
    assert "closes Fri 27 Mar 2026, 17:00 CET" in chat.last("only @coord")
    await chat.run("""
        @coord /badges timezone UTC
        @coord /window list spring
    """)
    listed = chat.last("only @coord")  # 17:00 in Chicago, as opened; 17:00 in Berlin
    assert "W-1 *creators* — spring, closes Fri 20 Mar 2026, 22:00 UTC" in listed
    assert "W-2 *collection-dev* — spring, closes Fri 27 Mar 2026, 16:00 UTC" in listed
    await chat.run("@alice /cohort edit spring tz UTC")
    assert chat.last("only @alice").startswith("Only coordinators of spring")
