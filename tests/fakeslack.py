"""A local fake of Slack's Web API, and builders for what Slack sends to an app.

``FakeSlack`` is a Starlette app served in-process by uvicorn on 127.0.0.1 (a
free port), for wire-level tests::

    async with FakeSlack(users={"U1": {"name": "alice"}}) as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        await client.chat_postMessage(channel="C1", text="hi")
        assert slack.called("chat.postMessage")[0].args["text"] == "hi"

It takes Web API calls the way slack_sdk sends them: POST (JSON body for the
chat.* and views.* methods, form or query string for the rest) or GET with a
query string (conversations.history, users.info, team.info), the token in an
``Authorization: Bearer`` header (or a ``token`` form/query field). Answers are
Slack's shapes, always HTTP 200 with ``ok`` true or false, except 429 for rate
limits, 404 for unknown methods and whatever ``fail_next`` injects. ``enforce_limits``
turns on real rate limiting of chat.postMessage (token buckets per channel and per
workspace, on the server's clock; 429 with ``Retry-After``, counted in ``throttled``);
``drop_next`` carries a call out but cuts the connection instead of answering;
``in_flight`` lists calls received but not answered yet.

Block Kit is checked the way Slack rejects it (``invalid_blocks`` with
``response_metadata.messages`` naming the JSON pointer); ``block_errors`` gives
the same verdict without HTTP. Limits enforced: 50 blocks a message (100 in a
view), section text 3,000 and fields 10 x 2,000, header 150 (plain_text), button
text 75 / value 2,000 / url 3,000, 25 elements an actions block, 10 a context
block, text objects not empty, action_id and block_id unique in one message
(each at most 255), select options 100 (text 75, value 150), overflow 1-5,
image alt_text; top-level text over 40,000 -> ``msg_too_long``; modal title,
submit and close 24, private_metadata 3,000, callback_id 255.

Socket Mode: ``apps.connections.open`` (app-level ``xapp-`` token only, as a
Bearer header; a bot token there, or the app token anywhere else, is
``not_allowed_token_type``) hands out ``ws://127.0.0.1:<port>/socket-mode/<ticket>``.
A client that connects gets Slack's ``hello``; the test then pushes envelopes
with ``socket_send`` (``slash_commands``, ``interactive``, ``events_api``) and
reads the app's acknowledgements with ``socket_ack``; ``socket_disconnect``
sends Slack's ``disconnect`` message (the client must reconnect)::

    await slack.socket_connected()
    eid = await slack.socket_send("slash_commands", slash_command_body("/cohort", "help"))
    ack = await slack.socket_ack(eid)   # {"envelope_id": eid, "payload": {"text": ...}}

Builders at the bottom produce signed slash-command, interactivity and Events
API requests with the fields Slack really sends (cross-checked with
slack_bolt's own scenario tests and its request parsing); ``socket_send`` takes
their output as it is.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import copy
import hashlib
import hmac
import importlib.util
import itertools
import json
import math
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from localserver import LocalServer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

__all__ = [
    "Call",
    "FakeSlack",
    "block_actions_payload",
    "block_errors",
    "event_callback_body",
    "interaction_body",
    "signed_headers",
    "slash_command_body",
    "view_submission_payload",
]

# Fields Slack accepts as JSON text inside a form or query string.
JSON_FIELDS = frozenset({"blocks", "attachments", "metadata", "view", "user_auth_blocks", "unfurls"})

MESSAGE_BLOCKS_MAX = 50
VIEW_BLOCKS_MAX = 100
TEXT_MAX = 40_000
SECTION_TEXT_MAX = 3000
FIELD_TEXT_MAX = 2000
FIELDS_MAX = 10
HEADER_TEXT_MAX = 150
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2000
URL_MAX = 3000
ACTIONS_ELEMENTS_MAX = 25
CONTEXT_ELEMENTS_MAX = 10
ID_MAX = 255
OPTIONS_MAX = 100
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150
VIEW_TITLE_MAX = 24
PRIVATE_METADATA_MAX = 3000

_FIRST_TS_MICROS = 1_700_000_000_000_000

SOCKET_TYPES = frozenset({"slash_commands", "interactive", "events_api"})
# Interactive payloads whose acknowledgement may carry a payload (errors, options, a view).
_INTERACTIVE_WITH_RESPONSE = frozenset({"view_submission", "block_suggestion"})


@dataclass
class Call:
    """One Web API request as the fake received it (token moved out of ``args``)."""

    method: str
    args: dict[str, Any]
    token: str | None
    at: float  # time.monotonic() on arrival
    status: int = 0  # HTTP status answered
    response: dict[str, Any] | None = None  # JSON body answered
    answered_at: float | None = None  # time.monotonic() when answered; None while in flight


@dataclass
class _Fault:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    times: int


@dataclass
class _Delay:
    seconds: float
    times: int | None


@dataclass
class _Bucket:
    """A token bucket on the server's clock: ``rate`` tokens a second, at most ``burst``."""

    rate: float
    burst: int
    tokens: float
    at: float

    def refill(self, now: float) -> None:
        self.tokens = min(float(self.burst), self.tokens + (now - self.at) * self.rate)
        self.at = now


class SlackError(Exception):
    """Raised inside a handler: answered as ``{"ok": false, "error": ...}``."""

    def __init__(
        self,
        error: str,
        messages: Iterable[str] = (),
        *,
        status: int = 200,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(error)
        self.error = error
        self.messages = list(messages)
        self.status = status
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.error, **self.extra}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body


# --------------------------------------------------------------------------------------------
# Block Kit checks


_BLOCK_TYPES = frozenset(
    {
        "section",
        "actions",
        "context",
        "header",
        "divider",
        "image",
        "input",
        "rich_text",
        "file",
        "video",
        "markdown",
        "table",
        "context_actions",
    }
)
_ELEMENT_TYPES = frozenset(
    {
        "button",
        "checkboxes",
        "datepicker",
        "datetimepicker",
        "timepicker",
        "image",
        "overflow",
        "radio_buttons",
        "plain_text_input",
        "email_text_input",
        "url_text_input",
        "number_input",
        "rich_text_input",
        "file_input",
        "workflow_button",
        "static_select",
        "external_select",
        "users_select",
        "conversations_select",
        "channels_select",
        "multi_static_select",
        "multi_external_select",
        "multi_users_select",
        "multi_conversations_select",
        "multi_channels_select",
    }
)
_SELECTS_WITH_OPTIONS = frozenset({"static_select", "multi_static_select"})


