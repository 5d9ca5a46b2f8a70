"""The async engine, transactions, and schema migrations.

SQLite is tuned for a single busy process: WAL; write transactions that take
the lock up front (BEGIN IMMEDIATE), so writers queue instead of failing with
"database is locked"; and statements run on the event loop's own thread (see
`InlineConnection`), while waiting for the lock never blocks the loop.
PostgreSQL needs nothing special.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import lru_cache, partial
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Executable, Table, event, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.util import await_

T = TypeVar("T")
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
LOCK_WAIT = 30.0  # seconds a transaction waits for SQLite's write lock before giving up
SPIN = 0.002  # SQLite's own busy wait per try, which does block the loop; kept tiny
# PostgreSQL connections (and as many more at a peak) kept for acknowledgements' one-statement
# writes, and as many again for the commands a person waits for (see `Database`)
ACK_POOL = 3


class _RunNow:
    """Stands in for aiosqlite's queue to its worker thread: runs each call at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as exc:  # handed to the waiting caller, as the worker thread does
            if future is not None:
                future.set_exception(exc)
            return
        if future is not None:
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """aiosqlite's interface with every call run on the event loop's own thread.

    A SQLite statement takes tens of microseconds; handing each one to
    aiosqlite's worker thread and back costs ten times that (SQLAlchemy's adapter
    makes four hand-offs a statement), which made a `/submit` ack mostly waiting.
    Running inline is safe because nothing here ever waits on the loop's thread
    for the write lock: `Database.transaction` queues for it with an asyncio lock,
    and `begin_immediate` polls for it asynchronously when another process holds it.
    """

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunNow()  # type: ignore[assignment]

    def __await__(self) -> Any:  # no worker thread to start
        return self._connect().__await__()

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


def connect_inline(database: str) -> InlineConnection:
    return InlineConnection(
        partial(sqlite3.connect, database, timeout=SPIN, isolation_level=None, check_same_thread=False)
    )


