"""The web app: health, the public badge pages, and the configured platforms' own routes.

`serve` works with no chat settings at all: it still hosts the public pages, and a
platform's endpoint answers that it is not configured.
"""

from __future__ import annotations

import base64
import hashlib
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.badges.pages import STYLE
from bot.badges.site import BadgeSite
from bot.config import Settings
from bot.platforms import absent_routes

if TYPE_CHECKING:
    from bot.runtime import Runtime


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
    a platform's own paths (Slack's install page shows Slack's own button image) without the
    content policy."""

    def __init__(
        self, app: ASGIApp, headers: list[tuple[bytes, bytes]], own_paths: tuple[str, ...] = ()
    ) -> None:
        self.app, self.headers, self.own_paths = app, headers, own_paths
        self.platform_headers = [h for h in headers if h[0] != b"content-security-policy"]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = self.platform_headers if scope["path"].startswith(self.own_paths) else self.headers

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
    async def healthz(request: Request) -> Response:
        try:
            await runtime.db.ping()
        except Exception as exc:  # the database is down: say so, with 503
            return JSONResponse({"ok": False, "database": type(exc).__name__}, status_code=503)
        return JSONResponse({"ok": True, "database": "ok"})

    async def index(request: Request) -> Response:
        return PlainTextResponse("Cohort Bot is running. Health: /healthz\n")

    site = BadgeSite(runtime.db, runtime.settings, runtime.clock)
    platforms = runtime.platforms.values()
    own_paths = tuple(path for platform in platforms for path in platform.own_paths())
    return Starlette(
        middleware=[Middleware(Protected, headers=protective_headers(runtime.settings), own_paths=own_paths)],
        routes=[
            *site.routes(),
            Route("/", index),
            Route("/healthz", healthz),
            *(route for platform in platforms for route in platform.routes()),
            *absent_routes(runtime.platforms),
        ],
    )
