"""Discord as its people use it, over the wire: the bot's unmodified discord.py client logged into
the fake Discord, people pressing buttons, filling in modals and typing into autocompleted
options. What is the same on every platform is in the conversation tests (tests/harness.py runs
them over Discord too); here is what Discord does its own way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from conftest import SPRING
from discord_app import UNLIMITED, discord_bot
from fakes.discord import (
    CallbackType,
    ErrorCode,
    FakeDiscord,
    Interaction,
    InteractionState,
    Message,
    Permission,
)
from fakes.discord import messages as fake_messages
from fakes.discord.limits import EPHEMERAL
from harness import DiscordChat, discord_chat

from bot.clock import FakeClock
from bot.config import Settings
from bot.messages import Reply
from bot.platforms.discord.directory import DiscordDirectory
from bot.platforms.discord.rest import DiscordRest
from bot.service import SORRY
from bot.storage.db import Database

CALLBACK = "POST /interactions/{interaction_id}/{interaction_token}/callback"
SUBMITTED = SPRING + "@alice /submit https://example.org/unit -- Students led the design\n"


@pytest.fixture
async def chat(settings: Settings, clock: FakeClock, db: Database) -> AsyncIterator[DiscordChat]:
    async with discord_chat(settings, clock) as discord:
        await discord.run(SUBMITTED)
        assert discord.errors == 0 and discord.crashes == 0, discord.transcript
        yield discord


def with_button(fake: FakeDiscord, channel: Any, custom_id: str) -> Message:
    """The latest message in `channel` showing the button `custom_id`."""
    return next(m for m in reversed(fake.messages(channel)) if custom_id in m.custom_ids())


async def press(chat: DiscordChat, who: str, message: Message, custom_id: str) -> Interaction:
    interaction = await chat.fake.click(chat.person(who), message, custom_id)
    await chat.wire.answered(interaction)
    await chat.collect()
    return interaction


def described(message: Message) -> str:
    """A card's text: its embeds' descriptions, one after the other."""
    return "\n".join(e["description"] for e in message.embeds if "description" in e)


def status_of(task: Message) -> str:
    """The claim state a review task's card shows."""
    return next(f["value"] for e in task.embeds for f in e.get("fields", []) if f["name"] == "Status")


def only_to(interaction: Interaction) -> str:
    """What the person was answered, only they seeing it (first answer, or deferred then filled)."""
    assert interaction.callback is not None
    assert interaction.callback.ephemeral, interaction.callback
    assert interaction.original is not None and interaction.original.ephemeral_to is interaction.user
    return interaction.original.content


# ------------------------------------------------------------------ buttons


async def test_a_claim_button_works_after_a_restart_and_the_task_is_edited_in_place(
    settings: Settings, clock: FakeClock, db: Database
) -> None:
    async with FakeDiscord(rate_limits={}, global_limit=None) as fake:
        async with discord_bot(fake, settings, clock, **UNLIMITED) as first:
            chat = DiscordChat(first)
            await chat.run(SUBMITTED)
            assessors, dana = chat.channel("assessors"), chat.person("dana")
        task = with_button(fake, assessors, "/review claim R-1")
        async with discord_bot(fake, settings, clock, **UNLIMITED) as second:  # a new process
            click = await fake.click(dana, task, "/review claim R-1")
            await second.answered(click)
        fake.check_violations(ending=True)

    assert "You claimed R-1 (S-1 by <@" in only_to(click)
    assert status_of(task) == f"claimed by <@{dana.id}>"  # the same message's embed, edited
    assert "/review claim R-1" not in task.custom_ids()
    assert fake.messages(assessors)[-1] is task
    evidence = fake.messages(fake.dm_channel(dana))[-1]
    assert "https://example.org/unit" in described(evidence)
    assert {"/review approve R-1", "/review revise R-1"} <= set(evidence.custom_ids())


async def test_a_click_by_someone_without_the_role_is_refused_only_to_them(chat: DiscordChat) -> None:
    assessors = chat.channel("assessors")
    task = with_button(chat.fake, assessors, "/review claim R-1")
    before = task.content
    click = await press(chat, "alice", task, "/review claim R-1")
    assert "Only assessors" in only_to(click)
    assert task.content == before and "/review claim R-1" in task.custom_ids()
    assert chat.last("#assessors") == chat.said("#assessors")[-1]  # nothing new there


