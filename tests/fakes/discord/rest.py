"""The REST API under `/api/v10`: every call recorded, the bot token checked, injected faults and
rate limits applied (with `X-RateLimit-*` headers on every answer, and `Via`, without which
discord.py takes a 429 for a Cloudflare ban), then the route's handler; a refusal is answered with
Discord's error JSON and recorded as a violation."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import messages, objects
from .errors import DiscordError, ErrorCode, FormErrors
from .faults import FaultKind
from .gateway import Intent
from .interactions import CallbackType, Interaction, InteractionType
from .limits import EPHEMERAL, LOADING, is_empty, message_errors
from .ratelimits import Verdict, refused
from .world import Channel, ChannelType, Guild, Message, Permission

if TYPE_CHECKING:
    from .server import FakeDiscord

logger = logging.getLogger(__name__)
API_PREFIX = "/api/v10"
MAJOR_PARAMETERS = (
    "channel_id",
    "guild_id",
    "webhook_id",
    "webhook_token",
    "interaction_id",
    "interaction_token",
)
# Interaction answers and followups do not count toward the bot's global limit, nor need its token.
TOKENLESS = (
    "POST /interactions/",
    "GET /webhooks/",
    "POST /webhooks/",
    "PATCH /webhooks/",
    "DELETE /webhooks/",
)
# enforce_nonce: "checked for uniqueness in the past few minutes" (discord-api-docs, Create
# Message); the fake forgets a nonce after five.
NONCE_WINDOW = 5 * 60.0
HISTORY_MAX = 100
CLIENT_GONE = 499  # a call's status when its caller went before sending all of it (nginx's code)
MEMBERS_MAX = 1000  # List Guild Members' largest page


@dataclass
class Call:
    """One request the fake received, and what it answered."""

    method: str
    route: str  # "POST /channels/{channel_id}/messages": the route, as discord.py names its buckets
    path: str
    params: dict[str, str]  # the route's parameters: {"channel_id": "123"}
    query: dict[str, str]
    json: Any
    headers: dict[str, str]
    at: float
    status: int = 0
    response: Any = None
    response_headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[web.Request, Call], Awaitable[Any]]


class RestApi:
    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.world = fake.world

    def routes(self) -> list[tuple[str, str, Handler]]:
        return [
            ("GET", "/gateway", self.get_gateway),
            ("GET", "/gateway/bot", self.get_gateway_bot),
            ("GET", "/users/@me", self.get_current_user),
            ("POST", "/users/@me/channels", self.create_dm),
            ("GET", "/users/{user_id}", self.get_user),
            ("GET", "/oauth2/applications/@me", self.get_application),
            ("GET", "/applications/@me", self.get_application),
            ("GET", "/applications/{application_id}/commands", self.list_commands),
            ("PUT", "/applications/{application_id}/commands", self.overwrite_commands),
            ("GET", "/applications/{application_id}/commands/{command_id}", self.get_command),
            ("GET", "/applications/{application_id}/guilds/{guild_id}/commands", self.list_commands),
            ("PUT", "/applications/{application_id}/guilds/{guild_id}/commands", self.overwrite_commands),
            (
                "GET",
                "/applications/{application_id}/guilds/{guild_id}/commands/{command_id}",
                self.get_command,
            ),
            ("GET", "/channels/{channel_id}", self.get_channel),
            ("GET", "/channels/{channel_id}/messages", self.get_history),
            ("POST", "/channels/{channel_id}/messages", self.create_message),
            ("GET", "/channels/{channel_id}/messages/{message_id}", self.get_message),
            ("PATCH", "/channels/{channel_id}/messages/{message_id}", self.edit_message),
            ("DELETE", "/channels/{channel_id}/messages/{message_id}", self.delete_message),
            ("POST", "/channels/{channel_id}/typing", self.typing),
            ("GET", "/guilds/{guild_id}", self.get_guild),
            ("GET", "/guilds/{guild_id}/channels", self.get_guild_channels),
            ("GET", "/guilds/{guild_id}/roles", self.get_roles),
            ("GET", "/guilds/{guild_id}/members", self.list_members),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self.get_member),
            (
                "POST",
                "/interactions/{interaction_id}/{interaction_token}/callback",
                self.interaction_callback,
            ),
            ("POST", "/webhooks/{webhook_id}/{webhook_token}", self.followup),
            ("GET", "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}", self.get_webhook_message),
            (
                "PATCH",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                self.edit_webhook_message,
            ),
            (
                "DELETE",
                "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
                self.delete_webhook_message,
            ),
        ]

    def add_to(self, app: web.Application) -> None:
        for method, path, handler in self.routes():
            app.router.add_route(method, API_PREFIX + path, self._serve(handler, f"{method} {path}"))
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._serve(self.unknown_route, None))

    def _serve(
        self, handler: Handler, route: str | None
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def serve(request: web.Request) -> web.StreamResponse:
            return await self._answer(request, handler, route or f"{request.method} {request.path}")

        return serve

    async def _answer(self, request: web.Request, handler: Handler, route: str) -> web.StreamResponse:
        fake = self.fake
        params = {k: v for k, v in request.match_info.items() if k != "tail"}
        call = Call(
            request.method,
            route,
            request.path,
            params,
            dict(request.query),
            None,
            dict(request.headers),
            fake.clock.now(),
        )
        fake.record(call)
        major = "+".join(params[k] for k in MAJOR_PARAMETERS if k in params)
        tokenless = route.startswith(TOKENLESS)
        verdict = Verdict()
        try:
            try:
                call.json = await _json_body(request)
            except ConnectionResetError:  # the caller went before its request was whole: not carried out
                return self._reply(call, CLIENT_GONE, None)
            if (
                not tokenless
                and route != "GET /gateway"
                and request.headers.get("Authorization") != f"Bot {fake.token}"
            ):
                raise DiscordError(401, ErrorCode.GENERAL, "401: Unauthorized")
            fault = fake.faults.take(route, (FaultKind.SERVER_ERROR, FaultKind.RATE_LIMITED))
            if fault is not None and fault.kind is FaultKind.SERVER_ERROR:
                return self._reply(
                    call, fault.status, {"message": f"{fault.status}: Internal Server Error", "code": 0}
                )
            if fault is not None:
                verdict = refused(fault.retry_after, fault.scope, fake.limiter.headers_for(route, major))
            else:
                verdict = fake.limiter.check(route, major, counts_globally=not tokenless)
            if verdict.limited:
                fake.rate_limited.append(call)
                return self._reply(call, 429, verdict.body(), verdict.refusal_headers())
            wait = fake.faults.take_delay(route)
            if wait:  # in flight meanwhile (`FakeDiscord.in_flight`); carried out even if the caller goes
                await asyncio.sleep(wait)
            body = await handler(request, call)
            status = 204 if body is None else 200
        except DiscordError as error:
            status, body = error.status, error.body()
            fake.violate(call, error)
        except Exception as crash:  # a bug in the fake: fail the test at once, not after 500s retried
            logger.exception("the fake Discord failed on %s", route)
            failure = DiscordError(400, ErrorCode.GENERAL, f"the fake Discord failed: {crash!r}")
            status, body = failure.status, failure.body()
            fake.violate(call, failure)
        response = self._reply(call, status, body, verdict.headers)
        if fake.faults.take(route, (FaultKind.DROP,)) is not None and request.transport is not None:
            request.transport.abort()  # carried out, but the caller never hears so
        return response

    def _reply(
        self, call: Call, status: int, body: Any, headers: dict[str, str] | None = None
    ) -> web.Response:
        headers = {**(headers or {}), "Via": "1.1 google"}
        call.status, call.response, call.response_headers = status, body, headers
        self.fake.changed()
        if body is None:
            return web.Response(status=status, headers=headers)
        # Exactly "application/json", as Discord sends it: discord.py reads any other content
        # type (aiohttp's default adds "; charset=utf-8") as text, not JSON.
        headers["Content-Type"] = "application/json"
        return web.Response(status=status, body=json.dumps(body).encode(), headers=headers)

    # ---------------------------------------------------------------- lookups

    def _channel(self, request: web.Request) -> Channel:
        channel = self.world.channels.get(_snowflake(request.match_info["channel_id"]))
        if channel is None:
            raise DiscordError(404, ErrorCode.UNKNOWN_CHANNEL)
        if channel.guild_id is not None:
            bot = self.world.bot_member(self.world.guilds[channel.guild_id])
            if not bot.permissions & Permission.VIEW_CHANNEL:
                raise DiscordError(403, ErrorCode.MISSING_ACCESS)
        return channel

    def _guild(self, request: web.Request) -> Guild:
        guild = self.world.guilds.get(_snowflake(request.match_info["guild_id"]))
        if guild is None:
            raise DiscordError(404, ErrorCode.UNKNOWN_GUILD)
        return guild

    def _message_in(self, channel: Channel, request: web.Request) -> Message:
        message = self.world.by_id.get(_snowflake(request.match_info["message_id"]))
        if message is None or message.channel is not channel or message.ephemeral_to is not None:
            raise DiscordError(404, ErrorCode.UNKNOWN_MESSAGE)
        return message

    def _application(self, request: web.Request) -> None:
        if _snowflake(request.match_info["application_id"]) != self.world.application_id:
            raise DiscordError(403, ErrorCode.MISSING_ACCESS)

    # ---------------------------------------------------------------- routes

    async def unknown_route(self, request: web.Request, call: Call) -> Any:
        raise DiscordError(404, ErrorCode.GENERAL, "404: Not Found")

    async def get_gateway(self, request: web.Request, call: Call) -> Any:
        return {"url": self.fake.gateway_url}

    async def get_gateway_bot(self, request: web.Request, call: Call) -> Any:
        limit = {"total": 1000, "remaining": 999, "reset_after": 14_400_000, "max_concurrency": 1}
        return {"url": self.fake.gateway_url, "shards": 1, "session_start_limit": limit}

    async def get_current_user(self, request: web.Request, call: Call) -> Any:
        return objects.current_user(self.world.bot)

    async def get_user(self, request: web.Request, call: Call) -> Any:
        user = self.world.users.get(_snowflake(request.match_info["user_id"]))
        if user is None:
            raise DiscordError(404, ErrorCode.UNKNOWN_USER)
        return objects.user(user)

    async def get_application(self, request: web.Request, call: Call) -> Any:
        bot = self.world.bot
        return {
            "id": str(self.world.application_id),
            "name": bot.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": self.fake.application_flags,
            "bot": objects.user(bot),
            "owner": objects.user(self.fake.owner),
            "team": None,
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "approximate_guild_count": len(self.world.guilds),
            "tags": [],
            "integration_types_config": {"0": {}},
        }

    async def list_commands(self, request: web.Request, call: Call) -> Any:
        self._application(request)
        return self.fake.commands.listing(self._command_scope(request))

    async def overwrite_commands(self, request: web.Request, call: Call) -> Any:
        self._application(request)
        return self.fake.commands.overwrite(self._command_scope(request), call.json)

    async def get_command(self, request: web.Request, call: Call) -> Any:
        self._application(request)
        return self.fake.commands.get(
            self._command_scope(request), _snowflake(request.match_info["command_id"])
        )

    def _command_scope(self, request: web.Request) -> int | None:
        return self._guild(request).id if "guild_id" in request.match_info else None

    async def create_dm(self, request: web.Request, call: Call) -> Any:
        recipient = (call.json or {}).get("recipient_id")
        user = self.world.users.get(_snowflake(str(recipient)))
        if user is None or user.bot:
            raise DiscordError(400, ErrorCode.INVALID_RECIPIENTS)
        return objects.channel(self.world.dm_channel(user), self.world)

    async def get_channel(self, request: web.Request, call: Call) -> Any:
        return objects.channel(self._channel(request), self.world)

    async def get_history(self, request: web.Request, call: Call) -> Any:
        """Newest first, as Discord pages it (`after`: the `limit` oldest after that id, still
        newest first). Without READ_MESSAGE_HISTORY "no messages will be returned"."""
        channel = self._channel(request)
        limit = _limit(request, 50, HISTORY_MAX)
        history = self.world.history(channel)
        try:
            self._check_history_access(channel)
        except DiscordError:
            history = []
        if "before" in request.query:
            before = _snowflake(request.query["before"])
            history = [m for m in history if m.id < before]
        if "after" in request.query:
            after = _snowflake(request.query["after"])
            picked = [m for m in history if m.id > after][:limit]
            return [objects.message(m, self.world) for m in reversed(picked)]
        return [objects.message(m, self.world) for m in reversed(history[-limit:])]

    def _check_history_access(self, channel: Channel) -> None:
        if channel.guild_id is not None:
            bot = self.world.bot_member(self.world.guilds[channel.guild_id])
            if not bot.permissions & Permission.READ_MESSAGE_HISTORY:
                raise DiscordError(403, ErrorCode.MISSING_ACCESS)

    async def get_message(self, request: web.Request, call: Call) -> Any:
        channel = self._channel(request)
        self._check_history_access(channel)
        return objects.message(self._message_in(channel, request), self.world)

    async def create_message(self, request: web.Request, call: Call) -> Any:
        channel = self._channel(request)
        body = call.json or {}
        self._check_can_send(channel)
        self._check_message(body)
        nonce = None if body.get("nonce") is None else str(body["nonce"])
        earlier = self.fake.nonces.get(nonce) if nonce is not None else None
        if earlier is not None and self.fake.clock.now() - earlier.created_at > NONCE_WINDOW:
            earlier = None
        if earlier is not None and body.get("enforce_nonce"):
            # the first message, and no second one
            return objects.message(earlier, self.world, with_nonce=True)
        message = messages.compose(self.world, channel, body)
        if nonce is not None and earlier is None:
            self.fake.nonces[nonce] = message
        await self.fake.publish(message)
        return objects.message(message, self.world, with_nonce=True)

    def _check_can_send(self, channel: Channel) -> None:
        if channel.type is ChannelType.DM:
            user = channel.recipient
            if user is None or not user.accepts_dms or not self.world.shares_guild(user):
                raise DiscordError(403, ErrorCode.CANNOT_MESSAGE_USER)
            return
        bot = self.world.bot_member(self.world.guilds[channel.guild_id or 0])
        if not bot.permissions & Permission.SEND_MESSAGES:
            raise DiscordError(403, ErrorCode.MISSING_PERMISSIONS)

    @staticmethod
    def _check_message(body: Any, *, edit: bool = False) -> None:
        errors = message_errors(body)
        if errors:
            raise DiscordError.invalid_form(errors)
        if not edit and is_empty(body):
            raise DiscordError(400, ErrorCode.EMPTY_MESSAGE)

    async def edit_message(self, request: web.Request, call: Call) -> Any:
        channel = self._channel(request)
        message = self._message_in(channel, request)
        if message.author is not self.world.bot:
            raise DiscordError(403, ErrorCode.CANNOT_EDIT_OTHERS_MESSAGE)
        self._check_message(call.json or {}, edit=True)
        messages.edit(self.world, message, call.json or {})
        await self.fake.publish(message, edited=True)
        return objects.message(message, self.world)

    async def delete_message(self, request: web.Request, call: Call) -> Any:
        channel = self._channel(request)
        message = self._message_in(channel, request)
        await self.fake.unpublish(message)
        return None

    async def typing(self, request: web.Request, call: Call) -> Any:
        self._channel(request)
        return None

    async def get_guild(self, request: web.Request, call: Call) -> Any:
        return objects.guild(self._guild(request))

    async def get_guild_channels(self, request: web.Request, call: Call) -> Any:
        return [objects.channel(c, self.world) for c in self._guild(request).channels.values()]

    async def get_roles(self, request: web.Request, call: Call) -> Any:
        return [objects.role(r) for r in self._guild(request).roles.values()]

    async def list_members(self, request: web.Request, call: Call) -> Any:
        """List Guild Members: a page of up to `limit` (1-1000, default 1) members whose user ids
        come after `after`, in the order of their ids; refused with 403 Missing Access unless the
        app's GUILD_MEMBERS privileged intent is switched on in the Developer Portal."""
        guild = self._guild(request)
        if not self.fake.enabled_intents & Intent.GUILD_MEMBERS:
            raise DiscordError(403, ErrorCode.MISSING_ACCESS)
        limit = _limit(request, 1, MEMBERS_MAX)
        after = _snowflake(request.query.get("after", "0"))
        members = sorted((m for m in guild.members.values() if m.id > after), key=lambda m: m.id)
        return [objects.member(m) for m in members[:limit]]

    async def get_member(self, request: web.Request, call: Call) -> Any:
        guild = self._guild(request)
        member = guild.members.get(_snowflake(request.match_info["user_id"]))
        if member is None:
            raise DiscordError(404, ErrorCode.UNKNOWN_MEMBER)
        return objects.member(member)

    # ---------------------------------------------------------------- interactions

    async def interaction_callback(self, request: web.Request, call: Call) -> Any:
        fake = self.fake
        interaction, kind, data = fake.interactions.check_callback(
            _snowflake(request.match_info["interaction_id"]),
            request.match_info["interaction_token"],
            call.json or {},
            fake.clock.now(),
        )
        resource: dict[str, Any] = {"type": int(kind)}
        ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL)
        if kind is CallbackType.CHANNEL_MESSAGE:
            interaction.original = await self._answer_message(interaction, data, ephemeral=ephemeral)
            resource["message"] = objects.message(interaction.original, self.world)
        elif kind is CallbackType.DEFERRED_CHANNEL_MESSAGE:
            loading = {"content": "", "flags": LOADING | (EPHEMERAL if ephemeral else 0)}
            interaction.original = await self._answer_message(interaction, loading, ephemeral=ephemeral)
        elif kind in (CallbackType.DEFERRED_UPDATE_MESSAGE, CallbackType.UPDATE_MESSAGE):
            assert interaction.message is not None  # checked: these answer a component's message
            interaction.original = interaction.message
            if kind is CallbackType.UPDATE_MESSAGE:
                messages.edit(self.world, interaction.message, data)
                await fake.publish(interaction.message, edited=True)
                resource["message"] = objects.message(interaction.message, self.world)
        fake.interactions.acknowledge(interaction, kind, data, fake.clock.now())
        if request.query.get("with_response", "").lower() not in ("1", "true"):
            return None
        answer: dict[str, Any] = {"id": str(interaction.id), "type": int(interaction.type)}
        if interaction.original is not None and kind in (
            CallbackType.CHANNEL_MESSAGE,
            CallbackType.DEFERRED_CHANNEL_MESSAGE,
        ):
            answer["response_message_id"] = str(interaction.original.id)
            answer["response_message_loading"] = kind is CallbackType.DEFERRED_CHANNEL_MESSAGE
            answer["response_message_ephemeral"] = ephemeral
        return {"interaction": answer, "resource": resource}

    async def _answer_message(
        self, interaction: Interaction, data: dict[str, Any], *, ephemeral: bool
    ) -> Message:
        user = interaction.user
        metadata = {
            "id": str(interaction.id),
            "type": int(interaction.type),
            "user": objects.user(user),
            "authorizing_integration_owners": interaction.payload.get("authorizing_integration_owners", {}),
        }
        extra: dict[str, Any] = {
            "webhook_id": str(self.world.application_id),
            "application_id": str(self.world.application_id),
            "interaction_metadata": metadata,
        }
        kind = messages.DEFAULT
        if interaction.type is InteractionType.APPLICATION_COMMAND:
            kind = messages.CHAT_INPUT_COMMAND
            name = interaction.payload["data"]["name"]
            extra["interaction"] = {
                "id": str(interaction.id),
                "type": 2,
                "name": name,
                "user": objects.user(user),
            }
        message = messages.compose(
            self.world,
            interaction.channel,
            data,
            kind=kind,
            extra=extra,
            ephemeral_to=user if ephemeral else None,
            flags=int(data.get("flags") or 0),
        )
        await self.fake.publish(message)
        return message

    def _interaction_for(self, request: web.Request) -> Interaction:
        return self.fake.interactions.for_webhook(
            _snowflake(request.match_info["webhook_id"]),
            request.match_info["webhook_token"],
            self.world.application_id,
            self.fake.clock.now(),
        )

    async def followup(self, request: web.Request, call: Call) -> Any:
        interaction = self._interaction_for(request)
        body = call.json or {}
        self._check_message(body)
        if interaction.loading and interaction.original is not None:
            # Right after a deferral, Discord's first followup fills in the "thinking…" message
            # (its ephemerality fixed by the deferral) instead of sending a new one.
            messages.edit(self.world, interaction.original, {k: v for k, v in body.items() if k != "flags"})
            await self.fake.publish(interaction.original, edited=True)
            return objects.message(interaction.original, self.world)
        ephemeral = bool(int(body.get("flags") or 0) & EPHEMERAL)
        extra = {
            "webhook_id": str(self.world.application_id),
            "application_id": str(self.world.application_id),
        }
        message = messages.compose(
            self.world,
            interaction.channel,
            body,
            extra=extra,
            ephemeral_to=interaction.user if ephemeral else None,
        )
        interaction.followups.append(message)
        await self.fake.publish(message)
        return objects.message(message, self.world)

    def _webhook_message(self, request: web.Request) -> tuple[Interaction, Message]:
        interaction = self._interaction_for(request)
        wanted = request.match_info["message_id"]
        if wanted == "@original":
            message = interaction.original
        else:
            message = next((m for m in interaction.followups if str(m.id) == wanted), None)
            if (
                message is None
                and interaction.original is not None
                and str(interaction.original.id) == wanted
            ):
                message = interaction.original
        if message is None:
            raise DiscordError(404, ErrorCode.UNKNOWN_MESSAGE)
        return interaction, message

    async def get_webhook_message(self, request: web.Request, call: Call) -> Any:
        return objects.message(self._webhook_message(request)[1], self.world)

    async def edit_webhook_message(self, request: web.Request, call: Call) -> Any:
        _, message = self._webhook_message(request)
        self._check_message(call.json or {}, edit=True)
        messages.edit(self.world, message, call.json or {})
        await self.fake.publish(message, edited=True)
        return objects.message(message, self.world)

    async def delete_webhook_message(self, request: web.Request, call: Call) -> Any:
        interaction, message = self._webhook_message(request)
        await self.fake.unpublish(message)
        if message is interaction.original:
            interaction.original = None
        elif message in interaction.followups:
            interaction.followups.remove(message)
        return None


def _limit(request: web.Request, default: int, most: int) -> int:
    """A page's `limit` query, refused as Discord refuses one outside 1..`most`."""
    try:
        limit = int(request.query.get("limit", default))
    except ValueError:
        limit = 0
    if not 1 <= limit <= most:
        errors = FormErrors()
        errors.add(("limit",), "NUMBER_TYPE_MAX", f"int value should be between 1 and {most}.")
        raise DiscordError.invalid_form(errors)
    return limit


def _snowflake(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        errors = FormErrors()
        errors.add(("id",), "NUMBER_TYPE_COERCE", f'Value "{value}" is not snowflake.')
        raise DiscordError.invalid_form(errors) from None


async def _json_body(request: web.Request) -> Any:
    if request.method in ("GET", "DELETE") or not request.can_read_body:
        return None
    if not request.content_type.startswith("application/json"):
        errors = FormErrors()
        errors.add(
            (), "CONTENT_TYPE_INVALID", "the fake takes application/json bodies only (no file uploads)"
        )
        raise DiscordError.invalid_form(errors)
    try:
        return json.loads(await request.read())
    except ValueError:
        raise DiscordError(400, ErrorCode.INVALID_JSON) from None
