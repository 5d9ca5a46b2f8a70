"""One evidence-link check against a local 128 MB file: memory, wall time and bytes read.

A learner linking a video must not make the bot download it. A helper process (so its
memory and CPU are not ours) serves 128 MiB bodies made a chunk at a time, as a video
(`/lecture.mp4`, judged from its headers) and as an HTML page (`/huge.html`, of which
SNIFF_BYTES are read to look for a password form), and counts what its socket took
before the checker hung up (that includes what waits in both ends' kernel buffers).
Here, every byte the process takes off a socket is counted too (headers included):
what the check really read.

For each, in this process: one `check_links([url])` after a warm-up check of a small
page, with the process's RSS just before it as the bare baseline; then the same check
again under tracemalloc for the Python heap's peak. With --whole, last, a plain httpx
GET of the video (what the checker did before it streamed) for contrast.

    .venv/bin/python bench/linkcheck.py
    .venv/bin/python bench/linkcheck.py --timeout 2 --whole
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import platform
import resource
import sys
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from anyio._backends._asyncio import StreamProtocol  # noqa: E402

from bench.apart import process_apart, ready_until_stdin_closes  # noqa: E402
from bench.fanout import load, revision  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.linkcheck import SNIFF_BYTES, check_links  # noqa: E402

SIZE = 128 * 1024 * 1024
CHUNK = b"x" * 65536
BODIES = {"/lecture.mp4": "video/mp4", "/huge.html": "text/html"}
SMALL = b"<html><title>Unit 3</title><body>My reflection.</body></html>"
TARGET_READ = 1024 * 1024  # bytes; and the check must end within LINK_CHECK_TIMEOUT
MB = 1024 * 1024


# ------------------------------------------------------------------ the helper process


def serve() -> None:
    """The 128 MiB bodies, `/small.html`, and `/sent`: what the last big body's socket took."""
    sent: dict[str, int] = {}
    done = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def head(self, content_type: str, length: int) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(length))
            self.end_headers()

        def do_GET(self) -> None:
            if self.path in BODIES:
                done.clear()
                self.head(BODIES[self.path], SIZE)
                count = 0
                try:
                    while count < SIZE:
                        self.wfile.write(CHUNK)
                        count += len(CHUNK)
                except OSError:  # the checker hung up
                    pass
                finally:
                    sent["last"] = count
                    done.set()
            elif self.path == "/sent":
                done.wait(10)
                body = str(sent.get("last", -1)).encode()
                self.head("text/plain", len(body))
                self.wfile.write(body)
            else:
                self.head("text/html", len(SMALL))
                self.wfile.write(SMALL)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    asyncio.run(ready_until_stdin_closes(f"http://127.0.0.1:{server.server_address[1]}"))
    server.shutdown()


# ------------------------------------------------------------------ measuring


class BytesIn:
    """Every byte this process takes off a socket: httpcore reads through anyio's StreamProtocol."""

    def __init__(self) -> None:
        self.count = 0
        original = StreamProtocol.data_received

        def data_received(protocol: StreamProtocol, data: bytes) -> None:
            self.count += len(data)
            original(protocol, data)

        StreamProtocol.data_received = data_received  # type: ignore[method-assign]


BYTES_IN = BytesIn()


def rss_mb() -> float:
    """Resident memory now (not the peak), from /proc."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def measure(name: str, run: Callable[[], Awaitable[tuple[str, int]]], base: str) -> dict[str, Any]:
    """`run` once for RSS and wall time, once more under tracemalloc; the server's count after each."""
    gc.collect()
    rss_before, peak_before = rss_mb(), peak_rss_mb()
    BYTES_IN.count = 0
    started = time.perf_counter()
    verdict, read = await run()
    wall = time.perf_counter() - started
    bytes_in = BYTES_IN.count
    rss_after, peak_after = rss_mb(), peak_rss_mb()
    async with httpx.AsyncClient() as client:
        sent = int((await client.get(f"{base}/sent", timeout=15)).text)
        gc.collect()
        tracemalloc.start()
        await run()
        heap_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        await client.get(f"{base}/sent", timeout=15)  # once that body's sending has ended
    return dict(
        name=name,
        verdict=verdict,
        read=read,
        bytes_in=bytes_in,
        sent=sent,
        wall=wall,
        rss_before=rss_before,
        rss_growth=rss_after - rss_before,
        peak_growth=peak_after - peak_before,
        heap_peak=heap_peak / MB,
    )


def report(r: dict[str, Any]) -> None:
    print(
        f"  {r['name']:24} {r['verdict']:3} body read {r['read']:>11,} B, off the socket "
        f"{r['bytes_in']:>11,} B | server sent {r['sent']:>11,} B | "
        f"{r['wall'] * 1000:7.1f} ms | RSS {r['rss_before']:.1f} MB before, {r['rss_growth']:+.1f} MB "
        f"after, peak {r['peak_growth']:+.1f} MB | tracemalloc peak {r['heap_peak']:.2f} MB"
    )


async def bench(args: argparse.Namespace) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url="sqlite+aiosqlite://",
        link_check=True,
        link_check_allow_loopback=True,
        link_check_timeout=args.timeout,
    )

    def checking(url: str) -> Callable[[], Awaitable[tuple[str, int]]]:
        async def run() -> tuple[str, int]:
            [result] = await check_links([url], settings)
            return f"{result.verdict}{' ' + result.detail if result.detail else ''}", result.read

        return run

    async with process_apart([__file__, "--serve"], ROOT) as base:
        await checking(f"{base}/small.html")()  # warm-up: imports, the TLS context, the event loop
        print(
            f"link check · {datetime.now(UTC):%Y-%m-%d %H:%M} UTC · commit {revision()} · Python "
            f"{platform.python_version()} · httpx {httpx.__version__} · {os.cpu_count()} cores · {load()}"
        )
        print(f"LINK_CHECK_TIMEOUT {args.timeout:g} s · SNIFF_BYTES {SNIFF_BYTES:,} · bodies of {SIZE:,} B")
        results = [await measure(f"check {path}", checking(f"{base}{path}"), base) for path in BODIES]
        for r in results:
            report(r)
        if args.whole:

            async def whole() -> tuple[str, int]:
                async with httpx.AsyncClient(timeout=args.timeout) as client:
                    response = await client.get(f"{base}/lecture.mp4")
                return str(response.status_code), len(response.content)

            report(await measure("whole GET /lecture.mp4", whole, base))
    worst_read = max(r["bytes_in"] for r in results)
    worst_wall = max(r["wall"] for r in results)
    met = worst_read < TARGET_READ and worst_wall < args.timeout
    print(
        f"target < {TARGET_READ:,} B off the socket and < {args.timeout:g} s: "
        f"{'met' if met else 'MISSED'} (at most {worst_read:,} B, {worst_wall * 1000:.1f} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--timeout", type=float, default=5.0, help="LINK_CHECK_TIMEOUT in seconds")
    parser.add_argument("--whole", action="store_true", help="also a plain GET of the whole video")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve()
    else:
        asyncio.run(bench(args))


if __name__ == "__main__":
    main()
