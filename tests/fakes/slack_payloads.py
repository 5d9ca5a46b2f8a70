"""What Slack sends to an app: signed slash-command, interactivity (block_actions,
view_submission) and Events API requests, with the fields Slack really sends (cross-checked
with slack_bolt's own scenario tests and its request parsing), and ``post_signed`` to send
one as Slack does. ``FakeSlack.socket_send`` takes their output as it is."""

from __future__ import annotations

import copy
import hashlib
import hmac
import itertools
import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from .slack_api import short_hash

EVENTS_PATH = "/slack/events"  # where the app's manifest sends commands, clicks and events

_ids = itertools.count(1)


def _trigger_id() -> str:
    n = next(_ids)
    return f"{1_700_000_000 + n}.{1_000_000 + n}.{hashlib.md5(str(n).encode()).hexdigest()}"


def _action_ts() -> str:
    n = next(_ids)
    return f"{1_700_000_000 + n}.{n % 1_000_000:06d}"


def signed_headers(
    body: bytes | str, secret: str, timestamp: int | None = None, *, content_type: str | None = None
) -> dict[str, str]:
    """Headers Slack sends with ``body``: the v0 HMAC-SHA256 signature of ``v0:{ts}:{body}``.

    Content type: JSON for a body starting with ``{`` (Events API), else form-encoded.
    """
    raw = body.encode() if isinstance(body, str) else body
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256).hexdigest()
    if content_type is None:
        content_type = "application/json" if raw.lstrip()[:1] == b"{" else "application/x-www-form-urlencoded"
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


