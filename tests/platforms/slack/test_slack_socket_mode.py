"""Slack in Socket Mode over the real wire protocol: the Runtime's bolt AsyncSocketModeHandler
calls apps.connections.open with the app-level token, dials the WebSocket URL it gets, and
answers envelopes pushed by the fake Slack (tests/fakes/slack_server.py) with acknowledgements.
Nothing of ours is patched: only the settings point at the fake."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from counting import count
from fakes.blockkit import block_errors, buttons_in
from fakes.slack_payloads import event_callback_body, view_submission_payload
from fakes.slack_server import FakeSlack
from fakes.slack_workspace import SCHOOL_USERS as USERS
from harness import SlackChat
from slack_app import SlackWire, set_up

from bot.clock import FakeClock
from bot.config import Settings
from bot.runtime import Runtime
from bot.storage import Submission
from bot.storage.db import Database

BOT_TOKEN, APP_TOKEN = "xoxb-test", "xapp-test"
CHANNELS = {"C1": "general", "CREV": "reviews"}
SETUP = [
    ("UCOORD", "/cohort create spring <#C1|general> reviews <#CREV|reviews>"),
    ("UCOORD", "/cohort add spring <@UALICE|alice>"),
    ("UCOORD", "/cohort add spring <@UDANA|dana> as assessor"),
    ("UCOORD", "/window open spring creators closes 2026-03-20T17:00 America/Chicago"),
]
ACK_LIMIT = 3.0  # Slack's deadline for acknowledging an envelope, in seconds


class SocketSlack(SlackWire):
    """Our app as Slack sees it in Socket Mode: envelopes pushed down its WebSocket."""

    home = "C1"

    async def send(self, kind: str, payload: Any, *, deliver: bool = True, **envelope: Any) -> dict[str, Any]:
        """Push an envelope, return the app's acknowledgement, then let follow-ups finish."""
        envelope_id = await self.fake.socket_send(kind, payload, **envelope)
        ack = await self.fake.socket_ack(envelope_id, timeout=5)
        assert self.fake.socket_ack_seconds(envelope_id) < ACK_LIMIT
        await self.settle(deliver=deliver)
        return ack

    async def command(
        self,
        user: str,
        command: str,
        text: str = "",
        *,
        channel: str | None = None,
        trigger_id: str | None = None,
        retry_attempt: int | None = None,
        deliver: bool = True,
    ) -> dict[str, Any]:
        body = self.slash(user, command, text, channel=channel or self.home, trigger_id=trigger_id)
        retry = {} if retry_attempt is None else {"retry_attempt": retry_attempt, "retry_reason": "timeout"}
        return await self.send("slash_commands", body, deliver=deliver, **retry)

    async def typed(
        self, user: str, command: str, text: str = "", *, channel: str, deliver: bool = True, **kw: Any
    ) -> dict[str, Any] | None:
        ack = await self.command(user, command, text, channel=channel, deliver=deliver, **kw)
        return ack.get("payload")

    async def click(self, user: str, button: dict[str, Any], *, channel: str = "CREV") -> dict[str, Any]:
        return await self.send("interactive", self.press(user, button, channel=channel))


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(token=BOT_TOKEN, app_token=APP_TOKEN, users=USERS, channels=CHANNELS) as slack:
        yield slack


@contextlib.asynccontextmanager
async def socket_mode(runtime: Runtime, fake: FakeSlack) -> AsyncIterator[None]:
    """Socket Mode (the Slack platform's runner) as `cohortbot run` runs it, stopped (bounded) afterwards."""
    await runtime.start()
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.runners()[0](stop), name="socket-mode")
    try:
        await fake.socket_connected(timeout=5)
        yield
    finally:
        stop.set()
        try:
            await asyncio.wait_for(task, 10)
        finally:
            await runtime.stop()


