"""The platforms' rate limits, as the outbox keeps to them: token buckets paced on the event
loop's clock, whose rates are learned from the platform's answers, kept in the database and
shared by every worker sending to one workspace.

Slack publishes no figure for a workspace ("several hundred messages a minute"; it differs by
workspace and over time), so a configured rate is only where learning starts, and, with its
ceiling, the bounds learning keeps to. While the rate holds sends back (more are waiting than
it lets go), it rises: doubling about every 0.7 s until the first 429 (slow start), then by
0.2 % a send back up to just under the rate the last 429 came at, and by 0.02 % a send above
it, probing slowly for more. A 429 holds every send under the limits of the refused call for
its `Retry-After`, and cuts the rate to 0.9 × what the platform took over the last two seconds
(at most by half at once). A platform that publishes its buckets (Discord's `X-RateLimit-*`
headers) can set the figure directly (`RateLimiter.publish`).
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update

from bot.clock import Clock
from bot.domain import as_utc
from bot.storage import RateLimitRow, RateShare
from bot.storage.db import Database, insert_once

log = logging.getLogger(__name__)

PACE = 0.97  # send at this fraction of a platform's rate: its clock and ours need not agree
JITTER = 0.032  # seconds by which requests may reach the platform closer together than they
# left (a new connection's first request waits for the connection; the event loop may be busy):
# each bucket keeps that many seconds' worth of its burst in hand (see `RateLimiter.shape`)
SLOW_START = 1.0  # while probing, each send the rate held back adds this much to it (x2 in 0.7 s)
REGAIN = 0.002  # after a cut, each such send adds this fraction, up to just under the peak...
PLATEAU = 0.97  # (this fraction of the rate the last 429 came at)
GAIN = 0.0002  # ...and this fraction above it: a 429 every few hundred sends at most
CUT = 0.9  # a 429 cuts the rate to this fraction of what the platform took
MEASURE = 2.0  # seconds of accepted sends that tell what the platform took
FLOOR = 0.2  # sends a second: learning never goes below
SYNC = 0.5  # seconds between a worker's exchanges of learned rates with the database
SHARE_TTL = 2.0  # seconds: a worker not heard from for this long takes no share of a budget
PROBE_AFTER = timedelta(minutes=10)  # a rate learned longer ago is probed afresh (slow start)
BURST_SECONDS = 0.25  # a learned workspace budget's burst: at most this many seconds' worth


@dataclass(frozen=True)
class Limit:
    """A token bucket: `rate` sends per second, up to `burst` at once. With `learn` (the key
    its learned rate is kept under, one for every destination of a kind in a workspace),
    `rate` is where learning starts and `ceiling` (default `rate`) where it stops."""

    key: str
    rate: float
    burst: int = 1
    learn: str | None = None
    ceiling: float | None = None


@dataclass
class Learned:
    """A rate learned for one budget: the whole workspace's, whatever the number of workers."""

    rate: float
    ceiling: float = math.inf
    probing: bool = True  # slow start, until the first 429
    peak: float = math.inf  # the rate the last 429 came at: regained fast, passed slowly
    share: int = 1  # workers spending this budget now (each sends at rate / share)
    shared: bool = False  # the budget of a whole workspace (not a destination's own)
    factor: float = 1.0  # what happened here since the last sync, to apply to the stored figure:
    delta: float = 0.0  # stored × factor + delta (so two workers' changes add up, not overwrite)
    accepted: deque[float] = field(default_factory=deque)  # when sends were taken, lately
    since: float = -math.inf  # measure what was taken from here: the end of the last hold, or
    # the start of this spell of sending (before it, nothing was asked of the platform)
    last: float = -math.inf  # when a send last went under it
    cut_at: float = -math.inf  # sends begun before the last cut do not cut again
    used: bool = False  # sent under since the last sync
    cut: bool = False  # cut since the last sync

    def change(self, factor: float, delta: float = 0.0) -> None:
        new = min(self.ceiling, max(FLOOR, self.rate * factor + delta))
        if new == self.rate:
            return
        self.factor, self.delta = self.factor * factor, self.delta * factor + delta
        self.rate = new


