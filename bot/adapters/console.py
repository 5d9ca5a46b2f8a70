"""The console chat: act as anyone, move the clock, watch the bot answer.

Each line is one of:

    @alice /submit https://example.org/unit -- my reflection   a command, as @alice
    :admin @coord                  make @coord a workspace admin
    :user @alice tz=America/Chicago email=alice@school.org name="Alice Ng"
    :clock 2026-03-18T23:00Z       set the clock (or +2d, +3h, +30m) and run what is due
    # a comment

Every bot message prints as `[#channel] …`, `[DM @user] …` or `[only @user] …`
(an answer only the sender sees). The same class is the test harness: tests
run a conversation and ask what was seen.
"""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update

from bot import markup
from bot.badges.credly import CredlyTransport
from bot.clock import FakeClock
from bot.config import Settings
from bot.directory import ConsoleDirectory, Profile
from bot.domain import UserError, parse_duration, parse_when, zone
from bot.messages import Destination, Message, Reply
from bot.outbox import Deliverer, Limit
from bot.scheduler import run_due
from bot.service import CohortBot, Origin
from bot.storage import Member, Workspace
from bot.storage.db import Database


def render_text(text: str) -> str:
    """Neutral markup to terminal text: mentions, channels and links made readable."""
    return markup.plain(text)


def render(message: Message) -> str:
    lines = [render_text(message.text)]
    lines.extend(f"{label}: {render_text(value)}" for label, value in message.fields)
    buttons = [f"[{b.label} → {b.command}]" if b.command else f"[{b.label}: {b.url}]"
               for b in message.buttons]
    if buttons:
        lines.append(" ".join(buttons))
    if message.context:
        lines.append(f"({message.context})")
    return "\n".join(lines)


@dataclass(frozen=True)
class Said:
    where: str  # "#frl", "DM @alice", "only @alice"
    text: str


class ConsoleTransport:
    """Delivers outbox messages by printing them (no rate limits, nothing to recover)."""

    def __init__(self, say: Callable[[str, str], None]) -> None:
        self.say = say
        self.count = 0

    async def send(self, workspace: Workspace, dest: Destination, message: Message, key: str,
                   edit_ref: str | None = None) -> str:
        where = f"#{dest.target}" if dest.kind == "channel" else f"DM @{dest.target}"
        text = render(message)
        self.say(where, f"(edited) {text}" if edit_ref else text)
        self.count += 1
        return edit_ref or f"console-{self.count}"

    def limits(self, workspace: Workspace, dest: Destination) -> list[Limit]:
        return []

    async def find(self, workspace: Workspace, dest: Destination, key: str) -> str | None:
        return None


