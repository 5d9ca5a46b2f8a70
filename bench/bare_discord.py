"""The baseline for bench/discord_ack.py: a discord.py client that only acknowledges.

An unmodified `discord.Client` with the intents our bot asks for (GUILDS), logged into the
Discord at DISCORD_API_URL / DISCORD_GATEWAY_URL with DISCORD_TOKEN, answering every interaction
at once the way discord.py answers one (`interaction.response.send_message`: a type-4 callback,
ephemeral), and doing nothing else. Run by the benchmark as a process of its own.
"""

from __future__ import annotations

import os

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

ANSWER = "ok"


class Bare(discord.Client):
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(ANSWER, ephemeral=True)


def main() -> None:
    Route.BASE = os.environ["DISCORD_API_URL"].rstrip("/")  # as the bot's own gateway does
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["DISCORD_GATEWAY_URL"])
    discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
    client = Bare(intents=discord.Intents(guilds=True))
    client.run(os.environ["DISCORD_TOKEN"], log_handler=None)


if __name__ == "__main__":
    main()
