"""Slack: slash commands, buttons and modals in; Block Kit out. Only translation.

Every request is acknowledged inside Slack's 3 seconds: the command runs as one
short database transaction and its answer *is* the acknowledgement (bolt's
`process_before_response`), while anything slow (link checks, replies to
buttons, modal answers) is scheduled after. Messages the bot sends on its own
go through the outbox and `SlackTransport`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.routing import BaseRoute

from bot.config import Settings
from bot.domain import UserError
from bot.edge import Refused
from bot.forms import FieldError, FormKind, FormRequest, command_from, form_for_button, form_for_typed
from bot.grammar import APP_COMMANDS
from bot.markup import plain
from bot.messages import Message, Reply
from bot.outbox import DeliveryError
from bot.platforms.base import Capabilities, Runner
from bot.platforms.followups import FollowUps
from bot.platforms.slack.blocks import blocks_for, fallback_text, unescape
from bot.platforms.slack.directory import SlackDirectory
from bot.platforms.slack.forms import form_values, modal
from bot.platforms.slack.manifest import BOT_SCOPES
from bot.platforms.slack.payload import read_form
from bot.platforms.slack.transport import SlackTransport, outbound_logger
from bot.platforms.slack.web import slack_routes, socket_mode
from bot.service import CohortBot, Intake, Origin

log = logging.getLogger(__name__)

COMMANDS = tuple(f"/{verb}" for verb in APP_COMMANDS)
REPLY_TIMEOUT = 10  # seconds for an answer on a response_url: inside service.REPLY_GRACE (15)


@dataclass(frozen=True)
class Presser:
    """Who pressed a button or typed a command, and the ways to answer only them."""

    client: AsyncWebClient
    user: str
    channel: str | None
    respond: Any  # bolt's respond(): its response_url, when Slack gave one


class SlackPlatform:
    """One Slack app. Single-workspace token mode by default; with SLACK_CLIENT_ID and
    SLACK_CLIENT_SECRET it installs into many workspaces with OAuth, keeping each
    workspace's bot token in bolt's SQLAlchemy installation store in our database."""

    name = "slack"
    capabilities = Capabilities(find_delivered=True, edit_in_place=True, email=True, timezone=True)

    def __init__(self, bot: CohortBot, settings: Settings, engine: AsyncEngine | None = None) -> None:
        self.bot, self.settings = bot, settings
        self.installations: AsyncSQLAlchemyInstallationStore | None = None
        self.oauth_states: AsyncSQLAlchemyOAuthStateStore | None = None
        self.clients: dict[tuple[str, bool], AsyncWebClient] = {}
        self.sessions: dict[str, aiohttp.ClientSession] = {}  # see `session`
        self.directories: dict[str, SlackDirectory] = {}
        self.followups = FollowUps(self.name)
        base = AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
        if settings.slack_client_id and settings.slack_client_secret and engine is not None:
            self.installations = AsyncSQLAlchemyInstallationStore(settings.slack_client_id, engine)
            self.oauth_states = AsyncSQLAlchemyOAuthStateStore(expiration_seconds=600, engine=engine)
            oauth = AsyncOAuthSettings(
                client_id=settings.slack_client_id,
                client_secret=settings.slack_client_secret,
                scopes=BOT_SCOPES,
                installation_store=self.installations,
                state_store=self.oauth_states,
            )
            self.app = AsyncApp(
                signing_secret=settings.slack_signing_secret,
                client=AsyncWebClient(base_url=settings.slack_api_url),
                oauth_flow=AsyncOAuthFlow(
                    client=AsyncWebClient(base_url=settings.slack_api_url), settings=oauth
                ),
                process_before_response=True,
            )
        else:
            self.app = AsyncApp(
                client=base, signing_secret=settings.slack_signing_secret, process_before_response=True
            )
        self.register()

    async def start(self) -> None:
        """bolt's installation and OAuth-state tables live beside ours (created if missing)."""
        if self.installations is not None and self.oauth_states is not None:
            await self.installations.create_tables()
            async with self.oauth_states.engine.begin() as conn:
                await conn.run_sync(self.oauth_states.metadata.create_all)

    async def client_for(self, team_id: str, outbound: bool = False) -> AsyncWebClient:
        """A client with the workspace's bot token. Calls made while a person waits retry a
        429 briefly; outbox delivery gets its own client and handles rate limits itself."""
        key = (team_id, outbound)
        if key not in self.clients:
            token = self.settings.slack_bot_token
            if self.installations is not None:
                bot = await self.installations.async_find_bot(enterprise_id=None, team_id=team_id)
                if bot is None:
                    raise DeliveryError(
                        f"Cohort Bot is not installed in Slack workspace {team_id}", permanent=True
                    )
                token = bot.bot_token
            # Outbox delivery must not let slack_sdk resend a post after a dropped connection (it
            # may have arrived): the Deliverer retries, looking in the history first.
            client = AsyncWebClient(
                token=token,
                base_url=self.settings.slack_api_url,
                # slack_sdk says int, but hands it to aiohttp.ClientTimeout, which takes seconds as float
                timeout=self.settings.slack_timeout,  # type: ignore[arg-type]
                retry_handlers=[] if outbound else None,
                session=self.outbound_session() if outbound else None,
                logger=outbound_logger() if outbound else None,
            )
            if not outbound:
                client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=1))
            self.clients[key] = client
        return self.clients[key]

    def outbound_session(self) -> aiohttp.ClientSession:
        """One HTTP session for every outbox call, whatever the workspace (each request carries
        its own token): its connections are kept alive and reused. Without it slack_sdk opens
        a session, and so a new TCP (and, to Slack, TLS) connection, for every call: ~0.5 ms of
        CPU a message against the fake, a handshake's round trips against slack.com. With a
        session slack_sdk takes the session's timeout, not the client's: SLACK_TIMEOUT either
        way. No connection limit: the Deliverer's concurrency is the bound."""
        return self.session("outbox", self.settings.slack_timeout)

    def session(self, purpose: str, timeout: float) -> aiohttp.ClientSession:
        """A kept-alive HTTP session for one purpose, its timeout for every call in it."""
        held = self.sessions.get(purpose)
        if held is None or held.closed:
            held = self.sessions[purpose] = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=timeout), connector=aiohttp.TCPConnector(limit=0)
            )
        return held

    async def stop(self) -> None:
        """Let follow-ups finish (at most 10 s), then close the kept-alive HTTP sessions."""
        await self.drain()
        for held in self.sessions.values():
            await held.close()

    def routes(self) -> list[BaseRoute]:
        return slack_routes(self, self.settings)

    def own_paths(self) -> tuple[str, ...]:
        return ("/slack/",)  # bolt's install page shows Slack's own button image

    def runners(self) -> list[Runner]:
        app_token = self.settings.slack_app_token
        return [lambda stop: socket_mode(self.app, app_token, stop)] if app_token else []

    async def directory_for(self, workspace: str) -> SlackDirectory:
        return self.directory(workspace, await self.client_for(workspace))

    @property
    def client(self) -> AsyncWebClient:
        """The single workspace's client (token mode)."""
        return self.app.client

    def directory(self, team_id: str, client: AsyncWebClient) -> SlackDirectory:
        if team_id not in self.directories:
            self.directories[team_id] = SlackDirectory(client)
        return self.directories[team_id]

    def transport(self) -> SlackTransport:
        return SlackTransport(lambda team: self.client_for(team, outbound=True), self.settings)

    def later(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.followups.start(coro)

    async def drain(self) -> None:
        """Wait (at most 10 s) for follow-ups: tests and shutdown."""
        await self.followups.drain()

    def register(self) -> None:
        app = self.app
        if self.installations is None:
            app.use(self.only_our_workspace)
        app.command(re.compile(f"^({'|'.join(map(re.escape, COMMANDS))})$"))(self.on_command)
        app.action(re.compile(r"^cmd:"))(self.on_button)
        app.action(re.compile(r"^url:"))(self.only_answer)
        app.action(re.compile(r".*"))(self.on_unknown_action)  # last: bolt runs the first match
        app.view_closed(re.compile(r".*"))(self.only_answer)
        for kind in FormKind:
            app.view(kind.value)(self.on_form)
        app.event("app_mention")(self.on_mention)
        app.event("app_home_opened")(self.on_home)

    @staticmethod
    async def only_our_workspace(
        context: AsyncBoltContext, next: Callable[[], Awaitable[None]]
    ) -> BoltResponse | None:
        """With one bot token the bot serves that token's workspace alone (auth.test says
        which): a request well signed by the app but naming another team is refused, so it
        never becomes a second workspace here. OAuth mode finds each team's own token."""
        result = context.authorize_result
        ours, theirs = (result.team_id if result else None), context.team_id
        if ours and theirs and theirs != ours:
            log.warning("refused a request from Slack workspace %s: this bot serves %s only", theirs, ours)
            return BoltResponse(status=403, body="This app serves another Slack workspace.")
        await next()
        return None

    # -------------------------------------------------------------- commands

    @staticmethod
    def origin(team_id: str, user_id: str, channel_id: str | None, channel_name: str | None = None) -> Origin:
        in_dm = channel_name == "directmessage" or (channel_id or "").startswith("D")
        return Origin("slack", team_id, user_id, None if in_dm else channel_id)

    async def on_command(self, ack: Any, body: dict[str, Any], client: AsyncWebClient, respond: Any) -> None:
        team, user = body["team_id"], body["user_id"]
        text = unescape(body.get("text") or "").strip()
        origin = self.origin(team, user, body.get("channel_id"), body.get("channel_name"))
        directory = self.directory(team, client)
        request = form_for_typed(f"{body['command']} {text}")
        if request is not None:
            await ack()
            self.later(
                self.open_form(
                    Presser(client, user, body.get("channel_id"), respond),
                    body["trigger_id"],
                    origin,
                    request,
                    again="type `/submit` again, or type it with your links: "
                    "`/submit https://example.org/unit -- what you learned`.",
                )
            )
            return
        reply = await self.bot.handle(
            origin,
            f"{body['command']} {text}",
            directory,
            request_key=f"slack:{team}:{body.get('trigger_id')}",
            reply_to=body.get("response_url"),
        )
        await self.ack_with(ack, reply)
        self.followups.after(self.bot, self, reply, directory)

    async def answer(self, intake: Intake, message: Message) -> bool:
        """Answer a command taken in on its response_url (the DM goes if this fails)."""
        try:
            sent = await AsyncWebhookClient(
                intake.reply_to or "", retry_handlers=[], session=self.session("replies", REPLY_TIMEOUT)
            ).send(
                text=fallback_text(message),
                blocks=blocks_for(message),
                response_type="ephemeral",
                replace_original=False,
            )
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:
            log.warning("answering %s on its response_url failed (%r); it goes as a DM", intake.key, exc)
            return False
        if sent.status_code != 200:
            log.warning(
                "answering %s on its response_url failed (HTTP %s %s); it goes as a DM",
                intake.key,
                sent.status_code,
                sent.body[:100],
            )
            return False
        return True

    async def ack_with(self, ack: Any, reply: Reply) -> None:
        if reply.duplicate:
            await ack()
            return
        await ack(
            text=fallback_text(reply.message), blocks=blocks_for(reply.message), response_type="ephemeral"
        )

    # -------------------------------------------------------------- buttons

    async def only_answer(self, ack: Any) -> None:
        """A link button (Slack opens the URL itself) or a form closed: nothing to do, but
        Slack still wants an answer."""
        await ack()

    async def on_unknown_action(
        self, ack: Any, body: dict[str, Any], respond: Any, client: AsyncWebClient
    ) -> None:
        """A control this version does not know (a message from an older version, say): answer
        it, as Slack shows an error for an unanswered one, and say what to do instead."""
        await ack()
        self.say_only_to(
            self.presser(body, respond, client),
            "That button no longer does anything; type the command instead (`/help` lists them).",
        )

    def presser(self, body: dict[str, Any], respond: Any, client: AsyncWebClient) -> Presser:
        return Presser(client, body["user"]["id"], (body.get("channel") or {}).get("id"), respond)

    def say_only_to(self, presser: Presser, said: Message | str) -> None:
        """An answer only the presser sees, sent after the ack: on the response_url where Slack
        gave one, else (a button in a form or on the Home tab has none) ephemerally where they
        are, or by DM."""
        message = Message(said) if isinstance(said, str) else said
        if presser.respond.response_url:
            self.later(
                presser.respond(
                    text=fallback_text(message),
                    blocks=blocks_for(message),
                    response_type="ephemeral",
                    replace_original=False,
                )
            )
        else:
            self.later(self.tell(presser.client, presser.user, presser.channel, message))

    async def on_button(
        self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any, client: AsyncWebClient
    ) -> None:
        await ack()
        presser = self.presser(body, respond, client)
        team, user, channel = body["team"]["id"], presser.user, presser.channel
        command = action.get("value") or ""
        origin = self.origin(team, user, channel)
        directory = self.directory(team, client)
        try:
            request = form_for_button(command)
        except UserError as exc:
            self.say_only_to(presser, str(exc))
            return
        if request is not None:
            await self.open_form(presser, body["trigger_id"], origin, request)
            return
        reply = await self.bot.handle(
            origin, command, directory, request_key=f"slack:{team}:{body.get('trigger_id')}"
        )
        if not reply.duplicate:
            self.say_only_to(presser, reply.message)
        self.later(self.bot.run_followups(reply))

    async def open_form(
        self,
        presser: Presser,
        trigger_id: str,
        origin: Origin,
        request: FormRequest,
        again: str = "please press the button again.",
    ) -> None:
        """Open the form as a modal; if its checks refuse the presser, say why. If Slack refuses
        (a trigger older than 3 s) or cannot be reached, say so instead of leaving the click or
        command unanswered."""
        try:
            form = await self.bot.form(origin, self.directory(origin.workspace, presser.client), request)
        except UserError as exc:
            self.say_only_to(presser, str(exc))
            return
        try:
            await presser.client.views_open(trigger_id=trigger_id, view=modal(form, presser.channel))
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            why = exc.response.get("error") if isinstance(exc, SlackApiError) else repr(exc)
            log.warning("views.open failed: %s", why)
            self.say_only_to(presser, f"Slack didn't let me open the form in time; {again}")

    # -------------------------------------------------------------- modals

    async def on_form(self, ack: Any, body: dict[str, Any], client: AsyncWebClient) -> None:
        """A form sent: its values make the command typed text would (`bot.forms`), run as
        the sender. A refusal shows in the form, beside the field it concerns."""
        view = body["view"]
        team, user = body["team"]["id"], body["user"]["id"]
        try:  # checked at the HTTP edge already; Socket Mode's requests come here unchecked
            opened = read_form(view.get("callback_id") or "", view.get("private_metadata"))
        except Refused as refused:
            log.warning("refused a form from %s: %s", user, refused.reason)
            opened = None
        if opened is None:
            await ack()
            return
        request, channel = opened
        try:
            filled = command_from(request, form_values(view))
        except FieldError as exc:
            await ack(response_action="errors", errors={exc.field: str(exc)[:1900]})
            return
        reply = await self.bot.handle(
            self.origin(team, user, channel),
            filled.command,
            self.directory(team, client),
            request_key=f"slack:{team}:view:{view['id']}:{view.get('hash')}",
        )
        if not reply.ok and not reply.crashed:
            # a form's error is plain text: the bot's mentions shown as words, not markup
            await ack(response_action="errors", errors={filled.field: plain(reply.message.text)[:1900]})
            return
        await ack()
        if not reply.duplicate:
            self.later(self.tell(client, user, channel, reply.message))
        self.later(self.bot.run_followups(reply))

    async def tell(self, client: AsyncWebClient, user: str, channel: str | None, message: Message) -> None:
        """Answer a modal: ephemerally where it was opened, else in a DM."""
        blocks, text = blocks_for(message), fallback_text(message)
        if channel and not channel.startswith("D"):
            try:
                await client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks)
                return
            except SlackApiError:
                log.info("ephemeral answer failed in %s; sending a DM", channel)
        opened = await client.conversations_open(users=user)
        await client.chat_postMessage(channel=opened["channel"]["id"], text=text, blocks=blocks)

    # -------------------------------------------------------------- events

    async def on_mention(
        self, ack: Any, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        origin = self.origin(body["team_id"], event["user"], event.get("channel"))
        reply = await self.bot.handle(
            origin,
            "/help",
            self.directory(body["team_id"], client),
            request_key=f"slack:{body['team_id']}:{body.get('event_id')}",
        )
        if not reply.duplicate and event.get("channel"):
            self.later(
                client.chat_postEphemeral(
                    channel=event["channel"],
                    user=event["user"],
                    text=fallback_text(reply.message),
                    blocks=blocks_for(reply.message),
                )
            )

    async def on_home(
        self, ack: Any, event: dict[str, Any], body: dict[str, Any], client: AsyncWebClient
    ) -> None:
        await ack()
        if event.get("tab") != "home":
            return
        origin = self.origin(body["team_id"], event["user"], None)
        directory = self.directory(body["team_id"], client)
        status = await self.bot.handle(origin, "/submit status", directory)
        help_reply = await self.bot.handle(origin, "/help", directory)
        blocks = [*blocks_for(status.message), {"type": "divider"}, *blocks_for(help_reply.message)]
        self.later(client.views_publish(user_id=event["user"], view={"type": "home", "blocks": blocks[:100]}))
