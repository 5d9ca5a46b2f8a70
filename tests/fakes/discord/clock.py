"""Time as the fake Discord keeps it: a monotonic clock tests can move forward, and snowflake ids.

Discord's deadlines (3 s to acknowledge an interaction, 15 minutes of interaction token) and its
rate-limit windows are all measured on this clock, so a test can let 15 minutes pass without
waiting them, while real time still passes too (a handler that sleeps 3 s is late for real)."""

from __future__ import annotations

import itertools
import time

DISCORD_EPOCH_MS = 1_420_070_400_000


class Clock:
    def __init__(self) -> None:
        self._offset = 0.0

    def now(self) -> float:
        """Seconds on a monotonic scale: only differences mean anything."""
        return time.monotonic() + self._offset

    def wall(self) -> float:
        """Unix time as the fake sees it (for `X-RateLimit-Reset` and message timestamps)."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._offset += seconds


class Snowflakes:
    """Ids as Discord makes them: milliseconds since 2015 in the top bits, so they sort by time
    and discord.py's `snowflake_time` reads a sensible creation time from each."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._increment = itertools.count()
        self._last = 0

    def next(self) -> int:
        millis = int(self._clock.wall() * 1000) - DISCORD_EPOCH_MS
        value = (millis << 22) | (next(self._increment) & 0xFFF)
        self._last = max(self._last + 1, value)  # strictly increasing, even within one millisecond
        return self._last
