"""Wiring: one place that builds the database, the bot, the platforms and the loops
for `cohortbot run`, `serve`, `worker` and `clock`."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, timedelta
from typing import TYPE_CHECKING

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.badges.credly import CredlyTransport
from bot.clock import Clock, SystemClock
from bot.config import Settings
from bot.delivery import Deliverer
from bot.intake import finish_stale
from bot.leader import Leadership
from bot.outbox import Transport
from bot.platforms import build as build_platforms
from bot.platforms import check_settings
from bot.platforms.base import Coping
from bot.scheduler import ReminderJobs, run_due
from bot.service import CohortBot
from bot.storage.db import Database

if TYPE_CHECKING:
    from bot.platforms.base import Platform, Runner

log = logging.getLogger(__name__)


def settle_heap() -> None:
    """Take what is alive now (modules, settings, the app: most of a process's objects) out
    of the cyclic garbage collector's way, for a long-lived process once it is set up. Its
    full passes otherwise walk all of it, stopping the event loop for 100-200 ms several
    times a minute under load: each stop is that much of a platform's rate limit left
    unused (and a web process's slowest answers wait on them). Afterwards they walk only
    what the process made since; nothing else changes."""
    gc.collect()
    gc.freeze()


KEEP_ALIVE = 75  # seconds an idle HTTP connection stays open (uvicorn's default is 5): a client
# that reuses one just as the server closes it sees the connection reset, its request lost; a
# busy event loop makes that race likelier. 75 s outlasts the usual proxies' idle limit (60 s),
# so the proxy, which knows, closes first.


async def repeat(job: Callable[[], Awaitable[object]], stop: asyncio.Event, interval: float) -> None:
    """Run `job`, then wait `interval`, until `stop`; a failure is logged and tried again."""
    while not stop.is_set():
        try:
            await job()
        except Exception:
            log.exception("%s failed; trying again shortly", getattr(job, "__qualname__", job))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)


class Runtime:
    """The one composition root: database, clock, service, deliverer and the platforms, for
    `run`, `serve`, `worker`, `clock` and the console alike. `platforms` given (the console)
    replaces the ones the settings configure."""

    def __init__(
        self,
        settings: Settings,
        clock: Clock | None = None,
        *,
        db: Database | None = None,
        platforms: Callable[[CohortBot], list[Platform]] | None = None,
    ) -> None:
        if platforms is None:
            check_settings(settings)
        self.settings = settings
        self.clock = clock or SystemClock()
        self.db = db or Database(settings.database_url)
        self.bot = CohortBot(self.db, settings, self.clock)
        self.platforms: dict[str, Platform] = (
            {p.name: p for p in platforms(self.bot)}
            if platforms is not None
            else build_platforms(settings, self.bot, self.db)
        )
        transports: dict[str, Transport] = {
            name: Coping(p.transport(), p.capabilities) for name, p in self.platforms.items()
        }
        # always present: Credly rows then wait visibly (dead letters) instead of going nowhere
        transports["credly"] = CredlyTransport(settings, self.db, self.clock)
        self.deliverer = Deliverer(
            self.db,
            transports,
            self.clock,
            lease=timedelta(seconds=settings.outbox_lease_seconds),
            concurrency=settings.outbox_concurrency,
        )

    async def start(self) -> None:
        await self.db.upgrade()
        for platform in self.platforms.values():
            await platform.start()

    async def stop(self) -> None:
        for platform in self.platforms.values():
            await platform.stop()
        await self.db.dispose()

    async def deliver_forever(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        """The worker: deliver what is due, and, beside it, run any command a crash left taken
        in but not run, each every `interval` until told to stop. Two loops, not one: a
        delivery round lasts until the outbox is empty (minutes of a long backlog at a
        channel's 1 a second), and an acknowledged command must not wait for it."""
        jobs: list[Callable[[], Awaitable[object]]] = [self.deliverer.deliver_due, self.finish_stale]
        await asyncio.gather(*(repeat(job, stop, interval) for job in jobs))

    async def finish_stale(self) -> int:
        return await finish_stale(self.bot, self.platforms)

    def runners(self) -> list[Runner]:
        """The platforms' long-lived connections (Socket Mode, a gateway)."""
        return [runner for platform in self.platforms.values() for runner in platform.runners()]

    async def tick(self) -> None:
        await run_due(self.db, self.settings, self.clock.now())

    def scheduler(self) -> tuple[AsyncIOScheduler, ReminderJobs]:
        """APScheduler for `clock`: UTC, coalesced, a real misfire grace, stable job ids.

        `run_due` every minute (level-triggered: it asks the database what is due), and
        one job per coordinator reminder, kept in step with the rows every 30 s.
        """
        scheduler = AsyncIOScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "misfire_grace_time": 300, "max_instances": 1}
        )
        reminders = ReminderJobs(self.db, scheduler, self.clock)
        for job, seconds, job_id in ((self.tick, 60, "run_due"), (reminders.sync, 30, "sync_reminders")):
            scheduler.add_job(
                job,
                IntervalTrigger(seconds=seconds),
                id=job_id,
                next_run_time=self.clock.now(),
                replace_existing=True,
            )
        return scheduler, reminders

    async def lead_clock(self, stop: asyncio.Event, *, retry: float = 5.0) -> None:
        """The `clock` process: wait for leadership, run the scheduler while leading, and
        stand down (then wait again) if the lock is lost."""
        leadership = Leadership(self.db, retry=retry)
        while await leadership.acquire(stop):
            scheduler, _ = self.scheduler()
            scheduler.start()
            try:
                while not stop.is_set() and await leadership.still_leading():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), retry)
            finally:
                scheduler.shutdown(wait=False)
                await leadership.release()
            if stop.is_set():
                return

    async def serve(self, stop: asyncio.Event, host: str, port: int) -> None:
        import uvicorn

        from bot.web import create_app

        server = uvicorn.Server(
            uvicorn.Config(
                create_app(self),
                host=host,
                port=port,
                log_level="warning",
                lifespan="off",
                timeout_keep_alive=KEEP_ALIVE,
            )
        )
        task = asyncio.create_task(server.serve())
        await stop.wait()
        server.should_exit = True
        await task