@pytest.fixture
async def app(fake: FakeSlack, settings: Settings, db: Database) -> AsyncIterator[SocketSlack]:
    configured = settings.model_copy(
        update={
            "slack_bot_token": BOT_TOKEN,
            "slack_app_token": APP_TOKEN,
            "slack_signing_secret": None,
            "slack_api_url": fake.api_url,
        }
    )
    runtime = Runtime(configured, clock=FakeClock(datetime(2026, 3, 2, 15, tzinfo=UTC)))
    async with socket_mode(runtime, fake):
        yield SocketSlack(runtime, fake)


# ------------------------------------------------------------------ the connection


async def test_connects_with_the_app_level_token_and_no_signing_secret(app: SocketSlack) -> None:
    opened = app.fake.called("apps.connections.open")
    assert [c.token for c in opened] == [APP_TOKEN]
    assert opened[0].response is not None and opened[0].response["url"].startswith("ws://127.0.0.1:")
    assert app.fake.socket_connections == 1 and app.fake.socket_open == 1
    assert app.runtime.settings.slack_signing_secret is None


async def test_stop_is_honoured_while_the_app_token_is_refused(
    fake: FakeSlack, settings: Settings, db: Database
) -> None:
    configured = settings.model_copy(
        update={
            "slack_bot_token": BOT_TOKEN,
            "slack_app_token": "xapp-revoked",
            "slack_api_url": fake.api_url,
        }
    )
    runtime = Runtime(configured)
    await runtime.start()
    stop = asyncio.Event()
    task = asyncio.create_task(runtime.runners()[0](stop), name="socket-mode")
    try:
        for _ in range(250):  # at most 5 s
            if fake.called("apps.connections.open"):
                break
            await asyncio.sleep(0.02)
        assert fake.called("apps.connections.open")[0].response == {"ok": False, "error": "invalid_auth"}
        stop.set()
        await asyncio.wait_for(task, 2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await runtime.stop()
    assert fake.socket_connections == 0


async def test_disconnect_message_makes_the_app_reconnect_and_envelopes_keep_flowing(
    app: SocketSlack,
) -> None:
    await app.fake.socket_disconnect("refresh_requested")
    await app.fake.socket_connected(connections=2, timeout=5)
    assert [c.token for c in app.fake.called("apps.connections.open")] == [APP_TOKEN, APP_TOKEN]
    answer = await app.say("UCOORD", SETUP[0][1])
    assert "Created cohort *spring*" in answer


# ------------------------------------------------------------------ slash commands


async def test_slash_command_is_answered_in_its_acknowledgement(app: SocketSlack) -> None:
    ack = await app.command("UCOORD", "/cohort", "create spring <#C1|general>")
    answer = ack["payload"]
    assert answer["response_type"] == "ephemeral"
    assert "Created cohort *spring* in <#C1>" in answer["text"]
    assert block_errors(answer["blocks"]) == []
    hello = app.fake.last_post("C1")  # the outbox, delivered with the bot token
    assert "home of cohort *spring*" in hello["text"]
    assert {c.token for c in app.fake.called("chat.postMessage")} == {BOT_TOKEN}
    refused = await app.say("UALICE", "/cohort create other <#C1|general>")
    assert "Only workspace admins and coordinators can create cohorts" in refused


async def test_submit_is_received_the_review_task_posted_and_its_claim_button_works(app: SocketSlack) -> None:
    await set_up(app, SETUP)
    assert "Received S-1" in await app.say("UALICE", "/submit https://example.org/a -- reflection")
    await app.runtime.deliverer.deliver_due()
    task = app.fake.last_post("CREV")
    assert "Review task R-1: S-1 by <@UALICE>" in task["text"]
    claim = buttons_in(task)["Claim"]
    assert claim["value"] == "/review claim R-1"

    ack = await app.click("UDANA", claim)
    assert "payload" not in ack  # a button click is acknowledged empty; the answer follows
    update = app.fake.called("chat.update")[-1].args
    assert "claimed by <@UDANA>" in update["text"]
    evidence = app.fake.last_post("DUDANA")
    assert "https://example.org/a" in evidence["text"]
    assert set(buttons_in(evidence)) == {"Approve", "Request revision"}
    assert any("You claimed R-1" in r[1].get("text", "") for r in app.fake.responses if r[0] == "UDANA")


async def test_a_conversation_over_socket_mode_reads_as_it_does_over_http(app: SocketSlack) -> None:
    """The conversation harness (tests/harness.py) drives any SlackWire: the same script, the
    same transcript, over the WebSocket."""
    chat = SlackChat(app)
    await chat.run("""
        @maria /cohort create spring #general reviews #reviews
        @maria /cohort add spring @alice
        @maria /cohort add spring @dana as assessor
        @maria /window open spring creators closes 2026-03-20T17:00 America/Chicago
        @alice /submit https://example.org/a?x=1&y=2 -- Students & tools
        @dana /review claim R-1
    """)
    assert chat.crashes == chat.errors == 0, chat.transcript
    assert chat.saw("#general", "*Empowering Students as Creators* is open for submissions")
    assert "Received S-1 (version 1)" in chat.last("only @alice")
    assert chat.saw("#reviews", "Review task R-1: S-1 by @alice")
    assert chat.saw("#reviews", "(edited) 📝 Review task R-1: S-1 by @alice")
    assert chat.saw("#reviews", "Status: claimed by @dana")
    evidence = chat.last("DM @dana")
    assert "https://example.org/a?x=1&y=2" in evidence and "Students & tools" in evidence
    assert "[Approve → /review approve R-1]" in evidence


async def test_a_retried_envelope_never_submits_twice(app: SocketSlack, db: Database) -> None:
    await set_up(app, SETUP)
    first = await app.command("UALICE", "/submit", "https://example.org/a", trigger_id="trig-1")
    again = await app.command(
        "UALICE", "/submit", "https://example.org/a", trigger_id="trig-1", retry_attempt=1
    )
    assert "Saving your submission" in first["payload"]["text"]
    assert "Saving" not in json.dumps(again.get("payload", {}))
    assert len([p for name, p in app.fake.responses if "Received S-1" in p["text"]]) == 1
    assert app.fake.socket_envelopes[-1]["retry_attempt"] == 1
    assert await count(db, Submission) == 1
    assert len(app.fake.posted("CREV")) == 1


# ------------------------------------------------------------------ modals and events


async def test_bare_submit_opens_the_form_and_its_submission_is_answered_in_the_ack(
    app: SocketSlack, db: Database
) -> None:
    await set_up(app, SETUP)
    ack = await app.command("UALICE", "/submit")
    assert "payload" not in ack
    stored = next(iter(app.fake.views.values()))
    assert stored["callback_id"] == "submit_form"
    bad = await app.send(
        "interactive",
        view_submission_payload(
            "submit_form",
            {"links": {"links": "not a link"}, "reflection": {"reflection": "r"}},
            view=stored,
            user_id="UALICE",
        ),
    )
    assert app.fake.socket_envelopes[-1]["accepts_response_payload"] is True
    assert bad["payload"]["response_action"] == "errors"
    assert "is not a web link" in bad["payload"]["errors"]["links"]
    good = await app.send(
        "interactive",
        view_submission_payload(
            "submit_form",
            {"links": {"links": "https://example.org/a"}, "reflection": {"reflection": "led"}},
            view=stored,
            user_id="UALICE",
        ),
    )
    assert "payload" not in good
    assert await count(db, Submission) == 1
    assert any("Received S-1" in e.get("text", "") for e in app.fake.ephemerals)


async def test_events_arrive_over_the_socket(app: SocketSlack) -> None:
    mention = event_callback_body(
        {"type": "app_mention", "user": "UALICE", "channel": "C1", "text": "<@UBOT> help", "ts": "1.1"}
    )
    ack = await app.send("events_api", mention)
    assert "payload" not in ack
    assert app.fake.socket_envelopes[-1]["retry_attempt"] == 0
    assert "Cohort Bot" in app.fake.ephemerals[-1]["text"]
    home = event_callback_body(
        {"type": "app_home_opened", "user": "UALICE", "tab": "home", "channel": "DUALICE"}
    )
    await app.send("events_api", home)
    assert app.fake.called("views.publish")[-1].args["user_id"] == "UALICE"
