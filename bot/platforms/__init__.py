"""Chat platforms: each one a folder (console, slack, discord) behind the small protocol in
`base`. This module is the one place that lists them.

Only the files of a platform's folder name it or import its SDK (tests/test_layout.py checks);
the core (handlers, workflows, service, outbox, scheduler) speaks neutral commands and messages.
A platform started by `run`/`serve` is a *plug-in*: its package says whether the settings ask
for it (`configured`), what is wrong with them (`problem`), how to build it (`build`) and what
its web routes answer where it is not configured (`absent_routes`). The console is not a
plug-in: `cohortbot console` builds it by hand (there is one person at one terminal).
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from bot.config import ConfigError, Settings
from bot.platforms import discord, slack

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from bot.platforms.base import Platform
    from bot.service import CohortBot
    from bot.storage.db import Database

PLUGINS: tuple[ModuleType, ...] = (slack, discord)


def chats_configured(settings: Settings) -> bool:
    """Do the settings name any chat platform (else `run` starts the console)?"""
    return any(plugin.configured(settings) for plugin in PLUGINS)


def check_settings(settings: Settings) -> None:
    """Refuse, with a sentence that says what to set, settings that would run unsafely or with
    no chat at all."""
    for plugin in PLUGINS:
        problem = plugin.problem(settings)
        if problem:
            raise ConfigError(problem)


def build(settings: Settings, bot: CohortBot, db: Database) -> dict[str, Platform]:
    """The platforms the settings configure, by name."""
    built = [plugin.build(settings, bot, db) for plugin in PLUGINS if plugin.configured(settings)]
    return {platform.name: platform for platform in built if platform is not None}


def absent_routes(present: dict[str, Platform]) -> list[BaseRoute]:
    """What the web routes of the platforms not configured here answer (a clear 503)."""
    return [route for plugin in PLUGINS if plugin.NAME not in present for route in plugin.absent_routes()]
