"""Serve the real web app on a free 127.0.0.1 port for a test, and stop it afterwards."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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
    async with httpx.AsyncClient(timeout=1) as probe:
        for _ in range(200):
            try:
                if (await probe.get(f"{url}/healthz")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    try:
        yield url
    finally:
        stop.set()
        await asyncio.wait_for(server, 10)
        await runtime.stop()
