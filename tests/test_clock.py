"""The `clock` process: reminder jobs that follow their rows, and one leader at a time."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from bot import scheduler
from bot.clock import FakeClock
from bot.config import Settings
from bot.leader import Leadership
from bot.platforms.console import ConsoleChat
from bot.runtime import Runtime
from bot.service import Intake, Origin
from bot.storage import Inbound, Outbox
from bot.storage.db import Database


async def reminder_posts(db: Database) -> int:
    async with db.transaction() as session:
        return (
            await session.scalar(
                select(func.count()).select_from(Outbox).where(Outbox.key.like("reminder:%"))
            )
            or 0
        )


async def wait_for(check, seconds: float = 8.0) -> bool:  # type: ignore[no-untyped-def]
    for _ in range(int(seconds * 20)):
        if await check():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_reminder_fires_on_time_and_a_cancelled_one_never(db: Database, settings: Settings) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    chat = ConsoleChat(db, settings, clock=FakeClock(now), out=None)
    soon = (now + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await chat.run(f"""
        :admin @coord
        @coord /cohort create spring #frl
        @coord /cohort remind spring {soon} Office hours start now
        @coord /cohort remind spring {soon} This one is cancelled
        @coord /cohort unremind M-2
    """)
    assert chat.errors == 0, chat.transcript
    runtime = Runtime(settings)
    scheduler, reminders = runtime.scheduler()
    scheduler.remove_job("run_due")  # only the reminder's own job may send it here
    await reminders.sync()
    assert {j.id for j in scheduler.get_jobs()} == {"sync_reminders", "reminder:1"}
    scheduler.start()
    try:
        assert await wait_for(lambda: reminder_posts(db))
        fired_at = datetime.now(UTC)
        assert fired_at - now < timedelta(seconds=8)
        await asyncio.sleep(0.5)
        assert await reminder_posts(db) == 1
    finally:
        scheduler.shutdown(wait=False)
        await runtime.stop()


async def test_a_reminder_set_while_running_is_picked_up_without_a_restart(
    db: Database, settings: Settings
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    chat = ConsoleChat(db, settings, clock=FakeClock(now), out=None)
    await chat.run(":admin @coord\n@coord /cohort create spring #frl")
    runtime = Runtime(settings)
    scheduler, reminders = runtime.scheduler()
    await reminders.sync()
    assert not [j for j in scheduler.get_jobs() if j.id.startswith("reminder:")]
    await chat.run('@coord /cohort remind spring "0 9 * * mon" Weekly check-in')
    await reminders.sync()
    job = scheduler.get_job("reminder:1")
    assert job is not None and "cron" in str(job.trigger)
    await chat.run("@coord /cohort unremind M-1")
    await reminders.sync()
    assert scheduler.get_job("reminder:1") is None
    await runtime.stop()


async def test_only_one_clock_leads_and_a_second_takes_over(db_url: str, db: Database) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("leadership is a PostgreSQL advisory lock; SQLite runs a single process")
    first, second = Database(db_url), Database(db_url)
    a, b = Leadership(first, retry=0.2), Leadership(second, retry=0.2)
    stop = asyncio.Event()
    try:
        assert await a.acquire(stop)
        waiting = asyncio.create_task(b.acquire(stop))
        await asyncio.sleep(0.6)
        assert not waiting.done()  # the second clock waits while the first leads
        assert a.conn is not None
        await a.conn.invalidate()  # the leader dies: its session, and so its lock, ends
        assert not await a.still_leading()
        assert await asyncio.wait_for(waiting, 5)
        assert await b.still_leading()
    finally:
        stop.set()
        await b.release()
        await first.dispose()
        await second.dispose()


async def test_requests_older_than_a_week_are_forgotten_but_never_one_still_waiting_to_run(
    db: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)
    waiting = Intake(
        "old-but-waiting",
        Origin("slack", "T1", "U1", "C1"),
        "/submit https://example.org/a",
        "https://hooks.example/1",
    ).to_dict()
    async with db.transaction() as session:
        session.add_all([Inbound(key=f"old-{i}", at=now - timedelta(days=8)) for i in range(7)])
        session.add(Inbound(key="old-but-waiting", at=now - timedelta(days=8), pending=waiting))
        session.add_all([Inbound(key=f"recent-{i}", at=now - timedelta(days=6)) for i in range(2)])
    monkeypatch.setattr(scheduler, "FORGET_BATCH", 3)  # several batches, as a busy week would need

    report = await scheduler.run_due(db, settings, now)

    assert report.forgotten == 7
    async with db.transaction() as session:
        kept = set(await session.scalars(select(Inbound.key)))
    assert kept == {"old-but-waiting", "recent-0", "recent-1"}  # a retry of these is still known
    assert (await scheduler.run_due(db, settings, now)).forgotten == 0
