"""Interactions answered in processes of their own (`DISCORD_HANDLERS`, default 1), apart from
the gateway's: its event loop then does nothing but keep the connection, acknowledge and hand
on, as idle as a bot that only acknowledges, however much database work the answers take.

The gateway process starts each handler as `python -m bot.platforms.discord.processes N` (its
settings from the environment, as every process's) and writes it JSON lines: `{"asked": …}` (an
`Asked`) for each interaction it has acknowledged, and `{"ping": n}` every few seconds. The
handler writes `{"ready": true}` once it can answer, `{"done": id}` once it has answered one and
`{"pong": n}` at once. A person's interactions always go to the same handler (their form drafts
are kept there). A handler that dies, or says nothing for `DISCORD_HANDLER_TIMEOUT` seconds, is
(ended and) started again, and whoever it left waiting is told so, never left "thinking…".
While none is ready, what cannot wait (a form to open, suggestions) is answered by the gateway
itself with a sentence; the rest waits for the new handler.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any

from bot.platforms.discord.answers import AUTOCOMPLETE, Answers
from bot.platforms.discord.asked import Asked, Kind

log = logging.getLogger(__name__)

INTERRUPTED = (
    "I was restarted while answering this, so I can't tell how it went. If you handed in work, "
    "its receipt follows here within a minute if it was saved; if none comes, hand it in again. "
    "Anything else: please check, and try again."
)
RESTARTING = "I'm just (re)starting and can't open that yet; please try again in a few seconds."
LINE_LIMIT = 1 << 20  # bytes a line may hold: an interaction is a few KB (a modal's five inputs ≤ 20 KB)
STOP_WITHIN = 15.0  # seconds a handler has to finish what it was answering when the gateway stops
RESTART_AFTER = (0.2, 10.0)  # seconds before starting a handler that died: first, then at most
STEADY = 60.0  # seconds a handler lived for its next restart to come at once again
START_WITHIN = 120.0  # seconds a handler may take to be ready (its start reaches the database)


def line(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def ended(code: int) -> str:
    """How a process ended, as a person reads it."""
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"


class HandlerProcess:
    """One handler process, kept running: started again when it dies or is stuck."""

    def __init__(self, number: int, answers: Answers, stuck_after: float) -> None:
        self.number, self.answers = number, answers
        self.stuck_after = stuck_after  # DISCORD_HANDLER_TIMEOUT: silent this long once ready, ended
        self.process: asyncio.subprocess.Process | None = None
        self.ready = False  # it said so, and has not died since
        self.waiting: dict[str, Asked] = {}  # handed on, not answered yet
        self.backlog: list[tuple[str, bytes]] = []  # handed on while no process ran: id, line
        self.stopping = False
        self.running: asyncio.Task[None] | None = None
        self.pid = 0  # the latest process's
        self.answering: set[asyncio.Task[bool]] = set()  # the gateway's own answers, meanwhile

    def take(self, asked: Asked) -> None:
        process = self.process
        stdin = process.stdin if process is not None and process.returncode is None else None
        if not (self.ready and stdin) and not asked.deferred:  # a form or suggestions cannot wait
            task = asyncio.ensure_future(self.meanwhile(asked))
            self.answering.add(task)
            task.add_done_callback(self.answering.discard)
            return
        self.waiting[asked.id] = asked
        said = line({"asked": asked.to_json()})
        if stdin is None:
            self.backlog.append((asked.id, said))
        else:
            stdin.write(said)

    async def meanwhile(self, asked: Asked) -> bool:
        if asked.kind is Kind.autocomplete:
            return await self.answers.callback(asked, {"type": AUTOCOMPLETE, "data": {"choices": []}})
        return await self.answers.to(asked).say(RESTARTING)

    def start(self) -> None:
        self.running = asyncio.create_task(self.keep_running(), name=f"discord-handler-{self.number}")

    async def keep_running(self) -> None:
        """Run it; when it ends (not told to stop), tell whoever it left waiting and start another:
        at once, then backing off to 10 s while it keeps dying within a minute."""
        loop = asyncio.get_running_loop()
        pause = 0.0
        while not self.stopping:
            started = loop.time()
            try:
                code = await self.run_once()
            except OSError:
                code = None
                log.exception("could not start Discord handler process %d", self.number)
            if self.stopping:
                return
            pause = RESTART_AFTER[0] if loop.time() - started > STEADY else min(pause * 2, RESTART_AFTER[1])
            pause = max(pause, RESTART_AFTER[0])
            how = f"(pid {self.pid}) {ended(code)}" if code is not None else "could not start"
            log.error("Discord handler process %d %s; starting another in %g s", self.number, how, pause)
            await self.tell_waiting()
            await asyncio.sleep(pause)

    async def run_once(self) -> int:
        """One process's life: what was handed on meanwhile given to it, what it has answered read
        back, pings it must answer, until it ends; its exit code."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            __name__,
            str(self.number),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=LINE_LIMIT,
        )
        assert process.stdin is not None and process.stdout is not None
        log.info("Discord handler process %d started (pid %d)", self.number, process.pid)
        self.process, self.pid = process, process.pid
        answered = asyncio.get_running_loop().time()
        watching = asyncio.create_task(self.watch(process, lambda: answered))
        try:
            for _, said in self.backlog:
                process.stdin.write(said)
            self.backlog.clear()
            while raw := await process.stdout.readline():
                with contextlib.suppress(ValueError, KeyError, TypeError, AttributeError):
                    said_back = json.loads(raw)
                    answered = asyncio.get_running_loop().time()
                    if "done" in said_back:
                        self.waiting.pop(said_back["done"], None)
                    elif "ready" in said_back:
                        self.ready = True
            self.ready = False  # its output ended: it is ending
            return await process.wait()
        finally:
            watching.cancel()
            self.process, self.ready = None, False

    async def watch(self, process: asyncio.subprocess.Process, answered: Callable[[], float]) -> None:
        """Ping it (three times in `stuck_after`); one that has said nothing for `stuck_after`
        once ready (a blocked event loop, a stopped process), or is not ready within
        `START_WITHIN`, is ended, so that it is started again and its people told."""
        loop = asyncio.get_running_loop()
        beat = 0
        while process.returncode is None and process.stdin is not None:
            await asyncio.sleep(self.stuck_after / 3)
            if self.stopping:  # it reads no more pings, finishing what it is answering: `stop`
                return
            silent = loop.time() - answered()
            allowed = self.stuck_after if self.ready else max(self.stuck_after, START_WITHIN)
            if silent > allowed:
                log.error(
                    "Discord handler process %d (pid %d) has not answered for over %g s; ending it",
                    self.number,
                    process.pid,
                    allowed,
                )
                process.kill()
                return
            beat += 1
            process.stdin.write(line({"ping": beat}))

    async def tell_waiting(self) -> None:
        """Whoever the process was answering hears it was interrupted (it may have taken a
        `/submit` in); what it never got waits for the next one."""
        kept = {id for id, _ in self.backlog}
        told = [asked for id, asked in self.waiting.items() if id not in kept]
        self.waiting = {id: asked for id, asked in self.waiting.items() if id in kept}
        await asyncio.gather(*(self.answers.to(asked).say(INTERRUPTED) for asked in told))

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
                    log.warning(
                        "Discord handler process %d (pid %d) did not finish within %g s; ending it",
                        self.number,
                        self.process.pid,
                        STOP_WITHIN,
                    )
                    self.process.kill()
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
        self.backlog.clear()  # none will get it now
        await self.tell_waiting()
        await asyncio.gather(*self.answering)


