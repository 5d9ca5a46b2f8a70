"""`FakeDiscord`: Discord's REST API v10 and gateway on 127.0.0.1 (a free port), for an unmodified
discord.py client to log into and talk to, and the test's side of it: build the world, act as
people (slash commands, autocomplete, clicks, modal submits, typed messages), and read back every
call, answer, message and broken rule."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web

from . import objects, payloads
from .clock import Clock
from .commands import Commands, invocation
from .errors import DiscordError, ErrorCode, FieldError
from .faults import Faults
from .gateway import Gateway, Intent, Session
from .interactions import ACK_WINDOW, TOKEN_LIFETIME, Callback, Interaction, Interactions, InteractionType
from .ratelimits import DEFAULT_LIMIT, GLOBAL_LIMIT, RateLimit, RateLimiter
from .rest import Call, RestApi
from .world import BOT_DEFAULT, Channel, ChannelType, Guild, Member, Message, User, World

T = TypeVar("T")
DEFAULT_TOKEN = "ZmFrZS1ib3Q.fake-discord.token-for-tests"
GATEWAY_PATH = "/gateway"
APPLICATION_COMMAND_BADGE = 1 << 23  # the app has registered global commands
# An application's flag for each privileged intent switched on, as for an app in under 100
# servers (GATEWAY_*_LIMITED).
INTENT_FLAGS = {
    Intent.GUILD_PRESENCES: 1 << 13,
    Intent.GUILD_MEMBERS: 1 << 15,
    Intent.MESSAGE_CONTENT: 1 << 19,
}
STOP_TIMEOUT = 5.0


@dataclass(frozen=True)
class Violation:
    """A rule of Discord's the client broke: a refused request, or an interaction left unanswered
    (the person saw "This interaction failed"). Tests that break one on purpose take it."""

    route: str
    status: int
    code: int | None  # Discord's JSON error code; None for an interaction nobody answered
    message: str
    errors: tuple[FieldError, ...] = ()

    def __str__(self) -> str:
        fields = "; ".join(f"{e.pointer}: {e.message}" for e in self.errors)
        return f"{self.route} -> {self.status} {self.code} {self.message}" + (
            f" ({fields})" if fields else ""
        )


class Changes:
    """Wakes waiters whenever anything happens (a call, a frame, an answer)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def until(self, predicate: Callable[[], T | None], *, within: float, what: str) -> T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not (result := predicate()):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"waited {within} s for {what}")
            # re-checked on every change, and on a short beat: a predicate may read the client
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), min(remaining, 0.05))
        return result


