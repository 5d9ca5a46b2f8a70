"""Discord's rate limits: per-route buckets keyed by the route's top-level resource (channel,
guild, webhook), a global limit per bot, the `X-RateLimit-*` headers on every answer and 429s
shaped as Discord's, so a client's own limiter is exercised as against Discord."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .clock import Clock

MESSAGE_CREATE = "POST /channels/{channel_id}/messages"
HISTORY = "GET /channels/{channel_id}/messages"
DM_OPEN = "POST /users/@me/channels"
GLOBAL_PER_SECOND = 50


class Scope(StrEnum):
    USER = "user"  # this bot's own bucket
    GLOBAL = "global"  # this bot's global limit
    SHARED = "shared"  # the resource's limit, shared with everyone (not counted against the bot)


@dataclass(frozen=True)
class RateLimit:
    limit: int
    per: float
    bucket: str | None = None  # routes naming the same bucket share it, as Discord's hashes do


# What the fake limits unless told otherwise: Discord's 5 messages per 5 s in one channel, and
# 5 history reads per 5 s in one channel (Discord publishes no figures, only headers; these are
# what clients see); every other route a looser bucket of its own, so headers are always there
# to learn from.
DEFAULT_ROUTE_LIMITS: dict[str, RateLimit] = {MESSAGE_CREATE: RateLimit(5, 5.0), HISTORY: RateLimit(5, 5.0)}
DEFAULT_LIMIT = RateLimit(50, 1.0)
GLOBAL_LIMIT = RateLimit(GLOBAL_PER_SECOND, 1.0)  # requests a second, across routes, per bot


@dataclass
class _Window:
    limit: int
    per: float
    remaining: int
    reset_at: float

    def take(self, now: float) -> float | None:
        """Spend one request; the seconds to wait instead if the window is used up."""
        if now >= self.reset_at:
            self.remaining, self.reset_at = self.limit, now + self.per
        if self.remaining <= 0:
            return self.reset_at - now
        self.remaining -= 1
        return None


@dataclass
class Verdict:
    """What the limiter says of one request: headers to send, and a 429 if it is refused."""

    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None
    scope: Scope = Scope.USER

    @property
    def limited(self) -> bool:
        return self.retry_after is not None

    def body(self) -> dict[str, Any]:
        assert self.retry_after is not None
        is_global = self.scope is Scope.GLOBAL
        message = (
            "The resource is being rate limited."
            if self.scope is Scope.SHARED
            else "You are being rate limited."
        )
        return {"message": message, "retry_after": round(self.retry_after, 3), "global": is_global}

    def refusal_headers(self) -> dict[str, str]:
        assert self.retry_after is not None
        headers = dict(self.headers)
        headers["Retry-After"] = str(math.ceil(self.retry_after))
        headers["X-RateLimit-Scope"] = self.scope.value
        if self.scope is Scope.GLOBAL:
            headers["X-RateLimit-Global"] = "true"
        return headers


def refused(retry_after: float, scope: Scope, headers: Mapping[str, str] | None = None) -> Verdict:
    return Verdict(dict(headers or {}), retry_after, scope)


class RateLimiter:
    def __init__(
        self,
        clock: Clock,
        routes: Mapping[str, RateLimit] | None = None,
        *,
        default: RateLimit = DEFAULT_LIMIT,
        global_limit: RateLimit | None = GLOBAL_LIMIT,
    ) -> None:
        self.clock = clock
        self.routes = dict(DEFAULT_ROUTE_LIMITS if routes is None else routes)
        self.default = default
        self.global_limit = global_limit
        self._windows: dict[tuple[str, str], _Window] = {}
        self._global: _Window | None = None

    def set(self, route: str, limit: RateLimit) -> None:
        self.routes[route] = limit
        self._windows = {k: w for k, w in self._windows.items() if k[0] != self.bucket(route)}

    def bucket(self, route: str) -> str:
        """The `X-RateLimit-Bucket` hash: opaque and stable, as Discord's are."""
        name = self.routes.get(route, self.default).bucket or route
        return hashlib.sha1(name.encode()).hexdigest()[:16]

    def check(self, route: str, major: str, *, counts_globally: bool) -> Verdict:
        now = self.clock.now()
        if counts_globally and self.global_limit is not None:
            if self._global is None:
                limit = self.global_limit
                self._global = _Window(limit.limit, limit.per, limit.limit, now + limit.per)
            wait = self._global.take(now)
            if wait is not None:
                return refused(wait, Scope.GLOBAL)
        limit = self.routes.get(route, self.default)
        key = (self.bucket(route), major)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(limit.limit, limit.per, limit.limit, now + limit.per)
        wait = window.take(now)
        headers = self._headers(key[0], window, now)
        return refused(wait, Scope.USER, headers) if wait is not None else Verdict(headers)

    def headers_for(self, route: str, major: str) -> dict[str, str]:
        """The headers of a bucket as it stands, for answers that did not spend from it."""
        key = (self.bucket(route), major)
        window = self._windows.get(key)
        if window is None:
            limit = self.routes.get(route, self.default)
            window = _Window(limit.limit, limit.per, limit.limit, self.clock.now() + limit.per)
        return self._headers(key[0], window, self.clock.now())

    def _headers(self, bucket: str, window: _Window, now: float) -> dict[str, str]:
        # rounded up to the millisecond: a client waiting exactly this long is never early
        reset_after = math.ceil(max(window.reset_at - now, 0.0) * 1000) / 1000
        return {
            "X-RateLimit-Limit": str(window.limit),
            "X-RateLimit-Remaining": str(max(window.remaining, 0)),
            "X-RateLimit-Reset": f"{self.clock.wall() + reset_after:.3f}",
            "X-RateLimit-Reset-After": f"{reset_after:.3f}",
            "X-RateLimit-Bucket": bucket,
        }