async def post_signed(
    http: httpx.AsyncClient,
    body: bytes,
    secret: str,
    *,
    timestamp: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """POST ``body`` to the app's Request URL (``/slack/events`` at the client's base URL) as
    Slack does: signed with ``secret`` (as of ``timestamp``), with any further ``headers``
    (a retry's)."""
    sent = signed_headers(body, secret, timestamp) | dict(headers or {})
    return await http.post(EVENTS_PATH, content=body, headers=sent)


def slash_command_body(
    command: str,
    text: str,
    *,
    team_id: str = "T1",
    user_id: str = "U1",
    channel_id: str = "C1",
    channel_name: str = "general",
    trigger_id: str | None = None,
    response_url: str | None = None,
    user_name: str | None = None,
    team_domain: str = "cohort-test",
    api_app_id: str = "A1",
    token: str = "verification-token",
    enterprise_id: str | None = None,
) -> bytes:
    """A slash command POST body, form-encoded with Slack's fields in Slack's order."""
    fields: list[tuple[str, str]] = [("token", token), ("team_id", team_id), ("team_domain", team_domain)]
    if enterprise_id:
        fields += [("enterprise_id", enterprise_id), ("enterprise_name", "Enterprise")]
    fields += [
        ("channel_id", channel_id),
        ("channel_name", channel_name),
        ("user_id", user_id),
        ("user_name", user_name or user_id.lower()),
        ("command", command),
        ("text", text),
        ("api_app_id", api_app_id),
        ("is_enterprise_install", "false"),
        ("response_url", response_url or f"https://hooks.slack.com/commands/{team_id}/{next(_ids)}/x"),
        ("trigger_id", trigger_id or _trigger_id()),
    ]
    return urlencode(fields).encode()


def interaction_body(payload: Mapping[str, Any]) -> bytes:
    """Interactivity POST body: form-encoded ``payload=<json>``, as Slack sends it."""
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()


def _user_field(user_id: str, user_name: str | None, team_id: str) -> dict[str, str]:
    name = user_name or user_id.lower()
    return {"id": user_id, "username": name, "name": name, "team_id": team_id}


def block_actions_payload(
    action_id: str,
    value: str | None = None,
    *,
    block_id: str = "b1",
    action_type: str = "button",
    text: str = "Button",
    selected_option: Mapping[str, Any] | None = None,
    user_id: str = "U1",
    user_name: str | None = None,
    team_id: str = "T1",
    team_domain: str = "cohort-test",
    channel_id: str = "C1",
    channel_name: str = "general",
    message_ts: str = "1700000000.000100",
    message: Mapping[str, Any] | None = None,
    is_ephemeral: bool = False,
    view: Mapping[str, Any] | None = None,
    trigger_id: str | None = None,
    response_url: str | None = None,
    api_app_id: str = "A1",
    token: str = "verification-token",
) -> dict[str, Any]:
    """A ``block_actions`` payload for one click, from a message (default) or from ``view``
    (a modal or the Home tab: then the container is the view and there is no channel)."""
    action: dict[str, Any] = {
        "action_id": action_id,
        "block_id": block_id,
        "type": action_type,
        "action_ts": _action_ts(),
    }
    if action_type == "button":
        action["text"] = {"type": "plain_text", "text": text, "emoji": True}
        if value is not None:
            action["value"] = value
    elif selected_option is not None:
        action["selected_option"] = dict(selected_option)
    elif value is not None:
        action["value"] = value
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": _user_field(user_id, user_name, team_id),
        "api_app_id": api_app_id,
        "token": token,
        "trigger_id": trigger_id or _trigger_id(),
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id", "V1")}
        payload["view"] = dict(view)
    else:
        payload["container"] = {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": is_ephemeral,
        }
        payload["channel"] = {"id": channel_id, "name": channel_name}
        if not is_ephemeral:
            payload["message"] = (
                dict(message)
                if message is not None
                else {"type": "message", "ts": message_ts, "text": "", "blocks": []}
            )
        payload["state"] = {"values": {}}
        payload["response_url"] = response_url or (
            f"https://hooks.slack.com/actions/{team_id}/{next(_ids)}/x"
        )
    payload["actions"] = [action]
    return payload


def view_submission_payload(
    callback_id: str,
    values: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    private_metadata: str = "",
    view: Mapping[str, Any] | None = None,
    view_id: str = "V1",
    user_id: str = "U1",
    user_name: str | None = None,
    team_id: str = "T1",
    team_domain: str = "cohort-test",
    trigger_id: str | None = None,
    response_urls: list[dict[str, str]] | None = None,
    api_app_id: str = "A1",
    token: str = "verification-token",
) -> dict[str, Any]:
    """A ``view_submission`` payload. ``values``: block_id -> action_id -> either a string (a
    plain_text_input's value) or a full state value such as
    ``{"type": "static_select", "selected_option": {...}}``. ``view``: a view returned by the fake's
    views.open, to submit exactly what was opened (its id and private_metadata are kept)."""
    state: dict[str, dict[str, Any]] = {}
    for block_id, actions in (values or {}).items():
        state[block_id] = {
            action_id: (
                {"type": "plain_text_input", "value": v} if isinstance(v, str) or v is None else dict(v)
            )
            for action_id, v in actions.items()
        }
    if view is not None:
        body = copy.deepcopy(dict(view))
        body.pop("user_id", None)
        body.setdefault("callback_id", callback_id)
    else:
        blocks = [
            {
                "type": "input",
                "block_id": block_id,
                "label": {"type": "plain_text", "text": block_id},
                "element": {"type": v["type"], "action_id": action_id},
            }
            for block_id, actions in state.items()
            for action_id, v in actions.items()
        ]
        body = {
            "id": view_id,
            "team_id": team_id,
            "type": "modal",
            "blocks": blocks,
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "hash": "1700000000.abcdefgh",
            "title": {"type": "plain_text", "text": "Cohort"},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": {"type": "plain_text", "text": "Submit"},
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": api_app_id,
            "external_id": "",
            "app_installed_team_id": team_id,
            "bot_id": "B1",
        }
    body["state"] = {"values": state}
    return {
        "type": "view_submission",
        "team": {"id": team_id, "domain": team_domain},
        "user": _user_field(user_id, user_name, team_id),
        "api_app_id": api_app_id,
        "token": token,
        "trigger_id": trigger_id or _trigger_id(),
        "view": body,
        "response_urls": response_urls or [],
        "is_enterprise_install": False,
        "enterprise": None,
    }


def event_callback_body(
    event: Mapping[str, Any],
    *,
    team_id: str = "T1",
    api_app_id: str = "A1",
    bot_user_id: str = "UBOT",
    event_id: str | None = None,
    event_time: int | None = None,
    token: str = "verification-token",
) -> bytes:
    """An Events API POST body (JSON) wrapping ``event``, e.g. ``{"type": "app_home_opened",
    "user": "U1", "channel": "DU1", "tab": "home", "event_ts": "..."}``."""
    n = next(_ids)
    return json.dumps(
        {
            "token": token,
            "team_id": team_id,
            "context_team_id": team_id,
            "context_enterprise_id": None,
            "api_app_id": api_app_id,
            "event": dict(event),
            "type": "event_callback",
            "event_id": event_id or f"Ev{n:08d}",
            "event_time": event_time or 1_700_000_000 + n,
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": team_id,
                    "user_id": bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{short_hash(n, length=20)}",
        },
        separators=(",", ":"),
    ).encode()