class ConsoleChat:
    def __init__(self, db: Database, settings: Settings, *, clock: FakeClock | None = None,
                 out: Callable[[str], None] | None = print) -> None:
        self.db, self.settings = db, settings
        self.clock = clock or FakeClock(datetime.now(UTC).replace(second=0, microsecond=0))
        self.directory = ConsoleDirectory(settings.default_timezone)
        self.bot = CohortBot(db, settings, self.clock)
        self.transport = ConsoleTransport(self.say)
        self.deliverer = Deliverer(db, {"console": self.transport,
                                        "credly": CredlyTransport(settings, db, self.clock)}, self.clock)
        self.out = out
        self.transcript: list[Said] = []
        self.crashes = 0
        self.errors = 0

    # -------------------------------------------------------------- output

    def say(self, where: str, text: str) -> None:
        self.transcript.append(Said(where, text))
        if self.out:
            first, *rest = text.split("\n")
            self.out(f"[{where}] {first}")
            for line in rest:
                self.out(f"    {line}")

    def saw(self, where: str, text: str = "") -> bool:
        """Did a message appear at `where` (e.g. "DM @bob", "#frl") containing `text`?"""
        return any(s.where == where and text in s.text for s in self.transcript)

    def said(self, where: str | None = None) -> list[str]:
        return [s.text for s in self.transcript if where is None or s.where == where]

    def last(self, where: str) -> str:
        found = self.said(where)
        return found[-1] if found else ""

    # -------------------------------------------------------------- input

    async def run(self, script: str) -> None:
        for raw in script.splitlines():
            await self.line(raw)

    async def line(self, raw: str) -> None:
        text = raw.strip()
        if not text or text.startswith("#"):
            return
        try:
            if text.startswith(":"):
                await self.directive(text)
            elif text.startswith("@"):
                await self.command(text)
            else:
                raise UserError("Start a line with @name and a command, or a :directive.",
                                "@alice /submit https://example.org/unit -- my reflection")
        except UserError as exc:
            self.errors += 1
            self.say("console", str(exc))

    async def command(self, text: str) -> None:
        user, _, command = text.partition(" ")
        user_id = user[1:]
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}", user_id):
            raise UserError(f"'{user}' is not a user name.", "@alice /submit status")
        reply = await self.bot.handle(Origin("console", "console", user_id), command,
                                      self.directory)
        self.reply(user_id, reply)
        await self.bot.run_followups(reply)
        await self.deliver()

    def reply(self, user_id: str, reply: Reply) -> None:
        if reply.crashed:
            self.crashes += 1
        elif not reply.ok:
            self.errors += 1
        self.say(f"only @{user_id}", render(reply.message))

    async def deliver(self) -> None:
        await self.deliverer.deliver_due()

    async def tick(self) -> None:
        await run_due(self.db, self.settings, self.clock.now())
        await self.deliver()

    async def refresh_member(self, profile: Profile) -> None:
        """A profile edited on the platform reaches a member the bot already knows."""
        async with self.db.transaction() as session:
            await session.execute(update(Member).where(
                Member.user_id == profile.user_id,
                Member.workspace_id.in_(select(Workspace.id).where(Workspace.platform == "console")))
                .values(display_name=profile.display_name, email=profile.email,
                        tz=profile.tz or self.settings.default_timezone, is_admin=profile.is_admin))

    async def directive(self, text: str) -> None:
        name, _, rest = text[1:].partition(" ")
        rest = rest.strip()
        if name == "clock":
            if not rest:
                raise UserError("Say what time it is.", ":clock 2026-03-18T23:00Z")
            if rest.startswith("+"):
                self.clock.advance(parse_duration(rest[1:]))
            else:
                moment = parse_when(rest, zone(self.settings.default_timezone), self.clock.now(),
                                    end_of_day=False)
                self.clock.set(moment)
            if self.out:
                self.out(f"-- clock: {self.clock.now():%a %d %b %Y %H:%M} UTC --")
            await self.tick()
        elif name == "admin":
            for user in rest.split():
                await self.refresh_member(self.directory.update(user.lstrip("@"), is_admin=True))
        elif name == "user":
            user, *pairs = shlex.split(rest) if rest else [""]
            if not user.startswith("@"):
                raise UserError("Name the user.", ':user @alice tz=America/Chicago name="Alice Ng"')
            changes: dict[str, object] = {}
            for pair in pairs:
                key, _, value = pair.partition("=")
                field = {"tz": "tz", "email": "email", "name": "display_name"}.get(key)
                if field is None or not value:
                    raise UserError(f"'{pair}' is not a profile setting; use tz=, email= or name=.",
                                    ':user @alice tz=America/Chicago')
                if field == "tz":
                    zone(value)
                changes[field] = value
            profile = self.directory.update(user[1:], **changes)
            await self.refresh_member(profile)
        elif name == "deliver":
            await self.deliver()
        elif name in ("help", "?"):
            self.say("console", __doc__ or "")
        else:
            raise UserError(f"Unknown directive ':{name}'; use :clock, :admin, :user or :help.",
                            ":clock +2d")


async def interactive(chat: ConsoleChat) -> None:
    """Read lines from the terminal until end of input."""
    import asyncio

    print("Cohort Bot console. Act as anyone: `@coord /help`. `:help` for directives, "
          "Ctrl-D to leave.")
    while True:
        try:
            line = await asyncio.to_thread(input, "> ")
        except EOFError:
            print()
            return
        await chat.line(line)
        sys.stdout.flush()