def begin_immediate(conn: Connection) -> None:
    """BEGIN IMMEDIATE, waiting for another writer asynchronously (from SQLAlchemy's
    greenlet), so the event loop keeps serving while the lock is held elsewhere."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    deadline = time.monotonic() + LOCK_WAIT
    delay = 0.001
    try:
        while True:
            try:
                cursor.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
            await_(asyncio.sleep(delay))
            delay = min(delay * 2, 0.05)
    finally:
        cursor.close()


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # No ping before each use: it cost ~1 ms of CPU a transaction (a tenth of a submission's).
        # After a PostgreSQL restart the first statement on an old connection fails instead;
        # SQLAlchemy then drops every pooled connection, and commands run again (service).
        kwargs.setdefault("pool_pre_ping", False)
        return create_async_engine(url, **kwargs)
    database = parsed.database or ""
    if database and database != ":memory:":
        Path(database).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(url, async_creator=partial(connect_inline, database or ":memory:"), **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    event.listen(engine.sync_engine, "begin", begin_immediate)
    return engine


class Turns:
    """SQLite's one writer, within this process: transactions take turns in the order they
    asked, except that one an acknowledgement waits for (`urgent`) goes before every other
    still waiting. A turn being taken is never interrupted, so an urgent one waits for at
    most one transaction, however many background ones are queued."""

    def __init__(self) -> None:
        self.busy = False
        self.waiting: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (deque(), deque())

    @asynccontextmanager
    async def turn(self, urgent: bool = False) -> AsyncIterator[None]:
        if self.busy:
            handed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self.waiting[0 if urgent else 1].append(handed)
            try:
                await handed
            except asyncio.CancelledError:
                if handed.done() and not handed.cancelled():  # handed the turn, then cancelled
                    self.next()
                raise
        else:
            self.busy = True
        try:
            yield
        finally:
            self.next()

    def next(self) -> None:
        """Hand the turn to the first waiter (urgent ones first), or free it."""
        for queue in self.waiting:
            while queue:
                handed = queue.popleft()
                if not handed.done():  # not cancelled while it waited
                    handed.set_result(None)
                    return
        self.busy = False


class Database:
    """One engine and its sessions; `transaction()` is the unit of work."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **kwargs)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer; this process's transactions queue here rather than polling
        # for the file lock, those a person waits for first. PostgreSQL: acknowledgements'
        # writes, and the commands a person waits for, each get connections of their own, so
        # neither waits for one behind background work (a rush's queued submissions) nor
        # behind the other (a rush's acks: sharing, a command took up to 2.2 s in one).
        self._writer = Turns() if self.is_sqlite else None
        self._writer_task: asyncio.Task[Any] | None = None
        self.ack_engine = self.command_engine = self.engine
        if not self.is_sqlite:
            kept = {**kwargs, "pool_size": ACK_POOL, "max_overflow": ACK_POOL}
            self.ack_engine, self.command_engine = make_engine(url, **kept), make_engine(url, **kept)
        self.command_sessions = async_sessionmaker(self.command_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def transaction(self, urgent: bool = False) -> AsyncIterator[AsyncSession]:
        """A unit of work; `urgent` when an acknowledgement waits for it: on SQLite it goes
        before queued transactions (`Turns`), on PostgreSQL it runs on the connections kept
        for commands, never queued behind background work's wait for a connection."""
        if self._writer is None:
            async with (self.command_sessions if urgent else self.sessions)() as session, session.begin():
                yield session
            return
        if self._writer_task is asyncio.current_task():
            raise RuntimeError("a transaction inside a transaction would wait for itself on SQLite")
        async with self._writer.turn(urgent):
            self._writer_task = asyncio.current_task()
            try:
                async with self.sessions() as session, session.begin():
                    yield session
            finally:
                self._writer_task = None

    async def insert_once_alone(
        self, model: type[DeclarativeBase], values: dict[str, Any], unique: list[str]
    ) -> bool:
        """`insert_once` committed on its own, for a write an acknowledgement waits for (see
        `write_alone`): True when this call added the row."""
        stmt = _insert_ignoring(
            model.__table__,
            self.engine.dialect.name,
            tuple(unique),
        )
        return bool(await self.write_alone(stmt, values, ack=True))

    async def write_alone(self, stmt: Executable, values: dict[str, Any], *, ack: bool = False) -> int:
        """One statement that must be safe to run twice (its WHERE or unique key decides),
        committed on its own in the fewest round trips; its rowcount. On PostgreSQL it runs in
        autocommit, being its own transaction (no BEGIN, no COMMIT), and with `ack` on a
        connection kept for acknowledgements (connections are not pinged before use: a dropped
        one is noticed by the statement, which is then sent once more): one round trip instead
        of four, 0.5-0.7 ms instead of 1.4. On SQLite it is a transaction of its own, which with
        `ack` goes before queued ones (`Turns`)."""
        if self.is_sqlite:
            async with self.transaction(urgent=ack) as session:
                return int((await (await session.connection()).execute(stmt, values)).rowcount)
        engine = self.ack_engine if ack else self.engine

        async def run() -> int:
            async with engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                return int((await conn.execute(stmt, values)).rowcount)

        return await once_more_if_dropped(run)

    async def ping(self) -> None:
        """SELECT 1, for health checks; raises if the database cannot be reached."""

        async def run() -> None:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))

        await once_more_if_dropped(run)

    async def upgrade(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        async with self.engine.begin() as conn:
            await conn.run_sync(run_migrations, "upgrade")

    async def dispose(self) -> None:
        await self.engine.dispose()
        for extra in {self.ack_engine, self.command_engine} - {self.engine}:
            await extra.dispose()


async def once_more_if_dropped(call: Callable[[], Awaitable[T]]) -> T:
    """Run `call`, and once more if it met a pooled connection the server had dropped (a
    restart: connections are not pinged before use; SQLAlchemy has then dropped the pool).
    Only for calls that are safe to run twice."""
    try:
        return await call()
    except DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
    return await call()


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@lru_cache(maxsize=1)
def newest_migration() -> str | None:
    """The head revision, read from the migration scripts once a process."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def run_migrations(connection: Connection, direction: str = "upgrade", revision: str | None = None) -> None:
    cfg = alembic_config(connection)
    if direction == "upgrade":
        at = MigrationContext.configure(connection).get_current_revision()
        if revision is None and at is not None and at == newest_migration():
            return  # already at the head: skip loading alembic's environment on every start
        command.upgrade(cfg, revision or "head")
    else:
        command.downgrade(cfg, revision or "base")


@lru_cache(maxsize=64)
def _insert_ignoring(table: Table, dialect: str, unique: tuple[str, ...], returning: Any = None) -> Any:
    """INSERT … ON CONFLICT DO NOTHING, built once per table: building a statement
    afresh costs more than running it (SQLAlchemy then compiles it once, cached)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(table).on_conflict_do_nothing(index_elements=list(unique))
    return stmt if returning is None else stmt.returning(returning)


async def insert_once(
    session: AsyncSession, model: type[DeclarativeBase], values: dict[str, Any], unique: list[str]
) -> bool:
    """INSERT … ON CONFLICT DO NOTHING; True when this call added the row.

    The database's unique index, not a prior SELECT, decides, so two processes
    racing for the same row can never both win.
    """
    stmt = _insert_ignoring(
        model.__table__,
        session.get_bind().dialect.name,
        tuple(unique),
    )
    result = await (await session.connection()).execute(stmt, values)
    return bool(result.rowcount)


async def insert_many_once(
    session: AsyncSession,
    model: type[DeclarativeBase],
    rows: list[dict[str, Any]],
    unique: list[str],
    returning: Any,
) -> list[Any]:
    """Bulk INSERT … ON CONFLICT DO NOTHING RETURNING `returning`: what this call added.

    One statement run with executemany: SQLAlchemy compiles it once (cached) and sends
    the rows as multi-row VALUES pages ("insertmanyvalues", within the bound-parameter
    limits of SQLite and asyncpg), collecting RETURNING from each page. Building
    `.values(rows)` instead costs a fresh compile of every value on each call.
    """
    if not rows:
        return []
    stmt = _insert_ignoring(
        model.__table__,
        session.get_bind().dialect.name,
        tuple(unique),
        returning,
    )
    result = await (await session.connection()).execute(stmt, rows)
    return list(result.scalars())
