"""A local fake of Slack's Web API, for wire-level tests.

``FakeSlack`` is a Starlette app served in-process by uvicorn on 127.0.0.1 (a free port)::

    async with FakeSlack(users={"U1": {"name": "alice"}}) as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        await client.chat_postMessage(channel="C1", text="hi")
        assert slack.called("chat.postMessage")[0].args["text"] == "hi"

It takes Web API calls the way slack_sdk sends them: POST (JSON body for the chat.* and
views.* methods, form or query string for the rest) or GET with a query string
(conversations.history, users.info, team.info), the token in an ``Authorization: Bearer``
header (or a ``token`` form/query field). Answers are Slack's shapes, always HTTP 200 with
``ok`` true or false, except 429 for rate limits, 404 for unknown methods and whatever a
test injects. Every call is recorded (``called``, ``calls``; what the app posted where:
``posted``, ``last_post``), and every post to a ``response_url`` (``responses``).

This module is the server: how a request is read, authorised, recorded and answered. What
the methods do is in its parts: ``slack_workspace`` (people, channels, messages),
``slack_views`` (modals, the Home tab), ``socket_mode`` (the WebSocket side) and
``slack_faults`` (errors, delays, cut connections and rate limits a test turns on); Block
Kit is checked by ``blockkit``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute

from .blockkit import check_message
from .local_server import LocalServer
from .slack_api import Call, SlackError, truthy
from .slack_faults import SERVER_SEND, CutConnection, Faults
from .slack_views import Views
from .slack_workspace import UserSpec, Workspace
from .socket_mode import SocketMode

# Fields Slack accepts as JSON text inside a form or query string.
JSON_FIELDS = frozenset({"blocks", "attachments", "metadata", "view", "user_auth_blocks", "unfurls"})


class FakeSlack(Workspace, Views, SocketMode, Faults):
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
        users: Mapping[str, UserSpec] | None = None,
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
        self.token, self.app_token = token, app_token
        self.team_id, self.team_name, self.team_domain = team_id, team_name, team_domain
        self.bot_user_id, self.bot_id, self.bot_name, self.app_id = bot_user_id, bot_id, bot_name, app_id
        self.scopes = list(scopes)
        self.startup_timeout = startup_timeout

        self.installed_tokens: set[str] = set()  # bot tokens handed out by oauth.v2.access
        self.calls: list[Call] = []
        self.responses: list[tuple[str, Any]] = []
        self.responded_at: dict[str, float] = {}  # response_url name -> time.perf_counter() of its last post
        self._init_workspace(users, channels, member_of)
        self._init_views()
        self._init_socket_mode()
        self._init_faults()

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

    # -- inspection ---------------------------------------------------------------------------

    def called(self, method: str) -> list[Call]:
        """Calls of ``method`` so far, oldest first."""
        return [c for c in self.calls if c.method == method]

    def posted(self, channel: str) -> list[dict[str, Any]]:
        """What the app asked chat.postMessage to post to ``channel`` (the arguments, answered
        or not), oldest first; a DM is found by its D… id or the person's user id alike."""
        where = self.conversation(channel)
        return [
            c.args
            for c in self.called("chat.postMessage")
            if self.conversation(c.args.get("channel")) == where
        ]

    def last_post(self, channel: str) -> dict[str, Any]:
        """The newest of ``posted(channel)``; AssertionError if there is none."""
        posts = self.posted(channel)
        assert posts, f"nothing was posted to {channel}"
        return posts[-1]

    # -- HTTP -----------------------------------------------------------------------------

    async def _asgi(self, scope: Any, receive: Any, send: Any) -> None:
        """The app as uvicorn calls it; keeps uvicorn's own ``send`` for ``drop_next``."""
        if scope["type"] == "http":
            scope[SERVER_SEND] = send
        await self.app(scope, receive, send)

    async def _parse(self, request: Request) -> dict[str, Any]:
        """A call's arguments, wherever slack_sdk put them: the query string, a JSON body or a
        form, with the JSON Slack accepts inside form fields read as JSON."""
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
            retry_after = self._over_limit(method, call.args)
            if retry_after is not None:
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
        if self._take_drop(method):
            return CutConnection()
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
            check_message(payload, require_content=not truthy(payload.get("delete_original")))
        except SlackError as e:
            return PlainTextResponse(e.error, status_code=400)
        return JSONResponse({"ok": True})

    # -- methods of its own: who is calling ------------------------------------------------

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
