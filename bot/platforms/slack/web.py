"""Slack's ways in: its HTTP routes (events, OAuth install) and Socket Mode."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import TYPE_CHECKING

from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.config import Settings
from bot.edge import Refused, read_capped, refuse
from bot.platforms.slack.payload import as_text, check_shape, read_body, verify_signature

if TYPE_CHECKING:
    from bot.platforms.slack.app import SlackPlatform

NOT_CONFIGURED = "Slack is not configured on this server: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET."


async def to_bolt_request(request: Request, settings: Settings, *, signed: bool = True) -> AsyncBoltRequest:
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
        check_shape(body)
    req = AsyncBoltRequest(body="", query=str(request.query_params), headers=dict(request.headers))
    req.raw_body, req.body = text, body
    try:
        req.context = build_async_context(AsyncBoltContext({}), body)
    except Exception:  # bolt's own reading of ids in a shape no listener of ours takes
        raise Refused(400, "payload bolt cannot read") from None
    return req


def slack_routes(platform: SlackPlatform, settings: Settings) -> list[BaseRoute]:
    app = platform.app

    async def events(request: Request) -> Response:
        if not settings.slack_signing_secret:
            return refuse(request, Refused(404, "this server takes Slack requests over Socket Mode"))
        try:
            req = await to_bolt_request(request, settings)
        except Refused as refused:
            return refuse(request, refused)
        return to_starlette_response(await app.async_dispatch(req))

    async def oauth(request: Request) -> Response:
        """Install (and its redirect) when the app runs in OAuth mode."""
        flow = app.oauth_flow
        if flow is None:
            return PlainTextResponse("Installing into other workspaces is not enabled here.", status_code=404)
        try:  # Slack's browser redirect and a person's click: nothing signed, nothing posted
            req = await to_bolt_request(request, settings, signed=False)
        except Refused as refused:
            return refuse(request, refused)
        if request.url.path == flow.install_path:
            return to_starlette_response(await flow.handle_installation(req))
        return to_starlette_response(await flow.handle_callback(req))

    return [
        Route("/slack/events", events, methods=["POST"]),
        Route("/slack/install", oauth),
        Route("/slack/oauth_redirect", oauth),
    ]


def absent_routes() -> list[BaseRoute]:
    """Where Slack is not configured, its event URL says so (503) instead of a bare 404: an
    operator pasting the URL into Slack's settings sees why it fails."""

    async def events(request: Request) -> Response:
        return JSONResponse({"ok": False, "error": NOT_CONFIGURED}, status_code=503)

    return [Route("/slack/events", events, methods=["POST"])]


async def socket_mode(app: AsyncApp, app_token: str, stop: asyncio.Event) -> None:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    handler = AsyncSocketModeHandler(app, app_token)
    # connect_async() retries a refused token or an unreachable Slack forever: never wait
    # on it alone, or SIGTERM could not stop the process.
    connecting = asyncio.create_task(handler.connect_async())
    try:
        await stop.wait()
    finally:
        connecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await connecting
        await handler.close_async()
