"""What every part of the fake Slack shares: a Web API call as it was recorded, an error
answered the way Slack answers one, and Slack's loose reading of flags and ids."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


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


def truthy(value: Any) -> bool:
    """A flag as Slack reads it: true, 1, "1" or "true" (form fields arrive as strings)."""
    return value is True or value == 1 or (isinstance(value, str) and value.lower() in ("1", "true"))


def short_hash(*parts: Any, length: int = 5) -> str:
    """A stable id-like string from ``parts`` (block ids, view hashes, avatar hashes)."""
    digest = hashlib.sha1(":".join(map(str, parts)).encode()).digest()
    return base64.b32encode(digest).decode().rstrip("=")[:length]
