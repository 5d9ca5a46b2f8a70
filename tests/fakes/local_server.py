"""An ASGI app under uvicorn on a free 127.0.0.1 port, for the fake services tests talk to:
started with a bounded wait for "listening", stopped at once (and for sure) afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

import uvicorn


class _Server(uvicorn.Server):
    """uvicorn that says when it is listening and stops at once when asked."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.ready = asyncio.Event()
        self.exit_now = asyncio.Event()

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self.ready.set()

    async def main_loop(self) -> None:
        await self.on_tick(0)
        while not self.should_exit:  # should_exit is also set by uvicorn's signal handler
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.exit_now.wait(), timeout=0.2)


class LocalServer:
    def __init__(self, app: Any, name: str, *, startup_timeout: float = 10.0, **config: Any) -> None:
        self.app, self.name, self.startup_timeout, self.config = app, name, startup_timeout, config
        self.port = 0
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # IPPROTO_TCP named, so asyncio turns Nagle's algorithm off on each connection (as on
        # servers it binds itself): else a kept-alive connection's answer waits ~40 ms for the
        # client's delayed ACK between its headers and its body.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
            **self.config,
        )
        self._server = _Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]), name=f"{self.name}:{self.port}")
        ready = asyncio.create_task(self._server.ready.wait())
        try:
            await asyncio.wait(
                {ready, self._task}, timeout=self.startup_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ready.cancel()
        if not self._server.ready.is_set():
            failure = self._task.exception() if self._task.done() else None
            await self.stop()
            sock.close()
            raise RuntimeError(f"{self.name} did not start within {self.startup_timeout} s") from failure

    async def stop(self) -> None:
        server, task = self._server, self._task
        if server is None or task is None:
            return
        server.should_exit = True
        server.exit_now.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=5)
        except TimeoutError:
            server.force_exit = True
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        except (Exception, SystemExit):  # start-up failures surface from start()
            pass
        self._server = self._task = None
