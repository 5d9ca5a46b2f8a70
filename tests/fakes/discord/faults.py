"""Failures a test injects into the fake's REST API, one route at a time (or any route): a 5xx,
a 429 for the next N calls, or a connection cut after the call was carried out, so the caller
cannot know whether it happened (the case a message `nonce` exists for)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, auto

from .ratelimits import Scope


class FaultKind(Enum):
    SERVER_ERROR = auto()  # answered before anything happens
    RATE_LIMITED = auto()  # answered before anything happens
    DROP = auto()  # the call is carried out, then the connection is cut instead of answering


@dataclass
class Fault:
    kind: FaultKind
    route: str | None  # "POST /channels/{channel_id}/messages", or None for any route
    times: int
    status: int = 500
    retry_after: float = 1.0
    scope: Scope = Scope.USER

    def matches(self, route: str) -> bool:
        return self.times > 0 and self.route in (None, route)


class Faults:
    def __init__(self) -> None:
        self._pending: list[Fault] = []

    def fail_next(self, route: str | None = None, *, status: int = 500, times: int = 1) -> None:
        self._pending.append(Fault(FaultKind.SERVER_ERROR, route, times, status=status))

    def rate_limit_next(
        self,
        route: str | None = None,
        *,
        times: int = 1,
        retry_after: float = 1.0,
        scope: Scope = Scope.USER,
    ) -> None:
        self._pending.append(
            Fault(FaultKind.RATE_LIMITED, route, times, retry_after=retry_after, scope=scope)
        )

    def drop_next(self, route: str | None = None, *, times: int = 1) -> None:
        self._pending.append(Fault(FaultKind.DROP, route, times))

    def take(self, route: str, kinds: tuple[FaultKind, ...]) -> Fault | None:
        for fault in self._pending:
            if fault.kind in kinds and fault.matches(route):
                fault.times -= 1
                return fault
        return None

    def clear(self) -> None:
        self._pending.clear()