async def test_a_button_this_version_does_not_know_is_answered_with_what_to_do(chat: DiscordChat) -> None:
    general = chat.home
    old = fake_messages.compose(
        chat.fake.world,
        general,
        {"content": "From long ago", "components": [{"type": 1, "components": [_button("claim:7")]}]},
    )
    await chat.fake.publish(old)
    click = await press(chat, "dana", old, "claim:7")
    assert only_to(click).startswith("That button no longer does anything")


def _button(custom_id: str) -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": "Claim", "custom_id": custom_id}


async def test_a_button_in_a_dm_asks_which_server_when_the_presser_shares_two_with_the_bot(
    chat: DiscordChat,
) -> None:
    await chat.run("@dana /review claim R-1")
    fake = chat.fake
    evidence = with_button(fake, fake.dm_channel(chat.person("dana")), "/review approve R-1")
    other = await fake.invite_bot("Another Library")
    other.add_member(chat.person("dana").user)
    client = chat.wire.platform.client
    assert client is not None
    await fake.wait_until(lambda: len(client.guild_ids()) == 2, what="the second server")

    click = await press(chat, "dana", evidence, "/review approve R-1")

    assert only_to(click).startswith("I can't tell which server you mean here")
    assert click.callback is not None and click.callback.type is not CallbackType.MODAL
    await chat.run("@dana /review approve R-1 -- Wonderful")  # in the server, as the answer says
    assert "approved" in chat.last("only @dana").lower()  # still hers to decide: the click did nothing


async def test_a_name_typed_as_text_rather_than_picked_as_a_mention_is_answered_with_how(
    chat: DiscordChat,
) -> None:
    for typed in ("@zoe", "@Librarians"):
        interaction = await chat.fake.slash(
            chat.person("coord"), "cohort add", {"name": "spring", "people": typed}, channel=chat.home
        )
        await chat.wire.answered(interaction)
        assert only_to(interaction).startswith(
            f"I can't find {typed} in this server; mention people who are members here, picking each "
            "from the list that appears as you type @."
        )
    chat.fake.check_violations()  # nothing asked of Discord about "zoe"


# ------------------------------------------------------------------ answering in time


async def test_a_command_is_acknowledged_at_once_and_its_answer_filled_in(chat: DiscordChat) -> None:
    interaction = await chat.fake.slash(chat.person("coord"), "cohort list", channel=chat.home)
    await chat.wire.answered(interaction)
    callback = interaction.callback
    assert callback is not None and callback.ephemeral
    assert callback.type is CallbackType.DEFERRED_CHANNEL_MESSAGE
    assert "spring" in only_to(interaction)  # the "thinking…" message, filled in
    chat.fake.check_violations()


