"""Nudge fan-out: plan the nudges of 50 cohorts whose windows close together, then deliver them.

N learners (default 10,000) in 50 cohorts, all in America/Chicago, one `creators`
window per cohort closing ~47 h from `now` (offsets 7d, 2d, 1d, 2h), so at `now`
(14:00 in Chicago) the 2d nudge is due everywhere. 30% of learners have submitted
and must not be nudged. The database is filled with bulk Core inserts, then:

  (a) planning: one `run_due(now)`, a second one (must plan 0), and `plan_due_nudges`
      alone on a reset ledger; seconds and µs per learner for every size in --sizes;
  (b) delivery of what `run_due` planned (--deliver-size learners) through the real
      Runtime -> Deliverer -> SlackTransport, against tests/fakes/slack_server.py with Slack-like
      rate limits; measured time over the minimum the limits allow, duplicates, losses;
  (c) memory: ru_maxrss of the process, and the tracemalloc peak while planning.

Each (database, size) runs in a fresh child process, so ru_maxrss belongs to it alone.
SQLite always (a file in a temporary directory); PostgreSQL too with --database-url
(a fresh database is made and dropped, as in bench/slack_ack.py). The fake Slack runs
in a process of its own (as Slack is not on our CPU; --fake-in-process to share the
loop). Wall times suffer from anything else running on the machine, so CPU seconds
(planning) and CPU ms per message (delivery) are printed too; --profile adds cProfile
hot spots.

    .venv/bin/python bench/fanout.py                                  # SQLite, 10,000 learners
    .venv/bin/python bench/fanout.py --sizes 1000,10000,100000 \\
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/fanout.py --sizes 1000 --deliver-size 1000  # quick
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import json
import math
import os
import platform
import pstats
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

SCRIPT = str(Path(__file__).resolve())
ROOT = Path(__file__).resolve().parent.parent
for extra in (ROOT, ROOT / "tests"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

import httpx  # noqa: E402
import sqlalchemy  # noqa: E402
from fakes.slack_server import FakeSlack  # noqa: E402
from sqlalchemy import delete, func, insert, select, text  # noqa: E402

from bench.apart import process_apart, ready_until_stdin_closes  # noqa: E402
from bench.slack_ack import drop_pg_database, fresh_pg_database  # noqa: E402
from bot.catalogue import BUNDLED, load_catalogue  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.domain import Role, SubmissionState  # noqa: E402
from bot.outbox import UNSENT  # noqa: E402
from bot.runtime import Runtime, settle_heap  # noqa: E402
from bot.scheduler import plan_due_nudges, run_due  # noqa: E402
from bot.storage import (  # noqa: E402
    Cohort,
    Credential,
    Enrolment,
    Member,
    NudgeLedger,
    Outbox,
    Submission,
    Window,
    Workspace,
)
from bot.storage.db import Database  # noqa: E402

COHORTS = 50
TZ = "America/Chicago"
OFFSETS = ["7d", "2d", "1d", "2h"]
NOW = datetime(2026, 11, 23, 14, 0, tzinfo=ZoneInfo(TZ)).astimezone(UTC)  # a Monday, 14:00 CST
CLOSES = NOW + timedelta(hours=47)  # cohort c closes c minutes later: the 2d nudge is due for all
OPENS = NOW - timedelta(days=30)
SUBMITTED_PER_10 = 3  # 30% of each cohort has submitted
BATCH = 2000  # rows per bulk INSERT
TARGET_PLAN_S = 2.0  # run_due for 10,000 learners
TARGET_RATIO = 1.1  # delivery time over the minimum the rate limits allow


def user_id(i: int) -> str:
    return f"UL{i:06d}"


def channel_id(c: int) -> str:
    return f"CH{c:04d}"


def submitted(i: int) -> bool:
    """The k-th learner of each cohort (learner i is in cohort i % COHORTS) submitted when k % 10 < 3."""
    return (i // COHORTS) % 10 < SUBMITTED_PER_10


def chunked(rows: Iterable[dict[str, Any]], size: int = BATCH) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def revision() -> str:
    try:
        return (
            subprocess.run(
                ["git", "describe", "--always", "--dirty"],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            or "?"
        )
    except OSError:
        return "?"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ------------------------------------------------------------------ the programme


@dataclass
class Population:
    learners: int
    submitted: int
    seconds: float

    @property
    def expected_dms(self) -> int:
        return self.learners - self.submitted


async def bulk(db: Database, model: Any, rows: Iterable[dict[str, Any]]) -> None:
    """Core INSERTs of `BATCH` rows at a time, in one transaction per table."""
    async with db.transaction() as session:
        conn = await session.connection()
        for batch in chunked(rows):
            await conn.execute(insert(model), batch)


async def populate(db: Database, n: int) -> Population:
    start = time.perf_counter()
    async with db.transaction() as session:
        await load_catalogue(session, BUNDLED, OPENS)
    async with db.transaction() as session:
        credential = await session.scalar(select(Credential.id).where(Credential.slug == "creators"))
        workspace = await session.scalar(
            insert(Workspace)
            .values(platform="slack", external_id="T1", name="Bench", created_at=OPENS)
            .returning(Workspace.id)
        )
        admin = await session.scalar(
            insert(Member)
            .values(
                workspace_id=workspace,
                user_id="UADMIN",
                display_name="Admin",
                email="admin@example.org",
                tz=TZ,
                is_admin=True,
                created_at=OPENS,
            )
            .returning(Member.id)
        )
    await bulk(
        db,
        Member,
        (
            dict(
                workspace_id=workspace,
                user_id=user_id(i),
                display_name=f"Learner {i}",
                email=f"{user_id(i).lower()}@school.example",
                badge_email=None,
                tz=TZ,
                is_admin=False,
                autoshare=False,
                created_at=OPENS,
            )
            for i in range(n)
        ),
    )
    await bulk(
        db,
        Cohort,
        (
            dict(
                workspace_id=workspace,
                name=f"cohort-{c:02d}",
                channel_id=channel_id(c),
                channel_name=f"cohort-{c:02d}",
                reviews_channel_id=None,
                reviews_channel_name=None,
                tz=TZ,
                quiet_days=[],
                created_by=admin,
                created_at=OPENS,
            )
            for c in range(COHORTS)
        ),
    )
    async with db.transaction() as session:
        members = dict(
            (await session.execute(select(Member.user_id, Member.id).where(Member.workspace_id == workspace)))
            .tuples()
            .all()
        )
        cohorts = dict(
            (await session.execute(select(Cohort.name, Cohort.id).where(Cohort.workspace_id == workspace)))
            .tuples()
            .all()
        )
    cohort_ids = [cohorts[f"cohort-{c:02d}"] for c in range(COHORTS)]
    await bulk(
        db,
        Enrolment,
        [
            *(
                dict(
                    cohort_id=cohort_ids[i % COHORTS],
                    member_id=members[user_id(i)],
                    role=Role.LEARNER.value,
                    added_at=OPENS,
                )
                for i in range(n)
            ),
            *(
                dict(cohort_id=cid, member_id=admin, role=Role.COORDINATOR.value, added_at=OPENS)
                for cid in cohort_ids
            ),
        ],
    )
    await bulk(
        db,
        Window,
        (
            dict(
                workspace_id=workspace,
                cohort_id=cid,
                credential_id=credential,
                opens_at=OPENS,
                closes_at=CLOSES + timedelta(minutes=c),
                closed_at=None,
                tz=TZ,
                nudge_offsets=OFFSETS,
                late_policy="deny",
                open_announced_at=OPENS,
                close_announced_at=None,
                created_by=admin,
                created_at=OPENS,
            )
            for c, cid in enumerate(cohort_ids)
        ),
    )
    async with db.transaction() as session:
        windows = dict((await session.execute(select(Window.cohort_id, Window.id))).tuples().all())
    handed_in = [i for i in range(n) if submitted(i)]
    await bulk(
        db,
        Submission,
        (
            dict(
                workspace_id=workspace,
                window_id=windows[cohort_ids[i % COHORTS]],
                member_id=members[user_id(i)],
                state=SubmissionState.SUBMITTED.value,
                code=f"X{i:06d}",
                created_at=NOW - timedelta(days=1),
                updated_at=NOW - timedelta(days=1),
            )
            for i in handed_in
        ),
    )
    if not db.is_sqlite:  # as autovacuum would have left tables that grew over weeks (and so it
        async with db.engine.connect() as conn:  # does not start now, in the middle of a measurement)
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text("VACUUM ANALYZE"))
    return Population(n, len(handed_in), time.perf_counter() - start)


async def reset_plans(db: Database) -> None:
    """Forget every planned nudge: the next planning run starts from scratch."""
    async with db.transaction() as session:
        await session.execute(delete(Outbox))
        await session.execute(delete(NudgeLedger))


async def planned(db: Database) -> tuple[set[str], int]:
    """DM recipients (user ids) and the number of channel messages in the outbox."""
    async with db.transaction() as session:
        dms = set(await session.scalars(select(Outbox.dest_id).where(Outbox.dest_kind == "dm")))
        channels = await session.scalar(
            select(func.count()).select_from(Outbox).where(Outbox.dest_kind == "channel")
        )
    return dms, channels or 0


async def timed(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = await work()
    return time.perf_counter() - start, result


# ------------------------------------------------------------------ databases


class Fresh:
    """A migrated, empty database: a SQLite file, or a new PostgreSQL database dropped afterwards."""

    def __init__(self, admin_url: str | None) -> None:
        self.admin_url = admin_url
        self.tmp = tempfile.TemporaryDirectory()
        self.url = ""

    async def __aenter__(self) -> str:
        if self.admin_url:
            self.url = await fresh_pg_database(self.admin_url)
        else:
            self.url = f"sqlite+aiosqlite:///{self.tmp.name}/fanout.db"
        db = Database(self.url)
        try:
            await db.upgrade()
        finally:
            await db.dispose()
        return self.url

    async def __aexit__(self, *exc: object) -> None:
        if self.admin_url:
            await drop_pg_database(self.admin_url, self.url)
        self.tmp.cleanup()


def settings_for(url: str, **more: Any) -> Settings:
    return Settings(database_url=url, link_check=False, _env_file=None, **more)  # type: ignore[call-arg]


# ------------------------------------------------------------------ (a) + (c): planning


async def plan_case(admin_url: str | None, n: int, profile: bool) -> dict[str, Any]:
    backend = "postgresql" if admin_url else "sqlite"
    async with Fresh(admin_url) as url:
        db = Database(url)
        settings = settings_for(url)
        try:
            pop = await populate(db, n)
            rss_populated = rss_mb()
            cpu = time.process_time()
            run_s, tick = await timed(lambda: run_due(db, settings, NOW))
            run_cpu = time.process_time() - cpu
            dms, channels = await planned(db)
            expected_users = {user_id(i) for i in range(n) if not submitted(i)}
            rerun_s, again = await timed(lambda: run_due(db, settings, NOW))
            await reset_plans(db)
            plan_s, nudges = await timed(lambda: plan_due_nudges(db, settings, NOW))
            await reset_plans(db)
            tracemalloc.start()
            tracemalloc.reset_peak()
            await plan_due_nudges(db, settings, NOW)
            _, traced_peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            hotspots = ""
            if profile:
                await reset_plans(db)
                profiler = cProfile.Profile()
                profiler.enable()
                await plan_due_nudges(db, settings, NOW)
                profiler.disable()
                hotspots = profile_summary(profiler)
        finally:
            await db.dispose()
    return dict(
        backend=backend,
        learners=n,
        submitted=pop.submitted,
        populate_s=pop.seconds,
        run_due_s=run_s,
        planned=tick.nudges,
        opened=tick.opened,
        dms=len(dms),
        channels=channels,
        dm_recipients_ok=dms == expected_users,
        expected=pop.expected_dms + COHORTS,
        rerun_s=rerun_s,
        replanned=again.nudges,
        plan_s=plan_s,
        plan_planned=nudges,
        run_due_cpu_s=run_cpu,
        traced_peak_mb=traced_peak / 2**20,
        rss_populated_mb=rss_populated,
        rss_mb=rss_mb(),
        profile=hotspots,
    )


def profile_summary(profiler: cProfile.Profile, lines: int = 25) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(lines)
    stats.sort_stats("cumulative").print_stats(lines)
    return out.getvalue()


# ------------------------------------------------------------------ (b): delivery


class SlackRateLimits:
    """ASGI middleware in front of FakeSlack: chat.postMessage is limited per channel and per
    workspace with token buckets, answered like Slack (429, `Retry-After`) when over. Used
    when tests/fakes/slack_server.py has no `enforce_limits` of its own."""

    def __init__(self, app: Any, per_channel: tuple[float, int], per_workspace: tuple[float, int]) -> None:
        self.app = app
        self.per_channel, self.per_workspace = per_channel, per_workspace
        self.buckets: dict[str, tuple[float, float]] = {}
        self.rejected = 0

    def take(self, key: str, rate: float, burst: int, now: float) -> float:
        """Seconds until this bucket has a token (0: it has one now)."""
        tokens, last = self.buckets.get(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - last) * rate)
        self.buckets[key] = (tokens, now)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/chat.postMessage"):
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        channel = parse_channel(body, dict(scope["headers"]).get(b"content-type", b"").decode())
        now = time.monotonic()
        buckets = [(f"channel:{channel}", *self.per_channel), ("workspace", *self.per_workspace)]
        wait = max(self.take(key, rate, burst, now) for key, rate, burst in buckets)
        if wait > 0:
            self.rejected += 1
            payload = json.dumps({"ok": False, "error": "ratelimited"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 429,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"retry-after", str(math.ceil(wait)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": payload})
            return
        for key, _, _ in buckets:
            tokens, last = self.buckets[key]
            self.buckets[key] = (tokens - 1.0, last)
        replayed = False

        async def replay() -> dict[str, Any]:
            nonlocal replayed
            if replayed:
                return dict(await receive())
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def parse_channel(body: bytes, content_type: str) -> str:
    if content_type.startswith("application/json"):
        try:
            return str(json.loads(body).get("channel", ""))
        except ValueError:
            return ""
    return dict(parse_qsl(body.decode(errors="replace"))).get("channel", "")


class RunningClock:
    """`now` at the start, then moving with real time (retries after a 429 come due)."""

    def __init__(self, start: datetime) -> None:
        self.start, self.t0 = start, time.monotonic()

    def now(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.t0)


def minimum_seconds(
    messages: int,
    per_destination: Counter[str],
    per_channel: tuple[float, int],
    per_workspace: tuple[float, int],
) -> float:
    """The least time the token buckets allow: the first `burst` go at once, the rest at `rate`."""
    rate, burst = per_workspace
    floor = max(0, messages - burst) / rate
    ch_rate, ch_burst = per_channel
    busiest = max(per_destination.values(), default=0)
    return max(floor, max(0, busiest - ch_burst) / ch_rate)


def make_fake(
    n: int,
    per_channel: tuple[float, int],
    per_workspace: tuple[float, int],
    history: tuple[float, int] | None = None,
) -> tuple[FakeSlack, SlackRateLimits | None]:
    """FakeSlack knowing every learner and cohort channel, rate-limited like Slack (and, with
    `history`, conversations.history limited too, as Slack's Tier 3 is)."""
    users = {user_id(i): {"name": user_id(i).lower(), "tz": TZ} for i in range(n)}
    fake = FakeSlack(users=users, channels={channel_id(c): f"cohort-{c:02d}" for c in range(COHORTS)})
    enforce = getattr(fake, "enforce_limits", None)
    if enforce is not None:
        enforce(
            per_channel=per_channel,
            per_workspace=per_workspace,
            methods={"conversations.history": history} if history else None,
        )
        return fake, None
    limiter = SlackRateLimits(fake.app, per_channel, per_workspace)
    fake.app = limiter  # type: ignore[assignment]
    return fake, limiter


def fake_report(fake: FakeSlack, limiter: SlackRateLimits | None, n: int) -> dict[str, Any]:
    """Outbox keys of the messages stored in every DM and channel, and the 429s answered.
    `cpu_s` is read first: walking (and copying) every stored message is the report's work,
    not the fake's share of the delivery."""
    cpu_s = time.process_time()
    keys: Counter[str] = Counter()
    for channel in [*(f"D{user_id(i)}" for i in range(n)), *(channel_id(c) for c in range(COHORTS))]:
        for message in fake.messages(channel):
            key = ((message.get("metadata") or {}).get("event_payload") or {}).get("key")
            if key:
                keys[key] += 1
    throttled = limiter.rejected if limiter else int(getattr(fake, "throttled", 0))
    posts = [(c.at, c.status) for c in fake.called("chat.postMessage")]
    return {
        "keys": dict(keys),
        "throttled": throttled,
        "cpu_s": cpu_s,
        "posts": posts,
        "lookups": [c.at for c in fake.called("conversations.history")],
        "limits": "bench middleware" if limiter else "fake Slack enforce_limits",
    }


Report = Callable[[], Awaitable[dict[str, Any]]]


@asynccontextmanager
async def fake_here(
    n: int, per_channel: tuple[float, int], per_workspace: tuple[float, int]
) -> AsyncIterator[tuple[str, Report]]:
    """The fake in this process, on this event loop: its work competes with ours for the CPU."""
    fake, limiter = make_fake(n, per_channel, per_workspace)

    async def report() -> dict[str, Any]:
        return fake_report(fake, limiter, n)

    async with fake:
        yield fake.api_url, report


@asynccontextmanager
async def fake_apart(
    n: int,
    per_channel: tuple[float, int],
    per_workspace: tuple[float, int],
    history: tuple[float, int] | None = None,
) -> AsyncIterator[tuple[str, Report]]:
    """The fake in a process of its own (`--serve-fake`), as Slack is on other machines."""
    more = ["--history-limit", f"{history[0]}/{history[1]}"] if history else []
    async with process_apart(
        [
            SCRIPT,
            "--serve-fake",
            str(n),
            "--channel-limit",
            f"{per_channel[0]}/{per_channel[1]}",
            "--workspace-limit",
            f"{per_workspace[0]}/{per_workspace[1]}",
            *more,
        ],
        ROOT,
    ) as url:
        api_url = f"{url}/api/"

        async def report() -> dict[str, Any]:
            async with httpx.AsyncClient(timeout=120) as client:
                response = await client.get(f"{url}/bench/report")
                response.raise_for_status()
                return dict(response.json())

        yield api_url, report


async def serve_fake(
    n: int,
    per_channel: tuple[float, int],
    per_workspace: tuple[float, int],
    history: tuple[float, int] | None = None,
) -> None:
    """--serve-fake: run the fake until stdin closes; GET /bench/report answers `fake_report`."""
    fake, limiter = make_fake(n, per_channel, per_workspace, history)
    inner = fake.app

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/bench/report":
            body = json.dumps(fake_report(fake, limiter, n)).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await inner(scope, receive, send)

    fake.app = app  # type: ignore[assignment]
    # The fake keeps every message and call; the collector's full passes over them stopped it
    # for 100-250 ms at a time, and requests that queued meanwhile then reached its rate limit
    # together (429s that Slack's servers would not give). Its young garbage is collected still.
    gc.freeze()
    gc.set_threshold(*gc.get_threshold()[:2], 1_000_000)
    async with fake:
        await ready_until_stdin_closes(fake.url)


async def deliver_case(
    admin_url: str | None,
    n: int,
    per_channel: tuple[float, int],
    per_workspace: tuple[float, int],
    concurrency: int,
    fake_in_process: bool,
    profile: bool,
) -> dict[str, Any]:
    backend = "postgresql" if admin_url else "sqlite"
    fake_side = fake_here if fake_in_process else fake_apart
    async with Fresh(admin_url) as url, fake_side(n, per_channel, per_workspace) as (api_url, report):
        settings = settings_for(
            url,
            slack_bot_token="xoxb-test",
            slack_signing_secret="bench",
            slack_api_url=api_url,
            slack_channel_rate=per_channel[0],
            slack_channel_burst=per_channel[1],
            slack_workspace_rate=per_workspace[0],
            slack_workspace_burst=per_workspace[1],
            outbox_concurrency=concurrency,
            log_level="WARNING",
        )
        runtime = Runtime(settings, RunningClock(NOW))
        await runtime.start()
        try:
            pop = await populate(runtime.db, n)
            tick = await run_due(runtime.db, settings, NOW)
            async with runtime.db.transaction() as s:
                rows = (await s.execute(select(Outbox.key, Outbox.dest_id))).tuples().all()
            keys = {key for key, _ in rows}
            per_destination = Counter(dest for _, dest in rows)
            profiler = cProfile.Profile() if profile else None
            rounds = 0
            fake_cpu = (await report())["cpu_s"] if not fake_in_process else 0.0
            settle_heap()  # as `cohortbot worker` does once it is set up (cli.serve_parts)
            start, cpu = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            while True:
                rounds += 1
                await runtime.deliverer.deliver_due()
                async with runtime.db.transaction() as s:
                    left = await s.scalar(
                        select(func.count()).select_from(Outbox).where(Outbox.state.in_(UNSENT))
                    )
                if not left or rounds > 10_000:
                    break
                await asyncio.sleep(0.05)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            if profiler:
                profiler.disable()
            async with runtime.db.transaction() as s:
                states = dict(
                    (await s.execute(select(Outbox.state, func.count()).group_by(Outbox.state)))
                    .tuples()
                    .all()
                )
        finally:
            await runtime.stop()
        seen = await report()
    arrived = Counter(seen["keys"])
    minimum = minimum_seconds(len(keys), per_destination, per_channel, per_workspace)
    return dict(
        backend=backend,
        learners=n,
        planned=tick.nudges,
        expected=pop.expected_dms + COHORTS,
        messages=len(keys),
        seconds=elapsed,
        minimum_s=minimum,
        ratio=elapsed / minimum if minimum else 0.0,
        rate=len(keys) / elapsed if elapsed else 0.0,
        duplicates=sum(1 for c in arrived.values() if c > 1),
        lost=len(keys - arrived.keys()),
        unexpected=len(arrived.keys() - keys),
        rejected_429=seen["throttled"],
        states=states,
        rounds=rounds,
        limits=seen["limits"],
        fake="in process" if fake_in_process else "own process",
        rss_mb=rss_mb(),
        cpu_ms_per_message=cpu / len(keys) * 1000 if keys else 0.0,
        fake_cpu_ms_per_message=(seen["cpu_s"] - fake_cpu) / len(keys) * 1000
        if keys and not fake_in_process
        else 0.0,
        profile=profile_summary(profiler) if profiler else "",
    )


# ------------------------------------------------------------------ (d), (e): limits the bot is not told

LEARN_DMS, LEARN_CHANNELS = 1000, COHORTS  # 1,000 DMs and 50 channel posts
LEARNING_S = 10.0  # the first seconds are the bot's to learn the workspace's limit in
TARGET_LEARNED = 1.2  # time after the learning over the minimum for what was left then
TARGET_429 = 0.02  # 429s as a share of sends
CRASH_LIMIT, CRASH_HISTORY = (20.0, 10), (50 / 60, 5)  # the fake's workspace and Tier 3 limits
TARGET_CRASH = 1.3


async def seed_fan_out(db: Database, dms: int, channels: int) -> tuple[set[str], Counter[str]]:
    """A workspace and a fan-out's outbox rows, as planning leaves them: per cohort its channel
    post, then its learners' DMs. Returns the keys and the messages per destination."""
    from bot.messages import Destination, Message
    from bot.outbox import enqueue_many, outbox_row

    async with db.transaction() as session:
        workspace = await session.scalar(
            insert(Workspace)
            .values(platform="slack", external_id="T1", name="Bench", created_at=NOW)
            .returning(Workspace.id)
        )
    plan = [(Destination.channel(channel_id(c)), f"nudge:{c}:channel") for c in range(channels)]
    plan += [(Destination.dm(user_id(i)), f"nudge:{i % COHORTS}:{user_id(i)}") for i in range(dms)]
    plan.sort(key=lambda p: (int(p[1].split(":")[1]), p[0].kind != "channel"))
    rows = [outbox_row(workspace, dest, Message(f"2 days left ({key})"), key, NOW) for dest, key in plan]
    async with db.transaction() as session:
        await enqueue_many(session, rows)
    return {key for _, key in plan}, Counter(dest.target for dest, _ in plan)


async def unsent(db: Database) -> int:
    async with db.transaction() as s:
        return int(
            await s.scalar(select(func.count()).select_from(Outbox).where(Outbox.state.in_(UNSENT))) or 0
        )


async def until_unsent(db: Database, at_most: int, every: float = 0.05) -> None:
    """Poll the outbox until at most `at_most` messages are left to send."""
    for _ in iter(int, 1):  # forever: the bench's own timeout bounds it
        if await unsent(db) <= at_most:
            return
        await asyncio.sleep(every)


async def learned_rates(db: Database) -> dict[str, float]:
    from bot.storage import RateLimitRow

    async with db.transaction() as s:
        return dict((await s.execute(select(RateLimitRow.key, RateLimitRow.rate))).tuples().all())


def not_told(url: str, api_url: str, **more: Any) -> Settings:
    """The bot's settings as shipped: it is not told the fake's limits."""
    return settings_for(
        url,
        slack_bot_token="xoxb-test",
        slack_signing_secret="bench",
        slack_api_url=api_url,
        log_level="WARNING",
        **more,
    )


def exactly_once(seen: dict[str, Any], keys: set[str]) -> dict[str, int]:
    arrived = Counter(seen["keys"])
    return dict(
        duplicates=sum(1 for c in arrived.values() if c > 1),
        lost=len(keys - arrived.keys()),
        unexpected=len(arrived.keys() - keys),
    )


async def learn_case(
    admin_url: str | None, per_workspace: tuple[float, int], per_channel: tuple[float, int], workers: int
) -> dict[str, Any]:
    """(d) 1,000 DMs and 50 channel posts by `workers` workers (each with its own engine, as
    separate processes would have) whose settings say nothing of the fake's limits."""
    backend = "postgresql" if admin_url else "sqlite"
    n = LEARN_DMS
    async with Fresh(admin_url) as url, fake_apart(n, per_channel, per_workspace) as (api_url, report):
        runtimes = [Runtime(not_told(url, api_url), RunningClock(NOW)) for _ in range(workers)]
        for i, runtime in enumerate(runtimes):
            runtime.deliverer.worker = f"bench-worker-{i + 1}"
            await runtime.start()
        try:
            keys, per_destination = await seed_fan_out(runtimes[0].db, n, LEARN_CHANNELS)
            settle_heap()
            start = time.monotonic()
            stop = asyncio.Event()
            loops = [asyncio.create_task(rt.deliver_forever(stop, interval=0.05)) for rt in runtimes]
            await until_unsent(runtimes[0].db, 0)
            elapsed = time.monotonic() - start
            stop.set()
            await asyncio.gather(*loops)
            rates = await learned_rates(runtimes[0].db)
        finally:
            for runtime in runtimes:
                await runtime.stop()
        seen = await report()
    accepted = sorted(at for at, status in seen["posts"] if status == 200 and at >= start)
    attempts = sum(1 for at, _ in seen["posts"] if at >= start)
    minimum = minimum_seconds(len(keys), per_destination, per_channel, per_workspace)
    done_early = sum(1 for at in accepted if at <= start + LEARNING_S)
    after = max(0.0, (len(keys) - done_early) / per_workspace[0])
    return dict(
        backend=backend,
        workers=workers,
        workspace=per_workspace,
        channel=per_channel,
        messages=len(keys),
        seconds=elapsed,
        minimum_s=minimum,
        ratio=elapsed / minimum,
        sent_in_learning=done_early,
        after_s=elapsed - LEARNING_S,
        after_minimum_s=after,
        after_ratio=(elapsed - LEARNING_S) / after if after else 0.0,
        rejected_429=seen["throttled"],
        attempts=attempts,
        share_429=seen["throttled"] / attempts if attempts else 0.0,
        learned={k.rsplit(":", 1)[-1]: round(v, 2) for k, v in rates.items()},
        **exactly_once(seen, keys),
    )


async def crash_case(admin_url: str | None, kill_at: int) -> dict[str, Any]:
    """(e) `cohortbot worker` (a process) fans out 1,000 DMs, is SIGKILLed after `kill_at` have
    arrived, and a new one starts at once. Lookups made by the new one against what the dead
    one can have left ambiguous (the sends of its last second plus OUTBOX_CONCURRENCY), and
    its time to the last DM against the minimum the limits allow for what was left."""
    import signal

    backend = "postgresql" if admin_url else "sqlite"
    n, per_channel = LEARN_DMS, (1.0, 3)
    async with (
        Fresh(admin_url) as url,
        fake_apart(n, per_channel, CRASH_LIMIT, CRASH_HISTORY) as (api_url, report),
    ):
        db = Database(url)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OUTBOX_", "DATABASE_"))}
        env |= {
            "DATABASE_URL": url,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": "bench",
            "SLACK_API_URL": api_url,
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        concurrency = Settings.model_fields["outbox_concurrency"].default
        try:
            keys, _ = await seed_fan_out(db, n, 0)
            log = tempfile.NamedTemporaryFile(prefix="crash-bench-", suffix=".log", delete=False)  # noqa: SIM115

            async def worker() -> asyncio.subprocess.Process:
                return await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot", "worker", cwd=ROOT, env=env, stdout=log, stderr=log
                )

            first = await worker()
            await until_unsent(db, n - kill_at, every=0.02)
            first.send_signal(signal.SIGKILL)
            killed = time.monotonic()
            await first.wait()
            second = await worker()
            restarted = time.monotonic()
            await until_unsent(db, 0)
            second.send_signal(signal.SIGTERM)
            await second.wait()
            rates = await learned_rates(db)
        finally:
            await db.dispose()
        seen = await report()
    posts = [(at, status) for at, status in seen["posts"]]
    before = sum(1 for at, status in posts if status == 200 and at < killed)
    last_second = sum(1 for at, status in posts if status == 200 and killed - 1 <= at < killed)
    after_posts = [at for at, status in posts if status == 200 and at >= restarted]
    lookups = sum(1 for at in seen["lookups"] if at >= restarted)
    left = len(keys) - before
    rate, burst = CRASH_LIMIT
    minimum = max(max(0, left - burst) / rate, max(0, lookups - CRASH_HISTORY[1]) / CRASH_HISTORY[0])
    took = (max(after_posts) - restarted) if after_posts else 0.0
    return dict(
        backend=backend,
        killed_after=before,
        left=left,
        lookups=lookups,
        ambiguous_bound=last_second + concurrency,
        last_second=last_second,
        seconds=took,
        minimum_s=minimum,
        ratio=took / minimum if minimum else 0.0,
        rejected_429=seen["throttled"],
        learned={k.rsplit(":", 1)[-1]: round(v, 2) for k, v in rates.items()},
        log=log.name,
        **exactly_once(seen, keys),
    )


def print_learned(r: dict[str, Any]) -> None:
    clean = each_once(r)
    ok = r["after_ratio"] <= TARGET_LEARNED and r["share_429"] < TARGET_429 and clean
    print(
        f"  {r['backend']:10} workspace {r['workspace'][0]:g}/s burst {r['workspace'][1]}, channel "
        f"{r['channel'][0]:g}/s burst {r['channel'][1]}, {r['workers']} worker(s): {r['messages']:,} in "
        f"{r['seconds']:.1f} s, minimum {r['minimum_s']:.1f} s ({r['ratio']:.2f}x); after the first "
        f"{LEARNING_S:g} s ({r['sent_in_learning']} sent) {r['after_s']:.1f} s for a minimum of "
        f"{r['after_minimum_s']:.1f} s = {r['after_ratio']:.3f}x | 429s {r['rejected_429']} of "
        f"{r['attempts']} sends = {r['share_429']:.1%} | dup {r['duplicates']} lost {r['lost']} | learned "
        f"{r['learned']} {check(ok)}",
        flush=True,
    )


def print_crash(r: dict[str, Any]) -> None:
    clean = each_once(r)
    ok = r["lookups"] <= r["ambiguous_bound"] and r["ratio"] <= TARGET_CRASH and clean
    print(
        f"  {r['backend']:10} killed after {r['killed_after']} DMs ({r['last_second']} in its last "
        f"second): restart looked up {r['lookups']} (bound {r['ambiguous_bound']}), sent the {r['left']} "
        f"left in {r['seconds']:.1f} s, minimum {r['minimum_s']:.1f} s = {r['ratio']:.3f}x | 429s "
        f"{r['rejected_429']} | dup {r['duplicates']} lost {r['lost']} | learned {r['learned']} "
        f"{check(ok)}",
        flush=True,
    )


def learned_main(args: argparse.Namespace) -> None:
    backends: list[str | None] = [] if args.no_sqlite else [None]
    if args.database_url:
        backends.append(args.database_url)
    print(
        f"delivery at limits the bot is not told · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · commit "
        f"{revision()} · {os.cpu_count()} cores · {load()} · fake Slack in its own process"
    )
    if args.learn:
        print(
            f"(d) {LEARN_DMS:,} DMs + {LEARN_CHANNELS} channel posts; settings as shipped "
            f"(SLACK_WORKSPACE_RATE {Settings.model_fields['slack_workspace_rate'].default:g}); target "
            f"after {LEARNING_S:g} s <= {TARGET_LEARNED}x the minimum, 429s < {TARGET_429:.0%}, 0 dup, "
            "0 lost"
        )
        for limit in [pair(x) for x in args.learn_limits.split(",")]:
            for workers in [int(w) for w in args.workers.split(",")]:
                for backend in backends:
                    print_learned(in_child(learn_case, backend, limit, args.channel_limit, workers))
    if args.crash:
        print(
            f"(e) crash: workspace {CRASH_LIMIT[0]:g}/s burst {CRASH_LIMIT[1]}, conversations.history "
            f"{CRASH_HISTORY[0] * 60:g}/min burst {CRASH_HISTORY[1]}; SIGKILL after 400 of "
            f"{LEARN_DMS:,} DMs; target lookups <= last second + concurrency, <= {TARGET_CRASH}x the "
            "minimum, exactly once"
        )
        for backend in backends:
            print_crash(in_child(crash_case, backend, 400))


# ------------------------------------------------------------------ driver


def in_child(fn: Callable[..., Awaitable[dict[str, Any]]], *args: Any) -> dict[str, Any]:
    """Run one case in a fresh process: its ru_maxrss is its own."""
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(run_async, fn, *args).result()


def run_async(fn: Callable[..., Awaitable[dict[str, Any]]], *args: Any) -> dict[str, Any]:
    return asyncio.run(fn(*args))  # type: ignore[arg-type]


def pair(text: str) -> tuple[float, int]:
    rate, _, burst = text.partition("/")
    return float(rate), int(burst or 1)


def each_once(r: dict[str, Any]) -> bool:
    """Every message arrived, once, and nothing else did."""
    return r["duplicates"] == 0 and r["lost"] == 0 and r["unexpected"] == 0


def check(ok: bool) -> str:
    return "ok" if ok else "FAIL"


def print_plan(r: dict[str, Any]) -> None:
    n = r["learners"]
    counts_ok = r["planned"] == r["expected"] and r["dm_recipients_ok"] and r["opened"] == 0
    print(
        f"  {r['backend']:10} {n:>7,} learners: populate {r['populate_s']:6.2f} s | run_due "
        f"{r['run_due_s']:6.3f} s (CPU {r['run_due_cpu_s']:.3f} s) = {r['run_due_s'] / n * 1e6:5.0f} "
        f"µs/learner, planned {r['planned']:,} (expected {r['expected']:,}: {r['dms']:,} DMs to exactly "
        f"the learners without a submission + {r['channels']} channels) {check(counts_ok)} | again "
        f"{r['rerun_s']:.3f} s, planned {r['replanned']} {check(r['replanned'] == 0)} | plan_due_nudges "
        f"{r['plan_s']:6.3f} s ({r['plan_planned']:,}) | tracemalloc peak {r['traced_peak_mb']:.1f} MB | "
        f"maxrss {r['rss_populated_mb']:.0f} MB populated, {r['rss_mb']:.0f} MB after",
        flush=True,
    )


def print_delivery(r: dict[str, Any]) -> None:
    clean = each_once(r)
    fake_cpu = f", fake {r['fake_cpu_ms_per_message']:.2f}" if r["fake_cpu_ms_per_message"] else ""
    print(
        f"  {r['backend']:10} {r['messages']:,} messages in {r['seconds']:.2f} s ({r['rate']:.0f}/s), "
        f"minimum {r['minimum_s']:.2f} s, ratio {r['ratio']:.3f} {check(r['ratio'] <= TARGET_RATIO)} | "
        f"duplicates {r['duplicates']} lost {r['lost']} unexpected {r['unexpected']} {check(clean)} | "
        f"429s {r['rejected_429']} | outbox {r['states']} | CPU ms/message: bot "
        f"{r['cpu_ms_per_message']:.2f}{fake_cpu} | {r['rounds']} round(s), limits: {r['limits']}, "
        f"fake {r['fake']} | maxrss {r['rss_mb']:.0f} MB",
        flush=True,
    )


def load() -> str:
    return "load average " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument(
        "--sizes", default="10000", help="learner counts for planning, e.g. 1000,10000,100000"
    )
    parser.add_argument("--deliver-size", type=int, default=10_000, help="learners for delivery; 0 skips it")
    parser.add_argument("--database-url", help="PostgreSQL admin URL: also run on a fresh database there")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument(
        "--workspace-limit",
        type=pair,
        default=(500.0, 20),
        metavar="RATE/BURST",
        help="chat.postMessage per workspace, fake and settings alike (500/20)",
    )
    parser.add_argument(
        "--channel-limit",
        type=pair,
        default=(1.0, 3),
        metavar="RATE/BURST",
        help="chat.postMessage per channel or DM (1/3)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=Settings.model_fields["outbox_concurrency"].default,
        help="OUTBOX_CONCURRENCY for delivery",
    )
    parser.add_argument(
        "--profile", action="store_true", help="cProfile planning and delivery, print hot spots"
    )
    parser.add_argument(
        "--fake-in-process",
        action="store_true",
        help="run the fake Slack on the benchmark's event loop (default: own process)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument(
        "--learn",
        action="store_true",
        help="(d) delivery against limits the bot is not told, one and two workers",
    )
    parser.add_argument(
        "--learn-limits",
        default="5/5,10/10,50/20",
        metavar="R/B,…",
        help="workspace limits of the fake for --learn (5/5,10/10,50/20)",
    )
    parser.add_argument("--workers", default="1,2", help="worker counts for --learn (1,2)")
    parser.add_argument(
        "--crash",
        action="store_true",
        help="(e) SIGKILL a `cohortbot worker` mid fan-out of 1,000 DMs, restart it",
    )
    parser.add_argument("--history-limit", type=pair, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--serve-fake", type=int, metavar="N", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake is not None:
        asyncio.run(serve_fake(args.serve_fake, args.channel_limit, args.workspace_limit, args.history_limit))
        return
    if args.learn or args.crash:
        learned_main(args)
        return
    sizes = [int(s) for s in args.sizes.split(",") if s]
    backends: list[str | None] = [] if args.no_sqlite else [None]
    if args.database_url:
        backends.append(args.database_url)

    print(
        f"nudge fan-out · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · commit {revision()} · "
        f"{os.cpu_count()} cores · "
        f"Python {platform.python_version()} · SQLAlchemy {sqlalchemy.__version__} · {COHORTS} cohorts, "
        f"{SUBMITTED_PER_10 * 10}% submitted, now = {NOW.astimezone(ZoneInfo(TZ)):%a %Y-%m-%d %H:%M %Z} · "
        f"{load()} (wall-clock figures assume an otherwise idle machine)"
    )
    print("(a, c) planning, each in a fresh process")
    plans = []
    for backend in backends:
        for n in sizes:
            result = in_child(plan_case, backend, n, args.profile)
            print_plan(result)
            if result["profile"]:
                print(result["profile"])
            plans.append(result)
    deliveries = []
    if args.deliver_size:
        print(
            f"(b) delivery of {args.deliver_size:,} learners' nudges: per workspace "
            f"{args.workspace_limit[0]:g}/s burst {args.workspace_limit[1]}, per channel "
            f"{args.channel_limit[0]:g}/s burst {args.channel_limit[1]}, concurrency {args.concurrency}, "
            f"fake Slack {'in this process' if args.fake_in_process else 'in its own process'}"
        )
        for backend in backends:
            result = in_child(
                deliver_case,
                backend,
                args.deliver_size,
                args.channel_limit,
                args.workspace_limit,
                args.concurrency,
                args.fake_in_process,
                args.profile,
            )
            print_delivery(result)
            if result["profile"]:
                print(result["profile"])
            deliveries.append(result)

    print()
    print(
        f"summary · {datetime.now(UTC):%Y-%m-%d} · {os.cpu_count()} cores · Python "
        f"{platform.python_version()} · {load()}"
    )
    print(
        f"{'database':10} {'learners':>9} {'planned':>8} {'run_due s':>9} {'CPU s':>6} {'µs/lrn':>7} "
        f"{'plan s':>7} {'rerun':>6} {'trace MB':>8} {'rss MB':>7}"
    )
    for r in plans:
        print(
            f"{r['backend']:10} {r['learners']:>9,} {r['planned']:>8,} {r['run_due_s']:>9.3f} "
            f"{r['run_due_cpu_s']:>6.2f} {r['run_due_s'] / r['learners'] * 1e6:>7.0f} {r['plan_s']:>7.3f} "
            f"{r['replanned']:>6} {r['traced_peak_mb']:>8.1f} {r['rss_mb']:>7.0f}"
        )
    for r in deliveries:
        print(
            f"{r['backend']:10} delivery {r['messages']:,} msgs {r['seconds']:.2f} s / minimum "
            f"{r['minimum_s']:.2f} s = {r['ratio']:.3f}  dup {r['duplicates']} lost {r['lost']} "
            f"429s {r['rejected_429']}  bot CPU {r['cpu_ms_per_message']:.2f} ms/msg  "
            f"rss {r['rss_mb']:.0f} MB"
        )
    at_10k = [r for r in plans if r["learners"] == 10_000]
    if at_10k:
        print(
            "target run_due(10,000) < 2 s: "
            + ", ".join(
                f"{r['backend']} {r['run_due_s']:.2f} s {check(r['run_due_s'] < TARGET_PLAN_S)}"
                for r in at_10k
            )
        )
    if deliveries:
        print(
            f"target delivery <= {TARGET_RATIO}x minimum, no duplicates, none lost: "
            + ", ".join(
                f"{r['backend']} {r['ratio']:.2f}x "
                f"{check(r['ratio'] <= TARGET_RATIO and r['duplicates'] == 0 and r['lost'] == 0)}"
                for r in deliveries
            )
        )
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                dict(
                    date=datetime.now(UTC).isoformat(),
                    cpus=os.cpu_count(),
                    python=platform.python_version(),
                    commit=revision(),
                    load=os.getloadavg(),
                    plans=plans,
                    deliveries=deliveries,
                ),
                indent=2,
                default=str,
            )
        )


if __name__ == "__main__":
    main()
