"""How fast Slack gets its ack for `/submit`, against a bare bolt app.

Starts, as separate processes on 127.0.0.1: our `cohortbot serve` (SQLite, or
PostgreSQL with --database-url) and a bare bolt app that only acks; both talk
to the fake Slack Web API from tests/fakes/slack_server.py. Then fires signed `/submit`
requests through the full path (signature check, parse, the database commit
that takes the submission in, ack) and prints latency percentiles; for ours
also the time until the receipt reached the command's response_url (the
submission then made, the review task queued).

With -c 1 each request goes once the previous one is wholly done, receipt
included ("single requests": a learner at an idle bot), and then again
back-to-back, where each ack competes with the previous submission's run.

    .venv/bin/python bench/slack_ack.py                    # SQLite, N=2000, concurrency 50
    .venv/bin/python bench/slack_ack.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/slack_ack.py -n 500 -c 1         # single requests
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from fakes.slack_payloads import post_signed, signed_headers, slash_command_body  # noqa: E402
from fakes.slack_server import FakeSlack  # noqa: E402
from serving import free_port, until_healthy  # noqa: E402

from bench.apart import process_apart, ready_until_stdin_closes  # noqa: E402

SECRET = "bench-secret"
Result = tuple[list[float], int, list[float]]  # ack latencies (ms), errors, receipt latencies (ms)


@asynccontextmanager
async def process(
    args: list[str], env: dict[str, str], port: int, pids: list[int] | None = None, cwd: Path = ROOT
) -> AsyncIterator[str]:
    """A server process on 127.0.0.1:port, ready when /healthz answers; stopped afterwards.
    Its pid goes into `pids`, when given (to watch its memory)."""
    proc = await asyncio.create_subprocess_exec(
        *args, env={**os.environ, **env}, cwd=cwd, stdout=asyncio.subprocess.DEVNULL
    )
    if pids is not None:
        pids.append(proc.pid)
    try:
        await until_healthy(f"http://127.0.0.1:{port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()


Body = tuple[str, bytes]  # (the response_url's name at the fake, the signed form)
ACK = "Saving your submission"  # what our ack says (bot.service.HOLDING, as JSON shows it)
RECEIPT_WAIT = 60.0  # seconds a receipt may take before it counts as lost


class Receipts:
    """What the fake Slack (in its own process) got on response URLs: when (its
    time.perf_counter(), the system's monotonic clock, so comparable with ours) and what."""

    def __init__(self, fake_url: str) -> None:
        self.fake_url = fake_url
        self.client = httpx.AsyncClient(base_url=fake_url, timeout=RECEIPT_WAIT + 5)

    def url(self, name: str) -> str:
        return f"{self.fake_url}/respond/{name}"

    async def wait(self, name: str) -> bool:
        """Until `name`'s response_url was posted to (at most RECEIPT_WAIT s)."""
        return bool((await self.client.get(f"/bench/wait/{name}")).json())

    async def all(self) -> dict[str, tuple[float, str]]:
        return {k: (at, text) for k, (at, text) in (await self.client.get("/bench/receipts")).json().items()}


async def fire(
    url: str,
    bodies: list[Body],
    concurrency: int,
    expect: str = "",
    receipts: Receipts | None = None,
    settled: bool = False,
) -> Result:
    """Send every body signed, at most `concurrency` at once; ack latencies in ms and errors.

    With `expect`, an ack whose text lacks it is an error too: a benchmark that counts
    "you have no window" as a success measures the wrong path. With `receipts`, also the
    time from sending each request to its receipt, which must say "Received"; with
    `settled`, each request waits for the last one's receipt."""
    latencies: list[float] = []
    sent_at: dict[str, float] = {}
    errors = 0
    queue = list(reversed(bodies))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:

        async def worker() -> None:
            nonlocal errors
            while queue:
                name, body = queue.pop()
                headers = signed_headers(body, SECRET)
                start = sent_at[name] = time.perf_counter()
                try:
                    response = await client.post("/slack/events", content=body, headers=headers)
                    ok = (
                        response.status_code == 200
                        and "went wrong" not in response.text
                        and expect in response.text
                    )
                    why = f"HTTP {response.status_code}: {response.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, why = False, repr(exc)
                if not ok and errors < 3:
                    print(f"    error: {why}")
                latencies.append((time.perf_counter() - start) * 1000)
                errors += not ok
                if settled and receipts is not None:
                    await receipts.wait(name)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    if receipts is None:
        return latencies, errors, []
    deadline = time.perf_counter() + RECEIPT_WAIT
    got = await receipts.all()
    while len(set(sent_at) - set(got)) and time.perf_counter() < deadline:
        await asyncio.sleep(0.2)
        got = await receipts.all()
    missing = [n for n in sent_at if n not in got]
    wrong = [n for n in sent_at if n in got and "Received" not in got[n][1]]
    for n in (missing + wrong)[:3]:
        print(f"    error: receipt for {n}: {got[n][1][:200] if n in got else 'none within 60 s'}")
    return (
        latencies,
        errors + len(missing) + len(wrong),
        [(got[n][0] - sent_at[n]) * 1000 for n in sent_at if n in got],
    )


async def steady(
    url: str, done: asyncio.Event, *, every: float, expect: str, tag: str = "by"
) -> tuple[list[float], int]:
    """A person using the bot meanwhile: a signed `/submit status` (answered inside its ack),
    one at a time every `every` s until `done`; its ack latencies (ms) and errors (an answer
    without `expect`, or no answer)."""
    latencies: list[float] = []
    errors = 0
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        n = 0
        while not done.is_set():
            n += 1
            body = slash_command_body("/submit", "status", user_id="UL00000", trigger_id=f"{tag}{n}")
            start = time.perf_counter()
            try:
                response = await post_signed(client, body, SECRET)
                wrong = response.status_code != 200 or expect not in response.text
                why = f"HTTP {response.status_code} {response.text[:200]}"
            except httpx.HTTPError as exc:
                wrong, why = True, repr(exc)
            if wrong and not errors:
                print(f"    first error: {why}")
            errors += wrong
            latencies.append((time.perf_counter() - start) * 1000)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), every)
    return latencies, errors


