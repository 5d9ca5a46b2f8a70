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
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import pytest
from discord_app import UNLIMITED, DiscordWire, discord_bot
from fakes.discord import Channel as DiscordChannel
from fakes.discord import FakeDiscord, Interaction, Permission
from fakes.discord import Member as DiscordMember
from fakes.discord import Role as DiscordRole
from fakes.slack_server import FakeSlack
from slack_app import SlackWire, served_app
from sqlalchemy import select

from bot.clock import FakeClock
from bot.config import Settings
from bot.directory import Profile
from bot.domain import UserError, format_time, zone
from bot.grammar import APP_COMMANDS, DEFAULT_ACTION, SPECS
from bot.messages import Reply
from bot.platforms.console import ConsoleChat, Said
from bot.platforms.discord.commands import Option as CommandOption
from bot.platforms.discord.commands import OptionType, Subcommand, subcommand
from bot.platforms.slack.app import COMMANDS
from bot.service import Origin, upsert_member, workspace_for
from bot.storage import Cohort
from bot.storage.db import Database


class Conversation(Protocol):
    """What a test needs of a chat: run a script, move time, ask what who saw where."""

    clock: FakeClock
    place: str  # what the platform calls a workspace: "workspace", "server"
    transcript: list[Said]
    crashes: int
    errors: int

    async def run(self, script: str) -> None: ...

    def saw(self, where: str, text: str = "") -> bool: ...

    def said(self, where: str | None = None) -> list[str]: ...

    def last(self, where: str) -> str: ...

    async def deliver(self) -> None: ...


def count_replies(chat: ConsoleChat, bot: Any) -> None:
    """Count refusals and crashes as the console does, from the replies a served app gives."""
    for name in ("handle", "finish"):
        method = getattr(bot, name)

        async def counted(*args: Any, _method: Any = method, **kwargs: Any) -> Reply:
            reply: Reply = await _method(*args, **kwargs)
            if reply.crashed:
                chat.crashes += 1
            elif not reply.ok:
                chat.errors += 1
            return reply

        setattr(bot, name, counted)


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
        count_replies(self, bot)

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


# ------------------------------------------------------------------ Discord

# What the bot writes in Discord's markdown: its mentions, channels, links and times.
DISCORD_RE = re.compile(
    r"<@!?(?P<user>\d+)>|<#(?P<channel>\d+)>|<t:(?P<time>-?\d+):\w>"
    r"|\[(?P<label>(?:\\.|[^\]\\])*)\]\(<(?P<url>[^>]*)>\)|\*\*(?P<bold>[^*]+)\*\*|\\(?P<escaped>.)"
)
# How a person's typed text reaches a string option: Discord's client makes @mentions, @&roles
# (a script's way of naming a role) and #channels its markup.
TYPED_MENTION_RE = re.compile(
    r"(?<![\w.@/])@(?P<user>[^\W_][\w.-]{0,79})|(?<![\w.@/])@&(?P<role>[^\W_][\w.-]{0,79})"
    r"|(?<![\w/&#])#(?P<channel>[^\W_][\w.-]{0,79})"
)
ADMIN_ROLE = "Server managers"  # `:admin`: the Manage Server permission, which makes a workspace admin


