"""The outbox delivered to Discord over the wire (the fake Discord): each message once, in order,
within the buckets Discord publishes, riding out its 429s, and never twice after a lost answer
(the nonce made of the outbox key)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from discord_app import discord_settings
from fakes.discord import FakeDiscord, RateLimit
from fakes.discord.ratelimits import MESSAGE_CREATE
from sqlalchemy import select

from bot.clock import FakeClock
from bot.config import Settings
from bot.messages import Destination, Message
from bot.outbox import enqueue
from bot.runtime import Runtime
from bot.service import Origin, workspace_for
from bot.storage import Outbox, OutboxState
from bot.storage.db import Database


@pytest.fixture
async def runtime(
    fake_discord: FakeDiscord, settings: Settings, clock: FakeClock, db: Database
) -> AsyncIterator[Runtime]:
    """A worker sending to the fake Discord, told a channel rate higher than the fake's (20 a
    second against its 5 in half a second): only what Discord publishes keeps it within."""
    built = Runtime(discord_settings(settings, fake_discord, discord_channel_rate=20.0), clock=clock)
    await built.start()
    yield built
    await built.stop()


async def queue(runtime: Runtime, fake: FakeDiscord, dest: Destination, texts: list[str]) -> list[str]:
    assert fake.guild is not None
    now = runtime.clock.now()
    keys = [f"test:{dest.target}:{n}" for n in range(len(texts))]
    async with runtime.db.transaction() as session:
        workspace = await workspace_for(session, Origin("discord", str(fake.guild.id), "0"), now)
        for key, text in zip(keys, texts, strict=True):
            await enqueue(session, workspace.id, dest, Message(text), key, now)
    return keys


async def states(runtime: Runtime) -> list[tuple[str, OutboxState, str | None]]:
    async with runtime.db.transaction() as session:
        rows = await session.execute(select(Outbox.key, Outbox.state, Outbox.last_error).order_by(Outbox.id))
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_a_steady_fan_out_keeps_to_the_published_bucket_and_draws_no_429(
    fake_discord: FakeDiscord, runtime: Runtime
) -> None:
    fake = fake_discord
    assert fake.guild is not None
    fake.limiter.set(MESSAGE_CREATE, RateLimit(5, 0.5))
    channel = fake.guild.text_channels[0]
    texts = [f"Nudge {n}" for n in range(12)]
    await queue(runtime, fake, Destination.channel(str(channel.id)), texts)
    started = asyncio.get_running_loop().time()
    report = await runtime.deliverer.deliver_due()
    took = asyncio.get_running_loop().time() - started
    assert report.sent == 12
    assert fake.rate_limited == []
    assert [m.content for m in fake.messages(channel)] == texts
    assert took >= 1.0  # 12 at 10 a second, as Discord's headers said, not at the 20 configured


async def test_a_429_is_obeyed_for_its_retry_after_and_the_message_goes_once(
    fake_discord: FakeDiscord, runtime: Runtime, clock: FakeClock
) -> None:
    fake = fake_discord
    assert fake.guild is not None
    channel = fake.guild.text_channels[0]
    fake.faults.rate_limit_next(MESSAGE_CREATE, retry_after=0.4)
    await queue(runtime, fake, Destination.channel(str(channel.id)), ["2 days left"])
    await runtime.deliverer.deliver_due()
    clock.advance(timedelta(seconds=1))  # its Retry-After has passed on the worker's clock too
    await runtime.deliverer.deliver_due()
    calls = fake.calls(MESSAGE_CREATE)
    assert [c.status for c in calls] == [429, 200]
    assert calls[1].at - calls[0].at >= 0.4 * 0.9
    assert [m.content for m in fake.messages(channel)] == ["2 days left"]
    assert [s for _, s, _ in await states(runtime)] == [OutboxState.SENT]


async def test_a_send_whose_answer_was_lost_is_sent_again_with_its_nonce_and_arrives_once(
    fake_discord: FakeDiscord, runtime: Runtime, clock: FakeClock
) -> None:
    fake = fake_discord
    assert fake.guild is not None
    channel = fake.guild.text_channels[0]
    fake.faults.drop_next(MESSAGE_CREATE)  # carried out, but the worker never hears so
    await queue(runtime, fake, Destination.channel(str(channel.id)), ["Review task R-1"])
    await runtime.deliverer.deliver_due()
    assert [s for _, s, _ in await states(runtime)] == [OutboxState.SENDING]  # in doubt
    clock.advance(timedelta(minutes=2))
    await runtime.deliverer.deliver_due()
    calls = fake.calls(MESSAGE_CREATE)
    assert len(calls) == 2 and calls[0].json["nonce"] == calls[1].json["nonce"]
    assert len(calls[0].json["nonce"]) <= 25 and calls[1].json["enforce_nonce"] is True
    assert [m.content for m in fake.messages(channel)] == ["Review task R-1"]  # once
    assert [s for _, s, _ in await states(runtime)] == [OutboxState.SENT]


async def test_dms_go_through_one_dm_channel_and_a_person_who_takes_none_is_a_dead_letter(
    fake_discord: FakeDiscord, runtime: Runtime
) -> None:
    fake = fake_discord
    alice, carol = fake.member("alice"), fake.member("carol", accepts_dms=False)
    await queue(runtime, fake, Destination.dm(str(alice.id)), ["Welcome", "2 days left"])
    await queue(runtime, fake, Destination.dm(str(carol.id)), ["Welcome"])
    await runtime.deliverer.deliver_due()
    assert [m.content for m in fake.messages(fake.dm_channel(alice))] == ["Welcome", "2 days left"]
    assert len(fake.calls("POST /users/@me/channels")) == 2  # once a person
    carol_row = [row for row in await states(runtime) if row[0].startswith(f"test:{carol.id}")]
    assert [(s, "50007" in (e or "")) for _, s, e in carol_row] == [(OutboxState.DEAD, True)]
    assert [v.code for v in fake.take_violations()] == [50007]
