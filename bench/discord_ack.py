"""How fast Discord gets the answer to an interaction, against a bare discord.py bot.

Starts, as separate processes on 127.0.0.1: two fake Discords (tests/fakes/discord: REST v10
and the gateway), one for each bot, in a process of their own; our `cohortbot gateway`
(SQLite, or PostgreSQL with --database-url) logged into one; bench/bare_discord.py, a
discord.py client that only acknowledges, into the other. Both get the commands `cohortbot
discord sync` registers. The fakes' process is also the load generator: Discord pushes
interactions down the gateway, so only the fake can send them. This process only directs it
(over a small HTTP API of the fakes' process) and prints the figures.

Ack latency is from the fake writing INTERACTION_CREATE to the gateway to the fake receiving the
interaction's callback (POST /interactions/{id}/{token}/callback), both on the fakes' clock;
answer latency is to when the answer was there to read (that callback, if it carried it, else the
"thinking…" one filled in: PATCH …/messages/@original). Measured for `/submit evidence links:…
reflection:…` by learners in an open window (the intake path: acknowledged, taken in, said so,
then run; the receipt comes as a followup, timed from sending too) and for `/submit status` (a
transaction that reads the member's windows); each against ours, then the bare bot, at the same
concurrency: that many interactions in flight, each until it is answered (a person waits for
the answer, not for "thinking…"; counting only to the acknowledgement would pile up work behind
a bot that acknowledges first). An answer without what ours should say, one later than
Discord's 3 s, or any other rule of Discord's broken counts as an error.

With -c 1 each `/submit` goes once the previous one's receipt has arrived ("single": a learner
at a bot that has just finished the previous one), and then again back-to-back, where each
meets the previous submission's run. With --gap MS each interaction (but back-to-back) waits
that long after the previous one was answered, for both bots alike: a learner at an idle bot.
Without it the bare bot, whose answer is its acknowledgement, gets its next interaction a tenth
of a millisecond after the last and never idles, while ours idles through each answer's database
work (in a handler process): on this machine an idle process wakes 1.5-2 times slower, the bare
bot as much as ours once it idles too (bench/README.md).

    .venv/bin/python bench/discord_ack.py                   # SQLite, N=1000, concurrency 20
    .venv/bin/python bench/discord_ack.py -n 500 -c 1       # single interactions
    .venv/bin/python bench/discord_ack.py -n 500 -c 1 --gap 20   # ...each at an idle bot
    .venv/bin/python bench/discord_ack.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from fakes.discord import Call, CallbackType, FakeDiscord, Intent, Interaction, Member, RateLimit  # noqa: E402
from fakes.discord.fixtures import discord_py_at  # noqa: E402
from serving import free_port  # noqa: E402

from bench.apart import process_apart, ready_until_stdin_closes  # noqa: E402
from bench.slack_ack import Result, drop_pg_database, fresh_pg_database, percentiles, report  # noqa: E402

ACK = "Saving your submission"  # what our ack of a `/submit` says (bot.service.HOLDING)
STATUS = "Your submissions"  # what our `/submit status` says
RECEIPT = "Received"
ACK_WAIT = 10.0  # seconds an answer may take before it counts as lost (Discord's 3 s: an error)
RECEIPT_WAIT = 60.0
SET_UP_WAIT = 120.0
# Mentions in one `/cohort add`: the bot looks them all up at once, each on a connection of its
# own, and the fake listens with a backlog of 128 (more, and some connect only after SYN retries).
ADD_AT_ONCE = 50
CALLBACK = "POST /interactions/{interaction_id}/{interaction_token}/callback"
FOLLOWUP = "POST /webhooks/{webhook_id}/{webhook_token}"
FILL_IN = "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}"
BOTS = ("ours", "bare")
WARM = 20  # interactions to warm each bot up with


# ---------------------------------------------------------------- the fakes' process


class TimedFake(FakeDiscord):
    """A fake Discord (rate limits out of the way: acks are measured here, not limits) with the
    owner of its server, `learners` members, the cohort's and the reviewers' channels, that
    notes when each interaction went down the gateway, when it was acknowledged, when its answer
    was there to read (the acknowledgement itself, or the "thinking…" one filled in) and when
    its first followup came in (time.perf_counter())."""

    def __init__(self, learners: int) -> None:
        super().__init__(rate_limits={}, global_limit=None, default_limit=RateLimit(100_000, 1.0))
        assert self.guild is not None
        self.home = self.guild.text_channels[0]
        self.cohort_channel = self.guild.add_text_channel("bench")
        self.reviews_channel = self.guild.add_text_channel("bench-reviews")
        self.admin = self.guild.member(self.owner)  # the owner: Manage Server, so a coordinator
        self.learners = [self.member(f"learner{i:05d}") for i in range(learners)]
        self.sent_at: dict[int, float] = {}
        self.acked: dict[int, asyncio.Future[float]] = {}
        self.answered: dict[str, asyncio.Future[float]] = {}
        self.followed: dict[str, asyncio.Future[float]] = {}
        dispatch = self.gateway.dispatch

        async def timing(event: str, data: Any, *, intent: Intent | None = None) -> int:
            if event == "INTERACTION_CREATE":
                loop = asyncio.get_running_loop()
                self.acked[int(data["id"])] = loop.create_future()
                self.answered[data["token"]] = loop.create_future()
                self.followed[data["token"]] = loop.create_future()
                self.sent_at[int(data["id"])] = time.perf_counter()
            return await dispatch(event, data, intent=intent)

        self.gateway.dispatch = timing  # type: ignore[method-assign]

    def record(self, call: Call) -> None:
        now = time.perf_counter()
        super().record(call)
        waiting: list[asyncio.Future[float] | None] = []
        if call.route == CALLBACK:
            waiting.append(self.acked.get(int(call.params["interaction_id"])))
        elif call.route == FILL_IN and call.params["message_id"] == "@original":
            waiting.append(self.answered.get(call.params["webhook_token"]))
        elif call.route == FOLLOWUP:
            waiting.append(self.followed.get(call.params["webhook_token"]))
        for future in waiting:
            if future is not None and not future.done():
                future.set_result(now)


async def ask(fake: TimedFake, who: Member, command: str, options: dict[str, Any], expect: str) -> str:
    """`who` runs `command`; its answer (a deferred one once filled in), which must say `expect`."""
    interaction = await fake.slash(who, command, options, channel=fake.home)
    await fake.answer(interaction, within=SET_UP_WAIT)
    await fake.wait_until(lambda: not interaction.loading, within=SET_UP_WAIT, what="the answer")
    text = interaction.original.content if interaction.original else interaction.callback.content
    if expect not in text:
        raise RuntimeError(f"set-up failed at /{command}: {text[:300]}")
    return str(text)


async def set_up_programme(fake: TimedFake) -> None:
    """Cohort, roster and an open window, typed by the server's owner as a coordinator would."""
    options = {"name": "bench", "channel": fake.cohort_channel, "reviews": fake.reviews_channel}
    await ask(fake, fake.admin, "cohort create", options, "Created cohort")
    for start in range(0, len(fake.learners), ADD_AT_ONCE):
        people = " ".join(f"<@{m.id}>" for m in fake.learners[start : start + ADD_AT_ONCE])
        await ask(fake, fake.admin, "cohort add", {"name": "bench", "people": people}, "Added")
    window = {"cohort": "bench", "credential": "creators", "closes": "+30d"}
    await ask(fake, fake.admin, "window open", window, "Opened")


