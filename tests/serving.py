"""Serve the real web app on a free 127.0.0.1 port for a test, and stop it afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import IO

import httpx

from bot.runtime import Runtime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serving(runtime: Runtime, port: int | None = None) -> AsyncIterator[str]:
    """The app under uvicorn, ready when /healthz answers (bounded); its URL."""
    await runtime.start()
    port = port or free_port()
    stop = asyncio.Event()
    server = asyncio.create_task(runtime.serve(stop, "127.0.0.1", port))
    url = f"http://127.0.0.1:{port}"
    await until_healthy(url)
    try:
        yield url
    finally:
        stop.set()
        await asyncio.wait_for(server, 10)
        await runtime.stop()


async def until_healthy(url: str, within: float = 15.0) -> None:
    """Wait until `url`/healthz answers 200; RuntimeError if it has not within `within` s."""
    async with httpx.AsyncClient(timeout=1) as probe:
        for _ in range(int(within / 0.05)):
            try:
                if (await probe.get(f"{url}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} was not healthy within {within:g} s")


@asynccontextmanager
async def serve_process(
    env: dict[str, str], cwd: Path, log: IO[bytes]
) -> AsyncIterator[tuple[asyncio.subprocess.Process, str]]:
    """`cohortbot serve` as a process of its own on a free port, and its URL; killed afterwards
    if the test has not killed it already."""
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "serve", "--port", str(port), cwd=cwd, env=env, stdout=log, stderr=log
    )
    try:
        url = f"http://127.0.0.1:{port}"
        await until_healthy(url)
        yield proc, url
    finally:
        if proc.returncode is None:
            proc.kill()
            await asyncio.wait_for(proc.wait(), 10)


async def post_raw(
    url: str, head: str, body: AsyncIterator[bytes], within: float = 10.0
) -> tuple[str, int, int]:
    """Send a request as a raw HTTP client would, head then body as fast as the server takes
    it, reading the answer as soon as there is one. Its status line, the body bytes sent
    before it came, and all that were sent until the server closed the connection (or the
    body ended, or two seconds after the answer): a server that reads a refused body to its
    end shows here."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    sent = 0

    async def upload() -> None:
        nonlocal sent
        writer.write(head.encode())
        with contextlib.suppress(ConnectionError):
            async for chunk in body:
                writer.write(chunk)
                await writer.drain()
                sent += len(chunk)

    uploading = asyncio.create_task(upload())
    try:
        status = (await asyncio.wait_for(reader.readline(), within)).decode().strip() or "(closed)"
    except (TimeoutError, ConnectionError) as exc:
        status = repr(exc)
    answered_at = sent
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(uploading), 2.0)
    uploading.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await uploading
    writer.close()
    return status, answered_at, sent
