"""The async engine, transactions, and schema migrations.

SQLite is tuned for a single busy process (WAL, a busy timeout, and write
transactions that take the lock up front so concurrent writers queue instead
of failing with "database is locked"). PostgreSQL needs nothing special.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_async_engine(url, **kwargs)
    database = parsed.database or ""
    if database and database != ":memory:":
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves, below
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


class Database:
    """One engine and its sessions; `transaction()` is the unit of work."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session, session.begin():
            yield session

    async def upgrade(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(run_migrations, "upgrade")

    async def dispose(self) -> None:
        await self.engine.dispose()


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def run_migrations(connection: Connection, direction: str = "upgrade",
                   revision: str | None = None) -> None:
    cfg = alembic_config(connection)
    if direction == "upgrade":
        command.upgrade(cfg, revision or "head")
    else:
        command.downgrade(cfg, revision or "base")


async def insert_once(session: AsyncSession, model: type[DeclarativeBase], values: dict[str, Any],
                      unique: list[str]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when this call added the row.

    The database's unique index, not a prior SELECT, decides, so two processes
    racing for the same row can never both win.
    """
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    result = await session.execute(
        insert(model).values(**values).on_conflict_do_nothing(index_elements=unique))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def insert_many_once(session: AsyncSession, model: type[DeclarativeBase],
                           rows: list[dict[str, Any]], unique: list[str],
                           returning: Any) -> list[Any]:
    """Bulk INSERT … ON CONFLICT DO NOTHING RETURNING `returning`: what this call added.

    One statement run with executemany: SQLAlchemy compiles it once (cached) and sends
    the rows as multi-row VALUES pages ("insertmanyvalues", within the bound-parameter
    limits of SQLite and asyncpg), collecting RETURNING from each page. Building
    `.values(rows)` instead costs a fresh compile of every value on each call.
    """
    if not rows:
        return []
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(model).on_conflict_do_nothing(index_elements=unique).returning(returning)
    result = await (await session.connection()).execute(stmt, rows)
    return list(result.scalars())
