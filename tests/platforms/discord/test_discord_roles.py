"""Adding a whole Discord role to a cohort, over the wire: a coordinator types `@Librarians` into
`/cohort add`, Discord's client sends `<@&id>`, and the bot reads the server's member list (List
Guild Members, which needs the app's Server Members Intent switched on in the Developer Portal).
Scripts name a role as `@&librarians`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fakes.discord import CallbackType, ErrorCode, Intent, RateLimit, Role
from harness import DiscordChat, discord_chat
from sqlalchemy import func, select

from bot.clock import FakeClock
from bot.config import Settings
from bot.storage import Enrolment, Outbox
from bot.storage.db import Database

COHORT = """
    :admin @coord
    @coord /cohort create spring #frl
"""
MEMBERS = "GET /guilds/{guild_id}/members"
MEMBER = "GET /guilds/{guild_id}/members/{user_id}"


@pytest.fixture
async def chat(settings: Settings, clock: FakeClock, db: Database) -> AsyncIterator[DiscordChat]:
    """A server whose app has the Server Members Intent switched on, with cohort spring."""
    async with discord_chat(settings, clock) as discord:
        discord.fake.enabled_intents = Intent.GUILD_MEMBERS
        await discord.run(COHORT)
        assert discord.errors == 0 and discord.crashes == 0, discord.transcript
        yield discord


def role_of(chat: DiscordChat, name: str, handles: list[str]) -> Role:
    """A role in the server, held by these people."""
    role = chat.guild.add_role(name)
    for handle in handles:
        chat.person(handle).roles.append(role)
    return role


async def enrolled(chat: DiscordChat) -> int:
    async with chat.db.transaction() as session:
        return int(await session.scalar(select(func.count()).select_from(Enrolment)) or 0)


async def welcomes(chat: DiscordChat) -> int:
    async with chat.db.transaction() as session:
        query = select(func.count()).select_from(Outbox).where(Outbox.key.like("enrol:%"))
        return int(await session.scalar(query) or 0)


async def test_a_coordinator_adds_everyone_with_a_role_and_each_is_welcomed(chat: DiscordChat) -> None:
    librarians = role_of(chat, "Librarians", ["ann", "ben", "cy"])
    chat.fake.member("helper", bot=True).roles.append(librarians)  # a bot with the role
    chat.person("dora")  # in the server, without the role

    await chat.run("@coord /cohort add spring @&librarians")

    assert chat.last("only @coord") == (
        "Added @ann, @ben, @cy to *spring* as learners. "
        "Everyone with @Librarians (3 people) is a learner in *spring* now."
    )
    for handle in ("ann", "ben", "cy"):
        assert chat.saw(f"DM @{handle}", "Welcome to cohort *spring* as learner")
    assert not chat.saw("DM @dora") and not chat.said("DM @helper")
    await chat.run("@coord /cohort status spring")
    assert "3 learners" in chat.last("only @coord")


async def test_a_role_of_hundreds_is_counted_named_in_part_and_answered_in_time(chat: DiscordChat) -> None:
    handles = [f"member-{i:03}" for i in range(250)]
    readers = role_of(chat, "Readers", handles)
    await chat.run("@coord /cohort add spring @member-000 @member-001 @member-002")

    interaction = await chat.fake.slash(
        chat.person("coord"),
        "cohort add",
        {"name": "spring", "people": f"<@&{readers.id}>"},
        channel=chat.home,
    )
    await chat.wire.answered(interaction, deliver=False)  # the outbox's fan-out is not the point here
    await chat.collect()

    answer = chat.last("only @coord")
    assert answer.startswith("Added 247 learners to *spring*: @member-003, @member-004, @member-005,")
    assert "and 242 more. @member-000, @member-001, @member-002 were already learners." in answer
    assert answer.endswith("Everyone with @Readers (250 people) is a learner in *spring* now.")
    assert interaction.callback is not None and interaction.callback.after < 3  # at once, or deferred
    assert await enrolled(chat) == 1 + 250  # the coordinator who created it, and the readers
    assert await welcomes(chat) == 250  # each a welcome DM, queued with the enrolment
    assert len(chat.fake.calls(MEMBERS)) == 1  # one page of the member list


async def test_a_role_is_refused_with_what_to_do_when_the_members_intent_is_off(chat: DiscordChat) -> None:
    role_of(chat, "Librarians", ["ann", "ben"])
    chat.fake.enabled_intents = 0

    await chat.run("@coord /cohort add spring @dana @&librarians")

    answer = chat.last("only @coord")
    assert answer.startswith("I can't see who has @Librarians")
    assert "Server Members Intent" in answer and "mention the people instead" in answer
    assert [v.code for v in chat.fake.take_violations()] == [ErrorCode.MISSING_ACCESS]
    assert await enrolled(chat) == 1 and not chat.said("DM @dana")  # nothing half done


async def test_people_and_a_role_in_one_line_are_added_once_each(chat: DiscordChat) -> None:
    role_of(chat, "Mentors", ["erin", "fay"])

    await chat.run("@coord /cohort add spring @dana @erin @&mentors as assessor")

    assert chat.last("only @coord") == (
        "Added @dana, @erin, @fay to *spring* as assessors. "
        "Everyone with @Mentors (2 people) is an assessor in *spring* now."
    )
    assert chat.said("DM @erin") == ["Welcome to cohort *spring* as assessor. " + WELCOME_ASSESSOR]


WELCOME_ASSESSOR = (
    "Review tasks will reach you; `/review queue` lists them and `/review claim R-<id>` takes one."
)


async def test_a_learner_may_not_add_a_role(chat: DiscordChat) -> None:
    role_of(chat, "Librarians", ["ann", "ben"])
    await chat.run("""
        @coord /cohort add spring @bob
        @bob /cohort add spring @&librarians
    """)
    assert chat.last("only @bob").startswith("Only coordinators")
    assert await enrolled(chat) == 2 and not chat.said("DM @ann")
    assert not chat.fake.calls(MEMBERS)  # refused before the role was listed: no listing


async def test_a_role_of_another_server_is_not_found_here(chat: DiscordChat) -> None:
    other = chat.fake.add_guild("Other Server")
    theirs = other.add_role("Librarians")
    other.add_member(chat.fake.add_user("zed"), roles=[theirs])

    interaction = await chat.fake.slash(
        chat.person("coord"),
        "cohort add",
        {"name": "spring", "people": f"<@&{theirs.id}>"},
        channel=chat.home,
    )
    await chat.wire.answered(interaction)
    await chat.collect()

    assert chat.last("only @coord").startswith("I can't find that role in this server")
    assert not chat.fake.calls(MEMBERS) and await enrolled(chat) == 1


async def test_a_rate_limited_member_list_is_waited_out_and_the_answer_deferred(chat: DiscordChat) -> None:
    role_of(chat, "Librarians", ["ann", "ben"])
    chat.fake.faults.rate_limit_next(MEMBERS, retry_after=2.2)  # past the 2 s the bot answers within

    await chat.run("@coord /cohort add spring @&librarians")

    interaction = chat.fake.interactions.all[-1]
    assert interaction.callback is not None
    assert (
        interaction.callback.type is CallbackType.DEFERRED_CHANNEL_MESSAGE and interaction.callback.after < 3
    )
    assert chat.last("only @coord").startswith("Added @ann, @ben to *spring* as learners.")
    assert [c.status for c in chat.fake.calls(MEMBERS)] == [429, 200]


async def test_a_dozen_people_in_one_line_are_all_added_though_discord_paces_member_lookups(
    chat: DiscordChat,
) -> None:
    """Each mention is looked up at once (`GET /guilds/{id}/members/{id}`); a 429 from that
    route's bucket is waited out, not taken for "no such member" nor for a failure."""
    people = [f"learner{n}" for n in range(12)]
    for handle in people:
        chat.person(handle)
    chat.fake.limiter.set(MEMBER, RateLimit(5, 1.0))

    await chat.run(f"@coord /cohort add spring {' '.join('@' + p for p in people)}")

    assert chat.last("only @coord").startswith("Added 12 learners to *spring*: @learner0,")
    assert await enrolled(chat) == 13
    assert 429 in [c.status for c in chat.fake.calls(MEMBER)]
