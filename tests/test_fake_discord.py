"""The fake Discord (tests/fakes/discord) as an unmodified discord.py client meets it: each test is
a behaviour a Discord adapter test will rely on, so a test that trusts the fake can."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import zlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from fakes.discord import (
    CallbackType,
    CloseCode,
    ErrorCode,
    FakeDiscord,
    Intent,
    InteractionState,
    Permission,
    RateLimit,
    Scope,
)
from fakes.discord import messages as fake_messages
from fakes.discord.fixtures import discord_py_at, running
from fakes.discord.limits import choices_errors, message_errors, modal_errors
from fakes.discord.ratelimits import MESSAGE_CREATE

CALLBACK = "POST /interactions/{interaction_id}/{interaction_token}/callback"


def new_client(**options: Any) -> discord.Client:
    """A plain discord.py client as a bot would make one (READY 0.2 s after the last guild)."""
    return discord.Client(intents=discord.Intents.default(), guild_ready_timeout=0.2, **options)


def pointers(violations: list[Any]) -> list[str]:
    return [error.pointer for v in violations for error in v.errors]


@pytest.fixture
async def bot_http(fake_discord: FakeDiscord) -> AsyncIterator[aiohttp.ClientSession]:
    """Raw HTTP with the bot's token: another worker of the same bot, or a hand-made request."""
    headers = {"Authorization": f"Bot {fake_discord.token}"}
    async with aiohttp.ClientSession(fake_discord.api_url + "/", headers=headers) as session:
        yield session


# ------------------------------------------------------------------ logging in


