"""The outbox delivered to Discord over the wire (the fake Discord): each message once, in order,
within the buckets Discord publishes, riding out its 429s, and never twice after a lost answer:
within minutes the nonce made of the outbox key keeps a resend single, later the channel's
history is read first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from discord_app import discord_settings
from fakes.discord import Channel, FakeDiscord, RateLimit
from fakes.discord import messages as fake_messages
from fakes.discord.ratelimits import DM_OPEN, HISTORY, MESSAGE_CREATE
from sqlalchemy import select

from bot.clock import FakeClock
from bot.config import Settings
from bot.messages import Card, CardKind, Destination, Message
from bot.outbox import enqueue
from bot.platforms.discord.render import payload_for
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


async def test_a_fan_out_of_dms_opens_their_channels_within_the_published_bucket_and_draws_no_429(
    fake_discord: FakeDiscord, runtime: Runtime
) -> None:
    fake = fake_discord
    fake.limiter.set(DM_OPEN, RateLimit(5, 0.5))
    learners = [fake.member(f"learner{n}") for n in range(12)]
    for learner in learners:
        await queue(runtime, fake, Destination.dm(str(learner.id)), ["2 days left"])
    started = asyncio.get_running_loop().time()
    report = await runtime.deliverer.deliver_due()
    took = asyncio.get_running_loop().time() - started
    assert report.sent == 12 and fake.rate_limited == []
    assert all([m.content for m in fake.messages(fake.dm_channel(p))] == ["2 days left"] for p in learners)
    assert took >= 1.0  # 12 DM channels opened at 10 a second, as Discord's headers said


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


async def in_doubt(runtime: Runtime, fake: FakeDiscord, clock: FakeClock) -> list[tuple[Channel, str]]:
    """Two review tasks, each to a channel of its own: the first arrives but its answer is lost,
    the second is refused with a 500 before anything happens. Either may have arrived, as far as
    the worker knows. The worker's clock is set to Discord's (as servers' clocks agree)."""
    assert fake.guild is not None
    clock.set(datetime.fromtimestamp(fake.clock.wall(), UTC))
    sent = []
    for channel, text, fault in [
        (fake.guild.text_channels[0], "Review task R-1", fake.faults.drop_next),
        (fake.guild.add_text_channel("reviews"), "Review task R-2", fake.faults.fail_next),
    ]:
        fault(MESSAGE_CREATE)
        [key] = await queue(runtime, fake, Destination.channel(str(channel.id)), [text])
        sent.append((channel, key))
        await runtime.deliverer.deliver_due()
    assert [s for _, s, _ in await states(runtime)] == [OutboxState.SENDING] * 2  # both in doubt
    assert [c.status for c in fake.calls(MESSAGE_CREATE)] == [200, 500]
    return sent


def time_passes(fake: FakeDiscord, clock: FakeClock, delta: timedelta) -> None:
    """For the worker and for Discord alike (Discord forgets a nonce after a few minutes)."""
    clock.advance(delta)
    fake.clock.advance(delta.total_seconds())


async def test_messages_in_doubt_sent_again_within_minutes_rely_on_their_nonce_and_read_no_history(
    fake_discord: FakeDiscord, runtime: Runtime, clock: FakeClock
) -> None:
    fake = fake_discord
    (arrived, _), (lost, _) = await in_doubt(runtime, fake, clock)
    time_passes(fake, clock, timedelta(minutes=1))  # a restarted worker, a retry after the lease
    await runtime.deliverer.deliver_due()

    assert [m.content for m in fake.messages(arrived)] == ["Review task R-1"]  # once
    assert [m.content for m in fake.messages(lost)] == ["Review task R-2"]
    calls = fake.calls(MESSAGE_CREATE)
    assert [(c.json["content"], c.status) for c in calls[2:]] == [
        ("Review task R-1", 200),  # sent again as it was, with its nonce
        ("Review task R-2", 200),
    ]
    assert calls[2].json["nonce"] == calls[0].json["nonce"] != calls[3].json["nonce"]
    assert all(c.json["enforce_nonce"] is True and len(c.json["nonce"]) <= 25 for c in calls)
    assert calls[2].response["id"] == calls[0].response["id"]  # Discord answered with the first
    assert fake.calls(HISTORY) == []
    assert [s for _, s, _ in await states(runtime)] == [OutboxState.SENT] * 2


async def test_messages_in_doubt_an_hour_later_are_looked_up_in_history_and_only_the_lost_one_is_sent(
    fake_discord: FakeDiscord, runtime: Runtime, clock: FakeClock
) -> None:
    """An hour later Discord has forgotten the nonce: a create would post a second message. The
    history shows who wrote what, and when: the message that arrived is found (not the same words
    a person typed, nor the bot's own from before the send began), the one that did not is sent."""
    fake = fake_discord
    alice = fake.member("alice")
    (arrived, arrived_key), (lost, lost_key) = await in_doubt(runtime, fake, clock)
    await fake.type_message(alice, lost, "Review task R-2")  # the same words, a person's
    time_passes(fake, clock, timedelta(hours=1))
    report = await runtime.deliverer.deliver_due()

    assert [(m.author.username, m.content) for m in fake.messages(arrived)] == [
        ("Cohort Bot", "Review task R-1")
    ]
    assert [(m.author.username, m.content) for m in fake.messages(lost)] == [
        ("alice", "Review task R-2"),
        ("Cohort Bot", "Review task R-2"),
    ]
    assert [c.json["content"] for c in fake.calls(MESSAGE_CREATE)[2:]] == ["Review task R-2"]
    assert (report.recovered, report.sent) == (1, 1)
    reads = fake.calls(HISTORY)
    assert sorted(r.params["channel_id"] for r in reads) == sorted([str(arrived.id), str(lost.id)])
    assert all(r.status == 200 for r in reads)
    async with runtime.db.transaction() as session:
        refs = dict((await session.execute(select(Outbox.key, Outbox.ref))).all())
    assert refs[arrived_key] == f"{arrived.id}:{fake.messages(arrived)[0].id}"  # the one that arrived
    assert refs[lost_key] == f"{lost.id}:{fake.messages(lost)[1].id}"


async def test_a_message_whose_resend_failed_too_is_looked_for_from_its_first_send(
    fake_discord: FakeDiscord, runtime: Runtime, clock: FakeClock
) -> None:
    """It arrived at the first send (answer lost); the resend a minute later met a 500. An hour
    later the history is read from the first send on, so the message is found there."""
    fake = fake_discord
    assert fake.guild is not None
    channel = fake.guild.text_channels[0]
    clock.set(datetime.fromtimestamp(fake.clock.wall(), UTC))
    fake.faults.drop_next(MESSAGE_CREATE)
    await queue(runtime, fake, Destination.channel(str(channel.id)), ["Review task R-1"])
    await runtime.deliverer.deliver_due()
    fake.faults.fail_next(MESSAGE_CREATE)
    time_passes(fake, clock, timedelta(minutes=1))
    await runtime.deliverer.deliver_due()
    time_passes(fake, clock, timedelta(hours=1))
    report = await runtime.deliverer.deliver_due()

    assert [m.content for m in fake.messages(channel)] == ["Review task R-1"]
    assert [c.status for c in fake.calls(MESSAGE_CREATE)] == [200, 500]  # not sent a third time
    assert report.recovered == 1 and len(fake.calls(HISTORY)) == 1


async def test_a_dm_in_doubt_an_hour_later_is_looked_up_in_the_dm_and_found(
    fake_discord: FakeDiscord, runtime: Runtime, clock: FakeClock
) -> None:
    fake = fake_discord
    alice = fake.member("alice")
    clock.set(datetime.fromtimestamp(fake.clock.wall(), UTC))
    fake.faults.drop_next(MESSAGE_CREATE)
    await queue(runtime, fake, Destination.dm(str(alice.id)), ["2 days left"])
    await runtime.deliverer.deliver_due()
    time_passes(fake, clock, timedelta(hours=1))
    report = await runtime.deliverer.deliver_due()

    assert [m.content for m in fake.messages(fake.dm_channel(alice))] == ["2 days left"]
    assert len(fake.calls(MESSAGE_CREATE)) == 1 and report.recovered == 1
    assert [r.params["channel_id"] for r in fake.calls(HISTORY)] == [str(fake.dm_channel(alice).id)]


async def test_a_card_in_doubt_an_hour_later_is_known_by_its_text_not_by_another_cards_look(
    fake_discord: FakeDiscord, runtime: Runtime, clock: FakeClock
) -> None:
    """A card's content is empty: what tells two apart is their embeds. The nudge that arrived is
    found; the one that never did is sent, though the bot's other nudge there looks the same but
    for its text."""
    fake = fake_discord
    assert fake.guild is not None
    clock.set(datetime.fromtimestamp(fake.clock.wall(), UTC))
    about = Card(CardKind.NUDGE, "Empowering Students as Creators · spring")
    nudge = {left: Message(f"⏰ {left} left to submit", card=about) for left in ("2 days", "7 days")}
    arrived, lost = fake.guild.text_channels[0], fake.guild.add_text_channel("frl")
    for channel, fault in [(arrived, fake.faults.drop_next), (lost, fake.faults.fail_next)]:
        fault(MESSAGE_CREATE)
        async with runtime.db.transaction() as session:
            workspace = await workspace_for(session, Origin("discord", str(fake.guild.id), "0"), clock.now())
            dest = Destination.channel(str(channel.id))
            await enqueue(session, workspace.id, dest, nudge["2 days"], f"nudge:{channel.id}", clock.now())
        await runtime.deliverer.deliver_due()
    await fake.publish(fake_messages.compose(fake.world, lost, payload_for(nudge["7 days"])))
    time_passes(fake, clock, timedelta(hours=1))
    report = await runtime.deliverer.deliver_due()

    def texts(channel: Channel) -> list[str]:
        return [m.embeds[0]["description"] for m in fake.messages(channel)]

    assert texts(arrived) == ["⏰ 2 days left to submit"]
    assert texts(lost) == ["⏰ 7 days left to submit", "⏰ 2 days left to submit"]
    assert (report.recovered, report.sent) == (1, 1)


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
