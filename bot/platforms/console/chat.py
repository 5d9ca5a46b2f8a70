"""The console chat: act as anyone, move the clock, watch the bot answer.

Each line is one of:

    @alice /submit https://example.org/unit -- my reflection   a command, as @alice
    :admin @coord                  make @coord a workspace admin
    :user @alice tz=America/Chicago email=alice@school.org name="Alice Ng"
    :clock 2026-03-18T23:00Z       move the clock (or +2d, +3h, +30m); what falls due on the way happens
    :clock                         what time it is
    # a comment

Handles are case-insensitive (`@Alice` is `@alice`) and may hold any letters (`@zoë`).
Every bot message prints as `[#channel] …`, `[DM @user] …` or `[only @user] …` (an answer
only the sender sees); the console's own answers as `[console] …`. A script (or piped input)
is echoed as it runs, each typed line as `> …` and comments as they are, so the output reads
as the conversation. `:user` and `:admin` are kept in the database like any member's profile.
The same class is the test harness: tests run a conversation and ask what was seen.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select
from starlette.routing import BaseRoute

from bot import markup
from bot.clock import FakeClock
from bot.config import Settings
from bot.directory import Profile
from bot.domain import START_OF_DAY, UserError, format_time, parse_duration, parse_when, zone
from bot.grammar import CONSOLE_MENTION_RE, handle
from bot.messages import Destination, Message, Reply
from bot.outbox import Limit
from bot.platforms.base import Capabilities, Runner
from bot.platforms.console.directory import ConsoleDirectory
from bot.runtime import Runtime
from bot.scheduler import next_reminder_due, run_due
from bot.service import Intake, Origin, upsert_member, workspace_for
from bot.storage import Member, Workspace
from bot.storage.db import Database
from bot.workflows.members import refresh, zone_name


def render_text(text: str) -> str:
    """Neutral markup to terminal text: mentions, channels and links made readable."""
    return markup.plain(text)


def render(message: Message) -> str:
    lines = [render_text(message.text)]
    lines.extend(f"{render_text(label)}: {render_text(value)}" for label, value in message.fields)
    buttons = [
        f"[{b.label} → {b.command}]" if b.command else f"[{b.label}: {b.url}]" for b in message.buttons
    ]
    if buttons:
        lines.append(" ".join(buttons))
    if message.context:
        lines.append(f"({render_text(message.context)})")
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

    async def send(
        self, workspace: Workspace, dest: Destination, message: Message, key: str, edit_ref: str | None = None
    ) -> str:
        where = f"#{dest.target}" if dest.kind == "channel" else f"DM @{dest.target}"
        text = render(message)
        self.say(where, f"(edited) {text}" if edit_ref else text)
        self.count += 1
        return edit_ref or f"console-{self.count}"

    def limits(self, workspace: Workspace, dest: Destination) -> list[Limit]:
        return []

    async def find(
        self, workspace: Workspace, dest: Destination, key: str, message: Message, since: datetime
    ) -> str | None:
        return None


WORKSPACE = "console"  # the console's one workspace
PROFILE_FIELDS = {"name": "display_name", "tz": "tz", "email": "email"}


class ConsoleChat:
    """The console as a platform (see `bot.platforms.base`): one workspace, one person at the
    keyboard acting as anyone, messages printed as they are delivered."""

    name = "console"
    place = "workspace"  # what its people call a workspace in sentences (`Directory.place`)
    # Its transport prints: nothing to find after a crash; an edit prints again, marked "(edited)".
    capabilities = Capabilities(edit_in_place=True, email=True, timezone=True)

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        clock: FakeClock | None = None,
        out: Callable[[str], None] | None = print,
        echo: bool = False,
    ) -> None:
        self.db, self.settings = db, settings
        self.clock = clock or FakeClock(datetime.now(UTC).replace(second=0, microsecond=0))
        self.directory = ConsoleDirectory(settings.default_timezone)
        self.console_transport = ConsoleTransport(self.say)
        self.runtime = Runtime(settings, self.clock, db=db, platforms=lambda bot: [self])
        self.bot, self.deliverer = self.runtime.bot, self.runtime.deliverer
        self.out = out
        self.echo = echo  # show each line as it runs (a script, piped input)
        self.restored = False
        self.transcript: list[Said] = []
        self.crashes = 0
        self.errors = 0

    # -------------------------------------------------------------- as a platform

    def transport(self) -> ConsoleTransport:
        return self.console_transport

    def routes(self) -> list[BaseRoute]:
        return []

    def own_paths(self) -> tuple[str, ...]:
        return ()

    def runners(self) -> list[Runner]:
        return []

    async def directory_for(self, workspace: str) -> ConsoleDirectory:
        return self.directory

    async def answer(self, intake: Intake, message: Message) -> bool:
        self.say(f"only @{intake.origin.user_id}", render(message))
        return True

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

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
        if self.echo and self.out:
            self.out(f"> {text}" if text and not text.startswith("#") else text)
        if not text or text.startswith("#"):
            return
        if not self.restored:
            await self.restore()
        try:
            if text.startswith(":"):
                await self.directive(text)
            elif text.startswith("@"):
                await self.command(text)
            else:
                raise UserError(
                    "Start a line with @name and a command, or a :directive.",
                    "@alice /submit https://example.org/unit -- my reflection",
                )
        except UserError as exc:
            self.errors += 1
            self.say("console", str(exc))

    async def command(self, text: str) -> None:
        user, _, command = text.partition(" ")
        user_id = self.user_id(user)
        reply = await self.bot.handle(Origin("console", WORKSPACE, user_id), command, self.directory)
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

    # -------------------------------------------------------------- people and time

    @staticmethod
    def user_id(word: str) -> str:
        """`@Alice`, `alice` or `@alice` -> `alice`: handles are case-insensitive."""
        m = CONSOLE_MENTION_RE.fullmatch("@" + word.removeprefix("@"))
        if m is None:
            raise UserError(
                f"'{word}' is not a user name; a handle is letters or digits, then also . _ or -.",
                "@alice /submit status",
            )
        return handle(m.group(1))

    async def restore(self) -> None:
        """Profiles set before, kept in the database: a console on a file database, restarted,
        still knows Alice's name, zone, address and who is an admin."""
        self.restored = True
        async with self.db.transaction() as session:
            members = await session.scalars(
                select(Member)
                .join(Workspace)
                .where(Workspace.platform == "console", Workspace.external_id == WORKSPACE)
            )
            for m in members:
                if m.user_id not in self.directory.profiles:
                    self.directory.update(
                        m.user_id,
                        display_name=m.display_name,
                        email=m.email,
                        tz=None if m.tz_chosen else m.tz,  # a zone they chose is theirs, not the profile's
                        is_admin=m.is_admin,
                    )

    async def remember(self, profile: Profile) -> None:
        """A profile set with :user or :admin is the member's, in the database as on a real
        platform: the members the bot knows (in any console workspace) take it, and the
        console's workspace keeps it even for someone who has not said anything yet."""
        now, told = self.clock.now(), self.directory.told(profile)
        async with self.db.transaction() as session:
            known = await session.scalars(
                select(Member).where(
                    Member.user_id == profile.user_id,
                    Member.workspace_id.in_(select(Workspace.id).where(Workspace.platform == "console")),
                )
            )
            for member in known:
                refresh(member, told)
            workspace = await workspace_for(session, Origin("console", WORKSPACE, profile.user_id), now)
            await upsert_member(session, workspace, told, now)

    def tell(self, text: str) -> None:
        """The console's own answer (not the bot's)."""
        self.say("console", text)

    def time_now(self) -> str:
        return format_time(self.clock.now(), zone(self.settings.default_timezone))

    async def pass_time(self, until: datetime) -> None:
        """Move the clock as if time passed with the bot running: it stops at each coordinator
        reminder falling due on the way (that moment's nudges and reviews run too), so the
        reminder goes out on time rather than as one missed hours or days ago."""
        while (due := await next_reminder_due(self.db, self.clock.now(), until)) and due < until:
            await self.set_clock(due)
        await self.set_clock(until)

    async def set_clock(self, moment: datetime) -> None:
        self.clock.set(moment)
        self.tell(f"It is now {self.time_now()}.")
        await self.tick()

    # -------------------------------------------------------------- directives

    async def directive(self, text: str) -> None:
        name, _, rest = text[1:].partition(" ")
        rest = rest.strip()
        if name == "clock":
            if not rest:
                self.tell(f"It is {self.time_now()}.")
            elif rest.startswith("+"):
                await self.pass_time(self.clock.now() + parse_duration(rest[1:]))
            else:
                await self.pass_time(
                    parse_when(
                        rest,
                        zone(self.settings.default_timezone),
                        self.clock.now(),
                        day_at=START_OF_DAY,
                        future=False,
                    )
                )
        elif name == "admin":
            users = [self.user_id(word) for word in rest.split()]
            if not users:
                raise UserError("Name who becomes a workspace admin.", ":admin @maria")
            for user_id in users:
                await self.remember(self.directory.update(user_id, is_admin=True))
            names = " and ".join(f"@{u}" for u in users)
            what = "is now a workspace admin" if len(users) == 1 else "are now workspace admins"
            self.tell(f"{names} {what}: they can create cohorts and act as coordinators.")
        elif name == "user":
            user, *pairs = shlex.split(rest) if rest else [""]
            if not user:
                raise UserError("Name the user.", ':user @alice tz=America/Chicago name="Alice Ng"')
            user_id = self.user_id(user)
            changes: dict[str, object] = {}
            for pair in pairs:
                key, _, value = pair.partition("=")
                field = PROFILE_FIELDS.get(key)
                if field is None or not value:
                    raise UserError(
                        f"'{pair}' is not a profile setting; use name=, tz= or email=.",
                        ":user @alice tz=America/Chicago",
                    )
                if field == "tz":
                    zone(value)
                changes[field] = value
            profile = self.directory.update(user_id, **changes)
            await self.remember(profile)
            admin = ", workspace admin" if profile.is_admin else ""
            self.tell(
                f"@{user_id} is {profile.display_name}, time zone "
                f"{zone_name(profile.tz, self.settings)}, e-mail {profile.email}{admin}."
            )
        elif name == "deliver":
            await self.deliver()
        elif name in ("help", "?"):
            self.say("console", __doc__ or "")
        else:
            raise UserError(f"Unknown directive ':{name}'; use :clock, :admin, :user or :help.", ":clock +2d")


async def interactive(chat: ConsoleChat) -> None:
    """Read lines from the terminal until end of input. Piped input is echoed like a script."""
    import asyncio

    typing = sys.stdin.isatty()
    chat.echo = not typing
    print("Cohort Bot console. Act as anyone: `@coord /help`. `:help` for directives, Ctrl-D to leave.")
    while True:
        try:
            line = await asyncio.to_thread(input, "> " if typing else "")
        except EOFError:
            print()
            return
        await chat.line(line)
        sys.stdout.flush()