async def alongside(
    url: str, rush: Awaitable[Result], expect: str = "Your submissions", every: float = 0.1
) -> tuple[Result, Result]:
    """Run `rush`, and meanwhile `steady` requests: whether a person using the bot during a
    rush still gets an answer in Slack's 3 s. The bare apps get the same requests during
    theirs (they only ack them, `expect=""`), so the ratio compares the two under the same
    load."""
    done = asyncio.Event()
    watching = asyncio.create_task(steady(url, done, every=every, expect=expect))
    try:
        result = await rush
    finally:
        done.set()
    latencies, errors = await watching
    return result, (latencies, errors, [])


@asynccontextmanager
async def fake_apart(n: int) -> AsyncIterator[tuple[str, Receipts]]:
    """The fake Slack in a process of its own (`--serve-fake`): its work (a receipt a
    submission) must not slow the load generator's clock."""
    async with process_apart([__file__, "--serve-fake", "-n", str(n)], ROOT) as url:
        receipts = Receipts(url)
        yield f"{url}/api/", receipts
        await receipts.client.aclose()


def bench_users(n: int) -> dict[str, dict[str, Any]]:
    users: dict[str, dict[str, Any]] = {
        f"UL{i:05d}": {"name": f"ul{i:05d}", "profile": {"email": f"UL{i:05d}@s.org"}} for i in range(n)
    }
    users["UADMIN"] = {"name": "admin", "is_admin": True, "profile": {"email": "a@s.org"}}
    return users


async def serve_fake(n: int) -> None:
    """--serve-fake: the fake Slack until stdin closes, plus GET /bench/receipts (every
    response_url's last post: when, what) and GET /bench/wait/<name> (answers once posted)."""
    fake = FakeSlack(users=bench_users(n), channels={"CFRL": "frl", "CREV": "rev"})
    inner = fake._asgi
    arrived: dict[str, asyncio.Event] = {}

    async def reply(send: Any, data: Any) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json")],
            }
        )
        await send({"type": "http.response.body", "body": json.dumps(data).encode()})

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path == "/bench/receipts":
            texts = {name: payload.get("text", "") for name, payload in fake.responses}
            await reply(send, {k: (at, texts[k]) for k, at in fake.responded_at.items()})
        elif scope["type"] == "http" and path.startswith("/bench/wait/"):
            name = path.removeprefix("/bench/wait/")
            event = arrived.setdefault(name, asyncio.Event())
            if name not in fake.responded_at:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), RECEIPT_WAIT)
            await reply(send, name in fake.responded_at)
        else:
            await inner(scope, receive, send)
            if path.startswith("/respond/"):
                arrived.setdefault(path.removeprefix("/respond/"), asyncio.Event()).set()

    fake._asgi = app  # type: ignore[method-assign]
    gc.freeze()  # it keeps every call: the collector's full passes would stall it
    async with fake:
        await ready_until_stdin_closes(fake.url)


