"""A `/submit` typed in Slack is taken in: acknowledged once the command itself is committed,
then run, its receipt sent on the command's response_url. Whatever fails after the ack (the
server dies, the response_url refuses), the submission is made exactly once and the learner
hears about it."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from counting import count
from delivery_kit import SECRET, process_env, slack_env, slack_settings, until
from fakes.slack_payloads import post_signed, slash_command_body
from fakes.slack_server import FakeSlack
from serving import serve_process, serving
from slack_app import settle
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from bot.clock import FakeClock
from bot.config import Settings
from bot.platforms.console import ConsoleChat
from bot.platforms.slack.directory import SlackDirectory
from bot.runtime import Runtime
from bot.service import CohortBot, Origin, Unavailable
from bot.storage import Inbound, Outbox, Review, Submission
from bot.storage import db as storage_db
from bot.storage.db import Database

SET_UP = [
    ("UCOORD", "/cohort", "create spring <#CFRL|frl-spring> reviews <#CREV|frl-assessors>"),
    ("UCOORD", "/cohort", "add spring <@UALICE|alice> <@UDANA|dana>"),
    ("UCOORD", "/window", "open spring creators closes +30d"),
]


async def post(
    url: str, fake: FakeSlack, user: str, command: str, text: str, trigger_id: str | None = None
) -> httpx.Response:
    """A signed slash command, as Slack sends it; its response_url is named after the user."""
    body = slash_command_body(
        command,
        text,
        user_id=user,
        channel_id="CFRL",
        channel_name="frl-spring",
        trigger_id=trigger_id,
        response_url=fake.response_url(user),
    )
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        response = await post_signed(client, body, SECRET)
    assert response.status_code == 200, response.text
    return response


def receipts_by_dm(fake: FakeSlack, user: str) -> list[str]:
    return [m["text"] for m in fake.posted(user) if "Received S-" in m["text"]]


async def set_up(runtime: Runtime, fake: FakeSlack) -> None:
    async with serving(runtime) as url:
        for user, command, text in SET_UP:
            answer = (await post(url, fake, user, command, text)).json()["text"]
            assert "Only" not in answer and "no " not in answer, answer


async def test_a_submission_acked_before_its_server_died_is_made_once_and_answered_by_dm(
    fake: FakeSlack, settings: Settings, db: Database, db_url: str, tmp_path: Path
) -> None:
    configured = slack_settings(settings, fake)
    await set_up(Runtime(configured), fake)
    # A fresh `cohortbot serve`: it has not looked Alice up yet, and Slack's users.info hangs,
    # so the submission is acknowledged but not yet run when the process is killed.
    fake.delay("users.info", 30)
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:
        async with serve_process(process_env(db_url, slack_env(fake)), tmp_path, log) as (server, url):
            ack = await post(url, fake, "UALICE", "/submit", "https://example.org/unit -- Reflection")
            assert "Saving your submission" in ack.json()["text"]
            await until(
                lambda: fake.in_flight("users.info"), 10, "the submission to be run", server, log_path
            )
            server.send_signal(signal.SIGKILL)
            await asyncio.wait_for(server.wait(), 10)
    assert await count(db, Submission) == 0
    assert fake.responses == [] or all("Received" not in p.get("text", "") for _, p in fake.responses)

    fake.delay("users.info", 0)
    # The worker, half a minute later, runs what the dead server took in.
    worker = Runtime(configured, clock=FakeClock(datetime.now(UTC) + timedelta(seconds=31)))
    await worker.start()
    try:
        assert await worker.finish_stale() == 1  # type: ignore[union-attr]
        await worker.deliverer.deliver_due()
        assert await worker.finish_stale() == 0  # type: ignore[union-attr]
        await worker.deliverer.deliver_due()
    finally:
        await worker.stop()
    assert await count(db, Submission) == 1
    assert await count(db, Review) == 1
    [receipt] = receipts_by_dm(fake, "UALICE")
    assert "Received S-1 (version 1)" in receipt and "https://example.org/unit" in receipt
    tasks = fake.posted("CREV")
    assert len(tasks) == 1 and "Review task R-1: S-1" in tasks[0]["text"]


@pytest.fixture
async def served(fake: FakeSlack, settings: Settings, db: Database) -> AsyncIterator[tuple[Runtime, str]]:
    runtime = Runtime(slack_settings(settings, fake), clock=FakeClock(datetime.now(UTC)))
    await set_up(runtime, fake)
    async with serving(runtime) as url:
        yield runtime, url


async def test_a_receipt_the_response_url_refused_goes_as_one_dm_after_a_grace(
    served: tuple[Runtime, str], fake: FakeSlack, db: Database
) -> None:
    runtime, url = served
    fake.fail_next("respond/UALICE", status=500)
    await post(url, fake, "UALICE", "/submit", "https://example.org/unit -- Reflection")
    await settle(runtime)
    assert await count(db, Submission) == 1
    assert receipts_by_dm(fake, "UALICE") == []  # not yet: the answer may still be on its way
    runtime.clock.advance(timedelta(seconds=16))  # type: ignore[attr-defined]
    await settle(runtime)
    [receipt] = receipts_by_dm(fake, "UALICE")
    assert "Received S-1 (version 1)" in receipt
    runtime.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    await settle(runtime)
    assert len(receipts_by_dm(fake, "UALICE")) == 1


async def test_a_submission_refused_after_the_ack_says_why_on_the_response_url(
    served: tuple[Runtime, str], fake: FakeSlack, db: Database
) -> None:
    runtime, url = served
    await post(url, fake, "UCOORD", "/window", "close spring creators")
    ack = await post(url, fake, "UALICE", "/submit", "https://example.org/unit -- Reflection")
    assert "Saving your submission" in ack.json()["text"]
    await settle(runtime)
    answers = [p["text"] for name, p in fake.responses if name == "UALICE"]
    assert len(answers) == 1 and "closed" in answers[0], answers
    assert await count(db, Submission) == 0
    async with db.transaction() as session:
        assert (
            await session.scalar(select(func.count()).select_from(Inbound).where(Inbound.pending.isnot(None)))
            == 0
        )
    runtime.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    await settle(runtime)
    assert not [m for m in fake.posted("UALICE") if "closed" in m["text"]]  # it arrived, so no stand-by DM


async def test_two_processes_finishing_one_taken_in_submission_make_it_once(
    served: tuple[Runtime, str], fake: FakeSlack, settings: Settings, db: Database
) -> None:
    runtime, _ = served
    origin = Origin("slack", "T1", "UALICE", "CFRL")
    taken = await runtime.bot.handle(
        origin,
        "/submit https://example.org/unit -- Reflection",
        SlackDirectory(await runtime.platforms["slack"].client_for("T1")),  # type: ignore[union-attr]
        request_key="slack:T1:trig-9",
        reply_to=fake.response_url("UALICE"),
    )
    assert taken.intake is not None
    others = [Database(settings.database_url) for _ in range(2)]
    try:
        bots = [CohortBot(other, runtime.settings, runtime.clock) for other in others]
        directory = SlackDirectory(await runtime.platforms["slack"].client_for("T1"))  # type: ignore[union-attr]
        replies = await asyncio.gather(*(bot.finish(taken.intake, directory) for bot in bots))
    finally:
        for other in others:
            await other.dispose()
    assert sorted(r.duplicate for r in replies) == [False, True]
    assert "Received S-1" in next(r for r in replies if not r.duplicate).message.text
    assert await count(db, Submission) == 1
    async with db.transaction() as session:
        answers = list(await session.scalars(select(Outbox.key).where(Outbox.key.like("reply:%"))))
    assert answers == ["reply:slack:T1:trig-9"]


async def test_a_submission_that_cannot_be_run_yet_does_not_hold_up_the_others(
    served: tuple[Runtime, str], fake: FakeSlack, settings: Settings, db: Database
) -> None:
    runtime, _ = served
    for n, user in enumerate(("UALICE", "UDANA")):  # taken in by a server that then died
        taken = await runtime.bot.handle(
            Origin("slack", "T1", user, "CFRL"),
            f"/submit https://example.org/{user} -- Reflection",
            SlackDirectory(await runtime.platforms["slack"].client_for("T1")),  # type: ignore[union-attr]
            request_key=f"slack:T1:trig-{n}",
            reply_to=fake.response_url(user),
        )
        assert taken.intake is not None
    worker = Runtime(runtime.settings, clock=FakeClock(runtime.clock.now() + timedelta(seconds=31)))
    await worker.start()
    try:
        fake.fail_next("users.info", status=500)  # Slack fails the first one's profile lookup
        assert await worker.finish_stale() == 1  # type: ignore[union-attr]
        assert await count(db, Submission) == 1
        assert await worker.finish_stale() == 1  # type: ignore[union-attr]
        assert await count(db, Submission) == 2
        await worker.deliverer.deliver_due()
    finally:
        await worker.stop()
    assert len(receipts_by_dm(fake, "UALICE")) == len(receipts_by_dm(fake, "UDANA")) == 1


@asynccontextmanager
async def too_busy(db_url: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Database]:
    """A process whose database cannot take work for now: on PostgreSQL every connection of
    its pool is in use for longer than it waits for one; on SQLite another process holds the
    write lock for longer than it waits for that."""
    if db_url.startswith("sqlite"):
        monkeypatch.setattr(storage_db, "LOCK_WAIT", 0.2)
        busy = Database(db_url)
        holder = sqlite3.connect(make_url(db_url).database or "", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield busy
        finally:
            holder.rollback()
            holder.close()
            await busy.dispose()
        return
    busy = Database(db_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        async with busy.engine.connect() as held:
            await held.execute(text("SELECT 1"))
            yield busy
    finally:
        await busy.dispose()


async def test_a_submission_the_database_was_too_busy_to_run_waits_and_is_made_not_refused(
    spring: ConsoleChat, settings: Settings, db: Database, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = Origin("console", "console", "alice")
    taken = await spring.bot.handle(
        alice,
        "/submit https://example.org/unit -- Reflection",
        spring.directory,
        request_key="k-1",
        reply_to="https://hooks.example/1",
    )
    assert taken.intake is not None and "Saving your submission" in taken.message.text
    async with too_busy(db_url, monkeypatch) as busy:
        with pytest.raises(Unavailable):
            await CohortBot(busy, settings, spring.clock).finish(taken.intake, spring.directory)
    # No "sorry" went to the learner, nothing was made, and it still waits to run.
    assert await count(db, Outbox, Outbox.key.like("reply:%")) == 0
    assert await count(db, Submission) == 0
    spring.clock.advance(timedelta(seconds=31))
    [waiting] = await spring.bot.stale_intakes()
    reply = await spring.bot.finish(waiting, spring.directory, answer_after=timedelta())
    assert "Received S-1 (version 1)" in reply.message.text
    assert await count(db, Submission) == 1


async def test_a_command_answered_in_its_ack_goes_before_a_rush_of_submissions_still_to_run(
    spring: ConsoleChat,
) -> None:
    learners = [f"l{i}" for i in range(60)]
    await spring.run("@coord /cohort add spring " + " ".join(f"@{u}" for u in learners))
    taken = [
        await spring.bot.handle(
            Origin("console", "console", u),
            f"/submit https://example.org/{u}",
            spring.directory,
            request_key=f"k-{u}",
            reply_to="https://hooks.example/",
        )
        for u in learners
    ]
    rush = [
        asyncio.create_task(spring.bot.finish(t.intake, spring.directory))  # type: ignore[arg-type]
        for t in taken
    ]
    await asyncio.sleep(0.01)  # the rush is under way, and waiting for the database
    alice = Origin("console", "console", "alice")
    status = await spring.bot.handle(alice, "/submit status", spring.directory)
    ran_before_it = sum(task.done() for task in rush)
    assert "Your submissions" in status.message.text
    assert ran_before_it < len(rush) / 2, ran_before_it  # not queued behind the rush
    assert all("Received S-" in reply.message.text for reply in await asyncio.gather(*rush))
