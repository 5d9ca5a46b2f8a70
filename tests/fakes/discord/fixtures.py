"""pytest's side of the fake Discord: the `fake_discord` fixture, pointing discord.py at it for
the test's duration, and running a client against it with bounded waits."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator

import discord
import pytest
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from .server import FakeDiscord

START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0


@contextlib.contextmanager
def discord_py_at(fake: FakeDiscord) -> Iterator[None]:
    """Point discord.py at the fake, and back afterwards. This is the library's configuration, not
    a patch of its behaviour: REST URLs are built on the class attribute `Route.BASE`, and a
    plain `Client` (discord.py 2.7, as installed) connects to `DiscordWebSocket.DEFAULT_GATEWAY`
    without asking `GET /gateway/bot` (which the fake answers too, for clients that do ask); it
    resumes at READY's `resume_gateway_url`, the fake's."""
    base, gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = fake.api_url
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = base, gateway


@contextlib.asynccontextmanager
async def running(
    client: discord.Client, fake: FakeDiscord, *, token: str | None = None, within: float = START_TIMEOUT
) -> AsyncIterator[discord.Client]:
    """`client` logged in to the fake and READY (within `within` seconds), closed afterwards. A failure
    to start (a refused token, a closed gateway) is raised as itself, not as a timeout."""
    task = asyncio.create_task(client.start(token or fake.token), name="discord-client")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    try:
        while not client.is_ready():
            if task.done():
                task.result()  # raises what stopped it
                raise RuntimeError("the client stopped before it was ready")
            if loop.time() > deadline:
                raise TimeoutError(f"the client was not READY within {within} s")
            await asyncio.sleep(0.01)
        yield client
    finally:
        await asyncio.wait_for(client.close(), STOP_TIMEOUT)
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, STOP_TIMEOUT)


@pytest.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A fake Discord on a free 127.0.0.1 port with discord.py pointed at it. After the test, any
    broken rule nobody claimed with `take_violations` fails it (an interaction never answered
    among them)."""
    async with FakeDiscord() as fake:
        with discord_py_at(fake):
            yield fake
        fake.check_violations(ending=True)