async def answer_time(fake: TimedFake, interaction: Interaction, acked: float) -> float:
    """When the answer was there to read: the acknowledgement itself, or when "thinking…" was
    filled in."""
    callback = await fake.answer(interaction, within=ACK_WAIT)
    if callback.type is CallbackType.DEFERRED_CHANNEL_MESSAGE:
        return await asyncio.wait_for(asyncio.shield(fake.answered[interaction.token]), ACK_WAIT)
    return acked


async def fire(
    fake: TimedFake,
    command: str,
    c: int,
    *,
    version: int,
    expect: str,
    receipts: bool,
    settled: bool,
    count: int | None = None,
    gap: float = 0.0,
) -> dict[str, Any]:
    """Every learner runs `command` (`submit evidence` with a new link for `version`, or any
    other without options), at most `c` at once, each in flight until it is answered (a person
    waits for the answer, not for "thinking…"); ack and answer latencies (ms), receipt latencies
    (ms, with `receipts`: from sending to the first followup, which must say "Received"), errors
    and the first few of them said. With `settled`, each also waits for its receipt; with
    `count`, only that many learners; with `gap`, each waits that many seconds after the
    previous one (a learner at an idle bot)."""
    queue = list(reversed(list(enumerate(fake.learners[:count]))))
    sent: list[Interaction] = []
    latencies: list[float] = []
    answer_latencies: list[float] = []
    errors: list[str] = []
    gc.collect()

    def options(i: int) -> dict[str, str]:
        if command != "submit evidence":
            return {}
        return {"links": f"https://example.org/work/{i}/{version}", "reflection": f"reflection {i}"}

    async def worker() -> None:
        while queue:
            i, who = queue.pop()
            if gap:
                await asyncio.sleep(gap)
            interaction = await fake.slash(who, command, options(i), channel=fake.home)
            sent.append(interaction)
            try:
                acked = await asyncio.wait_for(asyncio.shield(fake.acked[interaction.id]), ACK_WAIT)
            except TimeoutError:
                errors.append(f"no answer to {who.user.username}'s /{command} within {ACK_WAIT:g} s")
                continue
            latencies.append((acked - fake.sent_at[interaction.id]) * 1000)
            try:
                answered = await answer_time(fake, interaction, acked)
            except TimeoutError:
                errors.append(f"{who.user.username}'s /{command} was not answered within {ACK_WAIT:g} s")
                continue
            answer_latencies.append((answered - fake.sent_at[interaction.id]) * 1000)
            if settled:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(fake.followed[interaction.token]), RECEIPT_WAIT)

    # No collection while the run is measured: the fakes' pauses would count against whichever
    # interaction is in flight, more often ours (the fake keeps its answers and receipts too).
    gc.disable()
    try:
        await asyncio.gather(*(worker() for _ in range(c)))
    finally:
        gc.enable()
    receipt_latencies: list[float] = []
    if receipts:
        waiting = [fake.followed[i.token] for i in sent]
        await asyncio.wait(waiting, timeout=RECEIPT_WAIT)
        with contextlib.suppress(TimeoutError):  # the followup's message, kept once it is handled
            await fake.wait_until(lambda: all(i.followups for i in sent if fake.followed[i.token].done()))
        for interaction in sent:
            arrived = fake.followed[interaction.token]
            if not arrived.done():
                errors.append(f"no receipt for interaction {interaction.id} within {RECEIPT_WAIT:g} s")
                continue
            receipt_latencies.append((arrived.result() - fake.sent_at[interaction.id]) * 1000)
            said = interaction.followups[0].content if interaction.followups else ""
            if RECEIPT not in said:
                errors.append(f"receipt: {said[:200]!r}")
    for interaction in sent:
        answer = interaction.original or interaction.callback
        if answer is not None and expect not in answer.content:
            errors.append(f"answered {answer.content[:200]!r}")
    errors += [str(v) for v in fake.take_violations()]  # late answers among them
    first = min((fake.sent_at[i.id] for i in sent), default=0.0)
    acked = [fake.acked[i.id].result() for i in sent if fake.acked[i.id].done()]
    followed = [fake.followed[i.token].result() for i in sent if fake.followed[i.token].done()]
    return {
        "latencies": latencies,
        "errors": len(errors),
        "said": errors[:3],
        "receipts": receipt_latencies,
        "answers": answer_latencies,
        "last_ack": max(acked, default=first) - first,  # seconds from the first sent
        "last_receipt": max(followed, default=first) - first,
    }


