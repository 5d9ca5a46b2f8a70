"""Delivery at the platform's real rate, which the bot is not told: it learns it from Slack's
answers (429s and their `Retry-After`), keeps it for the next worker and the next start, and
workers sending to one workspace share its budget instead of each spending all of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from delivery_kit import copies, deliver_until_settled, seed, slack_settings, slack_workspace
from fakes.slack_api import Call
from fakes.slack_server import FakeSlack
from sqlalchemy import func, select

from bot.config import Settings
from bot.messages import Destination
from bot.ratelimit import PACE, Limit, RateLimiter
from bot.runtime import Runtime
from bot.storage import Outbox
from bot.storage.db import Database

RETRY_AFTER = 1.0  # what the fake answers at these rates (whole seconds, at least 1, like Slack)
USERS = {f"U{n:03}": {"name": f"learner{n}"} for n in range(1, 241)}


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(users=USERS) as slack:
        yield slack


def refused(fake: FakeSlack) -> list[Call]:
    return [c for c in fake.called("chat.postMessage") if c.status == 429]


async def fan_out(
    runtimes: list[Runtime], db: Database, users: list[str], tag: str, claims: int = 500
) -> list[str]:
    """A DM to each of `users`, delivered by `runtimes` together (each a worker of its own,
    claiming `claims` rows at a time)."""
    ws = await slack_workspace(db)
    keys = await seed(db, ws, [(Destination.dm(u), f"nudge:{tag}:{u}") for u in users], datetime.now(UTC))
    await asyncio.wait_for(
        asyncio.gather(
            *(deliver_until_settled(rt.deliverer, rt.db, within=60, limit=claims) for rt in runtimes)
        ),
        70,
    )
    return keys


async def workers(settings: Settings, *names: str) -> list[Runtime]:
    runtimes = [Runtime(settings) for _ in names]
    for name, runtime in zip(names, runtimes, strict=True):
        runtime.deliverer.worker = name
        await runtime.start()
    return runtimes


async def test_a_429_never_leads_to_a_send_before_its_retry_after(
    fake: FakeSlack, settings: Settings, db: Database
) -> None:
    # told 40 a second where Slack takes 8: the first sends draw 429s
    [worker] = await workers(
        slack_settings(settings, fake, slack_workspace_rate=40.0, slack_workspace_burst=20), "one"
    )
    fake.enforce_limits(per_workspace=(8.0, 4))
    try:
        keys = await fan_out([worker], db, list(USERS)[:60], "a")
    finally:
        await worker.stop()
    assert refused(fake), "the test needs a 429"
    posts = fake.called("chat.postMessage")
    for no in refused(fake):
        assert no.answered_at is not None
        # sends already under way when the 429 came back reach Slack within a few ms of it
        early = [c for c in posts if no.answered_at + 0.05 < c.at < no.answered_at + RETRY_AFTER - 0.01]
        assert not early, f"{len(early)} sends within the Retry-After of a 429"
    assert copies(fake, ["D" + u for u in USERS]) == dict.fromkeys(keys, 1)


async def test_a_learned_rate_is_used_by_a_second_worker_and_after_a_restart(
    fake: FakeSlack, settings: Settings, db: Database
) -> None:
    told = slack_settings(settings, fake, slack_workspace_rate=100.0, slack_workspace_burst=20)
    fake.enforce_limits(per_workspace=(20.0, 5))  # what Slack takes, which nobody told the bot
    users = list(USERS)
    [first] = await workers(told, "first")
    try:
        await fan_out([first], db, users[:80], "first")
    finally:
        await first.stop()
    learning = len(refused(fake))
    assert learning >= 8  # learning what Slack takes cost some 429s
    # A restarted worker, or a second one (a fresh process either way), starts from what the
    # first learned, not from its settings' 100 a second.
    [second] = await workers(told, "second")
    try:
        keys = await fan_out([second], db, users[80:200], "second")
    finally:
        await second.stop()
    assert len(refused(fake)) - learning <= 2, (learning, len(refused(fake)))
    assert copies(fake, ["D" + u for u in users[80:200]]) == dict.fromkeys(keys, 1)


async def test_two_workers_share_one_workspaces_budget_instead_of_each_spending_all_of_it(
    fake: FakeSlack, settings: Settings, db: Database
) -> None:
    # both told the truth (20 a second, and not to probe above it), so that only sharing keeps
    # them within it together
    told = slack_settings(
        settings, fake, slack_workspace_rate=20.0, slack_workspace_burst=5, slack_workspace_rate_max=20.0
    )
    fake.enforce_limits(per_workspace=(20.0, 5))
    one, two = await workers(told, "one", "two")
    try:
        keys = await fan_out([one, two], db, list(USERS)[:160], "both", claims=20)
    finally:
        await one.stop()
        await two.stop()
    # Once they have found each other (their first sends), they never overdraw it together;
    # each spending all of it, they draw 429s throughout.
    start = fake.called("chat.postMessage")[0].at
    assert [round(c.at - start, 2) for c in refused(fake) if c.at > start + 1] == []
    assert copies(fake, ["D" + u for u in USERS]) == dict.fromkeys(keys, 1)
    async with db.transaction() as session:
        shares = dict(
            (await session.execute(select(Outbox.claimed_by, func.count()).group_by(Outbox.claimed_by))).all()
        )
    assert set(shares) == {"one", "two"} and min(shares.values()) >= 30, shares  # both sent


async def test_a_rate_the_platform_publishes_is_kept_to_at_once_without_learning() -> None:
    """Discord says its buckets' figures in headers: `publish` takes them as they are."""
    limiter = RateLimiter()
    shared = Limit("discord:G1:messages", 50.0, 1, learn="discord:G1:messages", ceiling=50.0)
    limiter.publish(shared, 4.0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(5):
        await limiter.acquire([shared])
    assert loop.time() - start >= 4 / 4.0 * PACE  # four intervals at 4 a second, not at 50
