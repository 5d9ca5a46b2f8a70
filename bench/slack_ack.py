"""How fast Slack gets its ack for `/submit`, against a bare bolt app.

Starts, as separate processes on 127.0.0.1: our `cohortbot serve` (SQLite, or
PostgreSQL with --database-url) and a bare bolt app that only acks; both talk
to the fake Slack Web API from tests/fakeslack.py. Then fires signed `/submit`
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
import os
import socket
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
sys.path.insert(0, str(ROOT / "tests"))
from fakeslack import FakeSlack, signed_headers, slash_command_body  # noqa: E402

SECRET = "bench-secret"
Result = tuple[list[float], int, list[float]]  # ack latencies (ms), errors, receipt latencies (ms)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def process(args: list[str], env: dict[str, str], port: int) -> AsyncIterator[str]:
    """A server process on 127.0.0.1:port, ready when /healthz answers; stopped afterwards."""
    proc = await asyncio.create_subprocess_exec(*args, env={**os.environ, **env}, cwd=ROOT,
                                                stdout=asyncio.subprocess.DEVNULL)
    try:
        async with httpx.AsyncClient(timeout=1) as probe:
            for _ in range(300):
                try:
                    if (await probe.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            else:
                raise RuntimeError(f"{args} did not start within 15 s")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()


Body = tuple[str, bytes]  # (the response_url's name at the fake, the signed form)
ACK = "Saving your submission"  # how our ack begins (bot.service.HOLDING, as JSON shows it)
RECEIPT_WAIT = 60.0  # seconds a receipt may take before it counts as lost


async def fire(url: str, bodies: list[Body], concurrency: int, expect: str = "",
               receipts: FakeSlack | None = None, settled: bool = False) -> Result:
    """Send every body signed, at most `concurrency` at once; ack latencies in ms and errors.

    With `expect`, an ack whose text lacks it is an error too: a benchmark that counts
    "you have no window" as a success measures the wrong path. With `receipts` (the fake
    the app answers on), also the time from sending each request to its receipt, which
    must say "Received"; with `settled`, each request waits for the last one's receipt."""
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
                    ok = (response.status_code == 200 and "went wrong" not in response.text
                          and expect in response.text)
                    why = f"HTTP {response.status_code}: {response.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, why = False, repr(exc)
                if not ok and errors < 3:
                    print(f"    error: {why}")
                latencies.append((time.perf_counter() - start) * 1000)
                errors += not ok
                if settled and receipts is not None:
                    await receipt_of(receipts, [name], RECEIPT_WAIT)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    if receipts is None:
        return latencies, errors, []
    missing = await receipt_of(receipts, list(sent_at), RECEIPT_WAIT)
    texts = {name: payload.get("text", "") for name, payload in receipts.responses}
    wrong = [n for n in sent_at if n in texts and "Received" not in texts[n]]
    for n in (missing + wrong)[:3]:
        print(f"    error: receipt for {n}: {texts.get(n, f'none within {RECEIPT_WAIT:.0f} s')[:200]}")
    return (latencies, errors + len(missing) + len(wrong),
            [(receipts.responded_at[n] - sent_at[n]) * 1000 for n in sent_at if n in receipts.responded_at])


async def receipt_of(fake: FakeSlack, names: list[str], within: float) -> list[str]:
    """Wait until each name's response_url was posted to; the names still waiting after `within` s."""
    deadline = time.perf_counter() + within
    while True:
        waiting = [n for n in names if n not in fake.responded_at]
        if not waiting or time.perf_counter() > deadline:
            return waiting
        await asyncio.sleep(0.0005)


