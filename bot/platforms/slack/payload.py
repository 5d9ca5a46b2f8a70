"""What a Slack request must be before bolt or a listener reads it.

Anyone can POST to `/slack/events`, so the raw body is checked in the order that costs
an attacker the least of our memory: its size (before it is read), its signature (on the
raw bytes, before any decoding), then its text and shape. Each step refuses with a short
reason and a 4xx; nothing here raises anything but `Refused`. The shapes name only the
fields our listeners and bolt's context read, so a request that passes cannot crash them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, Literal
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from bot.edge import Refused
from bot.forms import REQUESTS, FormRequest

MAX_AGE = 300  # seconds a signed request stays valid (Slack's own advice: five minutes)


def verify_signature(
    raw: bytes, timestamp: str | None, signature: str | None, secret: str, now: float
) -> None:
    """Slack's v0 signature over the bytes as they arrived (slack_sdk's verifier decodes them
    first, so a body that is not UTF-8 would fail there instead of being refused)."""
    if not timestamp or not signature:
        raise Refused(401, "unsigned request")
    if not timestamp.isascii() or not timestamp.isdigit():
        raise Refused(401, "malformed X-Slack-Request-Timestamp")
    if abs(now - int(timestamp)) > MAX_AGE:
        raise Refused(401, "stale or future X-Slack-Request-Timestamp")
    if not signature.isascii():
        raise Refused(401, "malformed X-Slack-Signature")
    expected = (
        "v0="
        + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
    )
    if not hmac.compare_digest(expected, signature):
        raise Refused(401, "bad signature")


def as_text(raw: bytes) -> str:
    """The body as text, decoded once (bolt keeps it for its own signature check)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "body is not UTF-8") from None


def read_body(text: str, content_type: str | None) -> dict[str, Any]:
    """The payload as bolt would parse it (a slash command's form, an interaction's
    `payload=` JSON, an event's JSON), but strictly: JSON objects only, bounded depth."""
    try:
        if content_type == "application/json" or text.startswith("{"):
            body = json.loads(text)
        else:
            form = dict(parse_qsl(text, keep_blank_values=True))
            body = json.loads(form["payload"]) if "payload" in form else form
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; deep nesting recurses
        raise Refused(400, "body is not a Slack payload (malformed JSON)") from None
    if not isinstance(body, dict):
        raise Refused(400, "body is not a Slack payload (not a JSON object)")
    return body


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class _Ref(_Shape):
    id: str


class SlashCommand(_Shape):
    command: str
    team_id: str
    user_id: str
    text: str = ""
    trigger_id: str = ""
    channel_id: str | None = None
    channel_name: str | None = None
    response_url: str  # Slack always sends one: a taken-in /submit is answered there


class _Action(_Shape):
    action_id: str
    value: str | None = None


class BlockActions(_Shape):
    type: Literal["block_actions"]
    team: _Ref
    user: _Ref
    channel: _Ref | None = None
    trigger_id: str = ""
    response_url: str | None = None
    actions: list[_Action] = Field(min_length=1)


class _Option(_Shape):
    value: str


class _Input(_Shape):
    value: str | None = None
    selected_option: _Option | None = None


class _State(_Shape):
    values: dict[str, dict[str, _Input]] = Field(default_factory=dict)


class _View(_Shape):
    id: str
    callback_id: str = ""
    hash: str | None = None
    private_metadata: str = ""
    state: _State = Field(default_factory=_State)


class ViewPayload(_Shape):
    type: Literal["view_submission", "view_closed"]
    team: _Ref
    user: _Ref
    view: _View


class _Opened(_Shape):
    channel: str | None = None  # where the form was opened: its answer goes there


class _Event(_Shape):
    type: str
    user: str | None = None
    channel: str | None = None
    tab: str | None = None


class EventCallback(_Shape):
    type: Literal["event_callback"]
    team_id: str
    event_id: str | None = None
    event: _Event


class UrlVerification(_Shape):
    type: Literal["url_verification"]
    challenge: str


SHAPES: dict[str, type[_Shape]] = {
    "block_actions": BlockActions,
    "view_submission": ViewPayload,
    "view_closed": ViewPayload,
    "event_callback": EventCallback,
    "url_verification": UrlVerification,
}
FORM_META: dict[str, TypeAdapter[Any]] = {kind.value: TypeAdapter(shape) for kind, shape in REQUESTS.items()}
PEOPLE_EVENTS = ("app_mention", "app_home_opened")  # events whose listener needs `user`
CONTEXT_OBJECTS = ("team", "user", "channel", "enterprise", "container", "view", "event")


def check_shape(body: dict[str, Any]) -> None:
    """Refuse a payload this app has no listener for (404) or whose fields our listeners or
    bolt's context would misread (400). Only kinds we take go on to bolt, whose own code (its
    logging of an unhandled request, say) trusts Slack's shapes."""
    if "ssl_check" in body and "command" not in body:
        return  # Slack's check of our certificate: bolt answers it
    kind = "command" if "command" in body else body.get("type")
    if kind != "command" and not (isinstance(kind, str) and kind in SHAPES):
        raise Refused(404, "nothing here takes that kind of request")
    try:
        for name in CONTEXT_OBJECTS:  # bolt's context reads `x.get("id")` of each it finds
            if name in body and body[name] is not None and not isinstance(body[name], dict | str):
                raise Refused(400, f"`{name}` has the wrong type")
        payload = (
            SlashCommand.model_validate(body) if kind == "command" else SHAPES[kind].model_validate(body)
        )
        if isinstance(payload, ViewPayload) and payload.type == "view_submission":
            read_form(payload.view.callback_id, payload.view.private_metadata)
        if (
            isinstance(payload, EventCallback)
            and payload.event.type in PEOPLE_EVENTS
            and payload.event.user is None
        ):
            raise Refused(400, f"{payload.event.type} event without `user`")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise Refused(400, f"{kind} payload: `{where}` {first['msg'].lower()}") from None


def read_form(callback_id: str, private_metadata: str | None) -> tuple[FormRequest, str | None] | None:
    """The request a submitted form answers (`bot.forms`) and the channel it was opened in,
    from what `forms.modal` wrote; None if the form is not ours (bolt answers 404). Metadata
    we did not write is refused: the request's own shape is the only one taken."""
    shape = FORM_META.get(callback_id)
    if shape is None:
        return None
    try:
        meta = json.loads(private_metadata or "{}")
    except (ValueError, RecursionError):
        raise Refused(400, "form metadata is not ours") from None
    if not isinstance(meta, dict):
        raise Refused(400, "form metadata is not ours")
    try:
        return shape.validate_python(meta), _Opened.model_validate(meta).channel
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "metadata"
        raise Refused(400, f"form metadata: `{where}` {first['msg'].lower()}") from None
