"""A programme run in the console chat to an issued badge, with its web app served:
what the badge tests (HTTP and browser) look at."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from serving import free_port, serving

from bot.clock import FakeClock
from bot.config import Settings
from bot.platforms.console import ConsoleChat
from bot.runtime import Runtime
from bot.storage.db import Database

PROGRAMME = """
    :admin @coord
    :user @alice name="Alice Ng" email=Alice.Ng@School.org tz=America/Chicago
    @coord /cohort create spring #frl reviews #assessors tz America/Chicago
    @coord /cohort add spring @alice
    @coord /cohort add spring @dana as assessor
    @coord /window open spring creators closes 2026-03-20T17:00 America/Chicago
    @alice /submit https://example.org/makerspace -- Students designed their own podcasts
    @dana /review claim R-1
    @dana /review approve R-1 -- Wonderful work
    @alice /badges confirm
"""
STARTED = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


class Site:
    def __init__(self, chat: ConsoleChat, http: httpx.AsyncClient, base: str) -> None:
        self.chat, self.http, self.base = chat, http, base

    def uid(self, badge: str = "B-1") -> str:
        dm = next(t for t in reversed(self.chat.said("DM @alice")) if f"({badge})" in t and "/badges/" in t)
        return dm.split("/badges/", 1)[1].split()[0].split("/")[0]


@pytest.fixture
async def site(db: Database, settings: Settings) -> AsyncIterator[Site]:
    """The whole programme run in the console chat, its web app served on a free local port."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    configured = settings.model_copy(update={"public_base_url": base})
    chat = ConsoleChat(db, configured, clock=FakeClock(STARTED), out=None)
    await chat.run(PROGRAMME)
    assert chat.errors == 0 and chat.crashes == 0, chat.transcript
    async with (
        serving(Runtime(configured, clock=chat.clock), port),
        httpx.AsyncClient(base_url=base, timeout=10) as http,
    ):
        yield Site(chat, http, base)
