"""Slack: slash commands, buttons, modals and events in (HTTP or Socket Mode); Block Kit out.

app.py the listeners, directory.py who a user is, transport.py the outbox's sends, blocks.py
and forms.py Block Kit, payload.py what a request must be, web.py routes and Socket Mode,
manifest.py the app manifest. This module is the plug-in `bot.platforms` reads; it imports
nothing of Slack's SDK until a Slack app is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.config import Settings

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from bot.platforms.slack.app import SlackPlatform
    from bot.service import CohortBot
    from bot.storage.db import Database

NAME = "slack"


def configured(settings: Settings) -> bool:
    return bool(settings.slack_bot_token or settings.slack_client_id)


def problem(settings: Settings) -> str | None:
    if settings.slack_bot_token and not (settings.slack_signing_secret or settings.slack_app_token):
        return (
            "SLACK_BOT_TOKEN is set but SLACK_SIGNING_SECRET is not: requests "
            "could not be verified. Set SLACK_SIGNING_SECRET (HTTP) or "
            "SLACK_APP_TOKEN (Socket Mode)."
        )
    if settings.slack_client_id and not (settings.slack_client_secret and settings.slack_signing_secret):
        return (
            "SLACK_CLIENT_ID is set: OAuth installs also need SLACK_CLIENT_SECRET and SLACK_SIGNING_SECRET."
        )
    return None


def build(settings: Settings, bot: CohortBot, db: Database) -> SlackPlatform:
    from bot.platforms.slack.app import SlackPlatform

    return SlackPlatform(bot, settings, engine=db.engine)


def absent_routes() -> list[BaseRoute]:
    from bot.platforms.slack.web import absent_routes

    return absent_routes()
