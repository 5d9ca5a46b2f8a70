"""The web app: Slack's endpoint, health, and (later) badge pages.

`serve` works with no Slack settings at all: it still hosts the public pages,
and the Slack endpoint answers that Slack is not configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from slack_bolt.adapter.starlette.async_handler import to_starlette_response
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.badges.site import BadgeSite

if TYPE_CHECKING:
    from bot.runtime import Runtime


async def to_bolt_request(request: Request) -> AsyncBoltRequest:
    """Starlette request -> bolt request, sidestepping a bolt parsing slip.

    bolt treats any form body containing the text "payload" as an interactivity
    payload, so `/submit https://x.org/payload-unit` would parse as an empty body
    and get a 404. A form body that does not start with `payload=` is a slash
    command: parse it as the plain form it is.
    """
    raw = (await request.body()).decode("utf-8")
    req = AsyncBoltRequest(body=raw, query=str(request.query_params),
                           headers=dict(request.headers))
    if raw and not raw.startswith(("payload=", "{")) and "payload" in raw:
        req.body = dict(parse_qsl(raw, keep_blank_values=True))
        req.context = build_async_context(AsyncBoltContext({}), req.body)
    return req


def create_app(runtime: Runtime) -> Starlette:
    slack_app = runtime.slack.app if runtime.slack is not None else None

    async def healthz(request: Request) -> Response:
        try:
            await runtime.db.ping()
        except Exception as exc:  # the database is down: say so, with 503
            return JSONResponse({"ok": False, "database": type(exc).__name__}, status_code=503)
        return JSONResponse({"ok": True, "database": "ok"})

    async def slack_events(request: Request) -> Response:
        if slack_app is None:
            return JSONResponse({"ok": False, "error": "Slack is not configured on this server: "
                                 "set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET."}, status_code=503)
        return to_starlette_response(await slack_app.async_dispatch(await to_bolt_request(request)))

    async def slack_oauth(request: Request) -> Response:
        """Install (and its redirect) when the app runs in OAuth mode."""
        flow = slack_app.oauth_flow if slack_app is not None else None
        if flow is None:
            return PlainTextResponse("Installing into other workspaces is not enabled here.",
                                     status_code=404)
        req = await to_bolt_request(request)
        if request.url.path == flow.install_path:
            return to_starlette_response(await flow.handle_installation(req))
        return to_starlette_response(await flow.handle_callback(req))

    async def index(request: Request) -> Response:
        return PlainTextResponse("Cohort Bot is running. Health: /healthz\n")

    site = BadgeSite(runtime.db, runtime.settings, runtime.clock)
    return Starlette(routes=[
        *site.routes(),
        Route("/", index),
        Route("/healthz", healthz),
        Route("/slack/events", slack_events, methods=["POST"]),
        Route("/slack/install", slack_oauth),
        Route("/slack/oauth_redirect", slack_oauth),
    ])