async def serve_fakes(learners: int) -> None:
    """--serve-fakes: a fake Discord for each bot, and the benchmark's handle on them, until
    stdin closes: GET /fakes (their URLs, token and server), POST /ready/<bot> (answers once
    its client is connected), POST /set-up (the programme on ours), POST /fire/<bot> (a
    run: `fire`'s arguments as JSON, its figures back)."""
    from aiohttp import web

    fakes = {bot: TimedFake(learners) for bot in BOTS}

    async def describe(request: web.Request) -> web.Response:
        return web.json_response(
            {
                bot: {"api": f.api_url, "gateway": f.gateway_url, "token": f.token, "guild": str(f.guild.id)}
                for bot, f in fakes.items()
            }
        )

    async def ready(request: web.Request) -> web.Response:
        await fakes[request.match_info["bot"]].connected(within=60)
        return web.json_response(True)

    async def set_up(request: web.Request) -> web.Response:
        try:
            await set_up_programme(fakes["ours"])
        except (RuntimeError, TimeoutError) as failed:
            return web.json_response(str(failed))
        gc.freeze()  # the fakes keep every call: the collector's full passes would stall them
        return web.json_response(None)

    async def run(request: web.Request) -> web.Response:
        args = await request.json()
        return web.json_response(await fire(fakes[request.match_info["bot"]], **args))

    app = web.Application()
    app.router.add_get("/fakes", describe)
    app.router.add_post("/ready/{bot}", ready)
    app.router.add_post("/set-up", set_up)
    app.router.add_post("/fire/{bot}", run)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    async with contextlib.AsyncExitStack() as stack:
        for fake in fakes.values():
            await stack.enter_async_context(fake)
            stack.enter_context(discord_py_at(fake))
        try:
            await ready_until_stdin_closes(f"http://127.0.0.1:{port}")
        finally:
            await runner.cleanup()