class DiscordChat(ConsoleChat):
    """The console's script language over Discord's wire, into the real bot and its unmodified
    discord.py client, against the fake Discord.

    Each `@alice /cohort add spring @bob` becomes the slash command Discord's client sends when
    alice fills it in (`/cohort add` with its options, typed in the server's #general): the
    words are given to the options in the usage's order, keywords mark theirs, `#channels` fill
    channel options, and mentions in text become Discord's `<@id>` (`@&librarians`, a role of
    the server, `<@&id>`). A line Discord's client
    could not send (a subcommand it does not have, a required option missing, a choice not
    offered) is refused by the console, saying so. Answers, followups, channel posts, DMs and
    edits that reached the fake are read back from Discord's JSON into the console's text.

    Discord tells a bot neither a person's e-mail nor their zone: `:user` stands for what the
    person told the bot (their badge address, and the zone they chose where `tz=` names one:
    without it their zone is unknown, as on Discord), kept on their member record; `:admin`
    gives them a role with Manage Server, as a server owner would.
    A `<t:…>` time is read in the reader's zone: a person's own, or for a channel its cohort's."""

    place = "server"

    def __init__(self, wire: DiscordWire) -> None:
        runtime = wire.runtime
        assert isinstance(runtime.clock, FakeClock)
        super().__init__(runtime.db, runtime.settings, clock=runtime.clock, out=None)
        self.wire, self.fake = wire, wire.fake
        assert self.fake.guild is not None
        self.guild = self.fake.guild
        self.home = self.guild.text_channels[0]  # where commands are typed
        self.admins = self.guild.add_role(ADMIN_ROLE, permissions=Permission.MANAGE_GUILD)
        self.members: dict[str, DiscordMember] = {}  # handle -> the fake's member
        self.handles: dict[int, str] = {}  # Discord user id -> handle
        self.calls_seen = len(self.fake.calls())
        self.posted: set[str] = set()  # message ids already in the transcript (a nonce's repeat)
        self.channel_zones: dict[str, ZoneInfo] = {}  # channel name -> its cohort's zone
        count_replies(self, runtime.bot)

    # -------------------------------------------------------------- people and channels

    def person(self, handle: str) -> DiscordMember:
        if handle not in self.members:
            self.members[handle] = member = self.fake.member(handle)
            self.handles[member.id] = handle
        return self.members[handle]

    def role(self, name: str) -> DiscordRole:
        """The server's role called `name` (any case): Discord's client offers only those."""
        found = next((r for r in self.guild.roles.values() if r.name.lower() == name.lower()), None)
        if found is None:
            raise ValueError(f"the server has no role called {name}")
        return found

    def channel(self, name: str) -> DiscordChannel:
        name = name.lower()
        found = next((c for c in self.guild.text_channels if c.name == name), None)
        return found or self.guild.add_text_channel(name)

    async def remember(self, profile: Profile) -> None:
        """`:user` and `:admin`: the server's side (a role, a nickname) in the fake; the e-mail
        and zone on the person's member record, where the bot keeps what people tell it."""
        member = self.person(profile.user_id)
        if profile.is_admin and self.admins not in member.roles:
            member.roles.append(self.admins)
        elif not profile.is_admin and self.admins in member.roles:
            member.roles.remove(self.admins)
        member.nick = profile.display_name if profile.display_name != profile.user_id else None
        user_id, now = str(member.id), self.clock.now()
        async with self.db.transaction() as session:
            origin = Origin(self.wire.platform.name, str(self.guild.id), user_id, None, self.guild.name)
            workspace = await workspace_for(session, origin, now)
            known = await upsert_member(session, workspace, replace(profile, user_id=user_id, tz=None), now)
            known.email = profile.email
            if profile.tz is not None:  # a zone they told the bot, as `/badges timezone` does
                known.tz, known.tz_chosen = zone(profile.tz).key, True
        self.wire.platform.directory(str(self.guild.id)).forget(user_id)

    async def restore(self) -> None:
        self.restored = True  # the bot keeps its members; nothing to restore

    def options(self, sub: Subcommand, rest: str) -> dict[str, Any]:
        """A typed line's words as the options of `sub` (see the class notes); ValueError if
        Discord's client could not send them. Discord's options have no order: the bot puts
        them back in the usage's, so the line it reads is the line typed."""
        before, dashes, note = rest.partition(" -- ")
        if rest.startswith("-- "):
            before, dashes, note = "", "--", rest[3:]
        words = before.split()
        keywords = {tuple(o.keyword.split()): o for o in sub.options if o.keyword and o.keyword != "--"}
        starts = {kw[0] for kw in keywords}
        values: dict[str, Any] = {}
        waiting = [o for o in sub.options if not o.keyword]  # positional, in the usage's order
        i = 0
        while i < len(words):
            keyword = next(
                (
                    kw
                    for kw in keywords
                    if tuple(words[i : i + len(kw)]) == kw and keywords[kw].name not in values
                ),
                None,
            )
            if keyword is not None:
                option, i = keywords[keyword], i + len(keyword)
                j = self.run_end(words, i, starts)
            else:
                option = self.positional(sub, waiting, words[i:], starts)
                waiting = waiting[waiting.index(option) + 1 :]
                j = i + 1 if self.one_word(sub, option, waiting) else self.run_end(words, i, starts, option)
            values[option.name] = self.value(option, " ".join(words[i:j]))
            i = j
        if dashes:
            dash = next((o for o in sub.options if o.keyword == "--"), None)
            if dash is None:
                raise ValueError("it has no option for text after --")
            values[dash.name] = self.text_value(note.strip())
        for option in sub.options:
            if option.required and option.name not in values:
                raise ValueError(f"its option '{option.name}' is required")
        return values

    def positional(
        self, sub: Subcommand, waiting: list[CommandOption], words: list[str], starts: set[str]
    ) -> CommandOption:
        """The option the next word fills: the next positional one that takes it (a channel
        option only a #channel; an optional one not if the required ones after it would then
        go without)."""
        for option in waiting:
            if option.type == OptionType.CHANNEL and not words[0].startswith("#"):
                continue
            if self.leaves_too_few(sub, option, words, starts):
                continue
            return option
        raise ValueError(f"'{' '.join(words)}' fits none of its options")

    @staticmethod
    def one_word(sub: Subcommand, option: CommandOption, waiting: list[CommandOption]) -> bool:
        """A text option takes one word when another text option follows it before the next
        keyword; the last of its run takes words up to a keyword (or a #channel, for a channel
        option after it)."""
        if option.type == OptionType.CHANNEL:
            return True
        run = sub.options[sub.options.index(option) + 1 :]
        run = run[: next((n for n, o in enumerate(run) if o.keyword), len(run))]
        return any(o in waiting and o.type != OptionType.CHANNEL for o in run)

    @staticmethod
    def run_end(words: list[str], i: int, starts: set[str], option: CommandOption | None = None) -> int:
        j = i + 1
        while j < len(words) and words[j] not in starts and not (option and words[j].startswith("#")):
            j += 1
        return j

    @staticmethod
    def leaves_too_few(sub: Subcommand, option: CommandOption, words: list[str], starts: set[str]) -> bool:
        """Whether an optional option taking a word would leave the required ones after it in
        its run (up to the next keyword) without one: then it is left out."""
        if option.required:
            return False
        run = sub.options[sub.options.index(option) + 1 :]
        run = run[: next((n for n, o in enumerate(run) if o.keyword), len(run))]
        available = len(words[: next((n for n, w in enumerate(words) if w in starts), len(words))])
        return available <= sum(o.required for o in run)

    def value(self, option: CommandOption, text: str) -> Any:
        if option.type == OptionType.CHANNEL:
            if not re.fullmatch(r"#[^\W_][\w.-]{0,79}", text):
                raise ValueError(f"'{text}' is not a channel for its option '{option.name}'")
            return self.channel(text[1:])
        if option.choices and text not in option.choices:
            raise ValueError(
                f"'{text}' is not one of its choices for '{option.name}' ({', '.join(option.choices)})"
            )
        return self.text_value(text)

    def text_value(self, text: str) -> str:
        def markup(m: re.Match[str]) -> str:
            if m["user"]:
                return f"<@{self.person(self.user_id(m['user'])).id}>"
            if m["role"]:
                return f"<@&{self.role(m['role']).id}>"
            return f"<#{self.channel(m['channel']).id}>"

        return TYPED_MENTION_RE.sub(markup, text)

    # -------------------------------------------------------------- commands and deliveries

    async def command(self, text: str) -> None:
        user, _, line = text.partition(" ")
        handle = self.user_id(user)
        word, _, rest = line.strip().partition(" ")
        verb = word.removeprefix("/")
        if verb not in (*APP_COMMANDS, "help") or not word.startswith("/"):
            raise UserError(
                f"Discord has no command '{word}'; the bot's are /{', /'.join(APP_COMMANDS)} and /help."
            )
        first, _, after = rest.strip().partition(" ")
        actions = {subcommand(s).action: subcommand(s) for s in SPECS if s.verb == verb}
        if verb == "help":
            sub, rest = actions["help"], rest.strip()
        elif first in actions and first != DEFAULT_ACTION.get(verb):
            sub, rest = actions[first], after.strip()
        elif verb in DEFAULT_ACTION:
            sub, rest = actions[DEFAULT_ACTION[verb]], rest.strip()
        else:
            raise UserError(
                f"Discord's client would not send `{line.strip()}`: /{verb} has no subcommand '{first}'."
            )
        try:
            options = self.options(sub, rest)
        except ValueError as exc:
            raise UserError(f"Discord's client would not send `{line.strip()}`: {exc}.") from None
        path = verb if verb == "help" else f"{verb} {sub.name}"
        interaction = await self.fake.slash(self.person(handle), path, options, channel=self.home)
        await self.wire.answered(interaction, deliver=False)
        await self.collect()
        await self.deliver()  # as the console does after each command: the worker's turn

    async def deliver(self) -> None:
        await self.wire.settle()
        await self.collect()

    def interaction(self, token: str) -> Interaction:
        return next(i for i in self.fake.interactions.all if i.token == token)

    async def collect(self) -> None:
        """What reached Discord since last time, as the console shows it."""
        await self.refresh_zones()
        calls = self.fake.calls()
        for seen, call in enumerate(calls[self.calls_seen :], start=self.calls_seen):
            if call.status == 0:  # still being answered: read it next time
                calls = calls[:seen]
                break
            if call.status >= 300:
                continue
            body = call.json or {}
            if call.route.endswith("/callback"):
                interaction = self.interaction(call.params["interaction_token"])
                who = f"only @{self.handles.get(interaction.user.id, interaction.user.username)}"
                if body.get("type") == 4:
                    self.say(who, self.readable(body.get("data") or {}, who))
                elif body.get("type") == 9:
                    self.say(who, f"(a form: {body['data']['title']})")
            elif call.route.startswith(("POST /webhooks/", "PATCH /webhooks/")):
                interaction = self.interaction(call.params["webhook_token"])
                who = f"only @{self.handles.get(interaction.user.id, interaction.user.username)}"
                self.say(who, self.readable(body, who))
            elif call.route == "POST /channels/{channel_id}/messages":
                if str(call.response["id"]) in self.posted:
                    continue  # the same nonce again: Discord returned the first message
                self.posted.add(str(call.response["id"]))
                where = self.where(call.params["channel_id"])
                self.say(where, self.readable(body, where))
            elif call.route == "PATCH /channels/{channel_id}/messages/{message_id}":
                where = self.where(call.params["channel_id"])
                self.say(where, f"(edited) {self.readable(body, where)}")
        self.calls_seen = len(calls)

    def where(self, channel_id: str) -> str:
        channel = self.fake.world.channels[int(channel_id)]
        if channel.recipient is not None:
            return f"DM @{self.handles.get(channel.recipient.id, channel.recipient.username)}"
        return f"#{channel.name}"

    # -------------------------------------------------------------- Discord's JSON back to text

    def readable(self, body: dict[str, Any], where: str) -> str:
        """A Discord message as the console renders the same neutral message: its text (the
        content, or a card's description over its embeds; the console shows no card title), the
        embeds' fields, the buttons, then the small print in brackets (`-# …`, or a footer)."""
        zone = self.reader_zone(where)
        lines, context = [], []
        embeds = body.get("embeds") or []
        text = str(body.get("content") or "") or "\n".join(
            str(e["description"]) for e in embeds if "description" in e
        )
        for line in text.split("\n") if text else []:
            if line.startswith("-# "):
                context.append(self.text(line[3:], zone))
            else:
                lines.append(self.text(line, zone))
        for embed in embeds:
            for field in embed.get("fields") or []:
                lines.append(f"{self.text(field['name'], zone)}: {self.text(field['value'], zone)}")
            if "footer" in embed:
                context.append(embed["footer"]["text"])  # plain text: Discord parses no markdown there
        buttons = [
            f"[{b['label']}: {b['url']}]" if "url" in b else f"[{b['label']} → {b['custom_id']}]"
            for row in body.get("components") or []
            for b in row.get("components") or []
        ]
        if buttons:
            lines.append(" ".join(buttons))
        return "\n".join(lines + [f"({c})" for c in context])

    def text(self, markdown: str, zone: ZoneInfo) -> str:
        """Discord's markdown as the console shows it: `<@id>` as @handle, `<#id>` as #name, a
        link by its label (and address, where they differ), `**bold**` as *bold*, a time in the
        reader's zone, escapes as the characters (code spans as they are)."""

        def piece(m: re.Match[str]) -> str:
            if m["user"]:
                user = int(m["user"])
                return f"@{self.handles.get(user, m['user'])}"
            if m["channel"]:
                channel = self.fake.world.channels.get(int(m["channel"]))
                return f"#{channel.name if channel else m['channel']}"
            if m["time"]:
                return format_time(datetime.fromtimestamp(int(m["time"]), UTC), zone)
            if m["url"] is not None:
                label = re.sub(r"\\(.)", r"\1", m["label"])
                return label if label == m["url"] else f"{label} ({m['url']})"
            if m["bold"]:
                return f"*{self.text(m['bold'], zone)}*"
            return str(m["escaped"])

        parts = markdown.split("`")
        return "`".join(part if i % 2 else DISCORD_RE.sub(piece, part) for i, part in enumerate(parts))

    def reader_zone(self, where: str) -> ZoneInfo:
        """Whose clock a `<t:…>` is read on: the person's, else (a channel) its cohort's."""
        if where.startswith(("only @", "DM @")):
            handle = where.split("@", 1)[1]
            return zone(self.directory.update(handle).tz or self.settings.default_timezone)
        return self.channel_zones.get(where.removeprefix("#"), zone(self.settings.default_timezone))

    async def refresh_zones(self) -> None:
        async with self.db.transaction() as session:
            rows = (
                await session.execute(select(Cohort.channel_id, Cohort.reviews_channel_id, Cohort.tz))
            ).all()
        self.channel_zones = {}
        for channel_id, reviews_id, tz in rows:
            for cid in (channel_id, reviews_id):
                channel = self.fake.world.channels.get(int(cid)) if cid and cid.isdigit() else None
                if channel is not None and channel.name:
                    self.channel_zones[channel.name] = zone(tz)


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


@asynccontextmanager
async def discord_chat(settings: Settings, clock: FakeClock) -> AsyncIterator[DiscordChat]:
    """A fake Discord with one server and nobody in it yet, and the bot connected to it. Rate
    limits are not what these conversations are about
    (tests/platforms/discord/test_discord_delivery.py is)."""
    async with FakeDiscord(rate_limits={}, global_limit=None) as fake:
        async with discord_bot(fake, settings, clock, **UNLIMITED) as wire:
            yield DiscordChat(wire)
        fake.check_violations(ending=True)


@pytest.fixture(params=["console", "slack", "discord"])
async def conversation(
    request: pytest.FixtureRequest, db: Database, settings: Settings, clock: FakeClock
) -> AsyncIterator[Conversation]:
    """The same conversation over each platform's harness."""
    if request.param == "console":
        yield ConsoleChat(db, settings, clock=clock, out=None)
        return
    if request.param == "discord":
        async with discord_chat(settings, clock) as discord:
            yield discord
        return
    async with slack_chat(settings, clock) as chat:
        yield chat
