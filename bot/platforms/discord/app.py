"""Discord: application commands, buttons, modals and autocomplete in over the gateway; answers
and messages out over REST. Only translation.

An unmodified discord.py `Client` keeps the gateway (login, heartbeats, resumes) and parses each
interaction; the platform reads the interaction's raw data and answers it with the JSON `render`
and `forms` build. A slash command becomes the line a person would type (`commands`), a button
is its command (its custom id, answered by one `DynamicItem` whatever process posted it), a
modal's values become the `Command` the typed text would be (`bot.forms.command_from`): the
same parser, role checks and handlers as everywhere.

Every interaction is answered within Discord's 3 seconds: with the command's answer when it is
ready in `ack_within` (2 s), else deferred ("thinking…") and filled in when it is; answers only
the person sees are ephemeral, and a failure is a sentence, never "This interaction failed".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import discord
import httpx
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route
from starlette.routing import BaseRoute

from bot.config import ConfigError, Settings
from bot.domain import UserError
from bot.forms import FormRequest, command_from, form_for_button, form_for_typed
from bot.messages import Button, Message, Reply
from bot.platforms.base import Capabilities, Runner
from bot.platforms.discord import commands
from bot.platforms.discord.commands import OptionType
from bot.platforms.discord.directory import DiscordDirectory
from bot.platforms.discord.forms import form_values, modal, reopening, request_of
from bot.platforms.discord.render import payload_for
from bot.platforms.discord.rest import DiscordHttpError, DiscordRest
from bot.platforms.discord.transport import DiscordTransport
from bot.platforms.followups import FollowUps
from bot.service import SORRY, CohortBot, Intake, Origin
from bot.workflows.suggestions import Asking, suggest

log = logging.getLogger(__name__)

ACK_WITHIN = 2.0  # seconds to answer in before deferring: Discord allows 3, less the network's
EPHEMERAL = 1 << 6
ANSWER, DEFER, AUTOCOMPLETE, MODAL = 4, 5, 8, 9  # interaction callback types
ALREADY = "That was already done."
NO_LONGER = "That button no longer does anything; type the command instead (`/help` lists them)."
OLD_FORM = "That form is from an earlier version of the bot; please open it again."
WHICH_SERVER = (
    "I can't tell which server you mean here: use the command in a channel of your server "
    "(it answers only you)."
)
INTENTS = discord.Intents(guilds=True)  # see README: interactions need no intent at all


class Gateway(discord.Client):
    """discord.py's client as it comes: it keeps the gateway and parses interactions, and hands
    each to the platform. It asks for the GUILDS intent only (servers, their channels and
    roles); none of the privileged ones."""

    def __init__(self, platform: DiscordPlatform) -> None:
        # the bot has no voice: discord.py's warnings that voice's libraries are missing are moot
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        super().__init__(intents=INTENTS, guild_ready_timeout=platform.guild_ready_timeout)
        self.platform = platform
        self.add_dynamic_items(CommandButton)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self.platform.on_interaction(interaction)


class CommandButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=r"(?P<command>/[^\n]+)"
):
    """Every button the bot posts: its custom id is the command it runs (`render.button`), so it
    is answered after a restart, by any process, with nothing kept in memory."""

    def __init__(self, command: str) -> None:
        super().__init__(discord.ui.Button(custom_id=command))
        self.command = command

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str]
    ) -> CommandButton:
        return cls(match["command"])

    async def callback(self, interaction: discord.Interaction) -> None:
        client = interaction.client
        if isinstance(client, Gateway):
            await client.platform.on_button(interaction, self.command)


def typed(data: dict[str, Any]) -> str:
    """The line a person would type for a slash command's raw data (channels as `<#id|name>`)."""
    verb, options = str(data.get("name") or ""), list(data.get("options") or [])
    sub = None
    if options and options[0].get("type") == OptionType.SUB_COMMAND:
        sub, options = options[0]["name"], list(options[0].get("options") or [])
    found = commands.find(verb, sub)
    if found is None:  # registered by another version: the grammar names the nearest command
        return f"/{verb} {sub or ''}".strip()
    channels = (data.get("resolved") or {}).get("channels") or {}
    values: dict[str, str] = {}
    for option in options:
        value = str(option.get("value") or "")
        if option.get("type") == OptionType.CHANNEL:
            name = (channels.get(value) or {}).get("name")
            value = f"<#{value}|{name}>" if name else f"<#{value}>"
        values[option["name"]] = value
    return found.typed(values)