def percentiles(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": statistics.median(values), "p95": q[94], "p99": q[98]}


def report(name: str, result: Result) -> dict[str, float]:
    latencies, errors, receipts = result
    p = percentiles(latencies)
    print(f"  {name:44} n={len(latencies):5}  p50 {p['p50']:7.2f} ms  p95 {p['p95']:7.2f} ms  "
          f"p99 {p['p99']:7.2f} ms  errors {errors}")
    if receipts:
        r = percentiles(receipts)
        print(f"  {'  ... its receipt, from sending':44} n={len(receipts):5}  p50 {r['p50']:7.2f} ms  "
              f"p95 {r['p95']:7.2f} ms  p99 {r['p99']:7.2f} ms")
    return p


async def set_up_programme(url: str, learners: list[str]) -> None:
    """Cohort, roster and window through the real endpoint (this also warms users.info);
    stops with the bot's answer if any step did not do what it should."""
    async def say(text: str, command: str, expect: str) -> None:
        body = slash_command_body(command, text, user_id="UADMIN", channel_id="CFRL",
                                  channel_name="frl")
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            response = await client.post("/slack/events", content=body,
                                         headers=signed_headers(body, SECRET))
            response.raise_for_status()
            if expect not in response.text:
                raise SystemExit(f"set-up failed at `{command} {text[:60]}`: {response.text[:300]}")
    await say("create bench <#CFRL|frl> reviews <#CREV|rev>", "/cohort", "Created cohort")
    for start in range(0, len(learners), 250):
        await say("add bench " + " ".join(f"<@{u}>" for u in learners[start:start + 250]), "/cohort",
                  "Added")
    await say("open bench creators closes +30d", "/window", "Opened")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("-n", type=int, default=2000, help="requests per app")
    parser.add_argument("-c", type=int, default=50, help="concurrency")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()

    learners = [f"UL{i:05d}" for i in range(args.n)]
    users: dict[str, dict[str, Any]] = {u: {"name": u.lower(), "profile": {"email": f"{u}@s.org"}}
                                        for u in learners}
    users["UADMIN"] = {"name": "admin", "is_admin": True, "profile": {"email": "a@s.org"}}
    with tempfile.TemporaryDirectory() as tmp:
        db_url = args.database_url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        if args.database_url:
            db_url = await fresh_pg_database(args.database_url)
        async with FakeSlack(users=users, channels={"CFRL": "frl", "CREV": "rev"}) as fake:
            env = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SECRET,
                   "SLACK_API_URL": fake.api_url, "DATABASE_URL": db_url, "LINK_CHECK": "false",
                   "LOG_LEVEL": "WARNING"}
            load = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "credentials", "load", str(ROOT / "bot/data/credentials.yml"),
                env={**os.environ, **env}, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL)
            if await load.wait():
                raise SystemExit("could not load the credential catalogue")
            ours_port, bare_port, fast_port = free_port(), free_port(), free_port()
            uvicorn = [sys.executable, "-m", "uvicorn", "bench.bare_bolt:app", "--log-level", "warning"]
            async with (
                process([sys.executable, "-m", "bot", "serve", "--port", str(ours_port)], env,
                        ours_port) as ours,
                process([*uvicorn, "--port", str(bare_port)], env, bare_port) as bare,
                process([*uvicorn, "--port", str(fast_port)],
                        {**env, "BARE_PROCESS_BEFORE_RESPONSE": "1"}, fast_port) as fast,
            ):
                await set_up_programme(ours, learners)
                def submissions(version: int) -> list[Body]:
                    return [(f"{u}-{version}", slash_command_body(
                        "/submit", f"https://example.org/work/{i}/{version} -- reflection {i}",
                        user_id=u, channel_id="CFRL", channel_name="frl",
                        response_url=fake.response_url(f"{u}-{version}")))
                        for i, u in enumerate(learners)]
                warm = [("warm", slash_command_body("/submit", "status", user_id="UADMIN"))] * 20
                for url in (ours, bare, fast):
                    await fire(url, warm, 5)
                kind = "PostgreSQL" if "postgresql" in db_url else "SQLite"
                print(f"/submit ack latency, N={args.n}, concurrency {args.c}, {kind}, "
                      f"{os.cpu_count()} cores")
                first, second, third = submissions(1), submissions(2), submissions(3)
                runs: list[tuple[str, Callable[[], Awaitable[Result]]]] = [
                    ("cohortbot /submit" + (", single requests" if args.c == 1 else ""),
                     lambda: fire(ours, first, args.c, ACK, fake, settled=args.c == 1)),
                    *([("cohortbot /submit, back-to-back (new versions)",
                        lambda: fire(ours, second, args.c, ACK, fake))] if args.c == 1 else []),
                    ("bare bolt, default mode", lambda: fire(bare, third, args.c)),
                    ("bare bolt, process_before_response", lambda: fire(fast, third, args.c)),
                ]
                results = {name: report(name, await run()) for name, run in runs}
                ours_p = results[runs[0][0]]
                bare_p = results["bare bolt, default mode"]
                print(f"  ratio ours/bare (default mode): p50 {ours_p['p50'] / bare_p['p50']:.2f}  "
                      f"p99 {ours_p['p99'] / bare_p['p99']:.2f}")
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