class _BlockChecker:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.action_ids: set[str] = set()
        self.block_ids: set[str] = set()

    def err(self, message: str, pointer: str) -> None:
        self.errors.append(f"[ERROR] {message} [json-pointer:{pointer}]")

    def length(self, value: Any, limit: int, pointer: str, *, minimum: int = 0) -> None:
        if not isinstance(value, str):
            self.err("must be a string", pointer)
        elif len(value) > limit:
            self.err(f"must be less than {limit + 1} characters", pointer)
        elif len(value) < minimum:
            self.err(f"must be more than {minimum - 1} characters", pointer)

    def text(self, obj: Any, limit: int, pointer: str, *, plain_only: bool = False) -> None:
        if not isinstance(obj, dict):
            self.err("must be a text object", pointer)
            return
        allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
        if obj.get("type") not in allowed:
            self.err(f"must be one of {', '.join(allowed)}", f"{pointer}/type")
        self.length(obj.get("text"), limit, f"{pointer}/text", minimum=1)

    def items(self, value: Any, limit: int, pointer: str, *, minimum: int = 1) -> list[Any]:
        if not isinstance(value, list):
            self.err("must be an array", pointer)
            return []
        if len(value) > limit:
            self.err(f"no more than {limit} items allowed", pointer)
        elif len(value) < minimum:
            self.err(f"must provide at least {minimum} items", pointer)
        return value

    def ident(self, obj: dict[str, Any], key: str, seen: set[str], pointer: str) -> None:
        if key not in obj:
            return
        value = obj[key]
        self.length(value, ID_MAX, f"{pointer}/{key}", minimum=1)
        if isinstance(value, str):
            if value in seen:
                self.err(f"{key} `{value}` is used more than once in this message", f"{pointer}/{key}")
            seen.add(value)

    def options(self, options: Any, limit: int, pointer: str, *, minimum: int = 1) -> None:
        for i, option in enumerate(self.items(options, limit, pointer, minimum=minimum)):
            ptr = f"{pointer}/{i}"
            if not isinstance(option, dict):
                self.err("must be an option object", ptr)
                continue
            self.text(option.get("text"), OPTION_TEXT_MAX, f"{ptr}/text")
            self.length(option.get("value"), OPTION_VALUE_MAX, f"{ptr}/value", minimum=1)

    def element(self, el: Any, pointer: str) -> None:
        if not isinstance(el, dict):
            self.err("must be an element object", pointer)
            return
        kind = el.get("type")
        if kind not in _ELEMENT_TYPES:
            self.err(f"unsupported element type `{kind}`", f"{pointer}/type")
            return
        self.ident(el, "action_id", self.action_ids, pointer)
        if kind == "button":
            self.text(el.get("text"), BUTTON_TEXT_MAX, f"{pointer}/text", plain_only=True)
            if "value" in el:
                self.length(el["value"], BUTTON_VALUE_MAX, f"{pointer}/value", minimum=1)
            if "url" in el:
                self.length(el["url"], URL_MAX, f"{pointer}/url", minimum=1)
            if "style" in el and el["style"] not in ("primary", "danger"):
                self.err("must be one of primary, danger", f"{pointer}/style")
        elif kind == "image":
            if "slack_file" not in el:
                self.length(el.get("image_url"), URL_MAX, f"{pointer}/image_url", minimum=1)
            self.length(el.get("alt_text"), 2000, f"{pointer}/alt_text", minimum=1)
        elif kind == "overflow":
            self.options(el.get("options"), 5, f"{pointer}/options")
        elif kind in ("checkboxes", "radio_buttons"):
            self.options(el.get("options"), 10, f"{pointer}/options")
        elif kind in _SELECTS_WITH_OPTIONS:
            if "option_groups" in el:
                for g, group in enumerate(
                    self.items(el["option_groups"], OPTIONS_MAX, f"{pointer}/option_groups")
                ):
                    if isinstance(group, dict):
                        self.options(
                            group.get("options"), OPTIONS_MAX, f"{pointer}/option_groups/{g}/options"
                        )
            else:
                self.options(el.get("options"), OPTIONS_MAX, f"{pointer}/options")
        if "placeholder" in el:
            self.text(el["placeholder"], 150, f"{pointer}/placeholder", plain_only=True)

    def block(self, block: Any, pointer: str) -> None:
        if not isinstance(block, dict):
            self.err("must be a block object", pointer)
            return
        kind = block.get("type")
        if kind is None:
            self.err("missing required field: type", pointer)
            return
        if kind not in _BLOCK_TYPES:
            self.err(f"unsupported block type `{kind}`", f"{pointer}/type")
            return
        self.ident(block, "block_id", self.block_ids, pointer)
        if kind == "section":
            if "text" not in block and "fields" not in block:
                self.err("must provide either text or fields", pointer)
            if "text" in block:
                self.text(block["text"], SECTION_TEXT_MAX, f"{pointer}/text")
            if "fields" in block:
                for i, f in enumerate(self.items(block["fields"], FIELDS_MAX, f"{pointer}/fields")):
                    self.text(f, FIELD_TEXT_MAX, f"{pointer}/fields/{i}")
            if "accessory" in block:
                self.element(block["accessory"], f"{pointer}/accessory")
        elif kind == "header":
            self.text(block.get("text"), HEADER_TEXT_MAX, f"{pointer}/text", plain_only=True)
        elif kind == "actions":
            elements = self.items(block.get("elements"), ACTIONS_ELEMENTS_MAX, f"{pointer}/elements")
            for i, el in enumerate(elements):
                self.element(el, f"{pointer}/elements/{i}")
        elif kind == "context":
            elements = self.items(block.get("elements"), CONTEXT_ELEMENTS_MAX, f"{pointer}/elements")
            for i, el in enumerate(elements):
                ptr = f"{pointer}/elements/{i}"
                if isinstance(el, dict) and el.get("type") == "image":
                    self.element(el, ptr)
                else:
                    self.text(el, SECTION_TEXT_MAX, ptr)
        elif kind == "image":
            if "slack_file" not in block:
                self.length(block.get("image_url"), URL_MAX, f"{pointer}/image_url", minimum=1)
            self.length(block.get("alt_text"), 2000, f"{pointer}/alt_text", minimum=1)
            if "title" in block:
                self.text(block["title"], 2000, f"{pointer}/title", plain_only=True)
        elif kind == "input":
            self.text(block.get("label"), 2000, f"{pointer}/label", plain_only=True)
            if "element" not in block:
                self.err("missing required field: element", pointer)
            else:
                self.element(block["element"], f"{pointer}/element")
            if "hint" in block:
                self.text(block["hint"], 2000, f"{pointer}/hint", plain_only=True)
        elif kind == "markdown":
            self.length(block.get("text"), 12_000, f"{pointer}/text", minimum=1)


def block_errors(blocks: Any, *, max_blocks: int = MESSAGE_BLOCKS_MAX, pointer: str = "/blocks") -> list[str]:
    """Slack's complaints about ``blocks`` (empty when Slack would accept them)."""
    checker = _BlockChecker()
    if not isinstance(blocks, list):
        checker.err("must be an array", pointer)
        return checker.errors
    if len(blocks) > max_blocks:
        checker.err(f"no more than {max_blocks} items allowed", pointer)
    for i, block in enumerate(blocks):
        checker.block(block, f"{pointer}/{i}")
    return checker.errors


