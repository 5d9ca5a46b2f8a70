"""The web app: Slack's endpoint, health, and (later) badge pages.

`serve` works with no Slack settings at all: it still hosts the public pages,
and the Slack endpoint answers that Slack is not configured.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import time
from collections.abc import Collection
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.adapters.slack_forms import ONE_FIELD
from bot.adapters.slack_payload import Refused, as_text, check_shape, read_body, verify_signature
from bot.badges.pages import STYLE
from bot.badges.site import BadgeSite
from bot.config import Settings

if TYPE_CHECKING:
    from bot.runtime import Runtime


log = logging.getLogger(__name__)

READ_SECONDS = 10.0  # a body must arrive within this: a sender dripping bytes holds nothing longer


async def read_capped(request: Request, cap: int) -> bytes:
    """The body, refused (413) past `cap` bytes before any more of it is read: a declared
    length over the cap is refused unread, and a chunked one as soon as it passes it."""
    declared = request.headers.get("content-length")
    if declared is not None and not (declared.isascii() and declared.isdigit()):
        raise Refused(400, "malformed Content-Length")
    if declared is not None and int(declared) > cap:
        raise Refused(413, f"body over {cap} bytes")
    parts, size = [], 0
    try:
        async with asyncio.timeout(READ_SECONDS):
            async for chunk in request.stream():
                size += len(chunk)
                if size > cap:
                    raise Refused(413, f"body over {cap} bytes")
                parts.append(chunk)
    except TimeoutError:
        raise Refused(408, f"body not received within {READ_SECONDS:.0f} s") from None
    return b"".join(parts)


async def to_bolt_request(
    request: Request, settings: Settings, *, signed: bool = True, one_field_commands: Collection[str] = ()
) -> AsyncBoltRequest:
    """A Starlette request as bolt's, checked at the edge: size, then signature (on the raw
    bytes), then text and shape; `Refused` says why not. The body is parsed here, once: bolt
    would treat any form body containing the text "payload" as an interactivity payload, so
    `/submit https://x.org/payload-unit` would parse as an empty body and get a 404."""
    raw = await read_capped(request, settings.max_request_bytes)
    if signed:
        verify_signature(
            raw,
            request.headers.get("x-slack-request-timestamp"),
            request.headers.get("x-slack-signature"),
            settings.slack_signing_secret or "",
            time.time(),
        )
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip() or None
    text = as_text(raw)
    body = read_body(text, content_type) if text else {}
    if signed:
        check_shape(body, one_field_commands)
    req = AsyncBoltRequest(body="", query=str(request.query_params), headers=dict(request.headers))
    req.raw_body, req.body = text, body
    try:
        req.context = build_async_context(AsyncBoltContext({}), body)
    except Exception:  # bolt's own reading of ids in a shape no listener of ours takes
        raise Refused(400, "payload bolt cannot read") from None
    return req


def refuse(request: Request, refused: Refused) -> Response:
    """One log line for what was refused, and a short reason for the sender."""
    peer = request.client.host if request.client else "?"
    log.warning(
        "refused %s %s from %s: %s %s", request.method, request.url.path, peer, refused.status, refused.reason
    )
    # A body left unread would otherwise be read to its end (and dropped) to keep the
    # connection for another request: close it instead.
    unread = {"Connection": "close"} if refused.status in (408, 413) else None
    return PlainTextResponse(refused.reason, status_code=refused.status, headers=unread)


def protective_headers(settings: Settings) -> list[tuple[bytes, bytes]]:
    """Headers for every answer. The pages run no script and load nothing from elsewhere: their
    one style sheet is inline (allowed by its hash), their images come from this site (or
    PUBLIC_BASE_URL, where the page names them absolutely, for share previews)."""
    style = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
    public = urlsplit(settings.public_base_url)
    origin = f"{public.scheme}://{public.netloc}" if public.netloc else ""
    policy = (
        f"default-src 'none'; img-src 'self' {origin} data:; style-src 'sha256-{style}'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return [
        (b"content-security-policy", policy.encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    ]


class Protected:
    """ASGI middleware adding `headers` to every HTTP answer that does not set its own; under
    /slack/ (bolt's install page shows Slack's own button image) without the content policy."""

    def __init__(self, app: ASGIApp, headers: list[tuple[bytes, bytes]]) -> None:
        self.app, self.headers = app, headers
        self.slack_headers = [h for h in headers if h[0] != b"content-security-policy"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = self.slack_headers if scope["path"].startswith("/slack/") else self.headers

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *(h for h in headers if h[0] not in present),
                ]
            await send(message)

        await self.app(scope, receive, sending)


def create_app(runtime: Runtime) -> Starlette:
    slack = runtime.slack
    slack_app = slack.app if slack is not None else None

    async def healthz(request: Request) -> Response:
        try:
            await runtime.db.ping()
        except Exception as exc:  # the database is down: say so, with 503
            return JSONResponse({"ok": False, "database": type(exc).__name__}, status_code=503)
        return JSONResponse({"ok": True, "database": "ok"})

    async def slack_events(request: Request) -> Response:
        if slack is None or slack_app is None:
            return JSONResponse(
                {
                    "ok": False,
                    "error": "Slack is not configured on this server: "
                    "set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET.",
                },
                status_code=503,
            )
        if not runtime.settings.slack_signing_secret:
            return refuse(request, Refused(404, "this server takes Slack requests over Socket Mode"))
        try:
            req = await to_bolt_request(request, runtime.settings, one_field_commands=ONE_FIELD)
        except Refused as refused:
            return refuse(request, refused)
        return to_starlette_response(await slack_app.async_dispatch(req))

    async def slack_oauth(request: Request) -> Response:
        """Install (and its redirect) when the app runs in OAuth mode."""
        flow = slack_app.oauth_flow if slack_app is not None else None
        if flow is None:
            return PlainTextResponse("Installing into other workspaces is not enabled here.", status_code=404)
        try:  # Slack's browser redirect and a person's click: nothing signed, nothing posted
            req = await to_bolt_request(request, runtime.settings, signed=False)
        except Refused as refused:
            return refuse(request, refused)
        if request.url.path == flow.install_path:
            return to_starlette_response(await flow.handle_installation(req))
        return to_starlette_response(await flow.handle_callback(req))

    async def index(request: Request) -> Response:
        return PlainTextResponse("Cohort Bot is running. Health: /healthz\n")

    site = BadgeSite(runtime.db, runtime.settings, runtime.clock)
    return Starlette(
        middleware=[Middleware(Protected, headers=protective_headers(runtime.settings))],
        routes=[
            *site.routes(),
            Route("/", index),
            Route("/healthz", healthz),
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/slack/install", slack_oauth),
            Route("/slack/oauth_redirect", slack_oauth),
        ],
    )
