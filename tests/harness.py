"""One conversation harness, several platforms: the same script runs over the console and
over Slack's wire, and reads back as the same transcript.

A `Conversation` takes a console script (`@alice /submit …`, `:user`, `:admin`, `:clock`)
and records what each person saw as `Said(where, text)`: `#channel`, `DM @user` or
`only @user` (an answer only the sender sees). `ConsoleChat` is one. `SlackChat` is the
other: each typed command becomes the signed slash command Slack would send from that
person (their handle a Slack user in a fake Slack, their `#channel` a Slack channel, both
typed as Slack escapes them), the real served app answers, and what reached the fake
Slack (the ack, response_url answers, ephemerals, posts, edits) is turned back from Block
Kit into the console's text, so one assertion holds on both.

Where Slack really differs, the transcript shows it as the person sees it: a taken-in
`/submit` is acknowledged ("Saving your submission…") and its receipt follows as a second
answer only the learner sees.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Protocol

import pytest
from fakes.slack_server import FakeSlack
from slack_app import SlackWire, served_app

from bot.clock import FakeClock
from bot.config import Settings
from bot.directory import Profile
from bot.domain import UserError
from bot.messages import Reply
from bot.platforms.console import ConsoleChat, Said
from bot.platforms.slack.app import COMMANDS
from bot.storage.db import Database


class Conversation(Protocol):
    """What a test needs of a chat: run a script, move time, ask what who saw where."""

    clock: FakeClock
    transcript: list[Said]
    crashes: int
    errors: int

    async def run(self, script: str) -> None: ...

    def saw(self, where: str, text: str = "") -> bool: ...

    def said(self, where: str | None = None) -> list[str]: ...

    def last(self, where: str) -> str: ...

    async def deliver(self) -> None: ...


# ------------------------------------------------------------------ typed text as Slack sends it

# A person's typed text, piece by piece: a link, an e-mail address, a mention, a channel.
TYPED_RE = re.compile(
    r"(?P<url>https?://[^\s<>]+)"
    r"|(?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
    r"|(?<![\w.@/])@(?P<user>[^\W_][\w.-]{0,79})"
    r"|(?<![\w/&#])#(?P<channel>[^\W_][\w.-]{0,79})"
)
# What the bot sends back in mrkdwn: its mentions, channels and links.
MRKDWN_RE = re.compile(r"<([@#!]?)([^<>|]*)(?:\|([^<>]*))?>")


def entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unentities(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def slack_id(prefix: str, name: str, taken: set[str]) -> str:
    """A readable Slack id for a console name (`alice` -> UALICE), unique among `taken`."""
    base = prefix + (re.sub(r"[^A-Z0-9]", "", name.upper()) or "X")
    found, n = base, 1
    while found in taken:
        n += 1
        found = f"{base}{n}"
    return found


class SlackChat(ConsoleChat):
    """The console's script language over Slack's wire, into the real served app.

    Script handling (`:clock`, `:user`, `:admin`, running what falls due) is the console's;
    only a person's command, where profiles live and how messages arrive are Slack's."""

    def __init__(self, app: SlackWire) -> None:
        runtime = app.runtime
        assert isinstance(runtime.clock, FakeClock)
        super().__init__(runtime.db, runtime.settings, clock=runtime.clock, out=None)
        self.app, self.fake = app, app.fake
        self.handles: dict[str, str] = {}  # Slack user id -> handle
        self.users: dict[str, str] = {}  # handle -> Slack user id
        for user, spec in self.fake.users.items():  # the people the fake Slack has already
            if not spec.get("is_bot"):
                self.handles[user] = handle = self.user_id(spec.get("name", user.lower()))
                self.users[handle] = user
                profile = spec.get("profile") or {}
                self.directory.update(
                    handle,
                    display_name=profile.get("display_name") or handle,
                    email=profile.get("email"),
                    tz=spec.get("tz"),
                    is_admin=bool(spec.get("is_admin")),
                )
        self.names: dict[str, str] = dict(self.fake.channels)  # Slack channel id -> name
        self.channels = {name: cid for cid, name in self.names.items()}
        self.calls_seen, self.responses_seen = len(self.fake.calls), len(self.fake.responses)
        self.spy(runtime.bot)

    def spy(self, bot: Any) -> None:
        """Count refusals and crashes as the console does, from the replies the app gives."""
        for name in ("handle", "finish"):
            method = getattr(bot, name)

            async def counted(*args: Any, _method: Any = method, **kwargs: Any) -> Reply:
                reply: Reply = await _method(*args, **kwargs)
                if reply.crashed:
                    self.crashes += 1
                elif not reply.ok:
                    self.errors += 1
                return reply

            setattr(bot, name, counted)

    # -------------------------------------------------------------- people and channels

    def person(self, handle: str) -> str:
        """The Slack user for a console handle; everyone the console names exists, with the
        console's profile until :user or :admin says otherwise."""
        if handle not in self.users:
            self.users[handle] = user = slack_id("U", handle, set(self.fake.users))
            self.handles[user] = handle
            self.fake.add_user(user, **self.slack_profile(self.directory.update(handle)))
        return self.users[handle]

    def slack_profile(self, profile: Profile) -> dict[str, Any]:
        return {
            "name": profile.user_id,
            "real_name": profile.display_name,
            "tz": profile.tz or self.settings.default_timezone,
            "is_admin": profile.is_admin,
            "profile": {"email": profile.email, "display_name": profile.display_name},
        }

    def channel(self, name: str) -> str:
        """The Slack channel named `name`, made (with the bot in it) the first time it is named."""
        name = name.lower()
        if name not in self.channels:
            self.channels[name] = cid = slack_id("C", name, set(self.fake.channels))
            self.names[cid] = name
            self.fake.add_channel(cid, name)
        return self.channels[name]

    async def remember(self, profile: Profile) -> None:
        """:user and :admin change the person's Slack profile. The app caches profiles for ten
        minutes; the harness lets that pass, so the next lookup sees the change."""
        self.fake.add_user(self.person(profile.user_id), **self.slack_profile(profile))
        for directory in self.app.runtime.platforms["slack"].directories.values():
            directory.cache.pop(self.users[profile.user_id], None)

    async def restore(self) -> None:
        self.restored = True  # Slack keeps profiles; nothing to restore

    def escaped(self, text: str) -> str:
        """A command's text as Slack sends it with escaping on: mentions, channels, links and
        addresses as Slack's markup, and &, < and > as entities."""
        out, last = [], 0
        for m in TYPED_RE.finditer(text):
            out.append(entities(text[last : m.start()]))
            if m["url"]:
                out.append(f"<{entities(m['url'])}>")
            elif m["email"]:
                out.append(f"<mailto:{m['email']}|{m['email']}>")
            elif m["user"]:
                handle = self.user_id(m["user"])
                out.append(f"<@{self.person(handle)}|{handle}>")
            else:
                out.append(f"<#{self.channel(m['channel'])}|{m['channel'].lower()}>")
            last = m.end()
        out.append(entities(text[last:]))
        return "".join(out)

    # -------------------------------------------------------------- commands and deliveries

    async def command(self, text: str) -> None:
        user, _, line = text.partition(" ")
        handle = self.user_id(user)
        command, _, rest = line.strip().partition(" ")
        if command not in COMMANDS:
            raise UserError(
                f"Slack sends the app only {', '.join(COMMANDS)}; '{command}' is not one.",
                "@alice /submit status",
            )
        person = self.person(handle)
        ack = await self.app.typed(
            person, command, self.escaped(rest.strip()), channel="D" + person, deliver=False
        )
        if ack:
            self.say(f"only @{handle}", self.readable(ack))
        self.collect()
        await self.deliver()  # as the console does after each command: the worker's turn

    async def deliver(self) -> None:
        await self.app.settle()
        self.collect()

    def collect(self) -> None:
        """What reached Slack since last time, as the console shows it."""
        for name, payload in self.fake.responses[self.responses_seen :]:
            self.say(f"only @{self.handles.get(name, name)}", self.readable(payload))
        self.responses_seen = len(self.fake.responses)
        for call in self.fake.calls[self.calls_seen :]:
            answer = call.response or {}
            if not answer.get("ok"):
                continue
            if call.method == "chat.postMessage":
                self.say(self.where(answer["channel"]), self.readable(call.args))
            elif call.method == "chat.update":
                self.say(self.where(answer["channel"]), f"(edited) {self.readable(call.args)}")
            elif call.method == "chat.postEphemeral":
                self.say(
                    f"only @{self.handles.get(call.args['user'], call.args['user'])}",
                    self.readable(call.args),
                )
        self.calls_seen = len(self.fake.calls)

    def where(self, channel: str) -> str:
        if channel.startswith("D") and channel[1:] in self.handles:
            return f"DM @{self.handles[channel[1:]]}"
        return f"#{self.names.get(channel, channel)}"

    # -------------------------------------------------------------- Block Kit back to text

    def readable(self, message: dict[str, Any]) -> str:
        """A Slack message as the console renders the same neutral message."""
        blocks = message.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not blocks:
            return self.text(message.get("text") or "")
        lines, buttons, context = [], [], []
        for block in blocks:
            if block["type"] == "section" and "text" in block:
                lines.append(self.text(block["text"]["text"]))
            elif block["type"] == "section":
                for field in block.get("fields", []):
                    label, _, value = field["text"].partition("\n")
                    lines.append(f"{self.text(label.strip('*'))}: {self.text(value)}")
            elif block["type"] == "actions":
                buttons += [
                    f"[{e['text']['text']}: {e['url']}]"
                    if "url" in e
                    else f"[{e['text']['text']} → {e.get('value', '')}]"
                    for e in block["elements"]
                ]
            elif block["type"] == "context":
                context += [self.text(e["text"]) for e in block["elements"]]
        if buttons:
            lines.append(" ".join(buttons))
        lines += [f"({c})" for c in context]
        return "\n".join(lines)

    def text(self, mrkdwn: str) -> str:
        """mrkdwn as the console shows it: `<@U…>` as @handle, `<#C…>` as #name, a link by
        its label (and address, where they differ), a `<!date…>` by its words, entities as
        the characters."""

        def piece(m: re.Match[str]) -> str:
            sigil, target, label = m.groups()
            if sigil == "@":
                return f"@{self.handles.get(target, target)}"
            if sigil == "#":
                return f"#{self.names.get(target, label or target)}"
            if sigil == "!" and target.startswith("date^"):  # a date: its words, as the console has them
                return unentities(label or "")
            if sigil == "!":
                return f"@{label or target}"
            shown = unentities(label) if label is not None else target
            return shown if shown == target else f"{shown} ({target})"

        out, last = [], 0
        for m in MRKDWN_RE.finditer(mrkdwn):
            out += [unentities(mrkdwn[last : m.start()]), piece(m)]
            last = m.end()
        out.append(unentities(mrkdwn[last:]))
        return "".join(out)


# ------------------------------------------------------------------ the fixture


@asynccontextmanager
async def slack_chat(settings: Settings, clock: FakeClock) -> AsyncIterator[SlackChat]:
    """A fake Slack knowing nobody yet, and the app served against it. Slack's rate limits
    are not what these conversations are about (tests/test_delivery_rates.py is): without
    them a message is not held back a real second behind the one before in its channel."""
    unlimited = settings.model_copy(
        update={
            "slack_channel_rate": 1000.0,
            "slack_channel_burst": 100,
            "slack_workspace_rate": 1000.0,
            "slack_workspace_burst": 100,
        }
    )
    async with FakeSlack(users={}, channels={}) as fake, served_app(fake, unlimited, clock) as app:
        yield SlackChat(app)


@pytest.fixture(params=["console", "slack"])
async def conversation(
    request: pytest.FixtureRequest, db: Database, settings: Settings, clock: FakeClock
) -> AsyncIterator[Conversation]:
    """The same conversation over each platform's harness."""
    if request.param == "console":
        yield ConsoleChat(db, settings, clock=clock, out=None)
        return
    async with slack_chat(settings, clock) as chat:
        yield chat
