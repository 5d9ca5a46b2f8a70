"""The baseline for bench/slack_ack.py: a bolt app whose /submit only acks.

Run by the benchmark under uvicorn; BARE_PROCESS_BEFORE_RESPONSE=1 switches bolt
to its FaaS mode (ack returned when the listener finishes, no 10 ms polling).
"""

from __future__ import annotations

import os
from typing import Any

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

bolt = AsyncApp(
    client=AsyncWebClient(token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]),
    signing_secret=os.environ["SLACK_SIGNING_SECRET"],
    process_before_response=os.environ.get("BARE_PROCESS_BEFORE_RESPONSE") == "1",
)


@bolt.command("/submit")
async def ack_only(ack: Any) -> None:
    await ack()


handler = AsyncSlackRequestHandler(bolt)


async def events(request: Request) -> Response:
    return await handler.handle(request)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/slack/events", events, methods=["POST"]), Route("/healthz", healthz)])
