"""Hostile and clumsy requests to the served app, over real HTTP: what an attacker or a broken
client can send to `/slack/events` costs a 4xx with a short reason and one log line, never a
500, a traceback or the memory to hold a body nobody asked for."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fakes.slack_payloads import (
    block_actions_payload,
    interaction_body,
    signed_headers,
    view_submission_payload,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from serving import post_raw
from slack_app import SECRET, SlackApp

from bot.storage.db import Database

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # the edge reads no rows


async def raw_post(app: SlackApp, content: Any, headers: dict[str, Any]) -> httpx.Response:
    return await app.http.post("/slack/events", content=content, headers=headers)


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("refused")]


def no_errors_logged(caplog: pytest.LogCaptureFixture) -> bool:
    return not [r for r in caplog.records if r.levelno >= logging.ERROR]


# ------------------------------------------------------------------ size


async def trickle(total: int, chunk: bytes) -> AsyncIterator[bytes]:
    for _ in range(total // len(chunk)):
        yield chunk


async def test_a_body_declared_over_the_cap_is_refused_before_it_is_read(
    app: SlackApp, caplog: pytest.LogCaptureFixture
) -> None:
    """A sender declaring a gigabyte and trickling it gets 413 at once, not after sending it all."""
    caplog.set_level(logging.WARNING)
    head = (
        "POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
        f"Content-Length: {1 << 30}\r\n\r\n"
    )
    started = time.monotonic()
    status, _, sent = await post_raw(app.url, head, trickle(1 << 30, b"x" * 65_536))
    # Closing a connection with the sender's bytes unread resets it, which can overtake the 413
    # (a client sending `Expect: 100-continue`, as curl does for large bodies, always gets it).
    assert (" 413 " in status or "Reset" in status) and time.monotonic() - started < 5
    assert sent < 64_000_000, "the server read on after refusing (it should close the connection)"
    assert any("413" in line for line in refusals(caplog))


async def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_cap(app: SlackApp) -> None:
    cap = app.runtime.settings.max_request_bytes
    piece = b"{" + b" " * 65_535
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    head = (
        "POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    status, _, sent = await post_raw(app.url, head, trickle(100 * cap, chunk))
    assert (" 413 " in status or "Reset" in status) and sent < 64_000_000
    # a real command right after is still served
    assert "not in any cohort" in await app.say("UCOORD", "/cohort list")


async def test_a_body_at_a_real_slack_size_is_served(app: SlackApp) -> None:
    """A form with many long fields (far above any real one, under the cap) is not refused."""
    values = {
        f"block{i}": {f"block{i}": {"type": "plain_text_input", "value": "x" * 3000}} for i in range(100)
    }
    payload = view_submission_payload("unknown_form", values, user_id="UCOORD")
    response = await app.post(interaction_body(payload))
    assert len(interaction_body(payload)) > 300_000
    assert response.status_code != 413


# ------------------------------------------------------------------ unsigned junk


UNSIGNED = {
    "not UTF-8": (b"\xff\xfe\x00payload=\x80", {}),
    "payload not JSON": (b"payload=%7Bnot-json", {}),
    "a JSON array": (b"[1,2,3]", {"Content-Type": "application/json"}),
    "deep nesting": (b"[" * 100_000 + b"]" * 100_000, {"Content-Type": "application/json"}),
    "timestamp abc": (b"{}", {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"}),
    "non-ASCII signature": (
        b"{}",
        {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=é".encode()},
    ),
    "stale timestamp": (b"{}", signed_headers(b"{}", SECRET, int(time.time()) - 600)),
    "wrong secret": (b"{}", signed_headers(b"{}", "guessed")),
}


@pytest.mark.parametrize("junk", list(UNSIGNED))
async def test_unsigned_junk_is_refused_with_401_and_one_log_line(
    app: SlackApp, junk: str, caplog: pytest.LogCaptureFixture
) -> None:
    body, headers = UNSIGNED[junk]
    caplog.set_level(logging.WARNING)
    response = await raw_post(app, body, headers)
    assert response.status_code == 401 and response.text  # a short reason
    assert len(refusals(caplog)) == 1 and no_errors_logged(caplog)


# ------------------------------------------------------------------ signed, wrong shape


def _payload_without_team() -> bytes:
    payload = block_actions_payload("cmd:0", "/cohort list", user_id="UCOORD")
    del payload["team"]
    return interaction_body(payload)


def _form_with_foreign_metadata() -> bytes:
    payload = view_submission_payload("decision_form", {}, user_id="UDANA")
    payload["view"]["private_metadata"] = "not ours"
    return interaction_body(payload)


def _decision_for_no_review() -> bytes:
    payload = view_submission_payload("decision_form", {}, user_id="UDANA")
    payload["view"]["private_metadata"] = json.dumps({"decision": "approve"})
    return interaction_body(payload)


def _event_without_user() -> bytes:
    return json.dumps(
        {
            "type": "event_callback",
            "team_id": "T1",
            "event_id": "Ev1",
            "event": {"type": "app_mention", "channel": "CFRL", "text": "hi"},
        }
    ).encode()


SIGNED = {
    "not UTF-8": lambda: b"\xff\xfe\x00\x80",
    "payload not JSON": lambda: b"payload=%7Bnot-json",
    "a JSON array": lambda: b"payload=" + b"%5B1%2C2%5D",
    "deep nesting": lambda: b"payload=" + b"%5B" * 100_000 + b"%5D" * 100_000,
    "block_actions without team": _payload_without_team,
    "a form whose metadata is not ours": _form_with_foreign_metadata,
    "a decision naming no review": _decision_for_no_review,
    "an event without user": _event_without_user,
    "a button whose response_url is not text": lambda: interaction_body(
        block_actions_payload("cmd:0", "/cohort list", user_id="UCOORD") | {"response_url": 7}
    ),
    "a /submit without a response_url": lambda: urlencode(
        {
            "command": "/submit",
            "team_id": "T1",
            "user_id": "UALICE",
            "text": "https://example.org/a",
            "trigger_id": "1.2",
        }
    ).encode(),
    "a slash command without user_id": lambda: urlencode(
        {"command": "/cohort", "team_id": "T1", "text": "list"}
    ).encode(),
}


@pytest.mark.parametrize("shape", list(SIGNED))
async def test_signed_requests_of_the_wrong_shape_get_400_not_500(
    app: SlackApp, shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    body = SIGNED[shape]()
    response = await app.post(body)
    assert response.status_code == 400 and response.text, response.text
    assert len(refusals(caplog)) == 1 and no_errors_logged(caplog)


# ------------------------------------------------------------------ anything at all


JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "block_actions",
            "view_submission",
            "view_closed",
            "event_callback",
            "url_verification",
            "app_mention",
            "app_home_opened",
            "submit_form",
            "decision_form",
            "one_field_form",
            "/cohort",
            "/submit",
            "T1",
            "UCOORD",
        ]
    ),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "team",
                    "team_id",
                    "user",
                    "user_id",
                    "id",
                    "view",
                    "event",
                    "actions",
                    "action_id",
                    "value",
                    "command",
                    "text",
                    "channel",
                    "channel_id",
                    "private_metadata",
                    "callback_id",
                    "state",
                    "values",
                    "trigger_id",
                    "response_url",
                    "authorizations",
                    "enterprise",
                    "challenge",
                    "selected_option",
                    "hash",
                    "tab",
                ]
            )
            | st.text(max_size=8),
            inner,
            max_size=6,
        )
    ),
    max_leaves=25,
)


def templates() -> list[dict[str, Any]]:
    """Real payloads of each kind we take, to be bent out of shape."""
    answers = "http://FAKESLACK/respond/UCOORD"  # the fake's address, filled in when sent
    return [
        block_actions_payload("cmd:0", "/cohort list", user_id="UCOORD", response_url=answers),
        view_submission_payload(
            "decision_form",
            {"feedback": {"feedback": "ok"}},
            private_metadata=json.dumps({"review": 1, "decision": "approve"}),
            user_id="UDANA",
        ),
        view_submission_payload(
            "one_field_form",
            {"value": {"value": "x"}},
            private_metadata=json.dumps({"command": "/badges email"}),
        ),
        view_submission_payload("submit_form", {"links": {"links": "https://example.org/a"}}),
        json.loads(_event_without_user()) | {"event": {"type": "app_mention", "user": "UCOORD"}},
        {
            "command": "/cohort",
            "text": "list",
            "team_id": "T1",
            "user_id": "UCOORD",
            "channel_id": "CFRL",
            "trigger_id": "1.2",
            "response_url": answers,
        },
    ]


@st.composite
def bent(draw: st.DrawFn) -> Any:
    """A real payload with one to three of its fields (at any depth) replaced or removed."""
    payload = draw(st.sampled_from(templates()))
    for _ in range(draw(st.integers(1, 3))):
        node: Any = payload
        while True:
            key = None
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            if not keys:
                break
            key = draw(st.sampled_from(keys))
            if not isinstance(node[key], dict | list) or draw(st.booleans()):
                break
            node = node[key]
        if key is not None:
            if isinstance(node, dict) and draw(st.booleans()):
                del node[key]
            else:
                node[key] = draw(JSONISH)
    return payload


def encodings(value: Any) -> st.SearchStrategy[bytes]:
    text = json.dumps(value)
    return st.sampled_from(
        [
            text.encode(),
            urlencode({"payload": text}).encode(),
            urlencode({k: json.dumps(v) if not isinstance(v, str) else v for k, v in value.items()}).encode()
            if isinstance(value, dict)
            else text.encode(),
        ]
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300) | (JSONISH | bent()).flatmap(encodings), signed=st.booleans())
async def test_any_request_at_all_gets_2xx_or_4xx_and_the_server_stays_healthy(
    app: SlackApp, body: bytes, signed: bool, caplog: pytest.LogCaptureFixture
) -> None:
    body = body.replace(b"FAKESLACK", app.fake.url.removeprefix("http://").encode())
    headers = signed_headers(body, SECRET) if signed else {"Content-Type": "application/json"}
    response = await raw_post(app, body, headers)
    assert 200 <= response.status_code < 500, (response.status_code, body[:200])
    assert (await app.http.get("/healthz")).status_code == 200
    assert no_errors_logged(caplog)


async def test_the_server_still_answers_people_after_the_junk(app: SlackApp, db: Database) -> None:
    for body, headers in UNSIGNED.values():
        await raw_post(app, body, headers)
    for make in SIGNED.values():
        await app.post(make())
    answer = await app.say("UCOORD", "/cohort create spring <#CFRL|frl-spring>")
    assert "Created cohort *spring*" in answer
