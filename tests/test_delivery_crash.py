"""SIGKILL in the middle of a fan-out: `cohortbot worker` runs as a real process against the
fake Slack in this process, dies with requests in flight, and a fresh worker finishes the
job. Every message must arrive exactly once; those Slack got from the dead worker are found
in conversations.history, not posted again, and only messages whose send had begun are
looked up: the rest of the dead worker's claim is simply sent."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from delivery_kit import (
    copies,
    key_of,
    process_env,
    seed,
    slack_env,
    slack_workspace,
    states,
    until,
    until_all_sent,
    worker_to_kill,
)
from fakes.slack_server import FakeSlack
from sqlalchemy import func, select

from bot.messages import Destination
from bot.storage import Outbox
from bot.storage.db import Database

LEARNERS = [f"U{n:04}" for n in range(1, 1001)]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(users={u: {"name": f"learner{u[1:]}"} for u in LEARNERS}) as slack:
        yield slack


def stored(fake: FakeSlack) -> int:
    return sum(c.status == 200 for c in fake.called("chat.postMessage"))


async def test_a_worker_killed_mid_fan_out_leaves_every_message_delivered_exactly_once(
    fake: FakeSlack, db: Database, db_url: str, tmp_path: Path
) -> None:
    ws = await slack_workspace(db)
    keys = await seed(db, ws, [(Destination.dm(u), f"nudge:9:{u}:7d") for u in LEARNERS])
    fake.delay("chat.postMessage", 0.04)  # so that several posts are in flight at any moment
    env, log_path = process_env(db_url, slack_env(fake)), tmp_path / "worker.log"
    with log_path.open("wb") as log:
        async with worker_to_kill(env, tmp_path, log) as first:
            await until(
                lambda: stored(fake) >= 300 and fake.in_flight("chat.postMessage"),
                60,
                "300 messages with more in flight",
                first,
                log_path,
            )
            os.kill(first.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            in_flight = {key_of(c.args) for c in fake.in_flight("chat.postMessage")}
            await asyncio.wait_for(first.wait(), 10)
        assert first.returncode == -signal.SIGKILL
        await until(lambda: not fake.in_flight(), 5, "Slack to finish the dead worker's requests")
        assert len(set(copies_of_calls(fake))) < len(keys)  # the dead worker left work to do
        history_before = len(fake.called("conversations.history"))
        last_second = sum(killed_at - 1 <= c.at for c in fake.called("chat.postMessage"))
        async with db.transaction() as session:
            claimed = await session.scalar(
                select(func.count()).select_from(Outbox).where(Outbox.state == "sending")
            )

        await until_all_sent(db, env, tmp_path, log, log_path, within=60)

    dms = ["D" + u for u in LEARNERS]
    assert copies(fake, dms) == dict.fromkeys(keys, 1), "a message is missing or arrived twice"
    assert in_flight and None not in in_flight
    posts_per_key = copies_of_calls(fake)
    assert all(posts_per_key[k] == 1 for k in in_flight), "an in-flight message was posted again"
    lookups = len(fake.called("conversations.history")) - history_before
    # Only what may have arrived was looked up: the sends of about the last second and those in
    # flight (at most OUTBOX_CONCURRENCY), not the whole claim the dead worker held.
    assert len(in_flight) <= lookups <= last_second + 16, (lookups, last_second)
    assert lookups < claimed / 2, (lookups, claimed)
    async with db.transaction() as session:
        refs = dict((await session.execute(select(Outbox.key, Outbox.ref))).all())
    for key in in_flight:  # recovered from history: the row points at the message Slack kept
        user = key.split(":")[2]
        [message] = fake.messages("D" + user)
        assert refs[key] == f"D{user}:{message['ts']}"


def copies_of_calls(fake: FakeSlack) -> dict[str, int]:
    """How many chat.postMessage calls carried each outbox key (answered or not)."""
    counts: dict[str, int] = {}
    for call in fake.called("chat.postMessage"):
        key = key_of(call.args)
        if key is not None:
            counts[key] = counts.get(key, 0) + 1
    return counts


async def test_a_worker_killed_after_slack_took_its_messages_but_before_it_recorded_them_sends_none_again(
    fake: FakeSlack, db: Database, db_url: str, tmp_path: Path
) -> None:
    """ "Sent" marks are written in batches: here the worker dies with every message answered
    by Slack and none of them recorded (the database is held so that the batch cannot be
    written). The next worker finds each one in the history and posts nothing."""
    learners = LEARNERS[:40]
    ws = await slack_workspace(db)
    keys = await seed(db, ws, [(Destination.dm(u), f"nudge:8:{u}:2d") for u in learners])
    fake.delay("chat.postMessage", 0.3)  # all 40 in flight at once, none answered yet
    env, log_path = (
        process_env(db_url, slack_env(fake)) | {"OUTBOX_CONCURRENCY": "50"},
        tmp_path / "worker.log",
    )
    with log_path.open("wb") as log:
        async with worker_to_kill(env, tmp_path, log) as first:
            await until(
                lambda: len(fake.in_flight("chat.postMessage")) == len(learners),
                30,
                "every message in flight",
                first,
                log_path,
            )
            async with db.transaction() as session:  # from now on the worker cannot write
                await session.execute(select(Outbox.id).with_for_update())
                await until(lambda: stored(fake) == len(learners), 10, "Slack to take every message")
                await asyncio.sleep(0.5)  # the worker's batch of marks is due now, and waits for us
                os.kill(first.pid, signal.SIGKILL)
                await asyncio.wait_for(first.wait(), 10)
        assert first.returncode == -signal.SIGKILL
        assert set(await states(db)) == {"sending"}  # nothing recorded as sent
        fake.delay("chat.postMessage", 0)

        await until_all_sent(db, env, tmp_path, log, log_path, within=30)  # leases end after 2 s

    assert copies(fake, ["D" + u for u in learners]) == dict.fromkeys(keys, 1)
    assert len(fake.called("chat.postMessage")) == len(learners)  # none posted a second time
    async with db.transaction() as session:
        refs = dict((await session.execute(select(Outbox.key, Outbox.ref))).all())
    for u in learners:  # each row points at the message Slack kept
        [message] = fake.messages("D" + u)
        assert refs[f"nudge:8:{u}:2d"] == f"D{u}:{message['ts']}"
