"""How many rows the database holds: what tests assert after a command, a retry or a crash."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from bot.storage.db import Database


async def count(db: Database, model: type, *where: Any) -> int:
    """Rows of `model` (matching `where`, if given)."""
    async with db.transaction() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0
