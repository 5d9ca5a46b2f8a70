"""The worker process's loops: delivering the outbox and running commands a crash left taken
in. A long backlog (a channel's 1 message a second) must not hold up a learner's `/submit`
that was acknowledged before the crash."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from counting import count
from delivery_kit import seed, slack_settings, slack_workspace, until
from fakes.slack_server import FakeSlack
from fakes.slack_workspace import SCHOOL_USERS

from bot.clock import FakeClock
from bot.config import Settings
from bot.messages import Destination
from bot.platforms.slack.directory import SlackDirectory
from bot.runtime import Runtime
from bot.service import Origin
from bot.storage import Submission
from bot.storage.db import Database

CHANNELS = {"CFRL": "frl-spring", "CREV": "frl-assessors", "CNEWS": "news"}
LEARNERS = ["UALICE", "UBOB", "UDANA"]


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(users=SCHOOL_USERS, channels=CHANNELS) as slack:
        yield slack


async def taken_in_before_a_crash(runtime: Runtime, fake: FakeSlack) -> None:
    """A cohort whose learners each typed a `/submit` that a server acknowledged (took in)
    and then died before running."""
    directory = SlackDirectory(await runtime.platforms["slack"].client_for("T1"))
    coordinator = Origin("slack", "T1", "UCOORD", "CFRL")
    for line in (
        "/cohort create spring <#CFRL|frl-spring> reviews <#CREV|frl-assessors>",
        "/cohort add spring <@UALICE|alice> <@UBOB|bob> <@UDANA|dana>",
        "/window open spring creators closes +30d",
    ):
        reply = await runtime.bot.handle(coordinator, line, directory)
        assert "Only" not in reply.message.text and "Sorry" not in reply.message.text, reply.message.text
    for n, user in enumerate(LEARNERS):
        taken = await runtime.bot.handle(
            Origin("slack", "T1", user, "CFRL"),
            f"/submit https://example.org/{user} -- Reflection",
            directory,
            request_key=f"slack:T1:trig-{n}",
            reply_to=fake.response_url(user),
        )
        assert taken.intake is not None


async def test_commands_taken_in_before_a_crash_are_made_within_30_s_while_a_long_backlog_drains(
    fake: FakeSlack, settings: Settings, db: Database
) -> None:
    now = datetime.now(UTC)
    configured = slack_settings(settings, fake)
    before = Runtime(configured, clock=FakeClock(now))
    await before.start()
    try:
        await taken_in_before_a_crash(before, fake)
    finally:
        await before.stop()
    # ... and a backlog of a minute's worth of posts to one channel, at Slack's 1 a second
    ws = await slack_workspace(db)
    await seed(db, ws, [(Destination.channel("CNEWS"), f"news:{i:03}") for i in range(60)], now)
    fake.enforce_limits(per_channel=(1.0, 3))

    clock = FakeClock(now + timedelta(seconds=1))  # the worker restarts a second after the crash
    worker = Runtime(configured, clock=clock)
    await worker.start()
    stop = asyncio.Event()
    loops = asyncio.create_task(worker.deliver_forever(stop, interval=0.2))
    try:
        await until(lambda: len(fake.messages("CNEWS")) >= 3, 10, "the backlog to start draining")
        assert await count(db, Submission) == 0  # not stale yet: their server may still run them
        clock.advance(timedelta(seconds=30))  # taken in 31 s ago: the worker's to run
        started = time.monotonic()
        for _ in range(100):  # 10 s at most
            if await count(db, Submission) == len(LEARNERS):
                break
            await asyncio.sleep(0.1)
        made_after = time.monotonic() - started
        posted = len(fake.messages("CNEWS"))
    finally:
        stop.set()
        loops.cancel()
        await asyncio.gather(loops, return_exceptions=True)
        await worker.stop()
    assert await count(db, Submission) == len(LEARNERS), "acknowledged commands waited for the backlog"
    assert made_after < 5 and posted < 30, (made_after, posted)  # the backlog was still draining
