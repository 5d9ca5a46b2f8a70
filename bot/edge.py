"""What any request to the web app must pass before a platform reads it: a capped body that
arrives in time, and one log line and a short reason for what is refused. A platform's own
checks (Slack's signature and payload shapes) raise the same `Refused`."""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

log = logging.getLogger(__name__)

READ_SECONDS = 10.0  # a body must arrive within this: a sender dripping bytes holds nothing longer


class Refused(Exception):
    """A request we will not serve; `status` is its 4xx, the message the short reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


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
