"""The web app: Slack's endpoint, health, and (later) badge pages.

`serve` works with no Slack settings at all: it still hosts the public pages,
and the Slack endpoint answers that Slack is not configured.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from bot.runtime import Runtime


def create_app(runtime: Runtime) -> Starlette:
    slack_handler = None
    if runtime.slack is not None:
        from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler

        slack_handler = AsyncSlackRequestHandler(runtime.slack.app)

    async def healthz(request: Request) -> Response:
        try:
            async with runtime.db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # the database is down: say so, with 503
            return JSONResponse({"ok": False, "database": type(exc).__name__}, status_code=503)
        return JSONResponse({"ok": True, "database": "ok"})

    async def slack_events(request: Request) -> Response:
        if slack_handler is None:
            return JSONResponse({"ok": False, "error": "Slack is not configured on this server: "
                                 "set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET."}, status_code=503)
        return await slack_handler.handle(request)

    async def index(request: Request) -> Response:
        return PlainTextResponse("Cohort Bot is running. Health: /healthz\n")

    return Starlette(routes=[
        Route("/", index),
        Route("/healthz", healthz),
        Route("/slack/events", slack_events, methods=["POST"]),
    ])
