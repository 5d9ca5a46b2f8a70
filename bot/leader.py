"""One scheduler leads: a PostgreSQL advisory lock, held on its own connection.

A second `cohortbot clock` waits and takes over within a few seconds when the
leader dies (its session ends and PostgreSQL releases the lock). On SQLite a
single process does everything, so it always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.storage.db import Database

log = logging.getLogger(__name__)

LOCK_KEY = 0x636F686F7274  # "cohort"


class Leadership:
    def __init__(self, db: Database, *, retry: float = 5.0, key: int = LOCK_KEY) -> None:
        self.db, self.retry, self.key = db, retry, key
        self.conn: AsyncConnection | None = None

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until this process leads (True), or until `stop` (False)."""
        if self.db.is_sqlite:
            return True
        while not stop.is_set():
            try:
                conn = await self.db.engine.connect()
                if await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}):
                    self.conn = conn
                    log.info("this clock leads the scheduler")
                    return True
                await conn.close()
            except Exception:
                log.exception("could not ask for scheduler leadership; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.retry)
        return False

    async def still_leading(self) -> bool:
        """False once the lock's connection is gone (then the lock is gone too)."""
        if self.db.is_sqlite:
            return True
        if self.conn is None:
            return False
        try:
            await self.conn.scalar(text("SELECT 1"))
            return True
        except Exception:
            log.warning("lost the scheduler lock's connection; standing down")
            await self.release()
            return False

    async def release(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            with contextlib.suppress(Exception):
                await self.conn.close()
            self.conn = None
