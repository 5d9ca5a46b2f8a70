"""Several processes on one PostgreSQL database: two workers claiming from one outbox, two
clocks planning the same nudges. Each engine here stands for a separate process."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from delivery_kit import copies, deliver_until_settled, seed, slack_settings, slack_workspace, stored_keys
from fakes.slack_server import FakeSlack
from sqlalchemy import func, select

from bot.clock import FakeClock
from bot.config import Settings
from bot.messages import Destination
from bot.platforms.console import ConsoleChat
from bot.runtime import Runtime
from bot.scheduler import run_due
from bot.storage import NudgeLedger, Outbox
from bot.storage.db import Database

CHANNELS = {f"C{n:02}": f"room-{n}" for n in range(1, 21)}
USERS = {f"U{n:03}": {"name": f"learner{n}"} for n in range(1, 401)}


@pytest.fixture
def pg_url(db_url: str) -> str:
    if not db_url.startswith("postgresql"):
        pytest.skip("several workers on one database is a PostgreSQL deployment (FOR UPDATE SKIP LOCKED)")
    return db_url


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(users=USERS, channels=CHANNELS) as slack:
        yield slack


async def test_two_workers_deliver_each_message_once_and_share_the_work(
    pg_url: str, fake: FakeSlack, settings: Settings, db: Database
) -> None:
    fast = slack_settings(
        settings,
        fake,
        slack_channel_rate=1000.0,
        slack_channel_burst=20,
        slack_workspace_rate=2000.0,
        slack_workspace_burst=100,
    )
    workers = [Runtime(fast), Runtime(fast)]  # two engines, two connection pools
    for name, rt in zip(("one", "two"), workers, strict=True):
        rt.deliverer.worker = name
    fake.delay("chat.postMessage", 0.005)
    try:
        ws = await slack_workspace(workers[0].db)
        plan = [(Destination.dm(u), f"nudge:1:{u}:2d") for u in USERS]
        plan += [(Destination.channel(c), f"announce:{c}:{i:02}") for i in range(10) for c in CHANNELS]
        keys = await seed(workers[0].db, ws, plan)
        await asyncio.wait_for(
            asyncio.gather(
                *(deliver_until_settled(rt.deliverer, rt.db, within=40, limit=50) for rt in workers)
            ),
            45,
        )
    finally:
        for rt in workers:
            await rt.stop()
    where = [*CHANNELS, *("D" + u for u in USERS)]
    assert len(keys) >= 500
    assert copies(fake, where) == dict.fromkeys(keys, 1)
    async with db.transaction() as session:
        by_worker = dict(
            (await session.execute(select(Outbox.claimed_by, func.count()).group_by(Outbox.claimed_by))).all()
        )
    assert set(by_worker) == {"one", "two"} and min(by_worker.values()) >= 50, by_worker


async def test_two_workers_keep_each_channels_messages_in_order(
    pg_url: str, fake: FakeSlack, settings: Settings, db: Database
) -> None:
    fast = slack_settings(
        settings,
        fake,
        slack_channel_rate=1000.0,
        slack_channel_burst=20,
        slack_workspace_rate=2000.0,
        slack_workspace_burst=100,
    )
    workers = [Runtime(fast), Runtime(fast)]
    for name, rt in zip(("one", "two"), workers, strict=True):
        rt.deliverer.worker = name
    fake.delay("chat.postMessage", 0.005)
    try:
        ws = await slack_workspace(workers[0].db)
        plan = [(Destination.channel(c), f"announce:{c}:{i:02}") for i in range(12) for c in CHANNELS]
        await seed(workers[0].db, ws, plan)
        await asyncio.wait_for(
            asyncio.gather(
                *(deliver_until_settled(rt.deliverer, rt.db, within=20, limit=40) for rt in workers)
            ),
            25,
        )
    finally:
        for rt in workers:
            await rt.stop()
    assert stored_keys(fake, CHANNELS) == {c: [f"announce:{c}:{i:02}" for i in range(12)] for c in CHANNELS}


LEARNERS = [f"l{n:03}" for n in range(1, 201)]


async def test_two_clocks_plan_each_nudge_once(pg_url: str, settings: Settings, db: Database) -> None:
    """Four cohorts' windows close together (more than a clock plans at once), and two clocks
    plan at the same moment: every learner gets one nudge a window, every channel one post."""
    clock = FakeClock(datetime(2026, 3, 2, 15, 0, tzinfo=UTC))
    chat = ConsoleChat(db, settings, clock=clock, out=None)
    cohorts = {f"big{c}": LEARNERS[c::4] for c in range(4)}
    await chat.run(
        ":admin @coord\n"
        + "".join(
            f"@coord /cohort create {name} #{name} tz UTC\n"
            + "".join(
                f"@coord /cohort add {name} {' '.join('@' + u for u in members[i : i + 50])}\n"
                for i in range(0, len(members), 50)
            )
            + f"@coord /window open {name} creators closes 2026-03-12T17:00 UTC\n"
            for name, members in cohorts.items()
        )
    )
    assert chat.crashes == 0 and chat.errors == 0, chat.transcript
    due = datetime(2026, 3, 5, 17, 1, tzinfo=UTC)  # just after "7 days left"
    clocks = [Database(pg_url), Database(pg_url)]
    try:
        reports = await asyncio.wait_for(asyncio.gather(*(run_due(c, settings, due) for c in clocks)), 30)
    finally:
        for c in clocks:
            await c.dispose()
    assert sum(r.nudges for r in reports) == len(LEARNERS) + len(cohorts)
    async with db.transaction() as session:
        ledger = Counter(
            (
                await session.execute(
                    select(NudgeLedger.window_id, NudgeLedger.target, NudgeLedger.nudge_key)
                )
            ).all()
        )
        queued = Counter(
            (
                await session.execute(
                    select(Outbox.dest_kind, Outbox.dest_id).where(Outbox.key.like("nudge:%"))
                )
            ).all()
        )
    assert len(ledger) == len(LEARNERS) + len(cohorts) and set(ledger.values()) == {1}
    assert queued == Counter({("channel", name): 1 for name in cohorts} | {("dm", u): 1 for u in LEARNERS})
