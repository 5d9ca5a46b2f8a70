"""The failures a test can make the fake Slack show: errors and 429s injected, answers held
back, connections cut mid-request, and Slack's real rate limits (token buckets on the
server's clock). The delivery tests trust it to refuse what real Slack would refuse, and to
fail the way a network fails."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from .slack_api import Call

# The ASGI scope key under which the fake keeps uvicorn's own ``send``: cutting a connection
# needs the transport behind it.
SERVER_SEND = "fake_slack.server_send"


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


class Faults:
    """FakeSlack's failure injection and rate limits (a part of FakeSlack, not used alone)."""

    calls: list[Call]
    conversation: Callable[[Any], str]  # the workspace's

    def _init_faults(self) -> None:
        self.throttled = 0  # calls refused with 429 by enforce_limits
        self._faults: dict[str, list[_Fault]] = {}
        self._delays: dict[str, _Delay] = {}
        self._drops: dict[str, int] = {}  # method -> calls still to answer by dropping the connection
        self._limit_specs: dict[str, tuple[float, int]] = {}  # "channel" | "workspace" -> (rate, burst)
        self._method_limits: dict[str, tuple[float, int]] = {}  # other methods' buckets (their tiers)
        self._buckets: dict[str, _Bucket] = {}

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

    def _over_limit(self, method: str, args: Mapping[str, Any]) -> int | None:
        """None when the call may go ahead (a token taken from each bucket), else the
        Retry-After to answer (the refusal counted in ``throttled``)."""
        specs: dict[str, tuple[float, int]] = {}
        if method in self._method_limits:
            specs[f"method:{method}"] = self._method_limits[method]
        elif method == "chat.postMessage" and self._limit_specs:
            channel = self.conversation(args.get("channel"))  # a user id and their DM: one bucket
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
            self.throttled += 1
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

    def _take_drop(self, method: str) -> bool:
        """Whether this call of ``method`` is to be answered by cutting the connection."""
        if not self._drops.get(method):
            return False
        self._drops[method] -= 1
        return True


class CutConnection(Response):
    """Answers nothing: aborts the TCP connection under the request (uvicorn's transport)."""

    def __init__(self) -> None:
        super().__init__(status_code=500)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        cycle = getattr(scope.get(SERVER_SEND), "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is None:
            raise RuntimeError("drop_next needs uvicorn's HTTP protocol (its request cycle's transport)")
        transport.abort()
        await asyncio.sleep(0)  # let uvicorn see the connection is gone before the app returns
