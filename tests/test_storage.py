"""The database under real use: migrations from empty, concurrent bursts, races."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from serving import serving
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy import Connection, func, inspect, select, text

from bot.config import Settings
from bot.platforms.console import ConsoleChat
from bot.runtime import Runtime
from bot.service import Origin
from bot.storage import Base, Member, Outbox, Review, Submission, Workspace
from bot.storage.db import Database, newest_migration, run_migrations

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


async def test_migration_builds_every_table_the_models_use(db: Database) -> None:
    async with db.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    assert "alembic_version" in tables


async def test_migrations_build_exactly_the_schema_the_models_describe(db: Database) -> None:
    """A model change without its migration (a column, an index) would reach production
    only half-made: alembic finds no difference between the two here. (Tables that bolt's
    OAuth stores make for themselves, in multi-workspace mode, are theirs, not ours.)"""
    theirs = {
        *AsyncSQLAlchemyInstallationStore("id", db.engine).metadata.tables,
        *AsyncSQLAlchemyOAuthStateStore(expiration_seconds=600, engine=db.engine).metadata.tables,
    }

    def ours(name: str | None, kind: str, parents: object) -> bool:
        return not (kind == "table" and name in theirs)

    def differences(conn: Connection) -> list[object]:
        return compare_metadata(MigrationContext.configure(conn, opts={"include_name": ours}), Base.metadata)

    async with db.engine.connect() as conn:
        assert await conn.run_sync(differences) == []


async def test_upgrade_twice_changes_nothing(db: Database) -> None:
    await db.upgrade()
    await db.upgrade()
    async with db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Submission)) == 0


async def test_a_database_one_migration_behind_is_brought_to_the_newest_on_start(db: Database) -> None:
    """Starting skips alembic when the schema is at the head; one migration behind, it must not."""
    async with db.engine.begin() as conn:
        await conn.run_sync(run_migrations, "downgrade", "-1")
    await db.upgrade()
    async with db.engine.connect() as conn:
        at = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
    assert at == newest_migration()


async def test_members_keep_their_zones_through_the_upgrade_and_discords_fallback_becomes_unknown(
    spring: ConsoleChat, db: Database
) -> None:
    """A database from before chosen zones (0011), with a programme in it and a Discord member
    stored with DEFAULT_TIMEZONE (Discord tells none): after the upgrade the console's people keep
    their profiles' zones, and the Discord member's zone is unknown, so their cohort's applies."""
    async with db.transaction() as session:
        guild = Workspace(platform="discord", external_id="1", name="school", created_at=NOW)
        session.add(guild)
        await session.flush()
        session.add(Member(workspace_id=guild.id, user_id="2", display_name="ann", tz=None, created_at=NOW))
    async with db.engine.begin() as conn:
        await conn.run_sync(run_migrations, "downgrade", "0011")
    async with db.engine.connect() as conn:  # 0011 knew no unknown zone: the fallback stood in
        zones = {user: tz for user, tz in await conn.execute(text("SELECT user_id, tz FROM members"))}
    assert zones["2"] == "UTC" and zones["alice"] == "America/Chicago"
    await db.upgrade()
    async with db.transaction() as session:
        members = {m.user_id: m for m in await session.scalars(select(Member))}
    assert members["2"].tz is None
    assert (members["alice"].tz, members["alice"].tz_chosen) == ("America/Chicago", False)
    await spring.run("@alice /submit https://example.org/a -- after the upgrade")
    assert spring.saw("only @alice", "Fri 20 Mar 2026, 17:00 CDT")


async def test_burst_of_fifty_concurrent_submissions_all_succeed(chat: ConsoleChat, db: Database) -> None:
    learners = " ".join(f"@l{i}" for i in range(50))
    await chat.run(f"""
        :admin @coord
        @coord /cohort create big #big reviews #big-review
        @coord /cohort add big {learners}
        @coord /window open big creators closes 2026-04-01
    """)
    assert chat.errors == 0
    replies = await asyncio.gather(
        *(
            chat.bot.handle(
                Origin("console", "console", f"l{i}"),
                f"/submit https://example.org/work/{i} -- reflection {i}",
                chat.directory,
            )
            for i in range(50)
        )
    )
    assert [r.ok for r in replies] == [True] * 50, [r.message.text for r in replies if not r.ok]
    async with db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Submission)) == 50
        assert await session.scalar(select(func.count()).select_from(Review)) == 50
        assert (
            await session.scalar(
                select(func.count()).select_from(Outbox).where(Outbox.key.like("review:%:task"))
            )
            == 50
        )


async def test_the_same_submission_sent_twice_at_once_is_stored_once(
    spring: ConsoleChat, db: Database
) -> None:
    """A double click (or a platform retry) racing the first request."""
    replies = await asyncio.gather(
        *(
            spring.bot.handle(
                Origin("console", "console", "alice"),
                "/submit https://example.org/a -- mine",
                spring.directory,
            )
            for _ in range(2)
        )
    )
    assert not any(r.crashed for r in replies)
    texts = [r.message.text for r in replies]
    assert any("Received S-1 (version 1)" in t for t in texts)
    async with db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Submission)) == 1
        assert await session.scalar(select(func.count()).select_from(Review)) == 1