class FakeDiscord:
    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_name: str = "Cohort Bot",
        guild_name: str | None = "Test Server",
        bot_permissions: int = BOT_DEFAULT,
        privileged_intents: int = 0,
        rate_limits: Mapping[str, RateLimit] | None = None,
        default_limit: RateLimit = DEFAULT_LIMIT,
        global_limit: RateLimit | None = GLOBAL_LIMIT,
        heartbeat_interval: float = 41.25,
        ack_window: float = ACK_WINDOW,
        token_lifetime: float = TOKEN_LIFETIME,
    ) -> None:
        self.token = token
        self.clock = Clock()
        self.world = World(self.clock, bot_name=bot_name, bot_permissions=bot_permissions)
        self.owner = self.world.add_user("app-owner")
        self.guild: Guild | None = self.world.add_guild(guild_name, owner=self.owner) if guild_name else None
        self.commands = Commands(self.world)
        self.interactions = Interactions(ack_window=ack_window, token_lifetime=token_lifetime)
        self.limiter = RateLimiter(self.clock, rate_limits, default=default_limit, global_limit=global_limit)
        self.faults = Faults()
        self.gateway = Gateway(
            self.clock,
            token=token,
            enabled_intents=privileged_intents,
            heartbeat_interval=heartbeat_interval,
            ready=self._ready,
            members_chunk=self._members_chunk,
            on_change=self.changed,
        )
        self.received: list[Call] = []
        self.rate_limited: list[Call] = []  # the calls answered 429
        self.violations: list[Violation] = []
        self.nonces: dict[str, Message] = {}
        self._changes = Changes()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---------------------------------------------------------------- serving

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """What discord.py's `Route.BASE` (the bot's DISCORD_API_URL) is set to."""
        return f"{self.url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """What `GET /gateway/bot` and READY's `resume_gateway_url` give (DISCORD_GATEWAY_URL)."""
        return f"ws://127.0.0.1:{self.port}{GATEWAY_PATH}"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get(GATEWAY_PATH, self.gateway.handle)
        RestApi(self).add_to(app)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        # IPPROTO_TCP named so asyncio turns Nagle's algorithm off (no 40 ms delayed-ACK stalls)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(runner, sock).start()
        self._runner = runner
        self.gateway.url = self.gateway_url

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        if runner is None:
            return
        await asyncio.wait_for(self.gateway.close_all(), STOP_TIMEOUT)
        await asyncio.wait_for(runner.cleanup(), STOP_TIMEOUT)

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # ---------------------------------------------------------------- the world

    @property
    def bot(self) -> User:
        return self.world.bot

    @property
    def application_id(self) -> int:
        return self.world.application_id

    @property
    def enabled_intents(self) -> int:
        """The privileged intents switched on for the app in the Developer Portal (Bot page):
        what IDENTIFY may ask for, and what REST lets it read (List Guild Members needs
        GUILD_MEMBERS, whatever the connection asked for). A test may switch them any time."""
        return self.gateway.enabled_intents

    @enabled_intents.setter
    def enabled_intents(self, intents: int) -> None:
        self.gateway.enabled_intents = int(intents)

    @property
    def application_flags(self) -> int:
        """The application's `flags`, as READY and `GET /applications/@me` give them."""
        flags = APPLICATION_COMMAND_BADGE
        for intent, flag in INTENT_FLAGS.items():
            flags |= flag if self.enabled_intents & intent else 0
        return flags

    def add_user(self, username: str, **traits: Any) -> User:
        return self.world.add_user(username, **traits)

    def add_guild(self, name: str, **kwargs: Any) -> Guild:
        return self.world.add_guild(name, **kwargs)

    async def invite_bot(self, name: str, **kwargs: Any) -> Guild:
        """The bot invited to another server while connected: Discord tells the gateway with a
        GUILD_CREATE (to sessions that asked for GUILDS)."""
        guild = self.add_guild(name, **kwargs)
        await self.gateway.dispatch(
            "GUILD_CREATE", lambda session: self._guild_create(guild, session), intent=Intent.GUILDS
        )
        return guild

    def _guild_create(self, guild: Guild, session: Session) -> dict[str, Any]:
        """GUILD_CREATE as this session sees it: every member only with GUILD_PRESENCES."""
        return objects.guild_create(
            guild, self.world, all_members=bool(session.intents & Intent.GUILD_PRESENCES)
        )

    def member(self, username: str, *, guild: Guild | None = None, **traits: Any) -> Member:
        """A new person in the guild (the default one unless given)."""
        guild = guild or self._default_guild()
        return guild.add_member(self.add_user(username, **traits))

    def dm_channel(self, user: User | Member) -> Channel:
        return self.world.dm_channel(user.user if isinstance(user, Member) else user)

    def messages(self, channel: Channel) -> list[Message]:
        """The channel's history as people see it, oldest first (no ephemeral answers)."""
        return list(self.world.history(channel))

    def _default_guild(self) -> Guild:
        if self.guild is None:
            raise ValueError("this fake was made without a default guild: name one")
        return self.guild

    # ---------------------------------------------------------------- what happened

    def record(self, call: Call) -> None:
        self.received.append(call)
        self.changed()

    def calls(self, route: str | None = None) -> list[Call]:
        """Calls received, in order; `route` as "POST /channels/{channel_id}/messages"."""
        return [c for c in self.received if route is None or c.route == route]

    def in_flight(self, route: str | None = None) -> list[Call]:
        """Calls received and not answered yet (slowed down with `faults.delay`)."""
        return [c for c in self.calls(route) if c.status == 0]

    def changed(self) -> None:
        self._changes.notify()

    async def wait_until(
        self, predicate: Callable[[], T | None], *, within: float = 5.0, what: str = "it"
    ) -> T:
        return await self._changes.until(predicate, within=within, what=what)

    async def connected(self, *, within: float = 5.0) -> Session:
        """The first connected gateway session, once a client has identified."""
        sessions = await self.wait_until(
            lambda: self.gateway.connected, within=within, what="a gateway session"
        )
        return sessions[0]

    async def answer(self, interaction: Interaction, *, within: float = 5.0) -> Callback:
        """The first answer the client gave this interaction (waiting for it)."""
        return await self.wait_until(
            lambda: interaction.callback, within=within, what=f"an answer to interaction {interaction.id}"
        )

    async def followups(
        self, interaction: Interaction, count: int = 1, *, within: float = 5.0
    ) -> list[Message]:
        await self.wait_until(
            lambda: len(interaction.followups) >= count, within=within, what=f"{count} followup(s)"
        )
        return list(interaction.followups)

    # ---------------------------------------------------------------- broken rules

    def violate(self, call: Call, error: DiscordError) -> None:
        found = tuple(error.errors) if error.errors else ()
        self.violations.append(Violation(call.route, error.status, int(error.code), error.message, found))

    def take_violations(self, code: int | None = None) -> list[Violation]:
        """Claim the violations a test caused on purpose (all, or those with this error code)."""
        self._note_failed_interactions(ending=False)
        taken = [v for v in self.violations if code is None or v.code == code]
        self.violations = [v for v in self.violations if v not in taken]
        return taken

    def check_violations(self, *, ending: bool = False) -> None:
        """Fail loudly on any broken rule nobody claimed; `ending`: the test is over, so an
        interaction still unanswered will never be answered."""
        self._note_failed_interactions(ending=ending)
        if self.violations:
            listing = "\n  ".join(str(v) for v in self.violations)
            raise AssertionError(f"the client broke Discord's rules:\n  {listing}")

    def _note_failed_interactions(self, *, ending: bool) -> None:
        for interaction in self.interactions.failures(self.clock.now(), ending=ending):
            data = interaction.payload.get("data", {})
            what = data.get("name") or data.get("custom_id")
            within = f"{self.interactions.ack_window:g} s"
            message = (
                f"This interaction failed: nobody answered {interaction.type.name} {what!r} within {within}"
            )
            self.violations.append(Violation("INTERACTION_CREATE", 0, None, message))

    # ---------------------------------------------------------------- messages out

    async def publish(self, message: Message, *, edited: bool = False) -> None:
        """Keep a new (or edited) message and tell the gateway, as Discord does for every
        message, the bot's own too; an ephemeral one only its person sees."""
        if not edited:
            self.world.store(message)
        self.changed()
        if message.ephemeral_to is not None:
            return
        channel = message.channel
        intent = Intent.DIRECT_MESSAGES if channel.type is ChannelType.DM else Intent.GUILD_MESSAGES
        data = objects.message(message, self.world, for_gateway=True)

        def render(session: Session) -> dict[str, Any]:
            content_intent = bool(session.intents & Intent.MESSAGE_CONTENT)
            return payloads.visible_content(
                data, bot=self.bot, channel=channel, content_intent=content_intent
            )

        await self.gateway.dispatch("MESSAGE_UPDATE" if edited else "MESSAGE_CREATE", render, intent=intent)

    async def unpublish(self, message: Message) -> None:
        self.world.by_id.pop(message.id, None)
        history = self.world.history(message.channel)
        if message in history:
            history.remove(message)
        self.changed()
        if message.ephemeral_to is None:
            data: dict[str, Any] = {"id": str(message.id), "channel_id": str(message.channel.id)}
            if message.channel.guild_id is not None:
                data["guild_id"] = str(message.channel.guild_id)
            intent = (
                Intent.DIRECT_MESSAGES if message.channel.type is ChannelType.DM else Intent.GUILD_MESSAGES
            )
            await self.gateway.dispatch("MESSAGE_DELETE", data, intent=intent)

    # ---------------------------------------------------------------- people acting

    async def slash(
        self,
        who: Member | User,
        command: str,
        options: Mapping[str, Any] | None = None,
        *,
        channel: Channel | None = None,
    ) -> Interaction:
        """`who` runs `/command` ("cohort add" for a subcommand) with `options` (users, members,
        channels and roles as the fake's own objects; they come resolved)."""
        return await self._command(
            InteractionType.APPLICATION_COMMAND, who, command, options or {}, channel, None
        )

    async def autocomplete(
        self,
        who: Member | User,
        command: str,
        options: Mapping[str, Any],
        *,
        focused: str,
        channel: Channel | None = None,
    ) -> Interaction:
        """`who` is typing option `focused` of `/command`; `options` holds what is typed so far."""
        return await self._command(InteractionType.AUTOCOMPLETE, who, command, options, channel, focused)

    async def _command(
        self,
        kind: InteractionType,
        who: Member | User,
        command: str,
        options: Mapping[str, Any],
        channel: Channel | None,
        focused: str | None,
    ) -> Interaction:
        user, channel, guild = self._where(who, channel)
        name, *path = command.strip().lstrip("/").split()
        registered = self.commands.find(name, guild.id if guild else None)
        tree, referenced = invocation(registered, path, options, focused=focused)
        data = payloads.command_data(registered.data, tree, referenced, self.world, guild)
        return await self._push(kind, user, channel, guild, data)

    async def click(
        self,
        who: Member | User,
        message: Message,
        custom_id: str,
        *,
        values: Sequence[str] | None = None,
    ) -> Interaction:
        """`who` presses the button (or picks `values` in the select) `custom_id` on `message`,
        which must be there and enabled: nobody can press what Discord does not show them."""
        user, channel, guild = self._where(who, message.channel)
        if message.ephemeral_to is not None and message.ephemeral_to is not user:
            raise ValueError(f"only {message.ephemeral_to.username} sees message {message.id}")
        component = _component(message.components, custom_id)
        if component is None:
            raise ValueError(
                f"message {message.id} has no component {custom_id!r} (it has {message.custom_ids()})"
            )
        if component.get("disabled"):
            raise ValueError(
                f"{custom_id!r} on message {message.id} is disabled: Discord's client cannot press it"
            )
        data = payloads.component_data(custom_id, int(component["type"]), values)
        return await self._push(InteractionType.MESSAGE_COMPONENT, user, channel, guild, data, message)

    async def submit_modal(self, opened: Interaction, values: Mapping[str, str]) -> Interaction:
        """The person who opened `opened`'s modal fills in `values` and submits it."""
        modal = opened.modal
        if modal is None:
            raise ValueError(f"interaction {opened.id} was not answered with a modal")
        data = payloads.modal_submit_data(modal, values)
        return await self._push(
            InteractionType.MODAL_SUBMIT, opened.user, opened.channel, opened.guild, data, opened.message
        )

    async def type_message(self, who: Member | User, channel: Channel, content: str) -> Message:
        """A person posts `content` in `channel`; the client hears MESSAGE_CREATE (without the
        text unless it has the MESSAGE_CONTENT intent, it is a DM, or the bot is mentioned)."""
        user, channel, _ = self._where(who, channel)
        message_id = self.world.ids.next()
        data = payloads.typed_message(self.world, message_id, user, channel, content)
        message = Message(message_id, channel, user, data, created_at=self.clock.now())
        await self.publish(message)
        return message

    def _where(self, who: Member | User, channel: Channel | None) -> tuple[User, Channel, Guild | None]:
        user = who.user if isinstance(who, Member) else who
        if channel is None:
            channel = who.guild.text_channels[0] if isinstance(who, Member) else self.world.dm_channel(user)
        guild = self.world.guilds[channel.guild_id] if channel.guild_id is not None else None
        if guild is not None and user.id not in guild.members:
            raise ValueError(f"{user.username} is not a member of {guild.name}")
        return user, channel, guild

    async def _push(
        self,
        kind: InteractionType,
        user: User,
        channel: Channel,
        guild: Guild | None,
        data: dict[str, Any],
        message: Message | None = None,
    ) -> Interaction:
        if not self.gateway.live:
            raise RuntimeError("no client is connected to the fake Discord's gateway")
        interaction = self.interactions.new(
            self.world.ids.next(),
            kind,
            payload={},
            user=user,
            channel=channel,
            guild=guild,
            created_at=self.clock.now(),
            message=message,
        )
        interaction.payload = payloads.interaction(
            self.world,
            interaction_id=interaction.id,
            token=interaction.token,
            kind=kind,
            user=user,
            channel=channel,
            guild=guild,
            data=data,
            message=message,
        )
        await self.gateway.dispatch("INTERACTION_CREATE", interaction.payload)
        return interaction

    # ---------------------------------------------------------------- gateway content

    def _ready(self, session: Session) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
        ready = {
            "v": 10,
            "user": objects.current_user(self.bot),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in self.world.guilds.values()],
            "session_id": session.id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": self.application_flags},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "_trace": ["fake-discord"],
        }
        following: list[tuple[str, dict[str, Any]]] = []
        if session.intents & Intent.GUILDS:
            following += [
                ("GUILD_CREATE", self._guild_create(g, session)) for g in self.world.guilds.values()
            ]
        return ready, following

    def _members_chunk(self, request: dict[str, Any]) -> dict[str, Any]:
        guild = self.world.guilds.get(int(request.get("guild_id") or 0))
        members = list(guild.members.values()) if guild else []
        query = str(request.get("query") or "").lower()
        if request.get("user_ids"):
            wanted = {int(i) for i in request["user_ids"]}
            members = [m for m in members if m.id in wanted]
        elif query:
            members = [m for m in members if m.user.username.lower().startswith(query)]
        limit = int(request.get("limit") or 0)
        members = members[:limit] if limit else members
        return {
            "guild_id": request.get("guild_id"),
            "members": [objects.member(m) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
            "nonce": request.get("nonce"),
        }


def _component(items: Sequence[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    for item in items:
        if item.get("custom_id") == custom_id:
            return item
        nested = [*item.get("components", [])]
        nested += [item[key] for key in ("component", "accessory") if isinstance(item.get(key), dict)]
        found = _component(nested, custom_id)
        if found is not None:
            return found
    return None


__all__ = ["Call", "ErrorCode", "FakeDiscord", "Violation"]
