"""Our bot as Discord sees it, for tests over the wire: the real runtime with its Discord platform,
its unmodified discord.py client logged into a fake Discord (tests/fakes/discord), the commands
registered as `cohortbot discord sync` registers them. People act in the fake; the bot answers
over the gateway and REST, and the outbox delivers as the worker would."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fakes.discord import FakeDiscord, Interaction
from fakes.discord.fixtures import discord_py_at

from bot.clock import FakeClock
from bot.config import Settings
from bot.platforms.discord.app import DiscordPlatform
from bot.platforms.discord.sync import sync_commands
from bot.runtime import Runtime

READY_WITHIN = 5.0
# For conversations, where Discord's rate limits are not the point: the fake's channel bucket (50
# a second unless a test sets one), so that what it publishes changes nothing, and no waiting.
UNLIMITED: dict[str, Any] = {
    "discord_channel_rate": 50.0,
    "discord_channel_burst": 100,
    "discord_global_rate": 1000.0,
}


def discord_settings(settings: Settings, fake: FakeDiscord, **changes: Any) -> Settings:
    """Settings for a bot on `fake`: its token and URLs, commands registered in its servers."""
    return settings.model_copy(
        update={
            "discord_token": fake.token,
            "discord_api_url": fake.api_url,
            "discord_gateway_url": fake.gateway_url,
            "discord_guild_ids": ",".join(str(g) for g in fake.world.guilds),
            "discord_handlers": 0,  # answered in this process, on the test's clock
            **changes,
        }
    )


def discord_env(fake: FakeDiscord, global_rate: float = 50.0) -> dict[str, str]:
    """Discord's settings for a `cohortbot` process against `fake` (`delivery_kit.process_env`):
    its token and URLs, and the bot's global rate (the fake's own is 50 a second unless set)."""
    return {
        "DISCORD_TOKEN": fake.token,
        "DISCORD_API_URL": fake.api_url,
        "DISCORD_GATEWAY_URL": fake.gateway_url,
        "DISCORD_GLOBAL_RATE": f"{global_rate:g}",
    }


class DiscordWire:
    """The runtime with its gateway connected: act in the fake, then `settle`."""

    def __init__(self, runtime: Runtime, fake: FakeDiscord) -> None:
        self.runtime, self.fake = runtime, fake

    @property
    def platform(self) -> DiscordPlatform:
        platform = self.runtime.platforms["discord"]
        assert isinstance(platform, DiscordPlatform)
        return platform

    async def settle(self, *, deliver: bool = True) -> None:
        """Let the platform's follow-ups finish and, unless `deliver` is false, the outbox
        deliver (as the worker would), then the follow-ups that started."""
        await self.platform.drain()
        if deliver:
            await self.runtime.deliverer.deliver_due()
            await self.platform.drain()

    async def answered(self, interaction: Interaction, *, deliver: bool = True) -> Interaction:
        """Wait for the bot's answer to `interaction` (a deferred one filled in), then settle."""
        await self.fake.answer(interaction)
        await self.fake.wait_until(lambda: not interaction.loading, what="the deferred answer")
        await self.settle(deliver=deliver)
        return interaction


@asynccontextmanager
async def gateway_up(runtime: Runtime, fake: FakeDiscord) -> AsyncIterator[DiscordWire]:
    """The runtime's Discord gateway connected to `fake` (READY), stopped afterwards."""
    wire = DiscordWire(runtime, fake)
    wire.platform.guild_ready_timeout = 0.02  # the fake sends every server at once, before READY ends
    stop = asyncio.Event()
    task = asyncio.create_task(wire.platform.gateway(stop))
    try:
        await fake.wait_until(
            lambda: task.done() or (wire.platform.client is not None and wire.platform.client.is_ready()),
            within=READY_WITHIN,
            what="the bot's gateway client to be ready",
        )
        if task.done():
            task.result()
        yield wire
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 5)


@asynccontextmanager
async def discord_bot(
    fake: FakeDiscord, settings: Settings, clock: FakeClock, **changes: Any
) -> AsyncIterator[DiscordWire]:
    """The bot configured for `fake` (commands synced), its gateway connected, on `clock`."""
    configured = discord_settings(settings, fake, **changes)
    runtime = Runtime(configured, clock=clock)
    await runtime.start()
    try:
        with discord_py_at(fake):
            await sync_commands(configured)
            async with gateway_up(runtime, fake) as wire:
                yield wire
    finally:
        await runtime.stop()