async def test_two_assessors_racing_for_one_review_get_one_claim(spring: ConsoleChat, db: Database) -> None:
    await spring.run("@alice /submit https://example.org/a")
    replies = await asyncio.gather(
        *(
            spring.bot.handle(Origin("console", "console", who), "/review claim R-1", spring.directory)
            for who in ("dana", "erin")
        )
    )
    assert sorted(r.ok for r in replies) == [False, True]
    loser = next(r for r in replies if not r.ok)
    assert "claimed" in loser.message.text
    async with db.transaction() as session:
        review = await session.get_one(Review, 1)
        assert review.state == "claimed"


async def test_sqlite_writer_in_another_process_never_freezes_the_bot(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """SQLite statements run on the event loop's thread; waiting for a write lock that
    another process holds must still leave the loop free to answer everyone else."""
    path = tmp_path / "locked.db"
    shutil.copy(sqlite_template, path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    other = sqlite3.connect(path, isolation_level=None)  # stands in for another process
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def write() -> float:
        async with db.transaction() as session:
            await session.execute(select(func.count()).select_from(Outbox))
        return time.monotonic()

    beating = asyncio.create_task(heartbeat())
    try:
        writing = asyncio.create_task(write())
        await asyncio.sleep(0.5)
        assert not writing.done()  # it waits for the lock …
        assert ticks >= 25  # … while the loop keeps running (0.5 s / 10 ms = 50 at best)
        other.execute("COMMIT")
        released = time.monotonic()
        done = await asyncio.wait_for(writing, 5)
        assert done - released < 0.2  # and it goes as soon as the lock is free
    finally:
        beating.cancel()
        other.close()
        await db.dispose()


async def test_a_transaction_opened_inside_another_fails_at_once_on_sqlite(db: Database) -> None:
    if not db.is_sqlite:
        pytest.skip("PostgreSQL runs nested transactions side by side; SQLite's one writer cannot")
    async with db.transaction():
        with pytest.raises(RuntimeError, match="inside a transaction"):
            async with db.transaction():
                pass


async def test_an_acks_write_on_sqlite_goes_before_background_writes_already_waiting(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'turns.db'}")
    order: list[str] = []

    async def write(name: str, urgent: bool = False, hold: asyncio.Event | None = None) -> None:
        async with db.transaction(urgent=urgent):
            order.append(name)
            if hold is not None:
                await hold.wait()

    try:
        release = asyncio.Event()
        running = asyncio.create_task(write("running", hold=release))
        await asyncio.sleep(0.01)
        queued = [asyncio.create_task(write(f"background {n}")) for n in range(3)]
        gone = asyncio.create_task(write("cancelled while waiting", urgent=True))
        await asyncio.sleep(0.01)
        ack = asyncio.create_task(write("ack", urgent=True))
        await asyncio.sleep(0.01)
        gone.cancel()
        release.set()
        await asyncio.wait_for(asyncio.gather(running, *queued, ack), 5)
        assert order == ["running", "ack", "background 0", "background 1", "background 2"]
        async with db.transaction():  # nobody holds the turn any more
            pass
    finally:
        await db.dispose()


async def drop_every_connection(db: Database) -> None:
    """What a PostgreSQL restart does to the connections pooled in `db`."""
    other = Database(db.url)
    try:
        async with other.engine.connect() as conn:
            await conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
    finally:
        await other.dispose()


async def test_an_ack_write_survives_postgresql_dropping_its_connections(db: Database) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite has no server to drop connections")
    from bot.storage import Inbound

    async def take(key: str) -> bool:
        return await db.insert_once_alone(Inbound, {"key": key, "at": datetime.now(UTC)}, ["key"])

    assert await take("before")
    await drop_every_connection(db)
    assert await take("after")
    assert not await take("after")  # still taken once


async def test_a_command_survives_postgresql_dropping_its_connections(
    spring: ConsoleChat, db: Database
) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite has no server to drop connections")
    await spring.run("@alice /submit status")  # the pool holds connections now
    await drop_every_connection(db)
    await spring.run("@alice /submit https://example.org/unit -- Students built a museum")
    assert spring.saw("only @alice", "Received S-1"), spring.transcript
    assert spring.crashes == 0


async def test_health_stays_ok_after_postgresql_dropped_its_connections(
    settings: Settings, db: Database
) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite has no server to drop connections")
    runtime = Runtime(settings)
    async with serving(runtime) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/healthz")).status_code == 200
        await drop_every_connection(runtime.db)
        assert (await client.get("/healthz")).json() == {"ok": True, "database": "ok"}
