"""Discord (issue 15): app commands, buttons and modals over the gateway.

Until its adapter lands, a DISCORD_TOKEN is refused with a sentence saying so, rather than
leaving `run` with no chat at all.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from bot.config import Settings

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from bot.service import CohortBot
    from bot.storage.db import Database

NAME = "discord"

log = logging.getLogger(__name__)


def configured(settings: Settings) -> bool:
    return bool(settings.discord_token)


def problem(settings: Settings) -> str | None:
    if not settings.discord_token:
        return None
    if settings.slack_bot_token or settings.slack_client_id:
        return None  # Slack runs; the token waits for the adapter
    return (
        "DISCORD_TOKEN is set, but this version of Cohort Bot cannot talk to "
        "Discord yet (the Discord adapter is on its way). Unset DISCORD_TOKEN to "
        "use the console chat, or set Slack's settings (README: Slack)."
    )


def build(settings: Settings, bot: CohortBot, db: Database) -> None:
    log.warning("DISCORD_TOKEN is set, but this version cannot talk to Discord yet: running without it")


def absent_routes() -> list[BaseRoute]:
    return []  # Discord reaches the bot over its gateway, not our web routes