def answer_data(message: Message) -> dict[str, Any]:
    return {**payload_for(message), "flags": EPHEMERAL}


def shown(reply: Reply) -> Message:
    return Message(ALREADY) if reply.duplicate else reply.message


class DiscordPlatform:
    """One Discord application (one bot token) in any number of servers: a server is a
    workspace, its channels the cohorts' channels, its members the people."""

    name = "discord"
    # No find_by_key: Discord's history shows no nonce, so a resend relies on the nonce instead.
    capabilities = Capabilities(find_by_key=False, edit_in_place=True, email=False, timezone=False)

    def __init__(self, bot: CohortBot, settings: Settings) -> None:
        self.bot, self.settings = bot, settings
        self.rest = DiscordRest(settings)
        self.outbox = DiscordTransport(self.rest, settings)
        self.directories: dict[str, DiscordDirectory] = {}
        self.client: Gateway | None = None
        self.followups = FollowUps(self.name)
        self.ack_within = ACK_WITHIN
        self.guild_ready_timeout = 2.0  # discord.py's wait for servers after READY (its default)

    # -------------------------------------------------------------- as a platform

    def transport(self) -> DiscordTransport:
        return self.outbox

    def routes(self) -> list[BaseRoute]:
        return []  # Discord reaches the bot over its gateway

    def own_paths(self) -> tuple[str, ...]:
        return ()

    def runners(self) -> list[Runner]:
        return [self.gateway]

    async def directory_for(self, workspace: str) -> DiscordDirectory:
        return self.directory(workspace)

    def directory(self, guild_id: str) -> DiscordDirectory:
        if guild_id not in self.directories:
            self.directories[guild_id] = DiscordDirectory(guild_id, self.rest)
        return self.directories[guild_id]

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        """Let follow-ups finish (at most 10 s), then close the kept-alive HTTP client."""
        await self.drain()
        await self.rest.close()

    async def gateway(self, stop: asyncio.Event) -> None:
        """The gateway connection, until `stop`: one per bot token (README: running it). A token
        Discord refuses stops it, and the process, with discord.py's error."""
        Route.BASE = self.settings.discord_api_url.rstrip("/")  # where discord.py's REST goes
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.settings.discord_gateway_url)
        client = self.client = Gateway(self)
        running = asyncio.create_task(client.start(self.settings.discord_token or ""), name="discord-gateway")
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if running.done():
                running.result()
        except discord.LoginFailure as refused:
            raise ConfigError(
                f"Discord refused DISCORD_TOKEN ({refused}): copy the bot's token again from the "
                "Developer Portal (Bot → Reset Token)."
            ) from None
        except discord.PrivilegedIntentsRequired:
            raise ConfigError("Discord refused the gateway intents this bot asks for.") from None
        finally:
            stopping.cancel()
            await client.close()
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running

    # -------------------------------------------------------------- after the answer

    async def drain(self, within: float = 10.0) -> None:
        """Wait (at most `within` seconds) for interactions being answered and the follow-ups
        they start: tests and shutdown."""
        await self.followups.drain(within)

    def after(self, reply: Reply, directory: DiscordDirectory) -> None:
        self.followups.after(self.bot, self, reply, directory)

    # -------------------------------------------------------------- answering

    async def callback(self, interaction: discord.Interaction, body: dict[str, Any]) -> bool:
        """The interaction's one answer; False (logged) if Discord refused it or was not reached."""
        try:
            await self.rest.call(
                "POST", f"interactions/{interaction.id}/{interaction.token}/callback", body, token=False
            )
        except (DiscordHttpError, httpx.HTTPError) as error:
            log.warning("answering interaction %s failed: %r", interaction.id, error)
            return False
        return True

    async def say(self, interaction: discord.Interaction, message: Message | str) -> bool:
        said = Message(message) if isinstance(message, str) else message
        return await self.callback(interaction, {"type": ANSWER, "data": answer_data(said)})

    async def webhook(self, application_id: str, token: str, message: Message, *, original: bool) -> bool:
        """A followup only the person sees, or (`original`) the deferred answer filled in."""
        try:
            if original:
                body = payload_for(message)
                await self.rest.call(
                    "PATCH", f"webhooks/{application_id}/{token}/messages/@original", body, token=False
                )
            else:
                body = answer_data(message)
                await self.rest.call("POST", f"webhooks/{application_id}/{token}", body, token=False)
        except (DiscordHttpError, httpx.HTTPError) as error:
            log.warning("following up interaction %s… failed: %r", token[:12], error)
            return False
        return True

    async def answer(self, intake: Intake, message: Message) -> bool:
        """Answer a command taken in with a followup on its interaction (for 15 minutes; the DM
        goes if this fails)."""
        application_id, _, token = intake.reply_to.partition(":")
        return await self.webhook(application_id, token, message, original=False)

    async def respond(
        self,
        interaction: discord.Interaction,
        work: Awaitable[Reply],
        dress: Callable[[Reply], Message] = shown,
    ) -> Reply:
        """Answer with the work's reply if it is ready within `ack_within`, else defer (ephemeral
        "thinking…") and fill that in when it is. A failure of the work is answered with a
        sentence. `dress` makes the reply the message shown."""
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task}, timeout=self.ack_within)
        if task in done:
            reply = outcome(task)
            await self.callback(interaction, {"type": ANSWER, "data": answer_data(dress(reply))})
            return reply
        deferred = await self.callback(interaction, {"type": DEFER, "data": {"flags": EPHEMERAL}})
        await asyncio.wait({task})
        reply = outcome(task)
        if deferred:
            await self.webhook(
                str(interaction.application_id), interaction.token, dress(reply), original=True
            )
        return reply

    # -------------------------------------------------------------- who and where

    async def origin(self, interaction: discord.Interaction) -> Origin | None:
        """Where an interaction came from. In a server: that server, the channel, and the
        member's profile as the interaction tells it. In a DM (a button on a DM): the one server
        the person shares with the bot; None if that is not one."""
        user = str(interaction.user.id)
        if interaction.guild_id is not None:
            guild = str(interaction.guild_id)
            name = interaction.user.display_name
            self.directory(guild).seen(user, name, interaction.permissions.value)
            where = interaction.guild.name if interaction.guild else ""
            channel = str(interaction.channel_id) if interaction.channel_id else None
            return Origin(self.name, guild, user, channel, where)
        homes = [g for g in self.known_guilds() if await self.directory(g).profile(user) is not None]
        return Origin(self.name, homes[0], user, None) if len(homes) == 1 else None

    def known_guilds(self) -> list[str]:
        return [str(g.id) for g in self.client.guilds] if self.client is not None else []

    # -------------------------------------------------------------- interactions

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        self.followups.hold()
        kind = interaction.type
        data: dict[str, Any] = dict(interaction.data or {})
        try:
            if kind is discord.InteractionType.application_command:
                await self.on_command(interaction, data)
            elif kind is discord.InteractionType.autocomplete:
                await self.on_autocomplete(interaction, data)
            elif kind is discord.InteractionType.modal_submit:
                await self.on_form(interaction, data)
            elif kind is discord.InteractionType.component and not str(data.get("custom_id")).startswith("/"):
                await self.say(interaction, NO_LONGER)  # a bot button is a command: `CommandButton`
        except Exception:
            log.exception("interaction %s failed", interaction.id)
            await self.say(interaction, SORRY)

    async def on_command(self, interaction: discord.Interaction, data: dict[str, Any]) -> None:
        text = typed(data)
        origin = await self.origin(interaction)
        if origin is None:
            await self.say(interaction, WHICH_SERVER)
            return
        directory = self.directory(origin.workspace)
        request = form_for_typed(text)
        if request is not None:
            await self.open_form(interaction, origin, request)
            return
        reply = await self.respond(
            interaction,
            self.bot.handle(
                origin,
                text,
                directory,
                request_key=f"discord:{interaction.id}",
                reply_to=f"{interaction.application_id}:{interaction.token}",
            ),
        )
        self.after(reply, directory)

    async def on_button(self, interaction: discord.Interaction, command: str) -> None:
        """A button: its command run as the presser (their role checked as for typed text), or
        the form it opens."""
        self.followups.hold()
        try:
            origin = await self.origin(interaction)
            if origin is None:
                await self.say(interaction, WHICH_SERVER)
                return
            try:
                request = form_for_button(command)
            except UserError as exc:
                await self.say(interaction, str(exc))
                return
            if request is not None:
                await self.open_form(interaction, origin, request)
                return
            directory = self.directory(origin.workspace)
            reply = await self.respond(
                interaction,
                self.bot.handle(origin, command, directory, request_key=f"discord:{interaction.id}"),
            )
            self.after(reply, directory)
        except Exception:
            log.exception("button %r failed", command)
            await self.say(interaction, SORRY)

    async def open_form(self, interaction: discord.Interaction, origin: Origin, request: FormRequest) -> None:
        """Answer with the form as a modal (a modal is a first answer: it cannot follow a
        deferral), or with why the person may not have it."""
        directory = self.directory(origin.workspace)
        try:
            form = await asyncio.wait_for(self.bot.form(origin, directory, request), self.ack_within)
        except UserError as exc:
            await self.say(interaction, str(exc))
            return
        except TimeoutError:
            await self.say(interaction, "I couldn't get the form ready in time; please try again.")
            return
        await self.callback(interaction, {"type": MODAL, "data": modal(form)})

    async def on_form(self, interaction: discord.Interaction, data: dict[str, Any]) -> None:
        """A modal submitted: its values make the command typed text would (`bot.forms`), run
        as the sender. Discord cannot show a refusal inside the modal once sent, so it is said
        only to them, with a button to open the form again."""
        request = request_of(str(data.get("custom_id") or ""))
        if request is None:
            await self.say(interaction, OLD_FORM)
            return
        origin = await self.origin(interaction)
        if origin is None:
            await self.say(interaction, WHICH_SERVER)
            return
        directory = self.directory(origin.workspace)
        again = Button("Open the form again", command=reopening(request))

        def dress(reply: Reply) -> Message:
            if reply.ok or reply.crashed or reply.duplicate:
                return shown(reply)
            return Message(reply.message.text, buttons=(*reply.message.buttons, again)[-25:])

        components = list(data.get("components") or [])
        reply = await self.respond(
            interaction,
            self.run_form(origin, directory, request, components, f"discord:{interaction.id}"),
            dress,
        )
        self.after(reply, directory)

    async def run_form(
        self,
        origin: Origin,
        directory: DiscordDirectory,
        request: FormRequest,
        components: list[dict[str, Any]],
        request_key: str,
    ) -> Reply:
        """The form as it stands now (a rubric's, after its checks), its values read, the
        command run; a value that cannot be read is refused as nothing sent."""
        try:
            form = await self.bot.form(origin, directory, request)
            filled = command_from(request, form_values(components, form))
        except UserError as exc:  # FieldError among them
            return Reply.text(f"Nothing was sent: {exc}", ok=False)
        return await self.bot.handle(origin, filled.command, directory, request_key=request_key)

    async def on_autocomplete(self, interaction: discord.Interaction, data: dict[str, Any]) -> None:
        """Suggestions for the option being typed (`bot.suggestions`), at most 25, in time."""
        options = list(data.get("options") or [])
        verb, sub = str(data.get("name") or ""), None
        if options and options[0].get("type") == OptionType.SUB_COMMAND:
            sub, options = options[0]["name"], list(options[0].get("options") or [])
        focused = next((o for o in options if o.get("focused")), None)
        found = commands.find(verb, sub)
        option = (
            next((o for o in found.options if focused and o.name == focused["name"]), None) if found else None
        )
        choices: list[dict[str, str]] = []
        if option is not None and option.suggest and focused is not None:
            asking = Asking(self.name, str(interaction.guild_id or ""), str(interaction.user.id), verb)
            try:
                found_now = await asyncio.wait_for(
                    suggest(self.bot.db, asking, option.suggest, str(focused.get("value") or "")),
                    self.ack_within,
                )
                choices = [{"name": s.label, "value": s.value} for s in found_now]
            except Exception:  # a slow or failing lookup: no suggestions, never an error
                log.warning("autocomplete for %s %s failed", verb, option.name, exc_info=True)
        await self.callback(interaction, {"type": AUTOCOMPLETE, "data": {"choices": choices[:25]}})


def outcome(task: asyncio.Future[Reply]) -> Reply:
    """The work's reply; a failure of the work (not of the command: `handle` answers those) as a
    sentence."""
    try:
        return task.result()
    except UserError as exc:
        return Reply.text(str(exc), ok=False)
    except Exception:
        log.exception("answering an interaction failed")
        return Reply.text(SORRY, ok=False, crashed=True)