def _check_message(args: Mapping[str, Any], *, require_content: bool = True) -> None:
    text, blocks, attachments = args.get("text"), args.get("blocks"), args.get("attachments")
    if require_content and not text and not blocks and not attachments:
        raise SlackError("no_text")
    if text is not None and not isinstance(text, str):
        raise SlackError("invalid_arguments", ["[ERROR] must be a string [json-pointer:/text]"])
    if text and len(text) > TEXT_MAX:
        raise SlackError("msg_too_long")
    if blocks is not None:
        if isinstance(blocks, str):  # a form field that is not valid JSON
            raise SlackError("invalid_blocks_format")
        errors = block_errors(blocks)
        if errors:
            raise SlackError("invalid_blocks", errors)
    metadata = args.get("metadata")
    if metadata is not None and not (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and metadata["event_type"]
        and isinstance(metadata.get("event_payload"), dict)
    ):
        raise SlackError("invalid_metadata_format")


def _check_view(view: Any, *, kinds: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(view, dict):
        raise SlackError("invalid_arguments", ["[ERROR] must be an object [json-pointer:/view]"])
    checker = _BlockChecker()
    kind = view.get("type")
    if kind not in kinds:
        checker.err(f"must be one of {', '.join(kinds)}", "/view/type")
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        checker.err("missing required field: blocks", "/view")
    else:
        checker.errors += block_errors(blocks, max_blocks=VIEW_BLOCKS_MAX, pointer="/view/blocks")
    if kind == "modal":
        if "title" not in view:
            checker.err("missing required field: title", "/view")
        for key in ("title", "submit", "close"):
            if key in view:
                checker.text(view[key], VIEW_TITLE_MAX, f"/view/{key}", plain_only=True)
        if (
            isinstance(blocks, list)
            and "submit" not in view
            and any(isinstance(b, dict) and b.get("type") == "input" for b in blocks)
        ):
            checker.err("submit is required when blocks contain an input block", "/view/submit")
    if "private_metadata" in view:
        checker.length(view["private_metadata"], PRIVATE_METADATA_MAX, "/view/private_metadata")
    for key in ("callback_id", "external_id"):
        if key in view:
            checker.length(view[key], ID_MAX, f"/view/{key}")
    if checker.errors:
        raise SlackError("invalid_arguments", checker.errors)
    return view


# --------------------------------------------------------------------------------------------
# The fake


def _truthy(value: Any) -> bool:
    return value is True or value == 1 or (isinstance(value, str) and value.lower() in ("1", "true"))


def _ts_key(ts: Any, error: str = "invalid_arguments") -> Decimal:
    try:
        return Decimal(str(ts))
    except ArithmeticError:
        raise SlackError(error) from None


def _short_hash(*parts: Any, length: int = 5) -> str:
    digest = hashlib.sha1(":".join(map(str, parts)).encode()).digest()
    return base64.b32encode(digest).decode().rstrip("=")[:length]


def _websockets_served() -> bool:
    """uvicorn speaks WebSocket only with the `websockets` or `wsproto` package installed."""
    return any(importlib.util.find_spec(name) for name in ("websockets", "wsproto"))


def _socket_payload(payload: Mapping[str, Any] | bytes | str) -> dict[str, Any]:
    """A Socket Mode envelope's payload from a dict or an HTTP body: JSON (Events API), a form
    with one ``payload`` field of JSON (interactivity) or a form of fields (slash commands)."""
    if isinstance(payload, Mapping):
        return copy.deepcopy(dict(payload))
    text = payload.decode() if isinstance(payload, bytes) else payload
    if text.lstrip().startswith("{"):
        return dict(json.loads(text))
    fields = dict(parse_qsl(text, keep_blank_values=True))
    if set(fields) == {"payload"}:
        return dict(json.loads(fields["payload"]))
    return fields


_User = Mapping[str, Any]


# People of a Future Ready Librarians cohort as users.info describes them (Maria is an admin).
SCHOOL_USERS: dict[str, dict[str, Any]] = {
    "UCOORD": {
        "name": "maria",
        "real_name": "Maria Lopez",
        "tz": "America/Chicago",
        "is_admin": True,
        "profile": {"email": "maria@school.org", "display_name": "maria"},
    },
    "UALICE": {
        "name": "alice",
        "real_name": "Alice Ng",
        "tz": "America/Chicago",
        "profile": {"email": "alice@school.org", "display_name": "alice"},
    },
    "UBOB": {
        "name": "bob",
        "real_name": "Bob Ruiz",
        "tz": "America/New_York",
        "profile": {"email": "bob@school.org", "display_name": "bob"},
    },
    "UDANA": {
        "name": "dana",
        "real_name": "Dana Smith",
        "tz": "America/Chicago",
        "profile": {"email": "dana@school.org", "display_name": "dana"},
    },
}


class FakeSlack:
    """Slack's Web API on 127.0.0.1, recording every call. Use as ``async with FakeSlack() as slack``.

    ``users``: user id -> partial users.info object (name, real_name, tz, is_admin, is_owner,
    profile {email, display_name, real_name}, or any other field); unknown users are
    ``user_not_found`` everywhere. ``channels``: channel id -> name; the bot is a member of
    ``member_of`` (default: all of them), others answer ``not_in_channel`` until
    conversations.join. DMs are "D" + user id; a user id as ``channel`` posts to that DM.
    """

    def __init__(
        self,
        *,
        token: str = "xoxb-test",
        app_token: str = "xapp-test",
        users: Mapping[str, _User] | None = None,
        channels: Mapping[str, str] | None = None,
        member_of: Iterable[str] | None = None,
        team_id: str = "T1",
        team_name: str = "Cohort Test",
        team_domain: str = "cohort-test",
        bot_user_id: str = "UBOT",
        bot_id: str = "B1",
        bot_name: str = "cohortbot",
        app_id: str = "A1",
        scopes: Iterable[str] = (
            "chat:write",
            "commands",
            "im:write",
            "users:read",
            "users:read.email",
            "channels:history",
            "groups:history",
            "im:history",
            "channels:join",
        ),
        startup_timeout: float = 10.0,
    ) -> None:
        self.token = token
        self.app_token = app_token
        self.users: dict[str, dict[str, Any]] = {uid: dict(spec) for uid, spec in (users or {}).items()}
        self.users.setdefault(bot_user_id, {"name": bot_name, "real_name": bot_name, "is_bot": True})
        self.channels: dict[str, str] = dict(channels if channels is not None else {"C1": "general"})
        self._members: set[str] = set(self.channels if member_of is None else member_of)
        self.team_id, self.team_name, self.team_domain = team_id, team_name, team_domain
        self.bot_user_id, self.bot_id, self.bot_name, self.app_id = bot_user_id, bot_id, bot_name, app_id
        self.scopes = list(scopes)
        self.startup_timeout = startup_timeout

        self.installed_tokens: set[str] = set()  # bot tokens handed out by oauth.v2.access
        self.calls: list[Call] = []
        self.responses: list[tuple[str, Any]] = []
        self.responded_at: dict[str, float] = {}  # response_url name -> time.perf_counter() of its last post
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._open_dms: set[str] = set()
        self._home_views: dict[str, str] = {}
        self._used_triggers: set[str] = set()
        self._expired_triggers: set[str] = set()
        self._faults: dict[str, list[_Fault]] = {}
        self._delays: dict[str, _Delay] = {}
        self._drops: dict[str, int] = {}  # method -> calls still to answer by dropping the connection
        self._ts = itertools.count(1)
        self._view_seq = itertools.count(1)
        self.throttled = 0  # calls refused with 429 by enforce_limits
        self._limit_specs: dict[str, tuple[float, int]] = {}  # "channel" | "workspace" -> (rate, burst)
        self._method_limits: dict[str, tuple[float, int]] = {}  # other methods' buckets (their tiers)
        self._buckets: dict[str, _Bucket] = {}

        # Socket Mode
        self.socket_connections = 0  # WebSocket connections accepted so far
        self.socket_envelopes: list[dict[str, Any]] = []  # what socket_send pushed, in order
        self.socket_acks: list[dict[str, Any]] = []  # acknowledgements the app sent back, in order
        self.socket_received: list[Any] = []  # every message the app sent on a socket
        self._socket_tickets: set[str] = set()
        self._sockets: list[WebSocket] = []  # open connections, oldest first
        self._socket_sent_at: dict[str, float] = {}
        self._socket_acked_at: dict[str, float] = {}
        self._socket_changed = asyncio.Condition()

        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "team.info": self._team_info,
            "users.info": self._users_info,
            "conversations.open": self._conversations_open,
            "conversations.join": self._conversations_join,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.publish": self._views_publish,
            "views.update": self._views_update,
            "oauth.v2.access": self._oauth_v2_access,
            "apps.connections.open": self._apps_connections_open,
        }
        self.app = Starlette(
            routes=[
                Route("/api/{method:str}", self._handle_api, methods=["GET", "POST"]),
                Route("/respond/{name:path}", self._handle_respond, methods=["POST"]),
                WebSocketRoute("/socket-mode/{ticket:str}", self._handle_socket),
            ]
        )
        self._local: LocalServer | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What ``AsyncWebClient(base_url=...)`` takes; it appends the method name."""
        return f"{self.url}/api/"

    def response_url(self, name: str) -> str:
        """A response_url whose POSTs land in ``self.responses`` as ``(name, json)``."""
        return f"{self.url}/respond/{name}"

    async def __aenter__(self) -> FakeSlack:
        self._local = LocalServer(
            self._asgi, "fake Slack", startup_timeout=self.startup_timeout, interface="asgi3"
        )
        await self._local.start()
        self.port = self._local.port
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._local is not None:
            await self._local.stop()

    # -- inspection and failure injection -------------------------------------------------

    def called(self, method: str) -> list[Call]:
        """Calls of ``method`` so far, oldest first."""
        return [c for c in self.calls if c.method == method]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Messages stored in ``channel`` (including thread replies), oldest first."""
        return copy.deepcopy(self._messages.get(channel, []))

    def add_user(self, user_id: str, **spec: Any) -> None:
        self.users[user_id] = spec

    def add_channel(self, channel_id: str, name: str, *, member: bool = True) -> None:
        """A channel created (or unarchived) now; the bot is in it unless ``member=False``."""
        self.channels[channel_id] = name
        if member:
            self._members.add(channel_id)

    def seed_message(self, channel: str, text: str, *, user: str = "U1", **fields: Any) -> str:
        """Put a message from someone else into ``channel``'s history; returns its ts."""
        ts = self._next_ts()
        message = {"type": "message", "user": user, "text": text, "ts": ts, "team": self.team_id, **fields}
        self._messages.setdefault(channel, []).append(message)
        return ts

    def expire_trigger(self, trigger_id: str) -> None:
        """Make views.open/push with this trigger_id answer ``expired_trigger_id`` (3 s passed)."""
        self._expired_triggers.add(trigger_id)

    def fail_next(
        self,
        method: str,
        status: int = 500,
        times: int = 1,
        *,
        error: str = "internal_error",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` ("*" for any) answer ``status`` with
        ``{"ok": false, "error": error}``. status=200 injects a plain Slack error."""
        self._faults.setdefault(method, []).append(
            _Fault(status, {"ok": False, "error": error}, dict(headers or {}), times)
        )

    def rate_limit(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` answer 429 with ``Retry-After`` like Slack."""
        self._faults.setdefault(method, []).append(
            _Fault(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)}, times)
        )

    def drop_next(self, method: str, times: int = 1) -> None:
        """The next ``times`` calls of ``method`` are carried out (a post is stored) but the
        connection is cut before the answer, as when a proxy or the network fails mid-request:
        the caller cannot tell whether it worked. Such calls show ``status`` 0."""
        self._drops[method] = self._drops.get(method, 0) + times

    def delay(self, method: str, seconds: float, times: int | None = None) -> None:
        """Answer ``method`` ("*" for any) only after ``seconds`` (for ``times`` calls, None = until
        changed; seconds=0 clears)."""
        if seconds <= 0:
            self._delays.pop(method, None)
        else:
            self._delays[method] = _Delay(seconds, times)

    def enforce_limits(
        self,
        per_channel: tuple[float, int] | None = None,
        per_workspace: tuple[float, int] | None = None,
        methods: Mapping[str, tuple[float, int]] | None = None,
    ) -> None:
        """Rate-limit chat.postMessage like Slack (about 1 message a second per channel, short
        bursts allowed): token buckets of ``(rate per second, burst)`` per channel and for the
        whole workspace, on the server's clock (time.monotonic() at arrival). A call over a
        limit is answered at once with HTTP 429, ``Retry-After`` (whole seconds, at least 1)
        and ``{"ok": false, "error": "ratelimited"}``, is not stored, and counts in
        ``throttled``. ``methods`` gives other methods a workspace-wide bucket each (Slack's
        tiers: ``{"conversations.history": (50 / 60, 5)}``), answered the same way. Off by
        default; calling with no limit turns it off again."""
        self._limit_specs = {}
        self._method_limits = dict(methods or {})
        if per_channel is not None:
            self._limit_specs["channel"] = per_channel
        if per_workspace is not None:
            self._limit_specs["workspace"] = per_workspace
        self._buckets.clear()

    def in_flight(self, method: str | None = None) -> list[Call]:
        """Calls (of ``method``, or any) received but not answered yet."""
        return [c for c in self.calls if c.answered_at is None and method in (None, c.method)]

    def _take_token(self, method: str, args: Mapping[str, Any]) -> int | None:
        """None when the call may go ahead (a token taken from each bucket), else Retry-After."""
        specs: dict[str, tuple[float, int]] = {}
        if method in self._method_limits:
            specs[f"method:{method}"] = self._method_limits[method]
        elif method == "chat.postMessage" and self._limit_specs:
            channel = str(args.get("channel") or "")
            if channel[:1] in ("U", "W") and channel in self.users:
                channel = "D" + channel  # a user id posts to that person's DM: the same conversation
            for scope, spec in self._limit_specs.items():
                specs[f"channel:{channel}" if scope == "channel" else "workspace"] = spec
        if not specs:
            return None
        now = time.monotonic()
        buckets = []
        for key, (rate, burst) in specs.items():
            bucket = self._buckets.setdefault(key, _Bucket(rate, burst, float(burst), now))
            bucket.refill(now)
            buckets.append(bucket)
        short = [(1.0 - b.tokens) / b.rate for b in buckets if b.tokens < 1.0]
        if short:
            return max(1, math.ceil(max(short)))
        for bucket in buckets:
            bucket.tokens -= 1.0
        return None

    def _take_fault(self, method: str) -> _Fault | None:
        for key in (method, "*"):
            queue = self._faults.get(key)
            if queue:
                fault = queue[0]
                fault.times -= 1
                if fault.times <= 0:
                    queue.pop(0)
                return fault
        return None

    def _take_delay(self, method: str) -> float:
        for key in (method, "*"):
            d = self._delays.get(key)
            if d is not None:
                if d.times is not None:
                    d.times -= 1
                    if d.times <= 0:
                        del self._delays[key]
                return d.seconds
        return 0.0

    # -- Socket Mode ----------------------------------------------------------------------

    @property
    def socket_open(self) -> int:
        """WebSocket connections open now."""
        return len(self._sockets)

    async def socket_connected(self, connections: int = 1, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - a bounded wait is the point
        """Wait until ``connections`` WebSocket connections have been accepted in all (counting
        closed ones) and one is open now; TimeoutError after ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout), self._socket_changed:
                await self._socket_changed.wait_for(
                    lambda: self.socket_connections >= connections and bool(self._sockets)
                )
        except TimeoutError:
            hint = (
                ""
                if _websockets_served()
                else ("; uvicorn serves no WebSockets here: install the `websockets` package")
            )
            raise TimeoutError(
                f"no Socket Mode connection #{connections} within {timeout} s "
                f"({self.socket_connections} so far, {self.socket_open} open){hint}"
            ) from None

    async def socket_send(
        self,
        type: str,
        payload: Mapping[str, Any] | bytes | str,
        *,
        accepts_response_payload: bool | None = None,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
        envelope_id: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a bounded wait is the point
    ) -> str:
        """Push one envelope to the app over its newest open connection; returns its envelope_id.

        ``type``: ``slash_commands`` (payload: the command's fields, as in the HTTP form),
        ``interactive`` (a block_actions / view_submission / ... payload) or ``events_api`` (an
        event_callback body). ``payload`` may be a dict or what the HTTP builders below return
        (a form body, ``payload=<json>``, or JSON), converted as Slack does. Like Slack:
        ``accepts_response_payload`` is true for slash commands and view submissions, false
        otherwise unless given; ``events_api`` envelopes always carry ``retry_attempt`` (0) and
        ``retry_reason`` (""), others only when given. Waits up to ``timeout`` for a connection.
        """
        if type not in SOCKET_TYPES:
            raise ValueError(f"unknown Socket Mode envelope type {type!r}")
        body = _socket_payload(payload)
        if accepts_response_payload is None:
            accepts_response_payload = type == "slash_commands" or (
                type == "interactive" and body.get("type") in _INTERACTIVE_WITH_RESPONSE
            )
        envelope_id = envelope_id or str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": body,
            "type": type,
            "accepts_response_payload": accepts_response_payload,
        }
        if type == "events_api" or retry_attempt is not None or retry_reason is not None:
            envelope["retry_attempt"] = retry_attempt or 0
            envelope["retry_reason"] = retry_reason or ""
        websocket = await self._socket_for(within=timeout)
        self.socket_envelopes.append(envelope)
        self._socket_sent_at[envelope_id] = time.monotonic()
        await websocket.send_text(json.dumps(envelope))
        return envelope_id

    async def socket_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109 - a bounded wait is the point
        """The app's acknowledgement of ``envelope_id`` (``{"envelope_id": ..., "payload": ...}``,
        payload only when the app sent one), waiting up to ``timeout`` seconds for it."""

        def find() -> dict[str, Any] | None:
            return next((a for a in self.socket_acks if a.get("envelope_id") == envelope_id), None)

        try:
            async with asyncio.timeout(timeout), self._socket_changed:
                await self._socket_changed.wait_for(lambda: find() is not None)
        except TimeoutError:
            raise TimeoutError(f"no acknowledgement of envelope {envelope_id} within {timeout} s") from None
        ack = find()
        assert ack is not None
        return ack

    def socket_ack_seconds(self, envelope_id: str) -> float:
        """How long the app took to acknowledge ``envelope_id`` (Slack allows 3 s)."""
        return self._socket_acked_at[envelope_id] - self._socket_sent_at[envelope_id]

    async def socket_disconnect(self, reason: str = "refresh_requested", *, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - a bounded wait is the point
        """Send Slack's ``disconnect`` message (reason ``warning``, ``refresh_requested`` or
        ``link_disabled``) on the newest open connection; a client should then open a new one."""
        websocket = await self._socket_for(within=timeout)
        await websocket.send_text(
            json.dumps(
                {"type": "disconnect", "reason": reason, "debug_info": {"host": f"applink-fake-{self.port}"}}
            )
        )

    async def _socket_for(self, within: float) -> WebSocket:
        await self.socket_connected(timeout=within)
        return self._sockets[-1]

    async def _socket_event(self) -> None:
        async with self._socket_changed:
            self._socket_changed.notify_all()

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        ticket = uuid.uuid4().hex
        self._socket_tickets.add(ticket)
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket-mode/{ticket}"}

    async def _handle_socket(self, websocket: WebSocket) -> None:
        if websocket.path_params["ticket"] not in self._socket_tickets:
            await websocket.close(code=1008)  # before accept: the handshake is refused (HTTP 403)
            return
        await websocket.accept()
        self._sockets.append(websocket)
        self.socket_connections += 1
        try:
            await websocket.send_text(
                json.dumps(
                    {
                        "type": "hello",
                        "num_connections": len(self._sockets),
                        "debug_info": {
                            "host": f"applink-fake-{self.port}",
                            "build_number": 1,
                            "approximate_connection_time": 18060,
                        },
                        "connection_info": {"app_id": self.app_id},
                    }
                )
            )
            await self._socket_event()
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text") or (message.get("bytes") or b"").decode()
                try:
                    data: Any = json.loads(raw)
                except ValueError:
                    data = raw
                self.socket_received.append(data)
                if isinstance(data, dict) and isinstance(data.get("envelope_id"), str):
                    self._socket_acked_at.setdefault(data["envelope_id"], time.monotonic())
                    self.socket_acks.append(data)
                await self._socket_event()
        finally:
            self._sockets.remove(websocket)
            await self._socket_event()

    # -- HTTP -----------------------------------------------------------------------------

    async def _asgi(self, scope: Any, receive: Any, send: Any) -> None:
        """The app as uvicorn calls it; keeps uvicorn's own ``send`` for ``drop_next``."""
        if scope["type"] == "http":
            scope["fakeslack.server_send"] = send
        await self.app(scope, receive, send)

    async def _parse(self, request: Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query_params)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        raw = await request.body()
        if raw and content_type == "application/json":
            try:
                body = json.loads(raw)
            except ValueError:
                raise SlackError("invalid_json") from None
            if not isinstance(body, dict):
                raise SlackError("invalid_json")
            body.pop("token", None)  # Slack ignores a token in a JSON body: it must be a header
            args.update(body)
        elif raw and content_type in ("application/x-www-form-urlencoded", ""):
            args.update(parse_qsl(raw.decode(), keep_blank_values=True))
        for key in JSON_FIELDS & args.keys():
            value = args[key]
            if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
                with contextlib.suppress(ValueError):
                    args[key] = json.loads(value)
        return args

    async def _handle_api(self, request: Request) -> Response:
        method = request.path_params["method"]
        header = request.headers.get("authorization", "")
        token: str | None = header[7:].strip() if header.lower().startswith("bearer ") else None
        call = Call(method, {}, token, time.monotonic())
        self.calls.append(call)
        status, headers = 200, {"X-OAuth-Scopes": ",".join(self.scopes)}
        try:
            call.args = await self._parse(request)
            if header.lower().startswith("basic "):  # oauth.v2.access sends the app's credentials so
                client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
                call.args.setdefault("client_id", client_id)
                call.args.setdefault("client_secret", secret)
            form_token = call.args.pop("token", None)
            call.token = token = token or form_token
            retry_after = self._take_token(method, call.args)
            if retry_after is not None:
                self.throttled += 1
                status, body = 429, {"ok": False, "error": "ratelimited"}
                headers["Retry-After"] = str(retry_after)
                call.status, call.response, call.answered_at = status, body, time.monotonic()
                return JSONResponse(body, status_code=status, headers=headers)
            wait = self._take_delay(method)
            if wait:
                await asyncio.sleep(wait)
            fault = self._take_fault(method)
            if fault is not None:
                status, body = fault.status, dict(fault.body)
                headers.update(fault.headers)
            else:
                handler = self._methods.get(method)
                if handler is None:
                    raise SlackError("unknown_method", status=404, extra={"req_method": method})
                if method not in ("api.test", "oauth.v2.access"):
                    if not token:
                        raise SlackError("not_authed")
                    bot_token = token == self.token or token in self.installed_tokens
                    if method == "apps.connections.open":  # app-level tokens only, and only here
                        if token != self.app_token:
                            raise SlackError("not_allowed_token_type" if bot_token else "invalid_auth")
                    elif not bot_token:
                        raise SlackError(
                            "not_allowed_token_type" if token == self.app_token else "invalid_auth"
                        )
                body = handler(call.args)
        except SlackError as e:
            status, body = e.status, e.body()
        call.answered_at = time.monotonic()
        if self._drops.get(method):
            self._drops[method] -= 1
            return _CutConnection()
        call.status, call.response = status, body
        return JSONResponse(body, status_code=status, headers=headers)

    async def _handle_respond(self, request: Request) -> Response:
        name = request.path_params["name"]
        key = f"respond/{name}"
        wait = self._take_delay(key)
        if wait:
            await asyncio.sleep(wait)
        raw = await request.body()
        try:
            payload = json.loads(raw)
        except ValueError:
            return PlainTextResponse("invalid_payload", status_code=400)
        self.responses.append((name, payload))
        self.responded_at[name] = time.perf_counter()
        fault = self._take_fault(key)
        if fault is not None:
            return PlainTextResponse(fault.body["error"], status_code=fault.status, headers=fault.headers)
        if not isinstance(payload, dict):
            return PlainTextResponse("invalid_payload", status_code=400)
        try:
            _check_message(payload, require_content=not _truthy(payload.get("delete_original")))
        except SlackError as e:
            return PlainTextResponse(e.error, status_code=400)
        return JSONResponse({"ok": True})

    # -- helpers --------------------------------------------------------------------------

    def _next_ts(self) -> str:
        micros = _FIRST_TS_MICROS + next(self._ts) * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _require_user(self, user_id: Any) -> str:
        if not isinstance(user_id, str) or user_id not in self.users:
            raise SlackError("user_not_found")
        return user_id

    def _dm_for(self, user_id: str) -> str:
        channel = "D" + self._require_user(user_id)
        self._open_dms.add(channel)
        return channel

    def _resolve(self, channel: Any) -> str:
        """A postable conversation id for ``channel`` (id, #name, or a user id for its DM)."""
        if not isinstance(channel, str) or not channel:
            raise SlackError("channel_not_found")
        if channel.startswith("#"):
            by_name = {name: cid for cid, name in self.channels.items()}
            if channel[1:] not in by_name:
                raise SlackError("channel_not_found")
            channel = by_name[channel[1:]]
        if channel[0] in "UW" and channel in self.users:
            return self._dm_for(channel)
        if channel in self._open_dms or (channel[0] == "D" and channel[1:] in self.users):
            self._open_dms.add(channel)
            return channel
        if channel in self.channels:
            if channel not in self._members:
                raise SlackError("not_in_channel")
            return channel
        raise SlackError("channel_not_found")

    def _find(self, channel: str, ts: Any) -> dict[str, Any]:
        for message in self._messages.get(channel, []):
            if message["ts"] == ts:
                return message
        raise SlackError("message_not_found")

    def _with_block_ids(self, blocks: list[Any], salt: str) -> list[Any]:
        out = copy.deepcopy(blocks)
        for i, block in enumerate(out):
            if isinstance(block, dict) and "block_id" not in block:
                block["block_id"] = _short_hash(salt, i)
        return out

    def _bot_profile(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "app_id": self.app_id,
            "name": self.bot_name,
            "deleted": False,
            "team_id": self.team_id,
            "updated": 1700000000,
            "icons": {},
        }

    def _channel_object(self, channel: str) -> dict[str, Any]:
        name = self.channels[channel]
        return {
            "id": channel,
            "name": name,
            "name_normalized": name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": False,
            "is_archived": False,
            "is_general": name == "general",
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": channel in self._members,
            "created": 1700000000,
            "creator": self.bot_user_id,
            "context_team_id": self.team_id,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }

    def _user_object(self, user_id: str, include_locale: bool) -> dict[str, Any]:
        spec = self.users[user_id]
        given_profile = dict(spec.get("profile") or {})
        name = spec.get("name", user_id.lower())
        real_name = spec.get("real_name", given_profile.get("real_name", name))
        display = given_profile.get("display_name", spec.get("display_name", ""))
        tz_name = spec.get("tz", "America/Los_Angeles")
        try:
            now = datetime.now(ZoneInfo(tz_name))
            tz_label, tz_offset = now.tzname() or tz_name, int(now.utcoffset().total_seconds())  # type: ignore[union-attr]
        except (ZoneInfoNotFoundError, ValueError):
            tz_label, tz_offset = tz_name, 0
        profile: dict[str, Any] = {
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": display,
            "display_name_normalized": display,
            "title": "",
            "phone": "",
            "skype": "",
            "status_text": "",
            "status_emoji": "",
            "status_expiration": 0,
            "avatar_hash": _short_hash(user_id, length=12),
            "team": self.team_id,
            "first_name": real_name.split(" ")[0] if real_name else "",
            "last_name": " ".join(real_name.split(" ")[1:]) if real_name else "",
            "image_48": f"https://avatars.slack-edge.com/{user_id}_48.png",
            "image_72": f"https://avatars.slack-edge.com/{user_id}_72.png",
        }
        if spec.get("email") is not None:
            profile["email"] = spec["email"]
        profile.update(given_profile)
        user: dict[str, Any] = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": False,
            "color": "9f69e7",
            "real_name": real_name,
            "tz": tz_name,
            "tz_label": tz_label,
            "tz_offset": tz_offset,
            "is_admin": False,
            "is_owner": False,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": False,
            "is_app_user": False,
            "updated": 1700000000,
            "is_email_confirmed": True,
            "who_can_share_contact_card": "EVERYONE",
        }
        user.update({k: v for k, v in spec.items() if k not in ("profile", "email", "display_name")})
        user["profile"] = profile
        if user.get("is_bot"):
            user["profile"]["bot_id"] = self.bot_id if user_id == self.bot_user_id else "B" + user_id[1:]
        if include_locale:
            user.setdefault("locale", "en-US")
        return user

    # -- methods --------------------------------------------------------------------------

    def _api_test(self, args: dict[str, Any]) -> dict[str, Any]:
        if "error" in args:
            raise SlackError(str(args["error"]), extra={"args": args})
        return {"ok": True, "args": args}

    def _oauth_v2_access(self, args: dict[str, Any]) -> dict[str, Any]:
        """Exchange an install's code for a new bot token (client id and secret must match
        ``oauth_client``), as the last step of "Add to Slack"."""
        client_id, client_secret = self.oauth_client
        if args.get("client_id") != client_id or args.get("client_secret") != client_secret:
            raise SlackError("invalid_client_id")
        if not args.get("code"):
            raise SlackError("invalid_code")
        token = f"xoxb-installed-{args['code']}"
        self.installed_tokens.add(token)
        return {
            "ok": True,
            "access_token": token,
            "token_type": "bot",
            "scope": ",".join(self.scopes),
            "bot_user_id": self.bot_user_id,
            "app_id": self.app_id,
            "team": {"name": self.team_name, "id": self.team_id},
            "enterprise": None,
            "authed_user": {"id": "UINSTALLER", "scope": "", "access_token": None, "token_type": None},
            "is_enterprise_install": False,
        }

    oauth_client: tuple[str, str] = ("client-id", "client-secret")

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _team_info(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "team": {
                "id": self.team_id,
                "name": self.team_name,
                "url": f"https://{self.team_domain}.slack.com/",
                "domain": self.team_domain,
                "email_domain": "",
                "is_verified": False,
                "icon": {"image_default": True, "image_34": "https://a.slack-edge.com/team_34.png"},
                "avatar_base_url": "https://ca.slack-edge.com/",
                "lob_sales_home_enabled": False,
            },
        }

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user_id = self._require_user(args.get("user"))
        return {"ok": True, "user": self._user_object(user_id, _truthy(args.get("include_locale")))}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            channel = args["channel"]
            if channel not in self._open_dms and not (channel[:1] == "D" and channel[1:] in self.users):
                raise SlackError("channel_not_found")
            self._open_dms.add(channel)
            return {"ok": True, "channel": {"id": channel}}
        users = [u.strip() for u in str(args.get("users") or "").split(",") if u.strip()]
        if not users:
            raise SlackError("users_list_not_supplied")
        if len(users) > 8:
            raise SlackError("too_many_users")
        for user_id in users:
            self._require_user(user_id)
        channel = "D" + users[0] if len(users) == 1 else "G" + _short_hash(*sorted(users), length=10)
        already = channel in self._open_dms
        self._open_dms.add(channel)
        body: dict[str, Any] = {"ok": True, "channel": {"id": channel}}
        if _truthy(args.get("return_im")):
            body["channel"] = {
                "id": channel,
                "created": 1700000000,
                "is_im": len(users) == 1,
                "is_mpim": len(users) > 1,
                "is_org_shared": False,
                "is_user_deleted": False,
                "user": users[0] if len(users) == 1 else None,
                "priority": 0,
            }
        if already:
            body.update(no_op=True, already_open=True)
        return body

    def _conversations_join(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel")
        if isinstance(channel, str) and channel[:1] in ("D", "G") and channel not in self.channels:
            raise SlackError("method_not_supported_for_channel_type")
        if channel not in self.channels:
            raise SlackError("channel_not_found")
        body: dict[str, Any] = {"ok": True}
        if channel in self._members:
            body.update(warning="already_in_channel", response_metadata={"warnings": ["already_in_channel"]})
        self._members.add(channel)
        body["channel"] = self._channel_object(channel)
        return body

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args.get("channel"))
        inclusive = _truthy(args.get("inclusive"))
        oldest = _ts_key(args.get("oldest") or "0", "invalid_ts_oldest")
        latest = _ts_key(args["latest"], "invalid_ts_latest") if args.get("latest") else None
        try:
            limit = int(args.get("limit") or 100)
        except ValueError:
            raise SlackError("invalid_limit") from None
        limit = max(1, min(limit, 999))
        found = []
        for message in reversed(self._messages.get(channel, [])):
            if (
                message.get("thread_ts", message["ts"]) != message["ts"]
                and message.get("subtype") != "thread_broadcast"
            ):
                continue  # thread replies stay in conversations.replies
            key = _ts_key(message["ts"])
            if key < oldest or (key == oldest and not inclusive):
                continue
            if latest is not None and (key > latest or (key == latest and not inclusive)):
                continue
            found.append(message)
        start = 0
        if args.get("cursor"):
            try:
                start = int(base64.b64decode(str(args["cursor"])).decode().removeprefix("offset:"))
            except ValueError:
                raise SlackError("invalid_cursor") from None
        page = found[start : start + limit]
        with_metadata = _truthy(args.get("include_all_metadata"))
        messages = []
        for message in page:
            out = copy.deepcopy(message)
            if not with_metadata:
                out.pop("metadata", None)
            messages.append(out)
        has_more = start + limit < len(found)
        body: dict[str, Any] = {
            "ok": True,
            "messages": messages,
            "has_more": has_more,
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
        }
        if has_more:
            cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode()
            body["response_metadata"] = {"next_cursor": cursor}
        return body

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args.get("channel"))
        ts = args.get("ts")
        thread = [m for m in self._messages.get(channel, []) if m["ts"] == ts or m.get("thread_ts") == ts]
        if not thread:
            raise SlackError("thread_not_found")
        messages = copy.deepcopy(thread)
        if not _truthy(args.get("include_all_metadata")):
            for m in messages:
                m.pop("metadata", None)
        return {"ok": True, "messages": messages, "has_more": False}

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args.get("channel"))
        _check_message(args)
        ts = self._next_ts()
        message: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message" if args.get("username") else None,
            "text": args.get("text") or "",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "ts": ts,
            "team": self.team_id,
            "bot_profile": self._bot_profile(),
        }
        if message["subtype"] is None:
            del message["subtype"]
        if args.get("blocks") is not None:
            message["blocks"] = self._with_block_ids(args["blocks"], ts)
        if args.get("attachments") is not None:
            message["attachments"] = args["attachments"]
        if args.get("metadata") is not None:
            message["metadata"] = args["metadata"]
        if args.get("thread_ts"):
            parent = self._find(channel, args["thread_ts"])
            message["thread_ts"] = parent["ts"]
            parent.setdefault("thread_ts", parent["ts"])
            parent["reply_count"] = parent.get("reply_count", 0) + 1
            parent["latest_reply"] = ts
            if _truthy(args.get("reply_broadcast")):
                message["subtype"] = "thread_broadcast"
        self._messages.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": copy.deepcopy(message)}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args.get("channel"))
        message = self._find(channel, args.get("ts"))
        if message.get("bot_id") != self.bot_id:
            raise SlackError("cant_update_message")
        _check_message(args, require_content=False)
        if not args.get("text") and args.get("blocks") is None and args.get("attachments") is None:
            raise SlackError("no_text")
        if "text" in args:
            message["text"] = args.get("text") or ""
        if args.get("blocks") is not None:  # omitted blocks are kept, [] removes them
            message["blocks"] = self._with_block_ids(args["blocks"], f"{message['ts']}:{time.monotonic()}")
        if args.get("attachments") is not None:
            message["attachments"] = args["attachments"]
        if args.get("metadata") is not None:
            message["metadata"] = args["metadata"]
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {
            "ok": True,
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": copy.deepcopy(message),
        }

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve(args.get("channel"))
        user = self._require_user(args.get("user"))
        _check_message(args)
        ts = self._next_ts()
        self.ephemerals.append(
            {
                "channel": channel,
                "user": user,
                "ts": ts,
                "text": args.get("text") or "",
                "blocks": args.get("blocks"),
                "thread_ts": args.get("thread_ts"),
            }
        )
        return {"ok": True, "message_ts": ts}

    def _take_trigger(self, args: dict[str, Any]) -> None:
        trigger = args.get("trigger_id") or args.get("interactivity_pointer")
        if not trigger:
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: trigger_id"])
        if trigger in self._expired_triggers:
            raise SlackError("expired_trigger_id")
        if trigger in self._used_triggers:
            raise SlackError("exchanged_trigger_id")
        self._used_triggers.add(trigger)

    def _store_view(
        self,
        view: dict[str, Any],
        *,
        view_id: str | None = None,
        previous: str | None = None,
        root: str | None = None,
    ) -> dict[str, Any]:
        view_id = view_id or f"V{next(self._view_seq):08d}"
        stored = {
            "id": view_id,
            "team_id": self.team_id,
            "type": view["type"],
            "blocks": self._with_block_ids(view.get("blocks", []), view_id),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{time.time():.6f}.{_short_hash(view_id, time.monotonic(), length=8)}",
            "title": view.get("title"),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "previous_view_id": previous,
            "root_view_id": root or view_id,
            "app_id": self.app_id,
            "external_id": view.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self.views[view_id] = stored
        return copy.deepcopy(stored)

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        view = _check_view(args.get("view"), kinds=("modal",))
        self._take_trigger(args)
        return {"ok": True, "view": self._store_view(view)}

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        view = _check_view(args.get("view"), kinds=("modal",))
        self._take_trigger(args)
        previous = next(reversed(self.views), None)
        root = self.views[previous]["root_view_id"] if previous else None
        return {"ok": True, "view": self._store_view(view, previous=previous, root=root)}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self._require_user(args.get("user_id"))
        view = _check_view(args.get("view"), kinds=("home",))
        current = self._home_views.get(user)
        if args.get("hash") and current and self.views[current]["hash"] != args["hash"]:
            raise SlackError("hash_conflict")
        stored = self._store_view(view, view_id=current)
        self._home_views[user] = stored["id"]
        self.views[stored["id"]]["user_id"] = user
        return {"ok": True, "view": stored}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        view_id = args.get("view_id")
        if not view_id and args.get("external_id"):
            view_id = next(
                (v["id"] for v in self.views.values() if v["external_id"] == args["external_id"]), None
            )
            if view_id is None:
                raise SlackError("not_found")
        if not view_id:
            raise SlackError("invalid_arguments", ["[ERROR] missing required field: view_id or external_id"])
        if view_id not in self.views:
            raise SlackError("not_found")
        current = self.views[view_id]
        view = _check_view(args.get("view"), kinds=(current["type"],))
        if args.get("hash") and args["hash"] != current["hash"]:
            raise SlackError("hash_conflict")
        stored = self._store_view(
            view, view_id=view_id, previous=current["previous_view_id"], root=current["root_view_id"]
        )
        if "user_id" in current:
            self.views[view_id]["user_id"] = current["user_id"]
        return {"ok": True, "view": stored}


class _CutConnection(Response):
    """Answers nothing: aborts the TCP connection under the request (uvicorn's transport)."""

    def __init__(self) -> None:
        super().__init__(status_code=500)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        cycle = getattr(scope.get("fakeslack.server_send"), "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is None:
            raise RuntimeError("drop_next needs uvicorn's HTTP protocol (its request cycle's transport)")
        transport.abort()
        await asyncio.sleep(0)  # let uvicorn see the connection is gone before the app returns


# --------------------------------------------------------------------------------------------
# What Slack sends to the app

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
            "event_context": f"4-{_short_hash(n, length=20)}",
        },
        separators=(",", ":"),
    ).encode()