class RateLimiter:
    """Token buckets on the event loop's clock, each kept as the time at which it would be
    full again (the GCRA way: one float a bucket, no refill sums).

    A send's limits are its destination's own (a channel's: 1 a second), then, last, the one
    every destination shares (the workspace's). `acquire` waits until the destination's own
    limits allow the send, then takes the next *turn* under the shared limit and sleeps until
    it: each waiting send wakes once, at its turn, in the order they asked. (Polling a shared
    bucket instead wakes every waiting send at each new token to let one go.) Turns only
    order the sends; what may go is decided by the sends actually made, so when the event
    loop was busy and several turns came due at once, they still leave no faster than the
    limit allows. A send that must wait for its own channel takes no turn meanwhile, so it
    never holds up the rest.

    Pacing: a platform counts requests when they arrive, and network and event-loop jitter
    can bring two closer together than they left. So each bucket runs at `pace` of its rate
    and keeps `jitter` seconds' worth of its burst unused, at least one send's (`shape`): for
    Slack's 500/s burst 20, bursts of 4, then a send every 2.06 ms.

    Learning (a `Limit` with `learn`): `succeeded` and `refused` report each call's outcome,
    and the rate follows (see the module's notes). A learned workspace budget's burst is at
    most a quarter second's worth of its rate: a burst is not learned, and a guessed one too
    large for a slow workspace would be a volley of 429s at every start.
    """

    def __init__(self, pace: float = PACE, jitter: float = JITTER) -> None:
        self.pace, self.jitter = pace, jitter
        self.sent: dict[str, float] = {}  # bucket key -> when full again, counting sends made
        self.turns: dict[str, float] = {}  # shared bucket key -> the same, counting turns given
        self.held: dict[str, float] = {}  # bucket key -> no send before then (Retry-After)
        self.learned: dict[str, Learned] = {}  # learn key -> its rate
        self.prune_at = 1024

    def learning(self, limit: Limit, *, shared: bool = False) -> Learned | None:
        if limit.learn is None:
            return None
        learned = self.learned.get(limit.learn)
        if learned is None:
            learned = self.learned[limit.learn] = Learned(limit.rate)
        learned.ceiling = max(limit.ceiling or 0.0, limit.rate)
        learned.rate = min(learned.rate, learned.ceiling)
        learned.shared = learned.shared or shared
        return learned

    def current(self, limit: Limit) -> tuple[float, int]:
        """(rate, burst) this worker keeps to now."""
        learned = self.learning(limit)
        if learned is None:
            return limit.rate, limit.burst
        if not learned.shared:
            return learned.rate, limit.burst
        burst = min(limit.burst, round(learned.rate * BURST_SECONDS))
        return learned.rate / learned.share, max(1, burst // learned.share)

    def shape(self, limit: Limit) -> tuple[float, float]:
        """(seconds between sends, seconds of burst): the platform's, less the pace and jitter."""
        rate, burst = self.current(limit)
        interval = 1.0 / (rate * self.pace)
        burst = max(1, burst - math.ceil(self.jitter * rate))
        return interval, (burst - 1) * interval

    def earliest(self, limit: Limit, now: float, book: dict[str, float]) -> float:
        """When `limit` next allows a send, by `book`: `now`, or later."""
        tolerance = self.shape(limit)[1]
        return max(now, book.get(limit.key, now) - tolerance, self.held.get(limit.key, now))

    def take(self, limit: Limit, at: float, book: dict[str, float]) -> None:
        """Count a send (or a turn) at `at`."""
        book[limit.key] = max(book.get(limit.key, at), at) + self.shape(limit)[0]

    async def ready(self, limits: list[Limit]) -> bool:
        """Wait until the destination's own limits (all but the last) would allow a send;
        whether it had to wait. Takes nothing: call it before waiting for anything shared."""
        waited = False
        if len(limits) < 2:
            return waited
        loop = asyncio.get_running_loop()
        while True:
            now = at = loop.time()
            for limit in limits[:-1]:
                at = max(at, self.earliest(limit, now, self.sent))
            if at <= now:
                return waited
            waited = True
            await asyncio.sleep(at - now)

    async def acquire(self, limits: list[Limit]) -> bool:
        """Wait until a send is allowed under every limit, and count it; whether the limits
        held it back (then the rate, not the work to do, set the pace: it may rise)."""
        if not limits:
            return False
        waited = await self.ready(limits)
        loop = asyncio.get_running_loop()
        shared, now = limits[-1], loop.time()
        for limit in limits:
            learned = self.learning(limit, shared=limit is shared)
            if learned is not None:
                if now - learned.last > MEASURE:
                    learned.since = max(learned.since, now)
                learned.last = now
        at = self.earliest(shared, now, self.turns)
        self.take(shared, at, self.turns)  # our turn: whoever asks next queues behind it
        waited = waited or self.earliest(shared, now, self.turns) > now  # the next one will wait
        while True:
            if at > now:
                waited = True
                await asyncio.sleep(at - now)
                now = loop.time()
            at = max(self.earliest(limit, now, self.sent) for limit in limits)
            if at <= now:
                break
        for limit in limits:
            self.take(limit, now, self.sent)
        self.forget(now)
        return waited

    def succeeded(self, limits: list[Limit], waited: bool) -> None:
        """The platform took a send: what it took is measured, and a rate that held the send
        back rises."""
        now = asyncio.get_running_loop().time()
        for limit in limits:
            learned = self.learning(limit)
            if learned is None:
                continue
            learned.used = True
            learned.accepted.append(now)
            while learned.accepted and learned.accepted[0] < now - MEASURE:
                learned.accepted.popleft()
            if waited:
                gain = REGAIN if learned.rate < PLATEAU * learned.peak else GAIN
                learned.change(1.0, SLOW_START if learned.probing else gain * learned.rate)

    def refused(self, limits: list[Limit], seconds: float, began: float) -> None:
        """The platform answered 429 to a send begun at `began` (loop time): hold every limit of
        the call for `seconds`, and cut the rate of the one to blame: the destination's own
        when it had just used its burst, else the shared one. A send begun before the last
        cut says nothing new (it went at the old rate)."""
        now = asyncio.get_running_loop().time()
        own = limits[0] if len(limits) > 1 else None
        blamed = own if own is not None and self.earliest(own, now, self.sent) > now else limits[-1]
        self.hold(limits, seconds)
        learned = self.learning(blamed)
        if learned is None or began < learned.cut_at:
            return
        start = max(now - MEASURE, learned.since)
        taken = sum(1 for t in learned.accepted if t >= start)
        took = (
            taken / (now - start) * (learned.share if learned.shared else 1)
            if now - start >= MEASURE / 4
            else math.inf
        )
        learned.peak = max(min(learned.rate, took), learned.rate / 2)  # at most halved at once
        learned.change(CUT * learned.peak / learned.rate)
        learned.probing, learned.cut, learned.cut_at, learned.since = False, True, now, now + seconds
        log.info("rate limited: %s now %.2f/s (the platform took %.2f/s)", blamed.learn, learned.rate, took)

    def hold(self, limits: list[Limit], seconds: float) -> None:
        """The platform said "come back in N seconds": no sends under these limits until
        then (turns already given included), and the buckets refill from empty after."""
        until = asyncio.get_running_loop().time() + seconds
        for limit in limits:
            self.held[limit.key] = max(self.held.get(limit.key, until), until)
            interval, tolerance = self.shape(limit)
            for book in (self.sent, self.turns):
                book[limit.key] = max(book.get(limit.key, until), until + tolerance + interval)

    def publish(self, limit: Limit, rate: float) -> None:
        """The platform said what its limit is (a header with the bucket's figures): keep to it
        rather than learn it. Still cut by a 429, and the ceiling still holds."""
        learned = self.learning(limit)
        if learned is not None:
            learned.change(rate / learned.rate)
            learned.probing, learned.peak = False, rate

    def forget(self, now: float) -> None:
        """Drop buckets that are full again (the same as never used): one a DM otherwise."""
        if len(self.sent) + len(self.turns) + len(self.held) > self.prune_at:
            self.sent = {key: t for key, t in self.sent.items() if t > now}
            self.turns = {key: t for key, t in self.turns.items() if t > now}
            self.held = {key: t for key, t in self.held.items() if t > now}
            self.prune_at = max(1024, 2 * (len(self.sent) + len(self.turns) + len(self.held)))


class SharedRates:
    """Learned rates kept in the database (`rate_limits`), so that a restarted or second
    worker starts from what was learned, and one workspace's budget shared by the workers
    sending under it (`rate_shares`): each sends at the learned rate divided by their number.

    Every `SYNC` seconds while delivering, a worker adds what it learned since (a cut
    multiplies the stored rate, a rise adds to it: two workers' changes add up, neither
    overwrites the other), takes back the stored rate, says which budgets it is sending
    under and counts the workers that said so in the last `SHARE_TTL` seconds. A stored
    rate last changed more than `PROBE_AFTER` ago is probed again from where it was (the
    platform's limits move), and never passes its ceiling.
    """

    def __init__(self, db: Database, limiter: RateLimiter, clock: Clock, worker: Callable[[], str]) -> None:
        self.db, self.limiter, self.clock, self.worker = db, limiter, clock, worker
        self.lock = asyncio.Lock()
        self.joined: dict[str, float] = {}  # learn key -> when this worker last said it sends under it
        self.synced_at = datetime.min.replace(tzinfo=UTC)

    def newcomer(self, keys: Iterable[str]) -> bool:
        """Whether any of these shared budgets is one this worker has not joined lately: sync
        before sending under it, so the others' share is taken from the first send."""
        soon = asyncio.get_running_loop().time() - SHARE_TTL / 2
        return any(self.joined.get(key, -math.inf) < soon for key in keys)

    async def sync(self, joining: Iterable[str] = ()) -> None:
        async with self.lock:
            await self._sync(set(joining))

    async def _sync(self, joining: set[str]) -> None:
        now = as_utc(self.clock.now())
        learned = self.limiter.learned
        loop_now = asyncio.get_running_loop().time()
        async with self.db.transaction() as session:
            if not self.db.is_sqlite:
                stored = await session.scalars(select(RateLimitRow).with_for_update())
            else:
                stored = await session.scalars(select(RateLimitRow))
            seen = set()
            for row in stored:
                seen.add(row.key)
                mine = learned.get(row.key)
                if mine is None:  # learned by another worker, or before a restart
                    mine = learned[row.key] = Learned(row.rate, peak=row.peak or row.rate)
                    mine.probing = now - as_utc(row.learned_at) > PROBE_AFTER
                    continue
                if mine.cut and row.cut_at is not None and as_utc(row.cut_at) > self.synced_at:
                    row.rate = min(row.rate, mine.rate)  # cut by another worker too: once is enough
                elif mine.factor != 1.0 or mine.delta:
                    row.rate = min(mine.ceiling, max(FLOOR, row.rate * mine.factor + mine.delta))
                if mine.factor != 1.0 or mine.delta:
                    row.learned_at = now
                if mine.cut:
                    row.cut_at, row.peak, mine.cut = now, mine.peak, False
                elif row.peak is not None:
                    mine.peak = row.peak
                mine.rate, mine.factor, mine.delta = min(row.rate, mine.ceiling), 1.0, 0.0
            for key, mine in learned.items():
                if key not in seen:
                    await insert_once(
                        session,
                        RateLimitRow,
                        dict(
                            key=key,
                            rate=mine.rate,
                            peak=None if math.isinf(mine.peak) else mine.peak,
                            learned_at=now,
                        ),
                        ["key"],
                    )
                    mine.factor, mine.delta, mine.cut = 1.0, 0.0, False
            sending = {key for key, mine in learned.items() if mine.shared and mine.used} | joining
            newcomer = {key for key in joining if self.joined.get(key, -math.inf) < loop_now - SHARE_TTL}
            for key in sending:
                if not await insert_once(
                    session, RateShare, dict(key=key, worker=self.worker(), seen_at=now), ["key", "worker"]
                ):
                    await session.execute(
                        update(RateShare)
                        .where(RateShare.key == key, RateShare.worker == self.worker())
                        .values(seen_at=now)
                    )
                self.joined[key] = loop_now
            counts = dict(
                (
                    await session.execute(
                        select(RateShare.key, func.count())
                        .where(RateShare.seen_at >= now - timedelta(seconds=SHARE_TTL))
                        .group_by(RateShare.key)
                    )
                ).all()
            )
        for key, mine in learned.items():
            # the others learn of a newcomer at their next sync: until then it counts one more
            mine.share = max(1, counts.get(key, 0)) + (key in newcomer and counts.get(key, 0) > 1)
            mine.used = False
        self.synced_at = now

    async def keep_syncing(self) -> None:
        while True:
            await asyncio.sleep(SYNC)
            try:
                await self.sync()
            except Exception:
                log.exception("sharing learned rates failed; trying again")
