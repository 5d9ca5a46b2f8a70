"""What a hostile request costs the bot: memory of `cohortbot serve` while unsigned bodies of
40 MB are sent to /slack/events, and the acks of real commands sent meanwhile.

Starts, on 127.0.0.1, the fake Slack (its own process) and our `cohortbot serve` (SQLite, or
PostgreSQL with --database-url). Real signed `/submit status` commands (answered inside their
ack, through the database) go one every 20 ms throughout. First alone (the baseline), then
while attackers send, each as fast as loopback takes it: 40 MB declared with Content-Length,
40 MB chunked with no length, and 1 GiB declared and trickled. The serving process's
resident memory is sampled every 5 ms.

    .venv/bin/python bench/hostile.py
    .venv/bin/python bench/hostile.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
from serving import free_port, post_raw  # noqa: E402

from bench.slack_ack import SECRET, fake_apart, fresh_pg_database, percentiles, process, steady  # noqa: E402

BODY = 40 * 1024 * 1024
CHUNK = b"payload=" + b"x" * (256 * 1024 - 8)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


async def watch_memory(pid: int, stop: asyncio.Event) -> int:
    """The most resident memory (KiB) seen until `stop`."""
    peak = 0
    while not stop.is_set():
        peak = max(peak, rss_kib(pid))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.005)
    return peak


async def attack(url: str, head: str, total: int, chunked: bool = False) -> tuple[str, int, int]:
    async def body() -> AsyncIterator[bytes]:
        for _ in range(total // len(CHUNK)):
            yield f"{len(CHUNK):x}\r\n".encode() + CHUNK + b"\r\n" if chunked else CHUNK
        if chunked:
            yield b"0\r\n\r\n"

    return await post_raw(url, head, body(), within=60)


def head(length: str | None) -> str:
    framing = f"Content-Length: {length}" if length else "Transfer-Encoding: chunked"
    return (
        f"POST /slack/events HTTP/1.1\r\nHost: bot\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"{framing}\r\n\r\n"
    )


async def phase(url: str, pid: int, seconds: float, attacks: bool) -> None:
    stop = asyncio.Event()
    before = rss_kib(pid)
    memory = asyncio.create_task(watch_memory(pid, stop))
    commands = asyncio.create_task(
        steady(url, stop, every=0.02, expect="submissions", tag="attacked" if attacks else "alone")
    )
    outcomes: list[tuple[str, str, int, int]] = []
    started = time.perf_counter()
    if attacks:
        kinds = [
            ("40 MB, Content-Length", head(str(BODY)), BODY, False),
            ("40 MB, chunked", head(None), BODY, True),
            ("1 GiB declared, sent as fast as taken", head(str(1 << 30)), 1 << 30, False),
        ]
        for _ in range(3):
            for name, h, total, chunked in kinds:
                outcomes.append((name, *await attack(url, h, total, chunked)))
    await asyncio.sleep(max(0.0, seconds - (time.perf_counter() - started)))
    stop.set()
    latencies, errors = await commands
    peak = await memory
    p = percentiles(latencies)
    label = "real commands during the attacks" if attacks else "real commands alone (baseline)"
    print(
        f"  {label:36} n={len(latencies):4}  p50 {p['p50']:6.2f} ms  p99 {p['p99']:6.2f} ms  "
        f"max {max(latencies):7.2f} ms  errors {errors}"
    )
    print(
        f"  {'':36} serve RSS before {before / 1024:6.1f} MB, peak {peak / 1024:6.1f} MB "
        f"(+{(peak - before) / 1024:.1f} MB)"
    )
    for name, status, answered, sent in outcomes:
        print(
            f"    attack {name:38} {status[9:]!r:28} after {answered / 1e6:6.2f} MB sent; "
            f"{sent / 1e6:7.2f} MB in all before the server closed"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    parser.add_argument("--seconds", type=float, default=6.0, help="each phase lasts at least this")
    parser.add_argument(
        "--code",
        type=Path,
        default=ROOT,
        help="serve the bot from this checkout (e.g. a git worktree of an older commit)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db_url = (
            await fresh_pg_database(args.database_url)
            if args.database_url
            else f"sqlite+aiosqlite:///{tmp}/bench.db"
        )
        async with fake_apart(10) as (api_url, _):
            env = {
                "SLACK_BOT_TOKEN": "xoxb-test",
                "SLACK_SIGNING_SECRET": SECRET,
                "SLACK_API_URL": api_url,
                "DATABASE_URL": db_url,
                "LINK_CHECK": "false",
                "LOG_LEVEL": "ERROR",
            }
            port, pids = free_port(), []
            async with process(
                [sys.executable, "-m", "bot", "serve", "--port", str(port)], env, port, pids, cwd=args.code
            ) as url:
                print(f"hostile bodies against cohortbot serve ({db_url.split(':', 1)[0]}, {args.code})")
                await phase(url, pids[0], args.seconds, attacks=False)
                await phase(url, pids[0], args.seconds, attacks=True)


if __name__ == "__main__":
    asyncio.run(main())