async def test_an_unmodified_client_logs_in_gets_ready_and_sees_its_guild(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    assert fake.guild is not None
    coordinators = fake.guild.add_role("Coordinators", permissions=Permission.MANAGE_GUILD)
    fake.guild.add_text_channel("cohort-spring")
    client = new_client()

    async with running(client, fake):
        guild = client.get_guild(fake.guild.id)
        assert guild is not None and guild.name == "Test Server"
        assert {c.name for c in guild.text_channels} == {"general", "cohort-spring"}
        role = guild.get_role(coordinators.id)
        assert role is not None and role.permissions.manage_guild
        assert client.user is not None and client.user.id == fake.bot.id and client.user.bot
        assert client.application_id == fake.application_id
        assert guild.me.id == fake.bot.id  # without GUILD_PRESENCES, the bot is the only member sent
        session = await fake.connected()
        assert session.intents == discord.Intents.default().value
        await fake.wait_until(lambda: fake.gateway.heartbeats >= 1, what="a heartbeat")
        assert client.latency < 1  # each heartbeat was acknowledged

    assert [c.route for c in fake.calls()] == ["GET /users/@me", "GET /oauth2/applications/@me"]
    assert all(c.headers["Authorization"] == f"Bot {fake.token}" for c in fake.calls())


async def test_a_wrong_token_is_refused_at_login(fake_discord: FakeDiscord) -> None:
    with pytest.raises(discord.LoginFailure):
        async with running(new_client(), fake_discord, token="not-the-bot-token"):
            pass
    assert [(v.route, v.status) for v in fake_discord.take_violations()] == [("GET /users/@me", 401)]


async def test_a_privileged_intent_the_app_has_not_enabled_closes_the_gateway(
    fake_discord: FakeDiscord,
) -> None:
    client = discord.Client(intents=discord.Intents.default() | discord.Intents(members=True))
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with running(client, fake_discord):
            pass


@pytest.mark.parametrize(
    ("frames", "code"),
    [
        (
            [{"op": 2, "d": {"token": "wrong", "intents": 1, "properties": {}}}],
            CloseCode.AUTHENTICATION_FAILED,
        ),
        ([{"op": 3, "d": {"status": "online"}}], CloseCode.NOT_AUTHENTICATED),
        (
            [{"op": 2, "d": {"token": "{token}", "intents": 1 << 30, "properties": {}}}],
            CloseCode.INVALID_INTENTS,
        ),
        (
            [{"op": 2, "d": {"token": "{token}", "intents": 1, "properties": {}}}] * 2,
            CloseCode.ALREADY_AUTHENTICATED,
        ),
        ([{"op": 99, "d": None}], CloseCode.UNKNOWN_OPCODE),
    ],
    ids=["bad token", "before identify", "invalid intents", "identify twice", "unknown opcode"],
)
async def test_the_gateway_closes_with_discords_code_for_each_protocol_error(
    fake_discord: FakeDiscord, frames: list[dict[str, Any]], code: CloseCode
) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(fake_discord.gateway_url + "?v=10") as ws:
        hello = await ws.receive_json(timeout=5)
        assert hello["op"] == 10 and hello["d"]["heartbeat_interval"] > 0
        for frame in frames:
            await ws.send_str(json.dumps(frame).replace("{token}", fake_discord.token))
        while (await ws.receive(timeout=5)).type is aiohttp.WSMsgType.TEXT:
            pass  # READY and GUILD_CREATE after a good identify
        assert ws.close_code == code


async def test_zlib_stream_frames_decompress_to_hello_and_ready(fake_discord: FakeDiscord) -> None:
    url = fake_discord.gateway_url + "?v=10&encoding=json&compress=zlib-stream"
    inflate = zlib.decompressobj()
    async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
        hello = json.loads(inflate.decompress(await ws.receive_bytes(timeout=5)))
        identify = {"op": 2, "d": {"token": fake_discord.token, "intents": 1, "properties": {}}}
        await ws.send_json(identify)
        ready = json.loads(inflate.decompress(await ws.receive_bytes(timeout=5)))
    assert hello["op"] == 10
    assert ready["t"] == "READY" and ready["s"] == 1
    assert ready["d"]["resume_gateway_url"] == fake_discord.gateway_url


async def test_a_dropped_connection_resumes_and_replays_what_was_missed(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    alice = fake.member("alice")
    client = new_client()
    tree = app_commands.CommandTree(client)
    resumed = asyncio.Event()

    @client.event
    async def on_resumed() -> None:
        resumed.set()

    @tree.command(description="Are you there?")
    async def ping(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong")

    async with running(client, fake):
        await tree.sync()
        session = await fake.connected()
        await fake.gateway.drop()
        interaction = await fake.slash(alice, "ping")  # sent while the client is away: kept for it
        answer = await fake.answer(interaction)
        await asyncio.wait_for(resumed.wait(), 5)

    assert answer.content == "pong"
    assert session.resumes == 1 and len(fake.gateway.sessions) == 1
    resume = [f for sid, f in fake.gateway.received if f["op"] == 6]
    assert resume and resume[0]["d"]["session_id"] == session.id


# ------------------------------------------------------------------ slash commands


async def test_a_slash_command_reaches_the_tree_and_its_ephemeral_answer_is_a_type_4_callback_with_flags_64(
    fake_discord: FakeDiscord,
) -> None:
    fake = fake_discord
    assert fake.guild is not None
    coord = fake.member("coord")
    alice = fake.member("alice")
    learners = fake.guild.add_role("Learners")
    general = fake.guild.text_channels[0]
    client = new_client()
    tree = app_commands.CommandTree(client)
    cohort = app_commands.Group(name="cohort", description="Cohorts")
    seen: dict[str, Any] = {}

    @cohort.command(name="add", description="Add learners to a cohort")
    async def add(
        interaction: discord.Interaction,
        name: str,
        learner: discord.Member,
        role: discord.Role,
        channel: discord.TextChannel,
        weeks: int = 6,
    ) -> None:
        seen.update(
            name=name,
            learner=(learner.id, learner.name),
            role=role.id,
            channel=channel.id,
            weeks=weeks,
            by=interaction.user.id,
            guild=interaction.guild_id,
            locale=str(interaction.locale),
        )
        await interaction.response.send_message(f"Added {learner.mention} to **{name}**", ephemeral=True)

    tree.add_command(cohort, guild=discord.Object(fake.guild.id))  # as with DISCORD_GUILD_IDS
    async with running(client, fake):
        await tree.sync(guild=discord.Object(fake.guild.id))
        options = {"name": "spring", "learner": alice, "role": learners, "channel": general}
        interaction = await fake.slash(coord, "cohort add", options)
        answer = await fake.answer(interaction)

    assert seen == {
        "name": "spring",
        "learner": (alice.id, "alice"),
        "role": learners.id,
        "channel": general.id,
        "weeks": 6,
        "by": coord.id,
        "guild": fake.guild.id,
        "locale": "en-US",
    }
    assert answer.type is CallbackType.CHANNEL_MESSAGE and answer.data["flags"] == 64
    assert answer.content == f"Added <@{alice.id}> to **spring**"
    assert answer.after < 3
    (call,) = fake.calls(CALLBACK)
    assert call.json["type"] == 4 and call.status == 200
    assert interaction.state is InteractionState.ACKNOWLEDGED
    assert interaction.original is not None and interaction.original.ephemeral_to is coord.user
    assert fake.messages(general) == []  # ephemeral: only coord saw it
    synced = fake.calls("PUT /applications/{application_id}/guilds/{guild_id}/commands")
    assert [c["name"] for c in synced[0].json] == ["cohort"]


async def test_a_command_nobody_registered_cannot_be_run(fake_discord: FakeDiscord) -> None:
    async with running(new_client(), fake_discord):
        with pytest.raises(LookupError, match="sync the command tree"):
            await fake_discord.slash(fake_discord.member("alice"), "submit")


async def test_a_deferred_answer_then_followups(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    alice = fake.member("alice")
    client = new_client()
    tree = app_commands.CommandTree(client)

    @tree.command(description="Slow work")
    async def report(interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await interaction.followup.send("Here is your report", ephemeral=True)
        await interaction.followup.send("Posted for everyone too")

    async with running(client, fake):
        await tree.sync()
        interaction = await fake.slash(alice, "report")
        answer = await fake.answer(interaction)
        (second,) = await fake.followups(interaction, 1)

    assert answer.type is CallbackType.DEFERRED_CHANNEL_MESSAGE and answer.ephemeral
    original = interaction.original
    assert original is not None
    # The first followup after a deferral fills in the "thinking…" message, ephemeral as deferred.
    assert original.content == "Here is your report" and original.data["flags"] == 64
    assert second.content == "Posted for everyone too" and second.ephemeral_to is None
    assert fake.messages(interaction.channel) == [second]


async def test_autocomplete_reaches_its_callback_and_more_than_25_choices_are_refused(
    fake_discord: FakeDiscord,
) -> None:
    fake = fake_discord
    alice = fake.member("alice")
    client = new_client()
    tree = app_commands.CommandTree(client)
    cohorts = ["spring", "sprint-2", "summer", *(f"spare-{i}" for i in range(30))]

    @tree.command(description="A cohort's progress")
    async def status(interaction: discord.Interaction, cohort: str) -> None:
        await interaction.response.send_message(cohort)

    @status.autocomplete("cohort")
    async def cohort_names(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=c, value=c) for c in cohorts if c.startswith(current)]

    async with running(client, fake):
        await tree.sync()
        few = await fake.autocomplete(alice, "status", {"cohort": "spri"}, focused="cohort")
        answer = await fake.answer(few)
        many = await fake.autocomplete(alice, "status", {"cohort": "sp"}, focused="cohort")
        await fake.wait_until(lambda: many.refused, what="the refusal")

    assert answer.type is CallbackType.AUTOCOMPLETE_RESULT
    assert answer.data["choices"] == [
        {"name": "spring", "value": "spring"},
        {"name": "sprint-2", "value": "sprint-2"},
    ]
    assert many.refused[0].code == ErrorCode.INVALID_FORM_BODY
    fake.clock.advance(3.1)  # and, unanswered, that interaction failed for the person
    violations = fake.take_violations()
    assert [v.code for v in violations] == [ErrorCode.INVALID_FORM_BODY, None]
    assert pointers(violations) == ["data.choices"]
    assert "This interaction failed" in violations[1].message


# ------------------------------------------------------------------ buttons and modals


class Claim(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"review:claim:(?P<id>R-\d+)"
):
    """A persistent button: its state lives in its custom id, so any process can answer it."""

    def __init__(self, review: str) -> None:
        super().__init__(discord.ui.Button(label="Claim", custom_id=f"review:claim:{review}"))
        self.review = review

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> Claim:
        return cls(match["id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.edit_message(
            content=f"{self.review} claimed by {interaction.user.mention}", view=None
        )


async def test_a_dynamic_item_button_still_works_after_the_client_restarts(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    assert fake.guild is not None
    dana = fake.member("dana")
    reviews = fake.guild.add_text_channel("assessors")

    first = new_client()
    async with running(first, fake):
        channel = first.get_channel(reviews.id)
        assert isinstance(channel, discord.TextChannel)
        await channel.send("Review R-7 is waiting", view=discord.ui.View(timeout=None).add_item(Claim("R-7")))

    second = new_client()  # a new process: nothing of the first survives but the message on Discord
    second.add_dynamic_items(Claim)
    async with running(second, fake):
        (task,) = fake.messages(reviews)
        interaction = await fake.click(dana, task, "review:claim:R-7")
        answer = await fake.answer(interaction)

    assert answer.type is CallbackType.UPDATE_MESSAGE
    assert task.content == f"R-7 claimed by <@{dana.id}>" and task.components == []  # edited in place
    assert fake.messages(reviews) == [task]
    with pytest.raises(ValueError, match="no component"):
        await fake.click(dana, task, "review:claim:R-7")  # the button is gone: nobody can press it


class Release(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"review:release:(?P<id>R-\d+)"
):
    """Acknowledged at once (type 6), the message edited afterwards through @original."""

    def __init__(self, review: str) -> None:
        super().__init__(discord.ui.Button(label="Release", custom_id=f"review:release:{review}"))
        self.review = review

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> Release:
        return cls(match["id"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content=f"{self.review} is back in the queue", view=None)


async def test_a_deferred_click_edits_its_message_through_original(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    dana = fake.member("dana")
    client = new_client()
    client.add_dynamic_items(Release)
    async with running(client, fake):
        task = await _post_with_button(fake, "review:release:R-9")
        interaction = await fake.click(dana, task, "review:release:R-9")
        answer = await fake.answer(interaction)
        await fake.wait_until(lambda: task.content != "Old task", what="the edit")

    assert answer.type is CallbackType.DEFERRED_UPDATE_MESSAGE
    assert interaction.original is task
    assert task.content == "R-9 is back in the queue" and task.components == []
    assert task.data["edited_timestamp"] is not None
    edits = fake.calls("PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}")
    assert [c.params["message_id"] for c in edits] == ["@original"]


class Evidence(discord.ui.Modal, title="Submit evidence"):
    overview: discord.ui.TextInput[Evidence] = discord.ui.TextInput(
        label="Overview", style=discord.TextStyle.paragraph
    )
    links: discord.ui.TextInput[Evidence] = discord.ui.TextInput(label="Artifact links")
    reflection: discord.ui.TextInput[Evidence] = discord.ui.TextInput(label="Reflection", required=False)

    def __init__(self, received: dict[str, str]) -> None:
        super().__init__()
        self.received = received

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.received.update(
            overview=self.overview.value, links=self.links.value, reflection=self.reflection.value
        )
        await interaction.response.send_message("Received", ephemeral=True)


async def test_a_modal_submit_reaches_on_submit(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    alice = fake.member("alice")
    client = new_client()
    tree = app_commands.CommandTree(client)
    received: dict[str, str] = {}

    @tree.command(description="Hand in evidence")
    async def submit(interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(Evidence(received))

    async with running(client, fake):
        await tree.sync()
        opened = await fake.slash(alice, "submit")
        modal = await fake.answer(opened)
        with pytest.raises(ValueError, match="would not submit"):
            await fake.submit_modal(
                opened, {"Artifact links": "https://example.org/a"}
            )  # Overview is required
        submitted = await fake.submit_modal(
            opened, {"Overview": "A display", "Artifact links": "https://example.org/a"}
        )
        answer = await fake.answer(submitted)

    assert modal.type is CallbackType.MODAL and modal.data["title"] == "Submit evidence"
    assert received == {"overview": "A display", "links": "https://example.org/a", "reflection": ""}
    assert answer.content == "Received" and answer.ephemeral


# ------------------------------------------------------------------ Discord's rules for answers


async def test_an_answer_after_3_seconds_is_refused_as_discord_does(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    alice = fake.member("alice")
    client = new_client()
    tree = app_commands.CommandTree(client)
    go = asyncio.Event()
    refused: list[discord.HTTPException] = []

    @tree.command(description="Slow to answer")
    async def slow(interaction: discord.Interaction) -> None:
        await go.wait()
        try:
            await interaction.response.send_message("too late")
        except discord.NotFound as error:
            refused.append(error)

    async with running(client, fake):
        await tree.sync()
        interaction = await fake.slash(alice, "slow")
        fake.clock.advance(3.2)
        go.set()
        await fake.wait_until(lambda: refused, what="the refusal")

    assert refused[0].code == ErrorCode.UNKNOWN_INTERACTION and refused[0].status == 404
    assert interaction.state is InteractionState.FAILED and interaction.callback is None
    assert [v.code for v in fake.take_violations()] == [ErrorCode.UNKNOWN_INTERACTION]


async def test_a_second_acknowledgement_is_refused(
    fake_discord: FakeDiscord, bot_http: aiohttp.ClientSession
) -> None:
    fake = fake_discord
    alice = fake.member("alice")
    client = new_client()
    tree = app_commands.CommandTree(client)

    @tree.command(description="Answers once")
    async def once(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("first")

    async with running(client, fake):
        await tree.sync()
        interaction = await fake.slash(alice, "once")
        await fake.answer(interaction)
        # A second process (or a retry) answering the same interaction:
        url = f"interactions/{interaction.id}/{interaction.token}/callback"
        async with bot_http.post(url, json={"type": 4, "data": {"content": "second"}}) as response:
            status, body = response.status, await response.json()

    assert (status, body) == (400, {"message": "Interaction has already been acknowledged.", "code": 40060})
    assert interaction.callback is not None and interaction.callback.content == "first"
    assert [v.code for v in fake.take_violations()] == [ErrorCode.INTERACTION_ALREADY_ACKNOWLEDGED]


async def test_a_refused_answer_is_discords_error_tree_and_does_not_use_up_the_acknowledgement(
    fake_discord: FakeDiscord, bot_http: aiohttp.ClientSession
) -> None:
    fake = fake_discord
    alice = fake.member("alice")
    client = new_client()
    tree = app_commands.CommandTree(client)
    go = asyncio.Event()

    @tree.command(description="Waits")
    async def wait(interaction: discord.Interaction) -> None:
        await go.wait()
        await interaction.response.send_message("fine")

    rows = [_row(_button(f"b{i}")) for i in range(6)]
    async with running(client, fake):
        await tree.sync()
        interaction = await fake.slash(alice, "wait")
        url = f"interactions/{interaction.id}/{interaction.token}/callback"
        async with bot_http.post(
            url, json={"type": 4, "data": {"content": "x", "components": rows}}
        ) as response:
            status, body = response.status, await response.json()
        go.set()
        answer = await fake.answer(interaction)

    assert status == 400
    assert body["code"] == 50035 and body["message"] == "Invalid Form Body"
    too_many = {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 5 or fewer in length."}
    assert body["errors"]["data"]["components"]["_errors"] == [too_many]
    assert answer.content == "fine"
    assert [v.code for v in fake.take_violations()] == [ErrorCode.INVALID_FORM_BODY]


async def test_a_followup_after_the_token_expired_is_refused(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    alice = fake.member("alice")
    client = new_client()
    tree = app_commands.CommandTree(client)
    go = asyncio.Event()
    refused: list[discord.HTTPException] = []

    @tree.command(description="Very slow work")
    async def export(interaction: discord.Interaction) -> None:
        await interaction.response.defer()
        await go.wait()
        try:
            await interaction.followup.send("done")
        except discord.HTTPException as error:
            refused.append(error)

    async with running(client, fake):
        await tree.sync()
        interaction = await fake.slash(alice, "export")
        await fake.answer(interaction)
        fake.clock.advance(15 * 60 + 1)
        go.set()
        await fake.wait_until(lambda: refused, what="the refusal")

    assert (refused[0].status, refused[0].code) == (401, ErrorCode.INVALID_WEBHOOK_TOKEN)
    assert [v.code for v in fake.take_violations()] == [ErrorCode.INVALID_WEBHOOK_TOKEN]


async def test_an_interaction_nobody_answers_fails_the_test_unless_claimed(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    alice = fake.member("alice")
    async with running(new_client(), fake):  # nothing in this client listens for the button
        message = await _post_with_button(fake, "orphan:1")
        await fake.click(alice, message, "orphan:1")
        fake.clock.advance(3.1)
        with pytest.raises(AssertionError, match="This interaction failed"):
            fake.check_violations()
    assert [v.code for v in fake.take_violations()] == [None]


async def _post_with_button(fake: FakeDiscord, custom_id: str) -> Any:
    """A message with one button, as if an earlier run of the bot had posted it."""
    assert fake.guild is not None
    channel = fake.guild.text_channels[0]
    message = fake_messages.compose(
        fake.world,
        channel,
        {"content": "Old task", "components": [{"type": 1, "components": [_button(custom_id)]}]},
    )
    await fake.publish(message)
    return message


def _button(custom_id: str) -> dict[str, Any]:
    return {"type": 2, "style": 1, "label": "Press", "custom_id": custom_id}


# ------------------------------------------------------------------ messages


async def test_a_message_over_2000_characters_is_refused_with_50035(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    assert fake.guild is not None
    client = new_client()
    async with running(client, fake):
        channel = client.get_channel(fake.guild.text_channels[0].id)
        assert isinstance(channel, discord.TextChannel)
        with pytest.raises(discord.HTTPException) as refused:
            await channel.send("x" * 2001)
        await channel.send("x" * 2000)

    assert refused.value.status == 400 and refused.value.code == 50035
    assert "In content: Must be 2000 or fewer in length." in str(refused.value)
    assert pointers(fake.take_violations(ErrorCode.INVALID_FORM_BODY)) == ["content"]
    assert len(fake.messages(fake.guild.text_channels[0])) == 1


async def test_typed_messages_reach_the_client_without_content_unless_intended_for_it(
    fake_discord: FakeDiscord,
) -> None:
    fake = fake_discord
    assert fake.guild is not None
    alice = fake.member("alice")
    general = fake.guild.text_channels[0]
    client = new_client()
    heard: list[tuple[str, str]] = []

    @client.event
    async def on_message(message: discord.Message) -> None:
        heard.append((type(message.channel).__name__, message.content))

    async with running(client, fake):
        await fake.type_message(alice, general, "just chatting")
        await fake.type_message(alice, general, f"<@{fake.bot.id}> help")
        await fake.type_message(alice, fake.dm_channel(alice), "submit help")
        await fake.wait_until(lambda: len(heard) == 3, what="three messages")

    # Without the privileged MESSAGE_CONTENT intent only what mentions the bot, or a DM, has text.
    assert heard == [
        ("TextChannel", ""),
        ("TextChannel", f"<@{fake.bot.id}> help"),
        ("DMChannel", "submit help"),
    ]


async def test_a_repeated_nonce_returns_the_first_message_even_after_a_lost_answer(
    fake_discord: FakeDiscord,
) -> None:
    fake = fake_discord
    assert fake.guild is not None
    client = new_client()
    async with running(client, fake):
        channel = client.get_channel(fake.guild.text_channels[0].id)
        assert isinstance(channel, discord.TextChannel)
        fake.faults.drop_next(MESSAGE_CREATE)  # carried out, but the answer never arrives
        with pytest.raises(aiohttp.ClientConnectionError):
            await channel.send("Nudge: 2 days left", nonce="outbox:42")
        again = await channel.send("Nudge: 2 days left", nonce="outbox:42")
        other = await channel.send("Nudge: 2 days left", nonce="outbox:43")

    (first, second) = fake.messages(fake.guild.text_channels[0])
    assert again.id == first.id and other.id == second.id
    sent = fake.calls(MESSAGE_CREATE)
    assert [c.json["enforce_nonce"] for c in sent] == [True, True, True]


async def test_allowed_mentions_are_recorded_and_decide_who_is_pinged(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    assert fake.guild is not None
    alice = fake.member("alice")
    client = new_client(allowed_mentions=discord.AllowedMentions.none())
    async with running(client, fake):
        channel = client.get_channel(fake.guild.text_channels[0].id)
        assert isinstance(channel, discord.TextChannel)
        typed = f"@everyone look <@{alice.id}>"  # what a learner typed, shown as text
        await channel.send(typed)
        await channel.send(
            f"<@{alice.id}> your badge", allowed_mentions=discord.AllowedMentions(users=[alice.user])
        )
        await channel.send(
            "@everyone the window is open", allowed_mentions=discord.AllowedMentions(everyone=True)
        )

    quiet, addressed, announcement = fake.messages(fake.guild.text_channels[0])
    assert quiet.allowed_mentions == {"parse": []}
    assert quiet.data["mention_everyone"] is False and quiet.data["mentions"] == []
    assert [u["id"] for u in addressed.data["mentions"]] == [str(alice.id)]
    assert announcement.data["mention_everyone"] is True


async def test_direct_messages_and_a_person_who_does_not_take_them(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    alice = fake.member("alice")
    carol = fake.member("carol", accepts_dms=False)
    client = new_client()
    async with running(client, fake):
        await (await client.fetch_user(alice.id)).send("2 days left")
        with pytest.raises(discord.Forbidden) as refused:
            await (await client.fetch_user(carol.id)).send("2 days left")

    assert [m.content for m in fake.messages(fake.dm_channel(alice))] == ["2 days left"]
    assert refused.value.code == ErrorCode.CANNOT_MESSAGE_USER
    assert [v.code for v in fake.take_violations()] == [ErrorCode.CANNOT_MESSAGE_USER]
    opened = fake.calls("POST /users/@me/channels")
    assert [c.json for c in opened] == [{"recipient_id": alice.id}, {"recipient_id": carol.id}]


async def test_history_pages_newest_first_with_limit_and_before(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    assert fake.guild is not None
    fake.limiter.set(MESSAGE_CREATE, RateLimit(10, 1.0))
    client = new_client()
    async with running(client, fake):
        channel = client.get_channel(fake.guild.text_channels[0].id)
        assert isinstance(channel, discord.TextChannel)
        sent = [await channel.send(f"message {i}") for i in range(5)]
        latest = [m.content async for m in channel.history(limit=2)]
        earlier = [m.content async for m in channel.history(limit=10, before=sent[2])]

    assert latest == ["message 4", "message 3"]
    assert earlier == ["message 1", "message 0"]
    assert fake.calls("GET /channels/{channel_id}/messages")[0].query == {"limit": "2"}


async def test_a_nonce_shows_in_the_create_answer_only_and_is_forgotten_after_a_few_minutes(
    fake_discord: FakeDiscord, bot_http: aiohttp.ClientSession
) -> None:
    fake = fake_discord
    assert fake.guild is not None
    general = fake.guild.text_channels[0]
    body = {"content": "Nudge: 2 days left", "nonce": "ob42", "enforce_nonce": True}
    path = f"channels/{general.id}/messages"
    async with bot_http.post(path, json=body) as response:
        created = await response.json()
    fake.clock.advance(4 * 60)
    async with bot_http.post(path, json=body) as response:
        again = await response.json()  # within the window: the first message
    fake.clock.advance(2 * 60)
    async with bot_http.post(path, json=body) as response:
        later = await response.json()  # past it: a second message
    async with bot_http.get(path, params={"limit": "10"}) as response:
        history = await response.json()
    async with bot_http.get(f"{path}/{created['id']}") as response:
        fetched = await response.json()

    assert created["nonce"] == again["nonce"] == later["nonce"] == "ob42"
    assert again["id"] == created["id"] != later["id"]
    assert [m["id"] for m in history] == [later["id"], created["id"]]
    assert all("nonce" not in m for m in [*history, fetched])  # Discord keeps none with the message


async def test_history_after_an_id_pages_forward_newest_first_with_a_bucket_of_its_own(
    fake_discord: FakeDiscord, bot_http: aiohttp.ClientSession
) -> None:
    fake = fake_discord
    assert fake.guild is not None
    fake.limiter.set(MESSAGE_CREATE, RateLimit(10, 1.0))
    general = fake.guild.text_channels[0]
    path = f"channels/{general.id}/messages"
    ids = []
    for n in range(5):
        async with bot_http.post(path, json={"content": f"message {n}"}) as response:
            ids.append((await response.json())["id"])
    pages, statuses = [], []
    for _ in range(6):
        async with bot_http.get(path, params={"after": ids[1], "limit": "2"}) as response:
            statuses.append(response.status)
            pages.append((await response.json(), dict(response.headers)))

    first, headers = pages[0]
    assert [m["content"] for m in first] == ["message 3", "message 2"]  # the two just after, newest first
    assert headers["X-RateLimit-Limit"] == "5" and headers["X-RateLimit-Remaining"] == "4"
    assert (
        headers["X-RateLimit-Bucket"] != fake.calls(MESSAGE_CREATE)[0].response_headers["X-RateLimit-Bucket"]
    )
    assert statuses == [200] * 5 + [429]  # 5 reads in 5 s in one channel


async def test_history_without_read_message_history_is_empty(
    fake_discord: FakeDiscord, bot_http: aiohttp.ClientSession
) -> None:
    fake = fake_discord
    assert fake.guild is not None
    channel = fake.guild.text_channels[0]
    await fake.type_message(fake.member("alice"), channel, "hello")
    for role in fake.guild.roles.values():  # @everyone's and the bot's own
        role.permissions &= ~Permission.READ_MESSAGE_HISTORY
    async with bot_http.get(f"channels/{channel.id}/messages") as response:
        assert (response.status, await response.json()) == (200, [])  # "no messages will be returned"


async def test_a_delayed_call_is_in_flight_until_answered_and_carried_out_if_its_caller_goes(
    fake_discord: FakeDiscord, bot_http: aiohttp.ClientSession
) -> None:
    fake = fake_discord
    assert fake.guild is not None
    general = fake.guild.text_channels[0]
    fake.faults.delay(MESSAGE_CREATE, 0.3)

    async def post() -> int:
        async with bot_http.post(f"channels/{general.id}/messages", json={"content": "hi"}) as response:
            return response.status

    gone = asyncio.create_task(post())
    [call] = await fake.wait_until(lambda: fake.in_flight(MESSAGE_CREATE), what="a call in flight")
    gone.cancel()  # the caller dies with its request in flight
    with contextlib.suppress(asyncio.CancelledError):
        await gone
    assert fake.messages(general) == []
    await fake.wait_until(lambda: not fake.in_flight(), what="the call carried out")
    assert call.status == 200 and [m.content for m in fake.messages(general)] == ["hi"]


async def test_members_are_listed_a_page_at_a_time_only_once_the_members_intent_is_switched_on(
    fake_discord: FakeDiscord, bot_http: aiohttp.ClientSession
) -> None:
    """As a bot's own HTTP client lists them (discord.py will not without asking for the intent
    on the gateway, which Discord does not require for REST)."""
    fake = fake_discord
    assert fake.guild is not None
    librarians = fake.guild.add_role("Librarians")
    for i in range(1200):
        fake.member(f"person-{i}").roles.append(librarians)
    path = f"guilds/{fake.guild.id}/members"

    refused = await bot_http.get(path, params={"limit": "1000"})
    before = await (await bot_http.get("applications/@me")).json()
    fake.enabled_intents = Intent.GUILD_MEMBERS  # the Developer Portal's switch
    first = await (await bot_http.get(path, params={"limit": "1000"})).json()
    after = max(int(m["user"]["id"]) for m in first)
    second = await (await bot_http.get(path, params={"limit": "1000", "after": str(after)})).json()
    one = await (await bot_http.get(path)).json()
    too_many = await bot_http.get(path, params={"limit": "1001"})
    application = await (await bot_http.get("applications/@me")).json()

    assert refused.status == 403 and await refused.json() == {"message": "Missing Access", "code": 50001}
    assert [v.code for v in fake.take_violations()] == [ErrorCode.MISSING_ACCESS, ErrorCode.INVALID_FORM_BODY]
    assert (len(first), len(second), len(one)) == (1000, 202, 1)  # with the owner and the bot; default 1
    ids = [int(m["user"]["id"]) for m in first + second]
    assert ids == sorted(set(ids)) and one[0] == first[0]
    assert sum(str(librarians.id) in m["roles"] for m in first + second) == 1200
    assert {"user", "roles", "nick", "joined_at"} <= set(first[0]) and "permissions" not in first[0]
    assert too_many.status == 400
    assert application["flags"] & (1 << 15) and not before["flags"] & (
        1 << 15
    )  # GATEWAY_GUILD_MEMBERS_LIMITED


# ------------------------------------------------------------------ rate limits and faults


async def test_a_send_past_the_bucket_gets_a_429_that_discord_py_rides_out(
    fake_discord: FakeDiscord, bot_http: aiohttp.ClientSession
) -> None:
    fake = fake_discord
    assert fake.guild is not None
    fake.limiter.set(MESSAGE_CREATE, RateLimit(2, 2.0))
    general = fake.guild.text_channels[0]
    client = new_client()
    async with running(client, fake):
        channel = client.get_channel(general.id)
        assert isinstance(channel, discord.TextChannel)
        for text in ("from another worker", "and another"):  # the same bot's other worker fills the bucket
            async with bot_http.post(f"channels/{general.id}/messages", json={"content": text}) as response:
                assert response.status == 200
        started = asyncio.get_running_loop().time()
        await channel.send("nudge")
        waited = asyncio.get_running_loop().time() - started

    statuses = [c.status for c in fake.calls(MESSAGE_CREATE)]
    assert statuses == [200, 200, 429, 200]
    (limited,) = fake.rate_limited
    retry_after = limited.response["retry_after"]
    assert limited.response == {
        "message": "You are being rate limited.",
        "retry_after": retry_after,
        "global": False,
    }
    assert 0 < retry_after <= 2 and waited >= retry_after * 0.9
    headers = limited.response_headers
    assert headers["X-RateLimit-Limit"] == "2" and headers["X-RateLimit-Remaining"] == "0"
    assert headers["X-RateLimit-Scope"] == "user" and headers["Retry-After"] == str(math.ceil(retry_after))
    assert float(headers["X-RateLimit-Reset-After"]) == pytest.approx(retry_after, abs=0.01)
    assert (
        headers["X-RateLimit-Bucket"] == fake.calls(MESSAGE_CREATE)[0].response_headers["X-RateLimit-Bucket"]
    )
    assert [m.content for m in fake.messages(general)][-1] == "nudge"


async def test_a_client_pacing_itself_by_the_headers_draws_no_429(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    assert fake.guild is not None
    fake.limiter.set(MESSAGE_CREATE, RateLimit(2, 0.5))
    client = new_client()
    async with running(client, fake):
        channel = client.get_channel(fake.guild.text_channels[0].id)
        assert isinstance(channel, discord.TextChannel)
        await asyncio.gather(*(channel.send(f"nudge {i}") for i in range(5)))

    assert fake.rate_limited == []
    assert len(fake.messages(fake.guild.text_channels[0])) == 5


async def test_injected_429_and_500_are_ridden_out(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    assert fake.guild is not None
    fake.faults.fail_next(MESSAGE_CREATE)  # discord.py waits 1 s before trying again
    fake.faults.rate_limit_next(MESSAGE_CREATE, retry_after=0.1, scope=Scope.SHARED)
    client = new_client()
    async with running(client, fake):
        channel = client.get_channel(fake.guild.text_channels[0].id)
        assert isinstance(channel, discord.TextChannel)
        await channel.send("delivered in the end")

    calls = fake.calls(MESSAGE_CREATE)
    assert [c.status for c in calls] == [500, 429, 200]
    assert calls[1].response_headers["X-RateLimit-Scope"] == "shared"
    assert calls[1].response["message"] == "The resource is being rate limited."
    assert len(fake.messages(fake.guild.text_channels[0])) == 1


async def test_the_global_limit_answers_429_with_the_global_headers() -> None:
    async with FakeDiscord(global_limit=RateLimit(3, 1.0)) as fake:
        headers = {"Authorization": f"Bot {fake.token}"}
        async with aiohttp.ClientSession(fake.api_url + "/", headers=headers) as http:
            statuses = []
            for _ in range(4):
                async with http.get("users/@me") as response:
                    statuses.append(response.status)
                    last = dict(response.headers), await response.json()
    assert statuses == [200, 200, 200, 429]
    headers, body = last
    assert headers["X-RateLimit-Global"] == "true" and headers["X-RateLimit-Scope"] == "global"
    assert body["global"] is True and body["retry_after"] > 0


async def test_discord_py_pointing_is_restored_after_use() -> None:
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    base, gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    async with FakeDiscord() as fake:
        with discord_py_at(fake):
            pointed = Route.BASE, str(DiscordWebSocket.DEFAULT_GATEWAY)
            assert pointed == (fake.api_url, fake.gateway_url)
    restored = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    assert restored == (base, gateway)


# ------------------------------------------------------------------ limits, without HTTP


def _row(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(buttons)}


@pytest.mark.parametrize(
    ("body", "pointer", "code"),
    [
        ({"content": "x" * 2001}, "content", "BASE_TYPE_MAX_LENGTH"),
        ({"components": [_row(_button(f"b{i}")) for i in range(6)]}, "components", "BASE_TYPE_MAX_LENGTH"),
        (
            {"components": [_row(*(_button(f"b{i}") for i in range(6)))]},
            "components.0.components",
            "BASE_TYPE_BAD_LENGTH",
        ),
        (
            {"components": [_row(_button("c" * 101))]},
            "components.0.components.0.custom_id",
            "BASE_TYPE_BAD_LENGTH",
        ),
        (
            {"components": [_row({**_button("b"), "label": "l" * 81})]},
            "components.0.components.0.label",
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            {"components": [_row(_button("same"), _button("same"))]},
            "components.0.components.1.custom_id",
            "COMPONENT_CUSTOM_ID_DUPLICATED",
        ),
        (
            {"embeds": [{"description": "d" * 4000}, {"description": "d" * 2001}]},
            "embeds",
            "MAX_EMBED_SIZE_EXCEEDED",
        ),
        ({"embeds": [{"title": "t" * 257}]}, "embeds.0.title", "BASE_TYPE_MAX_LENGTH"),
        ({"embeds": [{"footer": {"text": "f" * 2049}}]}, "embeds.0.footer.text", "BASE_TYPE_MAX_LENGTH"),
        (
            {"embeds": [{"fields": [{"name": "", "value": "v"}]}]},
            "embeds.0.fields.0.name",
            "BASE_TYPE_REQUIRED",
        ),
        (
            {"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]},
            "embeds.0.fields.0.value",
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            {"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]},
            "embeds.0.fields",
            "BASE_TYPE_MAX_LENGTH",
        ),
        ({"embeds": [{"title": "t"}] * 11}, "embeds", "BASE_TYPE_MAX_LENGTH"),
        ({"embeds": [{"title": "t", "url": "/badges/1"}]}, "embeds.0.url", "URL_TYPE_INVALID_URL"),
        (
            {"embeds": [{"thumbnail": {"url": "file:///b.png"}}]},
            "embeds.0.thumbnail.url",
            "URL_TYPE_INVALID_URL",
        ),
        (
            {"embeds": [{"thumbnail": {"url": "ftp://x.org/b.png"}}]},
            "embeds.0.thumbnail.url",
            "URL_TYPE_INVALID_SCHEME",
        ),
        ({"embeds": [{"title": "t", "color": 0x1000000}]}, "embeds.0.color", "NUMBER_TYPE_MAX"),
        ({"nonce": "n" * 26}, "nonce", "BASE_TYPE_MAX_LENGTH"),
        (
            {"allowed_mentions": {"parse": ["users"], "users": ["1"]}},
            "allowed_mentions",
            "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE",
        ),
    ],
    ids=[
        "content",
        "six rows",
        "six in a row",
        "custom id",
        "button label",
        "duplicate id",
        "embeds total",
        "embed title",
        "embed footer",
        "empty field name",
        "field value",
        "26 fields",
        "11 embeds",
        "embed url",
        "thumbnail url",
        "thumbnail scheme",
        "embed colour",
        "nonce",
        "mentions",
    ],
)
def test_message_limits(body: dict[str, Any], pointer: str, code: str) -> None:
    errors = list(message_errors(body))
    assert [(e.pointer, e.code) for e in errors] == [(pointer, code)]


def test_a_message_within_every_limit_passes() -> None:
    rows = [_row(*(_button(f"r{r}b{b}") for b in range(5))) for r in range(5)]
    card = {
        "title": "t" * 256,
        "description": "d" * 3096,
        "url": "https://badges.example.org/badges/1",
        "thumbnail": {"url": "https://badges.example.org/badges/1/image.png"},
        "color": 0xFFFFFF,
        "fields": [{"name": "n", "value": "v" * 1023}] * 2,
        "footer": {"text": "f" * 600},
    }  # 6,000 characters
    body = {"content": "x" * 2000, "components": rows, "embeds": [card]}
    assert not message_errors(body)


def _text_input(custom_id: str, label: str = "Field") -> dict[str, Any]:
    return {"type": 4, "custom_id": custom_id, "style": 1, "label": label}


@pytest.mark.parametrize(
    ("modal", "pointer"),
    [
        ({"components": [_row(_text_input(f"f{i}")) for i in range(6)]}, "data.components"),
        ({"components": [_row(_text_input("f", "l" * 46))]}, "data.components.0.components.0.label"),
        (
            {"components": [{"type": 18, "label": "l" * 46, "component": _text_input("f")}]},
            "data.components.0.label",
        ),
        ({"title": "t" * 46, "components": [_row(_text_input("f"))]}, "data.title"),
    ],
    ids=["six inputs", "legacy label", "label component", "title"],
)
def test_modal_limits(modal: dict[str, Any], pointer: str) -> None:
    body = {"custom_id": "m", "title": "Evidence", **modal}
    assert [e.pointer for e in modal_errors(body)] == [pointer]


def test_choice_limits() -> None:
    choices = [{"name": f"c{i}", "value": f"c{i}"} for i in range(26)]
    assert [e.pointer for e in choices_errors({"choices": choices})] == ["data.choices"]
    assert not choices_errors({"choices": choices[:25]})
