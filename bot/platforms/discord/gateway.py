"""The gateway: an unmodified discord.py `Client` keeps the connection (login, heartbeats,
resumes) and parses each interaction; we acknowledge it and hand it on as plain data (`Asked`).
Nothing else of discord.py is used."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.config import ConfigError, Settings
from bot.platforms.discord.answers import Answers
from bot.platforms.discord.asked import Asked
from bot.platforms.discord.rest import NEW_TOKEN

INTENTS = discord.Intents(guilds=True)  # see README: interactions need no intent at all


class Receiver(Protocol):
    """Where the gateway hands interactions on, acknowledged: the handlers in its own process
    (the platform) or in processes of their own (`processes.HandlerProcesses`)."""

    def hold(self) -> None:
        """Count the interaction being acknowledged now among what shutdown (and a test) waits
        for."""

    def take(self, asked: Asked) -> None: ...


class Gateway(discord.Client):
    """discord.py's client as it comes. It asks for the GUILDS intent only (servers, their
    channels and roles); none of the privileged ones. It acknowledges each interaction that can
    be deferred before anything else, and hands it on."""

    def __init__(self, answers: Answers, receiver: Receiver, *, guild_ready_timeout: float) -> None:
        # the bot has no voice: discord.py's warnings that voice's libraries are missing are moot
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(intents=INTENTS, guild_ready_timeout=guild_ready_timeout)
        self.answers, self.receiver = answers, receiver

    def guild_ids(self) -> tuple[str, ...]:
        return tuple(str(g.id) for g in self.guilds)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        """Every interaction, a button's too: a button's custom id is the command it runs
        (`render.button`), so it is answered after a restart, by any process, with nothing kept
        in memory. Acknowledge, then hand on: the work starts once Discord has the "thinking…"
        it fills in, never beside the acknowledgement (bench/README.md), and never for one
        Discord refused (its person was told "This interaction failed": a `/submit` taken in
        anyway would be sent again). What cannot be deferred goes on at once."""
        self.receiver.hold()
        in_dm = interaction.guild_id is None
        asked = Asked.of(interaction, self.guild_ids() if in_dm else ())
        if not asked.deferred or await self.answers.acknowledge(asked):
            self.receiver.take(asked)


async def connect(client: Gateway, settings: Settings, stop: asyncio.Event) -> None:
    """Keep `client` connected until `stop`: one connection per bot token (README: running
    it). A token Discord refuses stops it, and the process, with a sentence."""
    Route.BASE = settings.discord_api_url.rstrip("/")  # where discord.py's REST goes
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.discord_gateway_url)
    running = asyncio.create_task(client.start(settings.discord_token or ""), name="discord-gateway")
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            running.result()
    except discord.LoginFailure as refused:
        raise ConfigError(f"Discord refused DISCORD_TOKEN ({refused}): {NEW_TOKEN}.") from None
    except discord.PrivilegedIntentsRequired:
        raise ConfigError("Discord refused the gateway intents this bot asks for.") from None
    finally:
        stopping.cancel()
        await client.close()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await running