# ---------------------------------------------------------------- the benchmark's process


@asynccontextmanager
async def running(
    args: list[str], env: dict[str, str], cwd: Path = ROOT
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A bot as a process of its own; stopped afterwards."""
    proc = await asyncio.create_subprocess_exec(*args, env=env, cwd=cwd, stdout=asyncio.subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()


async def cohortbot(*args: str, env: dict[str, str], cwd: Path = ROOT) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, env=env, cwd=cwd, stdout=asyncio.subprocess.DEVNULL
    )
    if await proc.wait():
        raise SystemExit(f"`cohortbot {' '.join(args)}` failed")


def bot_env(fake: dict[str, str], **more: str) -> dict[str, str]:
    """The environment of a bot logged into `fake`: Discord only, as an operator sets it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "DISCORD_"))}
    return {
        **env,
        "DISCORD_TOKEN": fake["token"],
        "DISCORD_API_URL": fake["api"],
        "DISCORD_GATEWAY_URL": fake["gateway"],
        "DISCORD_GUILD_IDS": fake["guild"],
        "LINK_CHECK": "false",
        "LOG_LEVEL": "WARNING",
        **more,
    }


def as_result(figures: dict[str, Any]) -> Result:
    for said in figures["said"]:
        print(f"    error: {said}")
    return figures["latencies"], figures["errors"], figures["receipts"]


def answered(figures: dict[str, Any]) -> str:
    """When the answer was there to read (the "thinking…" acknowledgement filled in)."""
    p = percentiles(figures["answers"])
    return (
        f"  {'  ... its answer, from sending':44} n={len(figures['answers']):5}  p50 {p['p50']:7.2f} ms  "
        f"p95 {p['p95']:7.2f} ms  p99 {p['p99']:7.2f} ms"
    )


def span(figures: dict[str, Any]) -> str:
    """How long a run took: receipts timed from sending grow as the rush gets shorter."""
    return (
        f"  {'  ... all answered / last receipt, from the first':44} "
        f"{figures['last_ack']:.1f} s / {figures['last_receipt']:.1f} s"
    )


