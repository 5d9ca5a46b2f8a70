"""The fake Slack's Socket Mode behaves like Slack's, so the Socket Mode tests can trust it:
slack_sdk's real SocketModeClient connects, gets Slack's hello, envelopes and disconnect
messages, and its acknowledgements are recorded."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fakes.slack_payloads import (
    block_actions_payload,
    event_callback_body,
    interaction_body,
    slash_command_body,
    view_submission_payload,
)
from fakes.slack_server import FakeSlack
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


async def test_slack_sdks_socket_mode_client_gets_hello_envelopes_and_its_acks_are_recorded(
    slack: FakeSlack,
) -> None:
    messages: list[dict[str, Any]] = []
    requests: list[SocketModeRequest] = []

    async def on_message(message: Any) -> None:  # every text frame, as aiohttp received it
        messages.append(json.loads(message.data))

    async def on_request(client: Any, req: SocketModeRequest) -> None:
        requests.append(req)
        payload = {"text": "ok"} if req.type == "slash_commands" else None
        await client.send_socket_mode_response(SocketModeResponse(req.envelope_id, payload))

    sdk = SocketModeClient(
        app_token="xapp-test",
        web_client=AsyncWebClient(base_url=slack.api_url, timeout=5),
        on_message_listeners=[on_message],
    )
    sdk.socket_mode_request_listeners.append(on_request)
    try:
        await asyncio.wait_for(sdk.connect(), 5)
        await slack.socket_connected(timeout=5)
        command = await slack.socket_send(
            "slash_commands", slash_command_body("/cohort", "status", user_id="U2")
        )
        assert await slack.socket_ack(command) == {"envelope_id": command, "payload": {"text": "ok"}}
        event = await slack.socket_send(
            "events_api", event_callback_body({"type": "app_home_opened", "user": "U1", "tab": "home"})
        )
        click = await slack.socket_send(
            "interactive", interaction_body(block_actions_payload("cmd:status", "status"))
        )
        submit = await slack.socket_send(
            "interactive",
            view_submission_payload("f", {"a": {"a": "x"}}),
            retry_attempt=1,
            retry_reason="timeout",
        )
        for envelope_id in (event, click, submit):
            assert await slack.socket_ack(envelope_id) == {"envelope_id": envelope_id}
        assert slack.socket_ack_seconds(submit) < 3

        # a disconnect message makes the client open a new connection with a new URL
        await slack.socket_disconnect("refresh_requested")
        await slack.socket_connected(connections=2, timeout=5)
        assert len(slack.called("apps.connections.open")) == 2
        again = await slack.socket_send(
            "events_api", {"type": "event_callback", "team_id": "T1", "event": {"type": "app_mention"}}
        )
        assert await slack.socket_ack(again) == {"envelope_id": again}
    finally:
        await asyncio.wait_for(sdk.close(), 5)

    hello = messages[0]
    assert hello["type"] == "hello" and hello["num_connections"] == 1
    assert hello["connection_info"] == {"app_id": "A1"} and hello["debug_info"]["host"]
    assert any(m.get("type") == "disconnect" and m["reason"] == "refresh_requested" for m in messages)
    by_id = {r.envelope_id: r for r in requests}
    assert by_id[command].type == "slash_commands" and by_id[command].accepts_response_payload is True
    assert by_id[command].payload["command"] == "/cohort" and by_id[command].payload["user_id"] == "U2"
    assert by_id[command].retry_attempt is None  # only Events API envelopes always carry retries
    assert (by_id[event].retry_attempt, by_id[event].retry_reason) == (0, "")
    assert by_id[event].payload["event"]["type"] == "app_home_opened"
    assert by_id[event].accepts_response_payload is False
    assert by_id[click].payload["type"] == "block_actions" and not by_id[click].accepts_response_payload
    assert by_id[submit].payload["type"] == "view_submission" and by_id[submit].accepts_response_payload
    assert (by_id[submit].retry_attempt, by_id[submit].retry_reason) == (1, "timeout")
    assert [a["envelope_id"] for a in slack.socket_acks] == [command, event, click, submit, again]
    assert slack.socket_open == 0


async def test_socket_mode_waits_are_bounded_and_unknown_urls_are_refused(slack: FakeSlack) -> None:
    import aiohttp

    with pytest.raises(TimeoutError):
        await slack.socket_send("events_api", {"type": "event_callback"}, timeout=0.1)
    with pytest.raises(TimeoutError):
        await slack.socket_ack("no-such-envelope", timeout=0.1)
    with pytest.raises(ValueError):
        await slack.socket_send("hello", {})
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(f"ws://127.0.0.1:{slack.port}/socket-mode/forged")
    assert refused.value.status == 403
    assert slack.socket_connections == 0
