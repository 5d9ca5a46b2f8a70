"""The one shape every chat platform has (console, Slack, Discord).

A platform translates: its people's commands, buttons and forms in (as the same `Command`
typed text would become, through `CohortBot`), neutral `Message`s out (through its
transport, which the outbox's deliverer drives). Everything else (rules, state, scheduling,
delivery) is the core's and is written once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from starlette.routing import BaseRoute

from bot.directory import Directory
from bot.messages import Message
from bot.outbox import Transport
from bot.service import Intake

Runner = Callable[[asyncio.Event], Awaitable[None]]
"""A long-lived connection (Socket Mode, a gateway): runs until the event is set."""


@dataclass(frozen=True)
class Capabilities:
    """What a platform may lack, and how the core copes without it.

    - `find_by_key`: its transport can find a message already delivered by its outbox key.
      Without it, a message whose "sent" mark a crash lost is sent again (a rare duplicate,
      never a loss).
    - `edit_in_place`: a message can be edited (a claimed review task). Without it, the
      edit goes as a new message.
    - `email`: its directory knows people's e-mail addresses. Without it, a badge waits for
      the learner's `/badges email`.
    - `timezone`: its directory knows people's time zones. Without it, times are shown in
      the cohort's or the installation's zone (`DEFAULT_TIMEZONE`).
    """

    find_by_key: bool = False
    edit_in_place: bool = False
    email: bool = False
    timezone: bool = False


class Platform(Protocol):
    """One chat platform, as the composition root (`bot.runtime`) and the worker see it."""

    name: str  # as stored in `Origin.platform` and `Workspace.platform`
    capabilities: Capabilities

    def transport(self) -> Transport:
        """What the outbox's deliverer sends this platform's messages through."""

    def routes(self) -> list[BaseRoute]:
        """Its web routes (HTTP events, OAuth), served by `serve`; [] if it has none."""

    def runners(self) -> list[Runner]:
        """Its long-lived connections (Socket Mode, a gateway), run by `run`; [] if none."""

    def own_paths(self) -> tuple[str, ...]:
        """Path prefixes of its routes that serve the platform's own pages (an install
        button, say) and so go without the badge site's content policy."""

    async def directory_for(self, workspace: str) -> Directory:
        """Who is who in one of its workspaces (a team, a guild)."""

    async def answer(self, intake: Intake, message: Message) -> bool:
        """Answer a command taken in where its sender waits (a response URL, an interaction
        token); False if that is gone or failed, and the answer then goes as a DM."""

    async def start(self) -> None:
        """Before serving: its own tables, its connections."""

    async def stop(self) -> None:
        """Let follow-ups finish (bounded) and close connections."""
