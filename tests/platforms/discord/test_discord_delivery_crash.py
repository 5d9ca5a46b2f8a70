"""SIGKILL in the middle of a fan-out of 500 DMs on Discord: `cohortbot worker` runs as a real
process against the fake Discord in this process, dies with creates in flight, and a fresh worker
finishes at once. Each DM arrives exactly once: those the dead worker may have delivered go again
with their nonce, and Discord (within its few minutes) answers with the message that arrived
instead of posting a second one, so nothing is read from history; the rest of the dead worker's
claim is simply sent. (After longer, history is read first: test_discord_delivery.py.)"""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from delivery_kit import process_env, seed, until, until_all_sent, worker_to_kill, workspace
from discord_app import discord_env
from fakes.discord import Call, FakeDiscord, RateLimit
from fakes.discord.ratelimits import HISTORY, MESSAGE_CREATE

from bot.messages import Destination
from bot.storage.db import Database

LEARNERS = 500
CONCURRENCY = 16  # OUTBOX_CONCURRENCY in process_env: creates in flight at most


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """A fake Discord whose global limit is roomy enough for a quick test (the worker is told 800
    requests a second, the fake takes 1,000); any rule broken fails the test."""
    async with FakeDiscord(global_limit=RateLimit(1000, 1.0)) as fake:
        yield fake
        fake.check_violations(ending=True)


def content_of(call: Call) -> str:
    return str(call.json["content"])


def stored(fake: FakeDiscord) -> int:
    return sum(c.status == 200 for c in fake.calls(MESSAGE_CREATE))


def held(fake: FakeDiscord) -> set[str]:
    """The DMs Discord has whole and is still carrying out (its answers not yet sent)."""
    return {content_of(c) for c in fake.in_flight(MESSAGE_CREATE) if c.json}


async def test_a_worker_killed_mid_fan_out_of_dms_leaves_each_delivered_exactly_once(
    fake: FakeDiscord, db: Database, db_url: str, tmp_path: Path
) -> None:
    assert fake.guild is not None
    learners = [fake.member(f"learner{n}") for n in range(LEARNERS)]
    ws = await workspace(db, "discord", str(fake.guild.id))
    keys = await seed(db, ws, [(Destination.dm(str(m.id)), f"nudge:9:{m.id}:2d") for m in learners])
    fake.faults.delay(MESSAGE_CREATE, 0.04)  # so that several creates are in flight at any moment
    env = process_env(db_url, discord_env(fake, global_rate=800))
    assert int(env["OUTBOX_CONCURRENCY"]) == CONCURRENCY
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        async with worker_to_kill(env, tmp_path, log) as first:
            await until(
                lambda: stored(fake) >= 200 and held(fake),
                60,
                "200 DMs with more in flight",
                first,
                log_path,
            )
            os.kill(first.pid, signal.SIGKILL)
            killed_at = fake.clock.now()
            in_flight = held(fake)
            await asyncio.wait_for(first.wait(), 10)
        assert first.returncode == -signal.SIGKILL
        await until(lambda: not fake.in_flight(), 5, "Discord to carry out the dead worker's requests")
        done = stored(fake)
        assert done < len(keys)  # the dead worker left work to do
        last_second = sum(killed_at - 1 <= c.at for c in fake.calls(MESSAGE_CREATE))
        pace = done / (killed_at - fake.calls()[0].at)  # DMs a second, as the dead worker went
        restarted = len(fake.calls())

        await until_all_sent(db, env, tmp_path, log, log_path, within=60)

    arrived = Counter(m.content for learner in learners for m in fake.messages(fake.dm_channel(learner)))
    assert arrived == Counter(f"message {key}" for key in keys), "a DM is missing or arrived twice"
    creates: dict[str, list[Call]] = defaultdict(list)
    for call in fake.calls(MESSAGE_CREATE):
        if call.status == 200:  # Discord took it (not a 429, nor one cut off before it was whole)
            creates[content_of(call)].append(call)
    again = {text: calls for text, calls in creates.items() if len(calls) > 1}
    assert in_flight and in_flight <= set(again)  # what was in flight went again...
    for first_create, *later in again.values():  # ...with its nonce, and Discord answered with
        assert all(c.json["nonce"] == first_create.json["nonce"] for c in later)  # what had arrived
        assert all(c.response["id"] == first_create.response["id"] for c in later)
    # Only what may have arrived went again: the sends whose "sent" marks the kill lost (a
    # quarter second's) and those in flight, not the dead worker's whole claim.
    assert len(again) <= last_second + CONCURRENCY, (len(again), last_second)
    assert fake.calls(HISTORY) == []  # within the nonce's minutes, nothing is looked up
    # The fresh worker waits for nothing but the dead one's lease, then goes at its pace: what was
    # left took about 7 s on two busy cores (and 4 s more to start the process).
    after = fake.calls()[restarted:]
    took = max(c.at for c in after if c.route == MESSAGE_CREATE) - after[0].at
    expected = float(env["OUTBOX_LEASE_SECONDS"]) + (len(keys) - done) / pace
    assert took <= 1.5 * expected + 1, (took, expected)
