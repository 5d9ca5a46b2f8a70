"""Interactions answered in processes of their own (`DISCORD_HANDLERS`, default 1), apart from
the gateway's: its event loop then does nothing but keep the connection, acknowledge and hand
on, as idle as a bot that only acknowledges, however much database work the answers take.

The gateway process starts each handler as `python -m bot.platforms.discord.processes` (its
settings from the environment, as every process's) and writes it a JSON line for each
interaction it has acknowledged (`{"asked": …}`, an `Asked`); the handler writes `{"done": id}`
once it has answered. A person's interactions always go to the same handler (their form drafts
are kept there). One that dies is started again, and whoever it left waiting is told so, never
left "thinking…".
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from types import TracebackType
from typing import Any

from bot.platforms.discord.answers import Answers
from bot.platforms.discord.asked import Asked

log = logging.getLogger(__name__)

INTERRUPTED = (
    "I was restarted while answering this, so I can't tell how it went: `/submit status` shows "
    "what was saved; anything else, please try again."
)
LINE_LIMIT = 1 << 20  # bytes a line may hold: an interaction is a few KB (a modal's five inputs ≤ 20 KB)
STOP_WITHIN = 15.0  # seconds a handler has to finish what it was answering when the gateway stops
RESTART_AFTER = (0.2, 10.0)  # seconds before starting a handler that died: first, then at most
STEADY = 60.0  # seconds a handler lived for its next restart to come at once again


def line(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


class HandlerProcess:
    """One handler process, kept running: started again when it dies."""

    def __init__(self, number: int, answers: Answers) -> None:
        self.number, self.answers = number, answers
        self.process: asyncio.subprocess.Process | None = None
        self.waiting: dict[str, Asked] = {}  # handed on, not answered yet
        self.backlog: list[bytes] = []  # handed on while no process was running
        self.stopping = False
        self.running: asyncio.Task[None] | None = None

    def take(self, asked: Asked) -> None:
        self.waiting[asked.id] = asked
        said = line({"asked": asked.to_json()})
        process = self.process
        if process is None or process.stdin is None or process.returncode is not None:
            self.backlog.append(said)
        else:
            process.stdin.write(said)

    def start(self) -> None:
        self.running = asyncio.create_task(self.keep_running(), name=f"discord-handler-{self.number}")

    async def keep_running(self) -> None:
        """Run it; when it dies (not told to stop), tell whoever it left waiting and start another:
        at once, then backing off to 10 s while it keeps dying within a minute."""
        loop = asyncio.get_running_loop()
        pause = RESTART_AFTER[0]
        while not self.stopping:
            started = loop.time()
            try:
                code = await self.run_once()
            except OSError:
                log.exception("could not start Discord handler process %d", self.number)
            else:
                if self.stopping:
                    return
                log.error("Discord handler process %d exited (%s); starting another", self.number, code)
            await self.tell_waiting()
            pause = RESTART_AFTER[0] if loop.time() - started > STEADY else min(pause * 2, RESTART_AFTER[1])
            await asyncio.sleep(pause)

    async def run_once(self) -> int:
        """One process's life: what was handed on meanwhile given to it, what it has answered
        read back, until it ends; its exit code."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT,
        )
        assert process.stdin is not None and process.stdout is not None
        self.process = process
        try:
            for said in self.backlog:
                process.stdin.write(said)
            self.backlog.clear()
            while raw := await process.stdout.readline():
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    self.waiting.pop(json.loads(raw)["done"], None)
            return await process.wait()
        finally:
            self.process = None

    async def tell_waiting(self) -> None:
        """Whoever was left waiting hears so: it may have taken a `/submit` in."""
        waiting, self.waiting = list(self.waiting.values()), {}
        await asyncio.gather(*(self.answers.to(asked).say(INTERRUPTED) for asked in waiting))

    async def stop(self) -> None:
        """Let it finish what it is answering (at most `STOP_WITHIN` seconds), then end it;
        whoever it did not answer hears so."""
        self.stopping = True
        process, running = self.process, self.running
        if process is not None and process.stdin is not None:
            process.stdin.close()
        if running is not None:
            try:
                await asyncio.wait_for(asyncio.shield(running), STOP_WITHIN)
            except TimeoutError:
                if self.process is not None:
                    self.process.kill()
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
        await self.tell_waiting()


class HandlerProcesses:
    """The gateway's `Receiver` when interactions are answered apart from it."""

    def __init__(self, count: int, answers: Answers) -> None:
        self.handlers = [HandlerProcess(n, answers) for n in range(count)]

    def hold(self) -> None:
        pass  # the gateway's acknowledgements are each a moment; what takes time is a handler's

    def take(self, asked: Asked) -> None:
        self.handlers[int(asked.user_id) % len(self.handlers)].take(asked)

    async def __aenter__(self) -> HandlerProcesses:
        for handler in self.handlers:
            handler.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await asyncio.gather(*(h.stop() for h in self.handlers))


# ------------------------------------------------------------------ the handler's side


async def answer_from_pipe() -> int:
    """A handler process: the interactions on stdin answered, as the gateway's own process would,
    until stdin ends (the gateway stopping) or SIGTERM; then what it started is finished."""
    from bot.cli import configure_logging
    from bot.config import get_settings
    from bot.platforms.discord.app import DiscordPlatform
    from bot.runtime import Runtime

    settings = get_settings()
    configure_logging(settings, chatting=False)
    runtime = Runtime(settings)
    platform = runtime.platforms.get("discord")
    if not isinstance(platform, DiscordPlatform):
        log.error("a Discord handler process needs DISCORD_TOKEN")
        return 2
    await runtime.start()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    ending = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, ending.set)

    async def answering(asked: Asked) -> None:
        try:
            await platform.on_asked(asked)
        finally:
            os.write(sys.stdout.fileno(), line({"done": asked.id}))

    ended = asyncio.create_task(ending.wait())
    try:
        while True:
            reading = asyncio.create_task(reader.readline())
            await asyncio.wait({reading, ended}, return_when=asyncio.FIRST_COMPLETED)
            if not reading.done() or not (raw := reading.result()):
                reading.cancel()
                break
            try:
                asked = Asked.from_json(json.loads(raw)["asked"])
            except (ValueError, KeyError, TypeError):  # not from this version's gateway: skipped
                log.exception("a Discord handler process could not read %r", raw[:200])
                continue
            platform.followups.start(answering(asked))
    finally:
        ended.cancel()
        await runtime.stop()  # what was started is finished first (`DiscordPlatform.stop`)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(answer_from_pipe()))
