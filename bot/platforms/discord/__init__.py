"""Discord: app commands, buttons, modals and autocomplete over the gateway; messages over REST.

app.py the gateway client and the interactions, commands.py the application commands made from
the grammar, render.py messages as Discord's JSON, forms.py forms as modals, directory.py who a
member is, transport.py the outbox's sends, rest.py the HTTP calls the bot makes itself. This
module is the plug-in `bot.platforms` reads; it imports nothing of discord.py until a Discord
platform is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.config import Settings

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from bot.platforms.discord.app import DiscordPlatform
    from bot.service import CohortBot
    from bot.storage.db import Database

NAME = "discord"


def configured(settings: Settings) -> bool:
    return bool(settings.discord_token)


def problem(settings: Settings) -> str | None:
    if not settings.discord_token:
        return None
    wrong = [g for g in settings.discord_guilds if not g.isdigit()]
    if wrong:
        return (
            f"DISCORD_GUILD_IDS holds {', '.join(wrong)}, which is not a server id: give the "
            "servers' numeric ids, separated by commas (Discord: Copy Server ID)."
        )
    if settings.discord_application_id and not settings.discord_application_id.isdigit():
        return "DISCORD_APPLICATION_ID is not an application id: it is a number (Developer Portal)."
    return None


def build(settings: Settings, bot: CohortBot, db: Database) -> DiscordPlatform:
    from bot.platforms.discord.app import DiscordPlatform

    return DiscordPlatform(bot, settings)


def absent_routes() -> list[BaseRoute]:
    return []  # Discord reaches the bot over its gateway, not our web routes
