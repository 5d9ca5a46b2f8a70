"""Commands taken in before they run (DESIGN principle 4), finished the same way on every
platform: run once, answered where the sender waits if the platform still can, else by the DM
the run queued; and, in the worker, those a dead process left taken in but never run."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta

from bot.directory import Directory
from bot.platforms.base import Platform
from bot.service import CohortBot, Intake, Unavailable

log = logging.getLogger(__name__)


async def finish(bot: CohortBot, platform: Platform, intake: Intake, directory: Directory) -> None:
    """Run a command taken in and answer it where its sender waits. If that answer fails, the
    DM `CohortBot.finish` queued goes instead, after `REPLY_GRACE`. If the database cannot run
    it now (a rush outlasting the connection pool's wait), it stays taken in: the worker runs
    it later and the receipt comes as a DM."""
    try:
        reply = await bot.finish(intake, directory)
    except Unavailable as exc:
        log.warning("%s; the worker runs it later", exc)
        return
    if reply.duplicate:
        return
    if await platform.answer(intake, reply.message):
        await bot.answered(intake)
    await bot.run_followups(reply)


async def finish_stale(bot: CohortBot, platforms: Mapping[str, Platform]) -> int:
    """The worker's share: run commands taken in whose process died before running them; how
    many ran. Their answers go as DMs (where a sender waited is gone by now; a DM stays)."""
    done = 0
    for intake in await bot.stale_intakes():
        platform = platforms.get(intake.origin.platform)
        if platform is None:  # it waits, never lost, until a process serving that platform runs it
            log.debug("%s waits for %s, not configured here", intake.key, intake.origin.platform)
            continue
        try:  # one that cannot run now (the platform or the database failing) waits for the next round
            directory = await platform.directory_for(intake.origin.workspace)
            reply = await bot.finish(intake, directory, answer_after=timedelta())
        except Exception:
            log.warning("running %s, taken in earlier, failed; trying again later", intake.key, exc_info=True)
            continue
        await bot.run_followups(reply)
        done += 1
    return done
