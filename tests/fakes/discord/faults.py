"""Failures a test injects into the fake's REST API, one route at a time (or any route): a 5xx,
a 429 for the next N calls, a connection cut after the call was carried out, so the caller
cannot know whether it happened (the case a message `nonce` exists for), or a slow answer, so
that calls are in flight when a test kills their caller."""

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


@dataclass
class Delay:
    route: str | None
    seconds: float
    times: int | None  # calls still to slow down; None: every one


class Faults:
    def __init__(self) -> None:
        self._pending: list[Fault] = []
        self._delays: list[Delay] = []

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

    def delay(self, route: str | None, seconds: float, *, times: int | None = None) -> None:
        """Carry out calls of `route` (None: any) only after `seconds` (the next `times` of them,
        or until changed; 0 clears): they are in flight meanwhile."""
        self._delays = [d for d in self._delays if d.route != route]
        if seconds > 0:
            self._delays.append(Delay(route, seconds, times))

    def take_delay(self, route: str) -> float:
        for delay in self._delays:
            if delay.route in (None, route) and delay.times != 0:
                if delay.times is not None:
                    delay.times -= 1
                return delay.seconds
        return 0.0

    def take(self, route: str, kinds: tuple[FaultKind, ...]) -> Fault | None:
        for fault in self._pending:
            if fault.kind in kinds and fault.matches(route):
                fault.times -= 1
                return fault
        return None

    def clear(self) -> None:
        self._pending.clear()
        self._delays.clear()