def percentiles(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": statistics.median(values), "p95": q[94], "p99": q[98]}


def report(name: str, result: Result) -> dict[str, float]:
    latencies, errors, receipts = result
    p = percentiles(latencies)
    print(
        f"  {name:44} n={len(latencies):5}  p50 {p['p50']:7.2f} ms  p95 {p['p95']:7.2f} ms  "
        f"p99 {p['p99']:7.2f} ms  errors {errors}"
    )
    if receipts:
        r = percentiles(receipts)
        print(
            f"  {'  ... its receipt, from sending':44} n={len(receipts):5}  p50 {r['p50']:7.2f} ms  "
            f"p95 {r['p95']:7.2f} ms  p99 {r['p99']:7.2f} ms"
        )
    return p


async def set_up_programme(url: str, learners: list[str]) -> None:
    """Cohort, roster and window through the real endpoint (this also warms users.info);
    stops with the bot's answer if any step did not do what it should."""

    async def say(text: str, command: str, expect: str) -> None:
        body = slash_command_body(command, text, user_id="UADMIN", channel_id="CFRL", channel_name="frl")
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            response = await post_signed(client, body, SECRET)
            response.raise_for_status()
            if expect not in response.text:
                raise SystemExit(f"set-up failed at `{command} {text[:60]}`: {response.text[:300]}")

    await say("create bench <#CFRL|frl> reviews <#CREV|rev>", "/cohort", "Created cohort")
    for start in range(0, len(learners), 250):
        await say(
            "add bench " + " ".join(f"<@{u}>" for u in learners[start : start + 250]), "/cohort", "Added"
        )
    await say("open bench creators closes +30d", "/window", "Opened")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("-n", type=int, default=2000, help="requests per app")
    parser.add_argument("-c", type=int, default=50, help="concurrency")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve_fake:
        await serve_fake(args.n)
        return
    learners = [f"UL{i:05d}" for i in range(args.n)]
    with tempfile.TemporaryDirectory() as tmp:
        db_url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        if args.database_url:
            db_url = await fresh_pg_database(args.database_url)
        async with fake_apart(args.n) as (api_url, receipts):
            env = {
                "SLACK_BOT_TOKEN": "xoxb-test",
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": api_url,
                "DATABASE_URL": db_url,
                "LINK_CHECK": "false",
                "LOG_LEVEL": "WARNING",
            }
            load = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "credentials",
                "load",
                str(ROOT / "bot/data/credentials.yml"),
                env={**os.environ, **env},
                cwd=ROOT,
                stdout=asyncio.subprocess.DEVNULL,
            )
            if await load.wait():
                raise SystemExit("could not load the credential catalogue")
            ours_port, bare_port, fast_port = free_port(), free_port(), free_port()
            uvicorn = [sys.executable, "-m", "uvicorn", "bench.bare_bolt:app", "--log-level", "warning"]
            async with (
                process(
                    [sys.executable, "-m", "bot", "serve", "--port", str(ours_port)], env, ours_port
                ) as ours,
                process([*uvicorn, "--port", str(bare_port)], env, bare_port) as bare,
                process(
                    [*uvicorn, "--port", str(fast_port)],
                    {**env, "BARE_PROCESS_BEFORE_RESPONSE": "1"},
                    fast_port,
                ) as fast,
            ):
                await set_up_programme(ours, learners)

                def submissions(version: int) -> list[Body]:
                    return [
                        (
                            f"{u}-{version}",
                            slash_command_body(
                                "/submit",
                                f"https://example.org/work/{i}/{version} -- reflection {i}",
                                user_id=u,
                                channel_id="CFRL",
                                channel_name="frl",
                                response_url=receipts.url(f"{u}-{version}"),
                            ),
                        )
                        for i, u in enumerate(learners)
                    ]

                warm = [("warm", slash_command_body("/submit", "status", user_id="UADMIN"))] * 20
                for url in (ours, bare, fast):
                    await fire(url, warm, 5)
                kind = "PostgreSQL" if "postgresql" in db_url else "SQLite"
                print(
                    f"/submit ack latency, N={args.n}, concurrency {args.c}, {kind}, {os.cpu_count()} cores"
                )
                first, second, third = submissions(1), submissions(2), submissions(3)
                meanwhile: dict[str, Result] = {}  # the bystanders' figures, by app

                async def rush(url: str, bodies: list[Body], mine: bool = False, **kw: Any) -> Result:
                    """`bodies` at `url`; at concurrency > 1 with a bystander alongside (the same
                    one for the bare apps, which only ack it; see `alongside`)."""
                    sent = fire(url, bodies, args.c, ACK if mine else "", receipts if mine else None, **kw)
                    if args.c == 1:
                        return await sent
                    result, meanwhile[url] = await alongside(
                        url, sent, expect="Your submissions" if mine else ""
                    )
                    return result

                runs: list[tuple[str, Callable[[], Awaitable[Result]]]] = [
                    (
                        "cohortbot /submit" + (", single requests" if args.c == 1 else ""),
                        lambda: rush(ours, first, mine=True, settled=args.c == 1),
                    ),
                    *(
                        [
                            (
                                "cohortbot /submit, back-to-back (new versions)",
                                lambda: rush(ours, second, mine=True),
                            )
                        ]
                        if args.c == 1
                        else []
                    ),
                    ("bare bolt, default mode", lambda: rush(bare, third)),
                    ("bare bolt, process_before_response", lambda: rush(fast, third)),
                ]
                results = {name: report(name, await run()) for name, run in runs}
                if ours in meanwhile:
                    bystanders = meanwhile[ours]
                    report("meanwhile, /submit status (answered in its ack)", bystanders)
                    print(f"    slowest {max(bystanders[0]):.0f} ms (Slack gives up at 3,000 ms)")
                ours_p = results[runs[0][0]]
                bare_p = results["bare bolt, default mode"]
                print(
                    f"  ratio ours/bare (default mode): p50 {ours_p['p50'] / bare_p['p50']:.2f}  "
                    f"p99 {ours_p['p99'] / bare_p['p99']:.2f}"
                )
        if args.database_url:
            await drop_pg_database(args.database_url, db_url)


async def fresh_pg_database(url: str) -> str:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"cohortbot_bench_{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def drop_pg_database(admin_url: str, url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