class HandlerProcesses:
    """The gateway's `Receiver` when interactions are answered apart from it."""

    def __init__(self, count: int, answers: Answers, stuck_after: float) -> None:
        self.handlers = [HandlerProcess(n, answers, stuck_after) for n in range(count)]

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


async def answer_from_pipe(number: int) -> int:
    """Handler process `number`: the interactions on stdin answered, as the gateway's own process
    would, until stdin ends (the gateway stopping) or SIGTERM; then what it started is finished."""
    from bot.cli import configure_logging
    from bot.config import get_settings
    from bot.platforms.discord.app import DiscordPlatform
    from bot.runtime import Runtime

    settings = get_settings()
    configure_logging(settings, chatting=False)
    for handler in logging.getLogger().handlers:  # its lines told apart from the gateway's
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s [discord handler {number}] %(name)s: %(message)s")
        )
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

    def say(message: dict[str, Any]) -> None:
        os.write(sys.stdout.fileno(), line(message))

    async def answering(asked: Asked) -> None:
        try:
            await platform.on_asked(asked)
        finally:
            say({"done": asked.id})

    said_to_end = asyncio.create_task(ending.wait())
    say({"ready": True})
    try:
        while True:
            reading = asyncio.create_task(reader.readline())
            await asyncio.wait({reading, said_to_end}, return_when=asyncio.FIRST_COMPLETED)
            if not reading.done() or not (raw := reading.result()):
                reading.cancel()
                break
            try:
                message = json.loads(raw)
                if "ping" in message:
                    say({"pong": message["ping"]})
                    continue
                asked = Asked.from_json(message["asked"])
            except (ValueError, KeyError, TypeError):  # not from this version's gateway: skipped
                log.exception("a Discord handler process could not read %r", raw[:200])
                continue
            platform.followups.start(answering(asked))
    finally:
        said_to_end.cancel()
        await runtime.stop()  # what was started is finished first (`DiscordPlatform.stop`)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(answer_from_pipe(int(sys.argv[1]) if len(sys.argv) > 1 else 0)))
