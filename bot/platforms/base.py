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
from datetime import datetime, timedelta
from typing import Protocol

from starlette.routing import BaseRoute

from bot.directory import Directory
from bot.messages import Destination, Message
from bot.outbox import Limit, Transport, lookup_limits, publish_to
from bot.ratelimit import RateLimiter
from bot.service import Intake
from bot.storage import Workspace

Runner = Callable[[asyncio.Event], Awaitable[None]]
"""A long-lived connection (Socket Mode, a gateway): runs until the event is set."""


@dataclass(frozen=True)
class Capabilities:
    """What a platform may lack, and how the core copes without it.

    - `find_delivered`: its transport can tell whether a message handed to it earlier
      arrived (Slack: by the outbox key in the message's metadata; Discord: by its author,
      content and time in the channel's history). Without it, a message whose "sent" mark a
      crash lost is sent again (a rare duplicate, never a loss).
    - `dedupe_window`: the platform itself keeps a message sent again within this long of
      its first hand-over single (Discord's nonce), so within it nothing is looked up.
    - `edit_in_place`: a message can be edited (a claimed review task). Without it, the
      edit goes as a new message.
    - `email`: its directory knows people's e-mail addresses. Without it, a badge waits for
      the learner's `/badges email`.
    - `timezone`: its directory knows people's time zones. Without it, a person's zone is
      unknown until they set it (`/badges timezone`): the cohort's applies in its context, else
      the installation's (`DEFAULT_TIMEZONE`).
    """

    find_delivered: bool = False
    dedupe_window: timedelta = timedelta(0)
    edit_in_place: bool = False
    email: bool = False
    timezone: bool = False


class Coping:
    """A platform's transport as the deliverer uses it, coping with what the platform lacks:
    an edit goes as a new message where nothing can be edited in place, and a message that
    cannot be looked up is never looked for (so it is sent again after a crash)."""

    def __init__(self, inner: Transport, capabilities: Capabilities) -> None:
        self.inner, self.capabilities = inner, capabilities
        self.dedupe_window = capabilities.dedupe_window  # read by `outbox.dedupe_window`

    async def send(
        self, workspace: Workspace, dest: Destination, message: Message, key: str, edit_ref: str | None = None
    ) -> str | None:
        edit = edit_ref if self.capabilities.edit_in_place else None
        return await self.inner.send(workspace, dest, message, key, edit)

    def limits(self, workspace: Workspace, dest: Destination) -> list[Limit]:
        return self.inner.limits(workspace, dest)

    def publish_to(self, limiter: RateLimiter) -> None:
        publish_to(self.inner, limiter)

    def lookup_limits(self, workspace: Workspace, dest: Destination) -> list[Limit]:
        return lookup_limits(self.inner, workspace, dest) if self.capabilities.find_delivered else []

    async def find(
        self, workspace: Workspace, dest: Destination, key: str, message: Message, since: datetime
    ) -> str | None:
        if not self.capabilities.find_delivered:
            return None
        return await self.inner.find(workspace, dest, key, message, since)


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
