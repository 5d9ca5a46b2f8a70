"""Exactly-once delivery of the outbox: the real Deliverer and SlackTransport, wired the
way bot/runtime.py wires them, against the fake Slack Web API on 127.0.0.1."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cli_kit import COMMAND, cli_env
from delivery_kit import (
    TEAM,
    copies,
    deliver_until_settled,
    seed,
    slack_settings,
    slack_workspace,
    stored_keys,
)
from fakes.slack_server import FakeSlack
from sqlalchemy import select, update

from bot.clock import FakeClock
from bot.config import Settings
from bot.delivery import MAX_ATTEMPTS
from bot.messages import Destination, Message
from bot.outbox import enqueue_many, outbox_row
from bot.platforms.slack.directory import SlackDirectory
from bot.platforms.slack.transport import SlackTransport
from bot.runtime import Runtime
from bot.service import Origin
from bot.storage import Outbox
from bot.storage.db import Database

CHANNELS = {f"C{n}": f"room-{n}" for n in range(1, 7)}
USERS = {
    "UCOORD": {"name": "maria", "real_name": "Maria Lopez", "tz": "UTC", "is_admin": True},
    "UALICE": {"name": "alice", "real_name": "Alice Ng", "tz": "UTC"},
    "UBOB": {"name": "bob", "real_name": "Bob Ruiz", "tz": "UTC"},
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(users=USERS, channels=CHANNELS) as slack:
        yield slack


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def runtime(
    fake: FakeSlack, settings: Settings, db: Database, clock: FakeClock
) -> AsyncIterator[Runtime]:
    """The worker's pieces on a movable clock (the limiter still runs on real time), with
    rate limits out of the way of tests that are not about them."""
    rt = Runtime(
        slack_settings(
            settings,
            fake,
            slack_channel_rate=50.0,
            slack_channel_burst=10,
            slack_workspace_rate=200.0,
            slack_workspace_burst=50,
        ),
        clock=clock,
    )
    await rt.start()
    yield rt
    await rt.stop()


async def the_row(db: Database, key: str) -> Outbox:
    async with db.transaction() as session:
        row = await session.scalar(select(Outbox).where(Outbox.key == key))
        assert row is not None, key
        return row


def posts(fake: FakeSlack) -> list[int]:
    return [c.status for c in fake.called("chat.postMessage")]


# -- rate limits ---------------------------------------------------------------------------------


async def test_every_message_arrives_once_and_in_order_per_channel_within_slacks_rate_limits(
    fake: FakeSlack, settings: Settings, db: Database
) -> None:
    fake.enforce_limits(per_channel=(10.0, 3), per_workspace=(60.0, 20))
    rt = Runtime(
        slack_settings(
            settings,
            fake,
            slack_channel_rate=10.0,
            slack_channel_burst=3,
            slack_workspace_rate=60.0,
            slack_workspace_burst=20,
        )
    )
    await rt.start()
    try:
        ws = await slack_workspace(rt.db)
        queued: dict[str, list[str]] = {}  # where Slack keeps them -> keys in the order queued
        plan = []
        for i in range(15):  # interleaved, as a busy programme queues them
            for dest in [*map(Destination.channel, CHANNELS), *map(Destination.dm, ("UALICE", "UBOB"))]:
                if dest.kind == "channel" or i < 4:
                    where = dest.target if dest.kind == "channel" else "D" + dest.target
                    queued.setdefault(where, []).append(f"{where}:{i:02}")
                    plan.append((dest, f"{where}:{i:02}"))
        keys = await seed(rt.db, ws, plan, rt.clock.now())
        await deliver_until_settled(rt.deliverer, rt.db, within=30)
    finally:
        await rt.stop()
    assert copies(fake, queued) == dict.fromkeys(keys, 1)
    assert stored_keys(fake, queued) == queued  # each channel in the order queued
    sends = len(keys)
    assert fake.throttled <= max(2, sends // 50), f"{fake.throttled} of {sends} sends were throttled"


async def test_a_429_is_obeyed_no_sooner_than_retry_after_and_the_message_arrives_once(
    fake: FakeSlack, settings: Settings, db: Database
) -> None:
    rt = Runtime(slack_settings(settings, fake))  # the real clock: Retry-After is real seconds
    await rt.start()
    try:
        ws = await slack_workspace(rt.db)
        [key] = await seed(rt.db, ws, [(Destination.channel("C1"), "announce:1")])
        fake.rate_limit("chat.postMessage", retry_after=1)
        await deliver_until_settled(rt.deliverer, rt.db, within=10)
    finally:
        await rt.stop()
    refused, accepted = fake.called("chat.postMessage")
    assert (refused.status, accepted.status) == (429, 200)
    assert accepted.at - refused.at >= 1.0
    assert copies(fake, ["C1"]) == {key: 1}


# -- transient failures --------------------------------------------------------------------------


async def test_server_errors_are_retried_with_growing_backoff_and_the_message_arrives_once(
    fake: FakeSlack, runtime: Runtime, clock: FakeClock
) -> None:
    ws = await slack_workspace(runtime.db)
    [key] = await seed(runtime.db, ws, [(Destination.dm("UALICE"), "dm:1")], clock.now())
    fake.fail_next("chat.postMessage", status=503, times=3, error="service_unavailable")
    for attempt in (1, 2, 3):
        await runtime.deliverer.deliver_due()
        row = await the_row(runtime.db, key)
        assert row.state != "sent" and row.attempts == attempt
        wait = (row.next_attempt_at - clock.now()).total_seconds()
        assert 2**attempt <= wait <= 2 ** (attempt + 1)  # exponential, with jitter
        await runtime.deliverer.deliver_due()
        assert len(posts(fake)) == attempt  # not before its time
        clock.set(row.next_attempt_at + timedelta(seconds=1))
    await runtime.deliverer.deliver_due()
    assert posts(fake) == [503, 503, 503, 200]
    assert (await the_row(runtime.db, key)).state == "sent"
    assert copies(fake, ["DUALICE"]) == {key: 1}


async def test_a_send_that_timed_out_is_retried_and_the_message_arrives_once(
    fake: FakeSlack, settings: Settings, db: Database, clock: FakeClock
) -> None:
    runtime = Runtime(slack_settings(settings, fake, slack_timeout=1.0), clock=clock)
    try:
        ws = await slack_workspace(runtime.db)
        [key] = await seed(runtime.db, ws, [(Destination.channel("C1"), "announce:slow")], clock.now())
        fake.delay("chat.postMessage", 1.5, times=1)  # Slack posts it, but answers too late
        await runtime.deliverer.deliver_due()
        row = await the_row(runtime.db, key)
        assert row.state != "sent" and row.attempts == 1 and "network" in (row.last_error or "")
        for _ in range(100):  # the slow request completes on Slack's side
            if not fake.in_flight():
                break
            await asyncio.sleep(0.05)
        clock.set(row.next_attempt_at + timedelta(seconds=1))
        await runtime.deliverer.deliver_due()
        assert (await the_row(runtime.db, key)).state == "sent"
    finally:
        await runtime.stop()
    assert copies(fake, ["C1"]) == {key: 1}


async def test_a_post_whose_connection_dropped_is_not_resent_blindly_and_arrives_once(
    fake: FakeSlack, runtime: Runtime, clock: FakeClock
) -> None:
    ws = await slack_workspace(runtime.db)
    [key] = await seed(runtime.db, ws, [(Destination.dm("UBOB"), "dm:dropped")], clock.now())
    fake.drop_next("chat.postMessage")  # Slack posts it; the connection dies before the answer
    await runtime.deliverer.deliver_due()
    clock.advance(timedelta(minutes=5))  # past any backoff
    await deliver_until_settled(runtime.deliverer, runtime.db)
    assert (await the_row(runtime.db, key)).state == "sent"
    assert copies(fake, ["DUBOB"]) == {key: 1}


async def test_after_max_attempts_of_transient_failures_a_message_is_dead_not_retried_forever(
    fake: FakeSlack, runtime: Runtime, clock: FakeClock
) -> None:
    ws = await slack_workspace(runtime.db)
    [key] = await seed(runtime.db, ws, [(Destination.channel("C2"), "announce:doomed")], clock.now())
    fake.fail_next("chat.postMessage", status=500, times=MAX_ATTEMPTS + 3)
    for _ in range(MAX_ATTEMPTS + 3):
        await runtime.deliverer.deliver_due()
        clock.advance(timedelta(hours=2))  # past any backoff (capped at an hour)
    row = await the_row(runtime.db, key)
    assert (row.state, row.attempts) == ("dead", MAX_ATTEMPTS)
    assert len(posts(fake)) == MAX_ATTEMPTS
    assert copies(fake, ["C2"]) == {}


async def test_a_message_queued_after_a_failed_one_to_the_same_channel_waits_for_it(
    fake: FakeSlack, runtime: Runtime, clock: FakeClock
) -> None:
    ws = await slack_workspace(runtime.db)
    await seed(runtime.db, ws, [(Destination.channel("C3"), "first")], clock.now())
    fake.fail_next("chat.postMessage", status=500)
    await runtime.deliverer.deliver_due()
    await seed(runtime.db, ws, [(Destination.channel("C3"), "second")], clock.now())
    await runtime.deliverer.deliver_due()
    clock.advance(timedelta(minutes=5))
    await deliver_until_settled(runtime.deliverer, runtime.db)
    assert stored_keys(fake, ["C3"]) == {"C3": ["first", "second"]}


async def test_a_slow_workers_claim_is_not_sent_again_by_another_worker(
    fake: FakeSlack, settings: Settings, db: Database
) -> None:
    """Two workers on one database; the first holds more than it can send within its lease."""
    slow = slack_settings(
        settings, fake, outbox_lease_seconds=1.0, slack_channel_rate=4.0, slack_channel_burst=2
    )  # ten messages to one channel take 2 s
    first, second = Runtime(slow), Runtime(slow)
    first.deliverer.worker, second.deliverer.worker = "first", "second"  # as two processes would be
    await first.start()
    try:
        ws = await slack_workspace(first.db)
        keys = await seed(first.db, ws, [(Destination.channel("C4"), f"step:{i}") for i in range(10)])
        busy = asyncio.create_task(first.deliverer.deliver_due())
        await asyncio.sleep(1.3)  # the first worker's lease ran out; it is still sending
        await asyncio.wait_for(second.deliverer.deliver_due(), 10)
        await asyncio.wait_for(busy, 10)
        await deliver_until_settled(first.deliverer, first.db, within=10)
    finally:
        await first.stop()
        await second.stop()
    assert copies(fake, ["C4"]) == dict.fromkeys(keys, 1)


async def test_messages_a_worker_claimed_ahead_stay_its_own_while_they_wait_their_turn(
    fake: FakeSlack, settings: Settings, db: Database
) -> None:
    """A claim takes more than the rate limit lets out within one lease; the rows still
    waiting keep being renewed, so another worker neither takes them for a dead worker's
    (a history lookup each) nor sends them."""
    slow = slack_settings(
        settings, fake, outbox_lease_seconds=1.0, slack_workspace_rate=10.0, slack_workspace_burst=1
    )  # twenty DMs take two seconds
    first, second = Runtime(slow), Runtime(slow)
    first.deliverer.worker, second.deliverer.worker = "first", "second"
    await first.start()
    try:
        ws = await slack_workspace(first.db)
        users = [f"U{n:02}" for n in range(20)]
        for user in users:
            fake.add_user(user, name=user.lower())
        keys = await seed(first.db, ws, [(Destination.dm(u), f"nudge:3:{u}:1d") for u in users])
        busy = asyncio.create_task(first.deliverer.deliver_due())
        await asyncio.sleep(1.3)  # the claim's first lease has run out; half the DMs still wait
        assert 0 < len(posts(fake)) < len(keys)
        taken = await asyncio.wait_for(second.deliverer.deliver_due(), 10)
        await asyncio.wait_for(busy, 10)
    finally:
        await first.stop()
        await second.stop()
    assert (taken.sent, taken.recovered) == (0, 0)
    assert fake.called("conversations.history") == []
    assert copies(fake, ["D" + u for u in users]) == dict.fromkeys(keys, 1)
    async with db.transaction() as session:
        assert set(await session.scalars(select(Outbox.claimed_by))) == {"first"}


async def test_a_message_that_edits_one_sent_moments_before_updates_it_in_place(
    fake: FakeSlack, runtime: Runtime, clock: FakeClock
) -> None:
    """ "Sent" marks are written in batches; the edit still finds the message it replaces."""
    ws = await slack_workspace(runtime.db)
    await seed(runtime.db, ws, [(Destination.channel("C2"), "review:7:task")], clock.now())
    edit = outbox_row(
        ws,
        Destination.channel("C2"),
        Message("claimed by @bob", edit_of="review:7:task"),
        "review:7:claimed",
        clock.now(),
    )
    async with runtime.db.transaction() as session:
        await enqueue_many(session, [edit])
    report = await runtime.deliverer.deliver_due()
    assert report.sent == 2
    assert len(fake.called("chat.postMessage")) == 1 and len(fake.called("chat.update")) == 1
    [message] = fake.messages("C2")
    assert message["text"] == "claimed by @bob"
    task, claimed = await the_row(runtime.db, "review:7:task"), await the_row(runtime.db, "review:7:claimed")
    assert claimed.ref == task.ref == f"C2:{message['ts']}"


# -- crash recovery ------------------------------------------------------------------------------


async def worker_died_while_sending(
    db: Database, keys: list[str], now: datetime, *, handed_over: bool = True
) -> None:
    """What a worker killed mid-send leaves behind: its claim, with the lease run out, and
    each message marked as handed to Slack (or, with `handed_over=False`, claimed only)."""
    async with db.transaction() as session:
        await session.execute(
            update(Outbox)
            .where(Outbox.key.in_(keys))
            .values(
                state="sending",
                claimed_by="dead-worker",
                lease_until=now - timedelta(seconds=1),
                attempted_at=now - timedelta(seconds=2) if handed_over else None,
            )
        )


async def test_a_message_slack_got_before_its_worker_died_is_found_in_history_not_sent_again(
    fake: FakeSlack, runtime: Runtime, clock: FakeClock
) -> None:
    ws = await slack_workspace(runtime.db)
    keys = await seed(
        runtime.db,
        ws,
        [
            (Destination.dm("UALICE"), "dm:arrived"),
            (Destination.dm("UBOB"), "dm:lost"),
            (Destination.channel("C5"), "announce:arrived"),
        ],
        clock.now(),
    )
    await worker_died_while_sending(runtime.db, keys, clock.now())
    client = await runtime.platforms["slack"].client_for(TEAM, outbound=True)
    fake.seed_message("DUALICE", "an older message", user="UALICE")
    arrived = {  # posted the way SlackTransport posts, outbox key in the metadata
        "DUALICE": await SlackTransport.post(client, "UALICE", "message dm:arrived", [], "dm:arrived"),
        "C5": await SlackTransport.post(client, "C5", "message announce:arrived", [], "announce:arrived"),
    }
    fake.seed_message("DUALICE", "a reply", user="UALICE")
    before = len(posts(fake))
    report = await runtime.deliverer.deliver_due()
    assert (report.recovered, report.sent) == (2, 1)
    assert len(posts(fake)) == before + 1  # only the message Slack never got
    assert copies(fake, ["DUALICE", "DUBOB", "C5"]) == dict.fromkeys(keys, 1)
    for channel, key in (("DUALICE", "dm:arrived"), ("C5", "announce:arrived")):
        row = await the_row(runtime.db, key)
        assert (row.state, row.ref) == ("sent", f"{channel}:{arrived[channel]['ts']}")


async def test_messages_a_dead_worker_had_claimed_but_not_handed_over_are_sent_without_lookups(
    fake: FakeSlack, runtime: Runtime, clock: FakeClock
) -> None:
    ws = await slack_workspace(runtime.db)
    handed = await seed(runtime.db, ws, [(Destination.dm("UALICE"), "dm:handed")], clock.now())
    claimed = await seed(
        runtime.db,
        ws,
        [(Destination.dm("UBOB"), "dm:claimed"), (Destination.channel("C4"), "announce:claimed")],
        clock.now(),
    )
    await worker_died_while_sending(runtime.db, handed, clock.now())
    await worker_died_while_sending(runtime.db, claimed, clock.now(), handed_over=False)
    report = await runtime.deliverer.deliver_due()
    assert (report.recovered, report.sent) == (0, 3)
    looked_in = [c.args["channel"] for c in fake.called("conversations.history")]
    assert looked_in == ["DUALICE"]  # only the one that may have arrived
    assert copies(fake, ["DUALICE", "DUBOB", "C4"]) == dict.fromkeys(handed + claimed, 1)


async def test_history_lookups_keep_to_their_own_limit_and_hold_up_no_other_destination(
    fake: FakeSlack, settings: Settings, db: Database, clock: FakeClock
) -> None:
    """Slack's conversations.history is Tier 3 (about 50 calls a minute): a restart with many
    messages to look up must neither exceed it nor make other messages wait for it."""
    runtime = Runtime(
        slack_settings(
            settings,
            fake,
            slack_channel_rate=50.0,
            slack_channel_burst=10,
            slack_workspace_rate=200.0,
            slack_workspace_burst=50,
            slack_lookup_rate=5.0,
            slack_lookup_burst=2,
        ),
        clock=clock,
    )
    await runtime.start()
    try:
        fake.enforce_limits(methods={"conversations.history": (5.0, 2)})
        ws = await slack_workspace(db)
        unsure = await seed(
            db, ws, [(Destination.channel(c), f"announce:{c}") for c in CHANNELS], clock.now()
        )
        await worker_died_while_sending(db, unsure, clock.now())
        fresh = await seed(db, ws, [(Destination.dm(u), f"dm:{u}") for u in USERS], clock.now())
        await deliver_until_settled(runtime.deliverer, db, within=20)
    finally:
        await runtime.stop()
    lookups = [c.answered_at for c in fake.called("conversations.history")]
    assert len(lookups) == len(CHANNELS) and fake.throttled == 0  # each once, never refused
    assert lookups[-1] - lookups[0] >= (len(CHANNELS) - 2) / 5.0 * 0.9  # at 5 a second after a burst of 2
    dms = [c.answered_at for c in fake.called("chat.postMessage") if c.args["channel"].startswith("U")]
    assert len(dms) == len(USERS) and max(dms) < lookups[-1]  # the rest did not wait for lookups
    assert copies(fake, [*CHANNELS, *("D" + u for u in USERS)]) == dict.fromkeys(unsure + fresh, 1)


async def test_a_failed_history_lookup_after_a_crash_still_looks_again_before_sending(
    fake: FakeSlack, runtime: Runtime, clock: FakeClock
) -> None:
    ws = await slack_workspace(runtime.db)
    keys = await seed(runtime.db, ws, [(Destination.channel("C6"), "announce:maybe")], clock.now())
    await worker_died_while_sending(runtime.db, keys, clock.now())
    client = await runtime.platforms["slack"].client_for(TEAM, outbound=True)
    await SlackTransport.post(client, "C6", "message announce:maybe", [], "announce:maybe")
    fake.rate_limit("conversations.history", retry_after=1)
    await runtime.deliverer.deliver_due()
    assert (await the_row(runtime.db, "announce:maybe")).state != "sent"
    clock.advance(timedelta(seconds=5))
    await deliver_until_settled(runtime.deliverer, runtime.db, within=10)
    assert copies(fake, ["C6"]) == {"announce:maybe": 1}


# -- dead letters --------------------------------------------------------------------------------


def cohortbot(*args: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        env=cli_env(database_url),
        check=False,
    )


async def test_a_channel_that_no_longer_exists_is_a_dead_letter_coordinators_see_and_can_retry(
    fake: FakeSlack, runtime: Runtime, clock: FakeClock, tmp_path: Path
) -> None:
    directory = SlackDirectory(runtime.platforms["slack"].client)

    async def say(user: str, line: str) -> str:
        reply = await runtime.bot.handle(Origin("slack", TEAM, user, "C1"), line, directory)
        assert reply.ok, reply.message.text
        return reply.message.text

    await say("UCOORD", "/cohort create spring <#CGONE|old-frl>")  # archived and deleted since
    await say("UCOORD", "/cohort add spring <@UALICE|alice>")
    await say("UCOORD", "/window open spring creators closes +14d")
    await deliver_until_settled(runtime.deliverer, runtime.db)
    lost = ["cohort:1:hello", "window:1:opened"]  # the cohort's greeting and its window's opening
    for key in lost:
        row = await the_row(runtime.db, key)
        assert (row.state, row.attempts, row.last_error) == ("dead", 1, "channel_not_found")
    clock.advance(timedelta(hours=2))
    await runtime.deliverer.deliver_due()
    assert len(fake.posted("CGONE")) == 2  # once each
    assert copies(fake, ["DUALICE"]) == {"enrol:2": 1}  # the rest of the cohort's mail went out

    listed = await asyncio.to_thread(cohortbot, "outbox", database_url=runtime.db.url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    for key in lost:
        assert f"dead     1x channel:CGONE {key} — channel_not_found" in listed.stdout
    assert "0 pending, 2 dead." in listed.stdout

    status = await say("UCOORD", "/cohort status spring")
    assert (
        "⚠️ 2 message(s) could not be delivered: cohort:1:hello (channel_not_found); "
        "window:1:opened (channel_not_found). Retry with `cohortbot outbox retry`."
    ) in status

    retried = await asyncio.to_thread(cohortbot, "outbox", "retry", database_url=runtime.db.url, cwd=tmp_path)
    assert retried.returncode == 0, retried.stderr
    assert "2 dead letter(s) queued again." in retried.stdout
    for key in lost:
        row = await the_row(runtime.db, key)
        assert (row.state, row.attempts) == ("pending", 0)

    fake.add_channel("CGONE", "old-frl")  # the channel is back (unarchived), the bot in it
    clock.advance(timedelta(hours=1))
    await deliver_until_settled(runtime.deliverer, runtime.db)
    assert stored_keys(fake, ["CGONE"]) == {"CGONE": lost}
    assert "could not be delivered" not in await say("UCOORD", "/cohort status spring")
