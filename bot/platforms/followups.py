"""Work a platform starts after it has answered (a submission taken in, link checks, Credly,
a DM): kept so that nothing fails silently and shutdown waits for it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from bot.directory import Directory
from bot.intake import finish as finish_intake
from bot.messages import Reply
from bot.platforms.base import Platform
from bot.service import CohortBot

log = logging.getLogger(__name__)


class FollowUps:
    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.tasks: set[asyncio.Task[Any]] = set()

    def start(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run it beside the answer; an error is logged, never lost silently."""
        task = asyncio.create_task(coro)
        self.tasks.add(task)

        def done(t: asyncio.Task[Any]) -> None:
            self.tasks.discard(t)
            if not t.cancelled() and t.exception():
                log.error("%s follow-up failed", self.platform, exc_info=t.exception())

        task.add_done_callback(done)

    def hold(self) -> None:
        """Count the task running now (answering an interaction) among those `drain` waits for."""
        task = asyncio.current_task()
        if task is not None and task not in self.tasks:
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    def after(self, bot: CohortBot, platform: Platform, reply: Reply, directory: Directory) -> None:
        """What follows a command's answer: a submission taken in runs now (`bot.intake`), then
        the slow work its handler left (link checks, Credly)."""
        if reply.intake is not None:
            self.start(finish_intake(bot, platform, reply.intake, directory))
        self.start(bot.run_followups(reply))

    async def drain(self, within: float = 10.0) -> None:
        """Wait (at most `within` seconds) until none is left, those they start included: tests
        and shutdown."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while (waiting := self.tasks - {asyncio.current_task()}) and loop.time() < deadline:
            await asyncio.wait(waiting, timeout=deadline - loop.time())