@asynccontextmanager
async def bots_up(
    n: int, db_url: str, tmp: str, code: Path = ROOT, profile: str | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """The fakes, our bot (from the checkout `code`; commands synced, the credential catalogue
    loaded, the programme set up) and the bare bot, each connected to its fake; the handle on
    the fakes."""
    async with (
        process_apart([__file__, "--serve-fakes", "-n", str(n)], ROOT) as control_url,
        httpx.AsyncClient(base_url=control_url, timeout=RECEIPT_WAIT * 10) as control,
    ):
        fakes = (await control.get("/fakes")).json()
        ours_env = bot_env(fakes["ours"], DATABASE_URL=db_url)
        bare_env = bot_env(fakes["bare"], DATABASE_URL=f"sqlite+aiosqlite:///{tmp}/unused.db")
        await asyncio.gather(
            cohortbot("credentials", "load", str(code / "bot/data/credentials.yml"), env=ours_env, cwd=code),
            cohortbot("discord", "sync", env=ours_env, cwd=code),
            cohortbot("discord", "sync", env=bare_env),  # the same commands, so the same payloads
        )
        async with (
            running(
                [
                    sys.executable,
                    *(["-m", "cProfile", "-o", profile] if profile else []),
                    "-m",
                    "bot",
                    "gateway",
                ],
                ours_env,
                code,
            ),
            running([sys.executable, str(ROOT / "bench/bare_discord.py")], bare_env),
        ):
            await asyncio.gather(*(control.post(f"/ready/{bot}") for bot in BOTS))
            failed = (await control.post("/set-up")).json()
            if failed:
                raise SystemExit(failed)
            yield control


def load_average() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


async def bench(args: argparse.Namespace, tmp: str) -> None:
    n, c, database_url = args.n, args.c, args.database_url
    db_url = await fresh_pg_database(database_url) if database_url else f"sqlite+aiosqlite:///{tmp}/bench.db"
    async with bots_up(n, db_url, tmp, args.code, args.profile) as control:

        async def run(bot: str, command: str, **kw: Any) -> dict[str, Any]:
            body = {"command": command, "c": c, "version": 1, "expect": "", "receipts": False}
            body |= {"gap": args.gap / 1000, **kw}
            figures: dict[str, Any] = (
                await control.post(f"/fire/{bot}", json={"settled": False, **body})
            ).json()
            return figures

        await run("ours", "submit status", expect=STATUS, count=WARM)  # warming up, not counted
        await run("bare", "submit status", count=WARM)
        kind = "PostgreSQL" if database_url else "SQLite"
        gap = f", {args.gap:g} ms between" if args.gap else ""
        print(f"Discord interaction ack latency, N={n}, concurrency {c}{gap}, {kind}, load {load_average()}")
        submit, single = "submit evidence", " single" if c == 1 else ""
        runs: list[tuple[str, Callable[[], Awaitable[dict[str, Any]]]]] = [
            (
                f"cohortbot /submit{single}",
                lambda: run("ours", submit, expect=ACK, receipts=True, settled=c == 1),
            ),
            *(
                [
                    (
                        "cohortbot /submit back-to-back",
                        lambda: run("ours", submit, version=2, expect=ACK, receipts=True, gap=0),
                    )
                ]
                if c == 1
                else []
            ),
            ("bare discord.py /submit", lambda: run("bare", submit)),
            ("cohortbot /submit status", lambda: run("ours", "submit status", expect=STATUS)),
            ("bare discord.py /submit status", lambda: run("bare", "submit status")),
        ]
        acks, answers = {}, {}
        for name, go in runs:
            figures = await go()
            acks[name] = report(name, as_result(figures))
            answers[name] = percentiles(figures["answers"])
            if name.startswith("cohortbot"):  # the bare bot's answer is its acknowledgement
                print(answered(figures))
            if figures["receipts"]:
                print(span(figures))
        pairs = ((runs[0][0], "bare discord.py /submit"), ("cohortbot /submit status", runs[-1][0]))
        for ours, bare in pairs:
            o, a, b = acks[ours], answers[ours], acks[bare]
            what = bare.removeprefix("bare discord.py ")
            ack = f"ack p50 {o['p50'] / b['p50']:.2f}  p99 {o['p99'] / b['p99']:.2f}"
            answer = f"answer p50 {a['p50'] / b['p50']:.2f}  p99 {a['p99'] / b['p99']:.2f}"
            print(f"  ratio ours/bare {what:15} {ack}   {answer}")
        print(f"  load average afterwards {load_average()}")
    if database_url:
        await drop_pg_database(database_url, db_url)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("-n", type=int, default=1000, help="learners: interactions per run")
    parser.add_argument("-c", type=int, default=20, help="concurrency: interactions in flight at once")
    parser.add_argument(
        "--gap", type=float, default=0.0, help="ms to wait after each answer (both bots, not back-to-back)"
    )
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout our bot runs from (an A/B)")
    parser.add_argument("--profile", metavar="FILE", help="run our bot under cProfile, its stats to FILE")
    parser.add_argument("--serve-fakes", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fakes:
        await serve_fakes(args.n)
        return
    with tempfile.TemporaryDirectory() as tmp:
        await bench(args, tmp)


if __name__ == "__main__":
    asyncio.run(main())
