"""Shared fixtures: a real database (SQLite always, PostgreSQL when TEST_DATABASE_URL
is set) and the console chat as the conversation harness."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bot.catalogue import BUNDLED, load_catalogue
from bot.clock import FakeClock
from bot.config import Settings
from bot.platforms.console import ConsoleChat
from bot.storage import Base
from bot.storage.db import Database

PG_URL = os.environ.get("TEST_DATABASE_URL", "")
# `site`: a programme through to a served badge; `app`: our Slack app on the wire;
# `conversation`: one script over the console and over Slack (tests/harness.py);
# `fake_discord`: a local Discord an unmodified discord.py client talks to (tests/fakes/discord)
pytest_plugins = ["badge_site", "slack_app", "fakes.discord.fixtures", "harness"]


def pytest_report_header(config: pytest.Config) -> str:
    return f"databases: sqlite + {'postgresql (' + PG_URL + ')' if PG_URL else 'no postgresql'}"


PG_SKIPPED = "PostgreSQL tests need TEST_DATABASE_URL"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Every test skipped for want of PostgreSQL is reported from one place, so the summary
    folds them into one line ("SKIPPED [120] tests/conftest.py: …") instead of one per test."""
    report = yield
    if report.skipped and isinstance(report.longrepr, tuple) and PG_SKIPPED in report.longrepr[2]:
        report.longrepr = (__file__, None, report.longrepr[2])
    return report


async def _migrate(url: str) -> None:
    db = Database(url)
    try:
        await db.upgrade()
    finally:
        await db.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for each test (a migration per test is slow)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def pg_ready() -> Iterator[str]:
    """A private database for this pytest process (each xdist worker has its own), so
    parallel workers and runs never collide."""
    if not PG_URL:
        pytest.skip(f"{PG_SKIPPED} (see README); skipped")
    name = f"cohortbot_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    async def admin(sql: str) -> None:
        engine = create_async_engine(PG_URL, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.execute(text(sql))
        finally:
            await engine.dispose()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except OSError as exc:
        pytest.skip(f"PostgreSQL at TEST_DATABASE_URL is not reachable ({exc}); skipped")
    asyncio.run(_migrate(url))
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url = request.getfixturevalue("pg_ready")

    async def truncate() -> None:
        db = Database(url)
        try:
            async with db.engine.begin() as conn:
                names = ", ".join(t.name for t in Base.metadata.sorted_tables)
                await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        finally:
            await db.dispose()

    asyncio.run(truncate())
    yield url


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(
        _env_file=None,
        database_url=db_url,
        link_check=False,  # type: ignore[call-arg]
        public_base_url="https://badges.example.org",
        default_timezone="UTC",
    )


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = Database(settings.database_url)
    async with database.transaction() as session:
        await load_catalogue(session, BUNDLED, datetime(2026, 1, 1, tzinfo=UTC))
    yield database
    await database.dispose()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime(2026, 3, 2, 15, 0, tzinfo=UTC))


@pytest.fixture
async def chat(db: Database, settings: Settings, clock: FakeClock) -> ConsoleChat:
    return ConsoleChat(db, settings, clock=clock, out=None)


SPRING = """
    :admin @coord
    :user @alice tz=America/Chicago
    :user @bob tz=America/Chicago
    :user @carol tz=America/Chicago
    @coord /cohort create spring #frl reviews #assessors tz America/Chicago
    @coord /cohort add spring @alice @bob @carol
    @coord /cohort add spring @dana @erin as assessor
    @coord /window open spring creators closes 2026-03-20T17:00 America/Chicago
"""


@pytest.fixture
async def spring(chat: ConsoleChat) -> ConsoleChat:
    """A cohort with three learners, two assessors and an open window."""
    await chat.run(SPRING)
    assert chat.crashes == 0 and chat.errors == 0, chat.transcript
    return chat