async def test_a_slow_command_is_acknowledged_before_it_finishes(
    chat: DiscordChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = chat.wire.runtime.bot
    handle = bot.handle

    async def slow(*args: Any, **kwargs: Any) -> Reply:
        await asyncio.sleep(0.5)  # a busy database, say
        return await handle(*args, **kwargs)

    monkeypatch.setattr(bot, "handle", slow)
    interaction = await chat.fake.slash(chat.person("coord"), "cohort list", channel=chat.home)
    callback = await chat.fake.answer(interaction)
    assert callback.type is CallbackType.DEFERRED_CHANNEL_MESSAGE and callback.after < 0.4
    assert interaction.loading  # "thinking…" while the database is busy
    await chat.wire.answered(interaction)
    assert "spring" in only_to(interaction)
    chat.fake.check_violations()


async def test_a_submission_whose_acknowledgement_came_too_late_is_not_taken_in(chat: DiscordChat) -> None:
    """Discord showed bob "This interaction failed" (the acknowledgement reached it after its
    3 s), so he will send it again: the first is not taken in behind his back as well."""
    fake, bob = chat.fake, chat.person("bob")
    fake.faults.delay(CALLBACK, fake.interactions.ack_window + 0.2, times=1)
    late = await fake.slash(bob, "submit evidence", {"links": "https://example.org/late"}, channel=chat.home)
    await fake.wait_until(lambda: late.state is InteractionState.FAILED, within=10, what="Discord's refusal")
    await chat.wire.settle()
    assert late.original is None and not late.followups
    assert [v.code for v in fake.take_violations()] == [ErrorCode.UNKNOWN_INTERACTION]
    again = await fake.slash(bob, "submit evidence", {"links": "https://example.org/late"}, channel=chat.home)
    await chat.wire.answered(again)
    (receipt,) = await fake.followups(again)
    assert "Received S-2" in receipt.content  # his only submission: S-1 is alice's
    fake.check_violations()


async def test_a_failure_is_a_sentence_never_this_interaction_failed(
    chat: DiscordChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Reply:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(chat.wire.runtime.bot, "handle", broken)
    interaction = await chat.fake.slash(chat.person("coord"), "cohort list", channel=chat.home)
    await chat.wire.answered(interaction)
    assert only_to(interaction) == SORRY
    chat.fake.check_violations()


# ------------------------------------------------------------------ cards

# Discord's palette, by the card's kind
NUDGE_YELLOW, TASK_BLURPLE, CELEBRATION_GREEN, NEWS_GREYPLE = 0xFEE75C, 0x5865F2, 0x57F287, 0x99AAB5
ABOUT_CREATORS = "Empowering Students as Creators · spring"


async def test_a_review_task_is_a_card_whose_claim_state_the_claim_edits_in_place(chat: DiscordChat) -> None:
    fake, assessors = chat.fake, chat.channel("assessors")
    task = with_button(fake, assessors, "/review claim R-1")
    (card,) = task.embeds
    assert task.content == "" and card["color"] == TASK_BLURPLE and card["title"] == ABOUT_CREATORS
    assert described(task).startswith("📝 Review task R-1: S-1 by <@")
    assert status_of(task) == "waiting for an assessor"
    posted = len(fake.messages(assessors))

    await press(chat, "dana", task, "/review claim R-1")
    (card,) = task.embeds
    assert status_of(task) == f"claimed by <@{chat.person('dana').id}>"
    assert card["color"] == TASK_BLURPLE and card["title"] == ABOUT_CREATORS
    assert task.data["edited_timestamp"] is not None and len(fake.messages(assessors)) == posted
    evidence = fake.messages(fake.dm_channel(chat.person("dana")))[-1]
    assert evidence.embeds[0]["color"] == TASK_BLURPLE and evidence.embeds[0]["title"] == ABOUT_CREATORS
    assert "Students led the design" in described(evidence)


async def test_a_nudge_is_a_card_to_the_learner_and_to_the_channel(chat: DiscordChat) -> None:
    await chat.run(":clock 2026-03-18T23:00Z")
    fake = chat.fake
    dm = fake.messages(fake.dm_channel(chat.person("bob")))[-1]
    (card,) = dm.embeds
    assert card["color"] == NUDGE_YELLOW and card["title"] == ABOUT_CREATORS
    assert "2 days left to submit" in card["description"] and card["footer"] == {"text": "W-1"}
    assert {"/submit", "/submit extend"} <= set(dm.custom_ids())
    channel = next(m for m in reversed(fake.messages(chat.channel("frl"))) if "closes" in described(m))
    assert channel.embeds[0]["color"] == NUDGE_YELLOW and "1 of 3 submitted" in described(channel)


async def test_a_window_opening_and_closing_and_a_reminder_are_news_cards_in_the_channel(
    chat: DiscordChat,
) -> None:
    await chat.run("""
        @coord /cohort remind spring in 1 hour Office hours today at 4pm
        :clock +61m
        @coord /window close W-1
    """)
    fake = chat.fake
    opened, reminded, closed = (
        m for m in fake.messages(chat.channel("frl")) if m.embeds and m.embeds[0]["color"] == NEWS_GREYPLE
    )
    assert opened.embeds[0]["title"] == ABOUT_CREATORS and "is open for submissions" in described(opened)
    assert opened.embeds[0]["footer"]["text"].startswith("W-1") and "/submit" in opened.custom_ids()
    assert reminded.embeds[0]["title"] == "spring" and described(reminded) == "📣 Office hours today at 4pm"
    assert closed.embeds[0]["title"] == ABOUT_CREATORS and "closed" in described(closed)


async def test_a_badge_is_celebrated_as_a_card_with_its_image_linked_to_its_page(chat: DiscordChat) -> None:
    await chat.run("""
        @dana /review claim R-1
        @dana /review approve R-1 -- Wonderful
        @alice /badges email alice@school.org
        @alice /badges confirm
        @alice /badges share B-1 #frl
    """)
    fake = chat.fake
    posted = next(m for m in reversed(fake.messages(chat.channel("frl"))) if "earned" in described(m))
    dm = next(m for m in reversed(fake.messages(fake.dm_channel(chat.person("alice")))) if m.embeds)
    for message in (posted, dm):
        (card,) = message.embeds
        links = {b["label"]: b["url"] for row in message.components for b in row["components"] if "url" in b}
        assert card["color"] == CELEBRATION_GREEN and card["title"] == "Empowering Students as Creators"
        assert card["url"] == links["View badge"] and card["url"].startswith(
            "https://badges.example.org/badges/"
        )
        assert card["thumbnail"] == {"url": card["url"] + "/image.png"}
        assert {"Share on LinkedIn", "Share on X", "Share on Facebook"} <= set(links)
    assert "Download badge image" in str(dm.components) and "Download badge image" not in str(
        posted.components
    )
    assert described(posted).startswith(f"🎉 <@{chat.person('alice').id}> earned **Empowering")


def words(n: int, word: str) -> str:
    """About `n` characters of words, e.g. a long overview or reflection."""
    text = " ".join(f"{word}{i}" for i in range(n))
    return text[: text.rfind(" ", 0, n)]


async def test_long_evidence_reaches_the_assessor_whole_over_two_embeds(chat: DiscordChat) -> None:
    fake = chat.fake
    overview, reflection = words(2500, "plan"), words(2500, "learnt")  # more than one embed holds
    opened = await fake.slash(chat.person("bob"), "submit evidence", channel=chat.home)
    await fake.answer(opened)
    values = {"Overview": overview, "Artifact links": "https://example.org/bob", "Reflection": reflection}
    await chat.wire.answered(await fake.submit_modal(opened, values))
    await chat.run("@dana /review claim R-2")
    evidence = fake.messages(fake.dm_channel(chat.person("dana")))[-1]
    assert [e.get("title") for e in evidence.embeds] == [ABOUT_CREATORS, None]
    text = described(evidence).replace("\n", " ")
    assert overview in text and reflection in text and "Decide with `/review approve R-2" in text


# ------------------------------------------------------------------ modals


async def test_submit_alone_opens_the_form_and_its_values_hand_in_evidence(chat: DiscordChat) -> None:
    fake = chat.fake
    opened = await fake.slash(chat.person("bob"), "submit evidence", channel=chat.home)
    modal = await fake.answer(opened)
    assert modal.type is CallbackType.MODAL and modal.data["title"] == "Submit evidence"
    sent = await fake.submit_modal(
        opened,
        {
            "Overview": "A maker space unit",
            "Artifact links": "https://example.org/bob\nhttps://example.org/bob-2",
            "Reflection": "Students chose their own topics",
        },
    )
    await chat.wire.answered(sent)
    await chat.collect()
    receipt = only_to(sent)
    assert "Received S-2 (version 1)" in receipt and "https://example.org/bob-2" in receipt
    assert chat.saw("#assessors", "Review task R-2: S-2 by @bob")


async def test_after_a_revision_request_the_form_asks_what_changed_with_the_links_to_edit(
    chat: DiscordChat,
) -> None:
    await chat.run("""
        @dana /review claim R-1
        @dana /review revise R-1 reflection: not yet, say what students learned
    """)
    fake = chat.fake
    opened = await fake.slash(chat.person("alice"), "submit evidence", channel=chat.home)
    modal = await fake.answer(opened)
    assert modal.data["title"] == "Resubmit evidence"
    fields = {item["label"]: item["component"] for item in modal.data["components"]}
    assert list(fields) == ["What changed", "Artifact links", "New reflection", "Window"]
    assert (
        fields["Artifact links"]["value"] == "https://example.org/unit" and fields["What changed"]["required"]
    )
    sent = await fake.submit_modal(
        opened,
        {
            "What changed": "Added what students learned",
            "Artifact links": "https://example.org/unit\nhttps://example.org/interviews",
        },
    )
    await chat.wire.answered(sent)
    assert "Received a new version of S-1 (version 2)" in only_to(sent)
    await chat.collect()  # the claiming assessor hears of the new version, with what changed
    assert [s.where for s in chat.transcript if "Added what students learned" in s.text] == ["DM @dana"]


async def test_a_form_value_refused_says_why_and_offers_the_form_again(chat: DiscordChat) -> None:
    fake = chat.fake
    opened = await fake.slash(chat.person("bob"), "submit evidence", channel=chat.home)
    await fake.answer(opened)
    sent = await fake.submit_modal(opened, {"Artifact links": "my lesson plan", "Reflection": "It went well"})
    await chat.wire.answered(sent)
    said = only_to(sent)
    assert said.startswith("Nothing was sent: 'my' is not a web link")
    assert sent.original is not None and sent.original.custom_ids() == ["/submit"]

    again = await fake.click(chat.person("bob"), sent.original, "/submit")  # "Open the form again"
    modal = await fake.answer(again)
    typed = {item["label"]: item["component"].get("value") for item in modal.data["components"]}
    assert typed["Artifact links"] == "my lesson plan" and typed["Reflection"] == "It went well"
    fixed = await fake.submit_modal(
        again, {"Artifact links": "https://example.org/plan", "Reflection": "It went well"}
    )
    await chat.wire.answered(fixed)
    assert "Received S-2 (version 1)" in only_to(fixed)
    reopened = await fake.click(chat.person("bob"), sent.original, "/submit")  # kept only until used
    assert all("value" not in i["component"] for i in (await fake.answer(reopened)).data["components"])


async def test_the_rubric_form_from_the_dm_button_sends_a_submission_back(chat: DiscordChat) -> None:
    """A button in a DM has no server: the bot finds the one the assessor shares with it."""
    await chat.run("@dana /review claim R-1")
    fake, dana = chat.fake, chat.person("dana")
    evidence = with_button(fake, fake.dm_channel(dana), "/review revise R-1")
    opened = await fake.click(dana, evidence, "/review revise R-1")
    modal = await fake.answer(opened)
    assert modal.type is CallbackType.MODAL and modal.data["title"] == "Request revision"
    labels = [item["label"] for item in modal.data["components"]]
    assert labels == [
        "Student creation artifacts",
        "Student self-direction",
        "Reflection",
        "Feedback to the learner",
    ]
    assert all(len(label) <= 45 for label in labels)
    sent = await fake.submit_modal(
        opened,
        {"Reflection": "Not yet, name what students learned", "Feedback to the learner": "Lovely work"},
    )
    await chat.wire.answered(sent)
    await chat.collect()
    assert "S-1" in only_to(sent) and "revision" in only_to(sent)
    dm = chat.last("DM @alice")
    assert "needs a revision" in dm and "❌ Reflection — Not yet: name what students learned" in dm
    assert "Lovely work" in dm


# ------------------------------------------------------------------ autocomplete


async def suggestions(chat: DiscordChat, who: str, command: str, option: str, typed: str) -> list[str]:
    asked = await chat.fake.autocomplete(
        chat.person(who), command, {option: typed}, focused=option, channel=chat.home
    )
    answer = await chat.fake.answer(asked)
    assert answer.type is CallbackType.AUTOCOMPLETE_RESULT
    return [choice["value"] for choice in answer.data["choices"]]


async def test_autocomplete_suggests_what_people_would_otherwise_remember(chat: DiscordChat) -> None:
    assert await suggestions(chat, "coord", "cohort status", "name", "sp") == ["spring"]
    assert await suggestions(chat, "dana", "review claim", "review", "") == ["R-1"]
    assert await suggestions(chat, "alice", "review claim", "review", "") == []  # not an assessor
    assert await suggestions(chat, "coord", "window close", "window", "W") == ["W-1"]
    assert "creators" in await suggestions(chat, "coord", "window open", "credential", "cre")
    zones = await suggestions(chat, "coord", "cohort create", "tz", "america")
    assert len(zones) == 25 and "America/Chicago" in await suggestions(
        chat, "coord", "cohort create", "tz", "chicago"
    )


async def test_a_time_zone_is_chosen_from_suggestions_read_as_the_command_reads_it(chat: DiscordChat) -> None:
    """`/badges timezone` comes from the grammar with the others; its zone is autocompleted, the
    zone a typed abbreviation or city names first."""
    assert await suggestions(chat, "alice", "badges timezone", "zone", "berl") == ["Europe/Berlin"]
    assert (await suggestions(chat, "alice", "badges timezone", "zone", "cet"))[0] == "Europe/Paris"
    assert (await suggestions(chat, "alice", "badges timezone", "zone", "new york"))[0] == "America/New_York"
    await chat.run("@alice /badges timezone Europe/Paris")
    assert chat.last("only @alice").startswith(
        "Your time zone is now Europe/Paris (it's Mon 2 Mar 2026, 16:00 CET"
    )


# ------------------------------------------------------------------ who is an admin


async def test_members_who_may_manage_the_server_are_its_admins(
    fake_discord: FakeDiscord, settings: Settings
) -> None:
    fake = fake_discord
    assert fake.guild is not None
    managers = fake.guild.add_role("Managers", permissions=Permission.MANAGE_GUILD)
    admins = fake.guild.add_role("Admins", permissions=Permission.ADMINISTRATOR)
    manager, admin, plain = fake.member("maria"), fake.member("ada"), fake.member("pat")
    manager.roles.append(managers)
    admin.roles.append(admins)
    rest = DiscordRest(
        settings.model_copy(update={"discord_token": fake.token, "discord_api_url": fake.api_url})
    )
    directory = DiscordDirectory(str(fake.guild.id), rest)
    try:
        profiles = {m.user.username: await directory.profile(str(m.id)) for m in (manager, admin, plain)}
        owner = await directory.profile(str(fake.owner.id))
        stranger = await directory.profile(str(fake.add_user("stranger").id))
    finally:
        await rest.close()
    assert [v.code for v in fake.take_violations()] == [ErrorCode.UNKNOWN_MEMBER]  # not in the server
    assert {name: p.is_admin for name, p in profiles.items() if p} == {
        "maria": True,
        "ada": True,
        "pat": False,
    }
    assert owner is not None and owner.is_admin
    assert stranger is None
    assert all(p is not None and p.email is None and p.tz is None for p in profiles.values())


# ------------------------------------------------------------------ the interaction's followup


async def test_a_submission_is_acknowledged_at_once_and_its_receipt_follows(chat: DiscordChat) -> None:
    fake = chat.fake
    interaction = await fake.slash(
        chat.person("bob"), "submit evidence", {"links": "https://example.org/b"}, channel=chat.home
    )
    await chat.wire.answered(interaction)
    assert only_to(interaction).startswith("📥 Got it.")
    (receipt,) = await fake.followups(interaction)
    assert receipt.ephemeral_to is interaction.user and receipt.data["flags"] & EPHEMERAL
    assert "Received S-2" in receipt.content


# ------------------------------------------------------------------ times


async def test_a_time_is_discords_timestamp_each_reader_sees_in_their_own_zone(chat: DiscordChat) -> None:
    """Friday 9am in the cohort's zone (Chicago), written as the moment itself: Discord shows it
    in each reader's own zone, so nobody converts."""
    interaction = await chat.fake.slash(
        chat.person("coord"),
        "cohort remind",
        {"name": "spring", "when": "2026-03-06T09:00", "text": "Bring your rubric notes"},
        channel=chat.home,
    )
    await chat.wire.answered(interaction)
    friday_9am_chicago = 1772809200  # 2026-03-06T15:00Z
    assert f"M-1 once, <t:{friday_9am_chicago}:f>: Bring your rubric notes" in only_to(interaction)
