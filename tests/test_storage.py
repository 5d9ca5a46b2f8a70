"""The database under real use: migrations from empty, concurrent bursts, races."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, inspect, select

from bot.adapters.console import ConsoleChat
from bot.service import Origin
from bot.storage import Base, Outbox, Review, Submission
from bot.storage.db import Database


async def test_migration_builds_every_table_the_models_use(db: Database) -> None:
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    assert "alembic_version" in tables


async def test_upgrade_twice_changes_nothing(db: Database) -> None:
    await db.upgrade()
    await db.upgrade()
    async with db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Submission)) == 0


async def test_burst_of_fifty_concurrent_submissions_all_succeed(chat: ConsoleChat,
                                                                 db: Database) -> None:
    learners = " ".join(f"@l{i}" for i in range(50))
    await chat.run(f"""
        :admin @coord
        @coord /cohort create big #big reviews #big-review
        @coord /cohort add big {learners}
        @coord /window open big creators closes 2026-04-01
    """)
    assert chat.errors == 0
    replies = await asyncio.gather(*(
        chat.bot.handle(Origin("console", "console", f"l{i}"),
                        f"/submit https://example.org/work/{i} -- reflection {i}", chat.directory)
        for i in range(50)))
    assert [r.ok for r in replies] == [True] * 50, [r.message.text for r in replies if not r.ok]
    async with db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Submission)) == 50
        assert await session.scalar(select(func.count()).select_from(Review)) == 50
        assert await session.scalar(select(func.count()).select_from(Outbox).where(
            Outbox.key.like("review:%:task"))) == 50


async def test_the_same_submission_sent_twice_at_once_is_stored_once(spring: ConsoleChat,
                                                                    db: Database) -> None:
    """A double click (or a platform retry) racing the first request."""
    replies = await asyncio.gather(*(
        spring.bot.handle(Origin("console", "console", "alice"),
                          "/submit https://example.org/a -- mine", spring.directory)
        for _ in range(2)))
    assert not any(r.crashed for r in replies)
    texts = [r.message.text for r in replies]
    assert any("Received S-1 (version 1)" in t for t in texts)
    async with db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Submission)) == 1
        assert await session.scalar(select(func.count()).select_from(Review)) == 1


async def test_two_assessors_racing_for_one_review_get_one_claim(spring: ConsoleChat,
                                                                db: Database) -> None:
    await spring.run("@alice /submit https://example.org/a")
    replies = await asyncio.gather(*(
        spring.bot.handle(Origin("console", "console", who), "/review claim R-1", spring.directory)
        for who in ("dana", "erin")))
    assert sorted(r.ok for r in replies) == [False, True]
    loser = next(r for r in replies if not r.ok)
    assert "claimed" in loser.message.text
    async with db.transaction() as session:
        review = await session.get_one(Review, 1)
        assert review.state == "claimed"
