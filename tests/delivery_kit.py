"""Shared pieces for the outbox delivery tests: a Slack-configured runtime pointed at the
fake, outbox rows seeded the way the bot queues them, what the fake stored, by key, and
`cohortbot worker` processes (of any platform) to start, kill and wait for."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from fakes.slack_server import FakeSlack
from sqlalchemy import func, select

from bot.config import Settings
from bot.delivery import Deliverer
from bot.messages import Destination, Message
from bot.outbox import enqueue_many, outbox_row
from bot.storage import Outbox, Workspace
from bot.storage.db import Database, insert_once

TEAM = "T1"  # the fake's team id
SECRET = "test-signing-secret"


def slack_settings(settings: Settings, fake: FakeSlack, **update: Any) -> Settings:
    """`settings` with Slack pointed at the fake (token mode); `update` overrides more."""
    return settings.model_copy(
        update={
            "slack_bot_token": fake.token,
            "slack_signing_secret": SECRET,
            "slack_api_url": fake.api_url,
            **update,
        }
    )


def process_env(db_url: str, platform: Mapping[str, str]) -> dict[str, str]:
    """The environment for a `cohortbot` process of ours on `db_url`, with a short outbox lease,
    and `platform`'s settings (`slack_env`, `discord_app.discord_env`) pointing it at a fake."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "DISCORD_", "OUTBOX_")) and k != "DATABASE_URL"
    }
    return env | {
        "DATABASE_URL": db_url,
        "LOG_LEVEL": "WARNING",
        "OUTBOX_LEASE_SECONDS": "2",
        "OUTBOX_CONCURRENCY": "16",
        **platform,
    }


def slack_env(fake: FakeSlack) -> dict[str, str]:
    """Slack's settings for a process of ours against `fake`, its rates quick for tests."""
    return {
        "SLACK_BOT_TOKEN": fake.token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake.api_url,
        "SLACK_CHANNEL_RATE": "50",
        "SLACK_CHANNEL_BURST": "3",
        "SLACK_WORKSPACE_RATE": "400",
        "SLACK_WORKSPACE_BURST": "50",
        "SLACK_LOOKUP_RATE": "100",
        "SLACK_LOOKUP_BURST": "10",
    }


async def workspace(db: Database, platform: str, external_id: str, now: datetime | None = None) -> int:
    """The Workspace row of a team or server (created if missing); its id."""
    async with db.transaction() as session:
        await insert_once(
            session,
            Workspace,
            dict(
                platform=platform,
                external_id=external_id,
                name="Cohort Test",
                created_at=now or datetime.now(UTC),
            ),
            ["platform", "external_id"],
        )
        return int(
            await session.scalar(
                select(Workspace.id).where(
                    Workspace.platform == platform, Workspace.external_id == external_id
                )
            )
        )


async def slack_workspace(db: Database, now: datetime | None = None) -> int:
    """The Workspace row of the fake Slack's team."""
    return await workspace(db, "slack", TEAM, now)


async def seed(
    db: Database,
    workspace_id: int,
    messages: Iterable[tuple[Destination, str]],
    now: datetime | None = None,
    **where: Any,
) -> list[str]:
    """Queue one outbox row per (destination, key), text "message <key>"; returns the keys."""
    now = now or datetime.now(UTC)
    rows = [
        outbox_row(workspace_id, dest, Message(f"message {key}"), key, now, **where) for dest, key in messages
    ]
    async with db.transaction() as session:
        assert await enqueue_many(session, rows) == len(rows)
    return [r["key"] for r in rows]


def key_of(message: dict[str, Any]) -> str | None:
    return ((message.get("metadata") or {}).get("event_payload") or {}).get("key")


def stored_keys(fake: FakeSlack, channels: Iterable[str]) -> dict[str, list[str]]:
    """channel -> outbox keys of the messages the fake stored there, oldest first."""
    return {c: [k for k in map(key_of, fake.messages(c)) if k is not None] for c in channels}


def copies(fake: FakeSlack, channels: Iterable[str]) -> Counter[str]:
    """How many times the fake stored each outbox key, over `channels`."""
    return Counter(k for keys in stored_keys(fake, channels).values() for k in keys)


async def states(db: Database) -> dict[str, int]:
    async with db.transaction() as session:
        rows = await session.execute(select(Outbox.state, func.count()).group_by(Outbox.state))
        return {state: n for state, n in rows.all()}


async def deliver_until_settled(deliverer: Deliverer, db: Database, within: float = 20.0, **kw: Any) -> None:
    """Run delivery rounds until nothing is pending or sending (a worker's loop, but with a
    bound): TimeoutError naming the states left after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        await deliverer.deliver_due(**kw)
        left = await states(db)
        if not left.get("pending") and not left.get("sending"):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"outbox not settled after {within} s: {left}")
        await asyncio.sleep(0.05)


def tail(log: Path | None) -> str:
    return log.read_text(errors="replace")[-3000:] if log else ""


async def until(
    condition: Callable[[], object],
    within: float,
    what: str,
    proc: asyncio.subprocess.Process | None = None,
    log: Path | None = None,
) -> None:
    """Poll every 2 ms (the fake answers on this event loop meanwhile); TimeoutError after
    `within` s, or AssertionError at once if the process died."""
    deadline = time.monotonic() + within
    while not condition():
        if proc is not None and proc.returncode is not None:
            raise AssertionError(
                f"process exited with {proc.returncode} while waiting for {what}:\n"
                + await asyncio.to_thread(tail, log)
            )
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {what} within {within} s")
        await asyncio.sleep(0.002)


# -- worker processes ----------------------------------------------------------------------------


async def start_worker(env: dict[str, str], cwd: Path, log: IO[bytes]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "worker", cwd=cwd, env=env, stdout=log, stderr=log
    )


async def stop(proc: asyncio.subprocess.Process) -> None:
    """SIGTERM, then SIGKILL if it does not go within 10 s."""
    if proc.returncode is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        proc.kill()
        await asyncio.wait_for(proc.wait(), 10)


@asynccontextmanager
async def worker_to_kill(
    env: dict[str, str], cwd: Path, log: IO[bytes]
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A worker the test kills itself; whatever happens in the test, it is dead afterwards."""
    worker = await start_worker(env, cwd, log)
    try:
        yield worker
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()


async def until_all_sent(
    db: Database, env: dict[str, str], cwd: Path, log: IO[bytes], log_path: Path, within: float
) -> float:
    """Start a fresh worker and wait until every outbox row is sent; stop it either way. The
    seconds it took, from its start."""
    started = time.monotonic()
    worker = await start_worker(env, cwd, log)
    try:
        left: dict[str, int] = {}
        for _ in range(int(within / 0.2)):
            left = await states(db)
            if set(left) == {"sent"}:
                return time.monotonic() - started
            assert worker.returncode is None, await asyncio.to_thread(tail, log_path)
            await asyncio.sleep(0.2)
        raise AssertionError(f"not all sent within {within:g} s: {left}")
    finally:
        await stop(worker)
