"""How fast Slack gets its ack for `/submit`, against a bare bolt app.

Starts, as separate processes on 127.0.0.1: our `cohortbot serve` (SQLite, or
PostgreSQL with --database-url) and a bare bolt app that only acks; both talk
to the fake Slack Web API from tests/fakeslack.py. Then fires signed `/submit`
requests through the full path (signature check, parse, database commit, ack)
and prints latency percentiles.

    .venv/bin/python bench/slack_ack.py                    # SQLite, N=2000, concurrency 50
    .venv/bin/python bench/slack_ack.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/slack_ack.py -n 300 -c 1         # single requests
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


async def fire(url: str, bodies: list[bytes], concurrency: int,
               expect: str = "") -> tuple[list[float], int]:
    """Send every body signed, at most `concurrency` at once; latencies in ms and error count.

    With `expect`, an ack whose text lacks it is an error too: a benchmark that counts
    "you have no window" as a success measures the wrong path."""
    latencies: list[float] = []
    errors = 0
    queue = list(reversed(bodies))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as client:
        async def worker() -> None:
            nonlocal errors
            while queue:
                body = queue.pop()
                headers = signed_headers(body, SECRET)
                start = time.perf_counter()
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
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors


def percentiles(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": statistics.median(values), "p95": q[94], "p99": q[98]}


def report(name: str, latencies: list[float], errors: int) -> dict[str, float]:
    p = percentiles(latencies)
    print(f"  {name:38} n={len(latencies):5}  p50 {p['p50']:7.2f} ms  p95 {p['p95']:7.2f} ms  "
          f"p99 {p['p99']:7.2f} ms  errors {errors}")
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
                bodies = [slash_command_body("/submit", f"https://example.org/work/{i} -- reflection {i}",
                                             user_id=u, channel_id="CFRL", channel_name="frl")
                          for i, u in enumerate(learners)]
                warm = [slash_command_body("/submit", "status", user_id="UADMIN")] * 20
                for url in (ours, bare, fast):
                    await fire(url, warm, 5)
                kind = "PostgreSQL" if "postgresql" in db_url else "SQLite"
                print(f"/submit ack latency, N={args.n}, concurrency {args.c}, {kind}, "
                      f"{os.cpu_count()} cores")
                runs: list[tuple[str, Callable[[], Awaitable[tuple[list[float], int]]]]] = [
                    ("cohortbot /submit (commit + receipt)",
                     lambda: fire(ours, bodies, args.c, expect="Received")),
                    ("bare bolt, default mode", lambda: fire(bare, bodies, args.c)),
                    ("bare bolt, process_before_response", lambda: fire(fast, bodies, args.c)),
                ]
                results = {name: report(name, *await run()) for name, run in runs}
                ours_p = results[runs[0][0]]
                bare_p = results[runs[1][0]]
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
