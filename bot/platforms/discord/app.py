"""Discord: application commands, buttons, modals and autocomplete in over the gateway
(`gateway`), answered over REST (`answers`). Only translation.

A slash command becomes the line a person would type (`commands`), a button is its command (its
custom id, answered by one `DynamicItem` whatever process posted it), a modal's values become
the `Command` the typed text would be (`bot.forms.command_from`): the same parser, role checks
and handlers as everywhere.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import discord
from starlette.routing import BaseRoute

from bot.config import Settings
from bot.domain import UserError
from bot.forms import FormRequest, command_from, form_for_button, form_for_typed
from bot.messages import Button, Message, Reply
from bot.platforms.base import Capabilities, Runner
from bot.platforms.discord.answers import AUTOCOMPLETE, MODAL, Answers, shown
from bot.platforms.discord.commands import invocation, typed
from bot.platforms.discord.directory import DiscordDirectory
from bot.platforms.discord.forms import Drafts, form_values, modal, refilled, reopening, request_of
from bot.platforms.discord.gateway import Gateway, connect
from bot.platforms.discord.rest import DiscordRest
from bot.platforms.discord.transport import NONCE_TRUST, DiscordTransport
from bot.platforms.followups import FollowUps
from bot.service import SORRY, CohortBot, Intake, Origin
from bot.workflows.suggestions import Asking, suggest

log = logging.getLogger(__name__)

NO_LONGER = "That button no longer does anything; type the command instead (`/help` lists them)."
OLD_FORM = "That form is from an earlier version of the bot; please open it again."
WHICH_SERVER = (
    "I can't tell which server you mean here: use the command in a channel of your server "
    "(it answers only you)."
)


class DiscordPlatform:
    """One Discord application (one bot token) in any number of servers: a server is a
    workspace, its channels the cohorts' channels, its members the people."""

    name = "discord"
    # A resend within minutes is kept single by its nonce; later one is found in history first.
    capabilities = Capabilities(
        find_delivered=True, dedupe_window=NONCE_TRUST, edit_in_place=True, email=False, timezone=False
    )

    def __init__(self, bot: CohortBot, settings: Settings) -> None:
        self.bot, self.settings = bot, settings
        self.rest = DiscordRest(settings)
        self.outbox = DiscordTransport(self.rest, settings)
        self.directories: dict[str, DiscordDirectory] = {}
        self.client: Gateway | None = None
        self.followups = FollowUps(self.name)
        self.answers = Answers(self.rest)
        self.drafts = Drafts()
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
        """The gateway connection, until `stop`."""
        self.client = Gateway(self, guild_ready_timeout=self.guild_ready_timeout)
        await connect(self.client, self.settings, stop)

    # -------------------------------------------------------------- after the answer

    async def drain(self, within: float = 10.0) -> None:
        """Wait (at most `within` seconds) for interactions being answered and the follow-ups
        they start: tests and shutdown."""
        await self.followups.drain(within)

    def after(self, reply: Reply, directory: DiscordDirectory) -> None:
        self.followups.after(self.bot, self, reply, directory)

    # -------------------------------------------------------------- answering

    async def answer(self, intake: Intake, message: Message) -> bool:
        """Answer a command taken in with a followup on its interaction (for 15 minutes; the DM
        goes if this fails)."""
        application_id, _, token = intake.reply_to.partition(":")
        return await self.answers.webhook(application_id, token, message, original=False)

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

    async def origin_or_say(self, interaction: discord.Interaction) -> Origin | None:
        """The interaction's origin; None, once the person is told to use a server's channel,
        where it has none."""
        origin = await self.origin(interaction)
        if origin is None:
            await self.answers.say(interaction, WHICH_SERVER)
        return origin

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
                await self.answers.say(interaction, NO_LONGER)  # a bot button is a command: `CommandButton`
        except Exception:
            log.exception("interaction %s failed", interaction.id)
            await self.answers.say(interaction, SORRY)

    async def on_command(self, interaction: discord.Interaction, data: dict[str, Any]) -> None:
        text = typed(data)
        origin = await self.origin_or_say(interaction)
        if origin is None:
            return
        directory = self.directory(origin.workspace)
        request = form_for_typed(text)
        if request is not None:
            await self.open_form(interaction, origin, request)
            return
        reply = await self.answers.respond(
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
            origin = await self.origin_or_say(interaction)
            if origin is None:
                return
            try:
                request = form_for_button(command)
            except UserError as exc:
                await self.answers.say(interaction, str(exc))
                return
            if request is not None:
                await self.open_form(interaction, origin, request)
                return
            directory = self.directory(origin.workspace)
            reply = await self.answers.respond(
                interaction,
                self.bot.handle(origin, command, directory, request_key=f"discord:{interaction.id}"),
            )
            self.after(reply, directory)
        except Exception:
            log.exception("button %r failed", command)
            await self.answers.say(interaction, SORRY)

    async def open_form(self, interaction: discord.Interaction, origin: Origin, request: FormRequest) -> None:
        """Answer with the form as a modal (a modal is a first answer: it cannot follow a
        deferral), or with why the person may not have it."""
        directory = self.directory(origin.workspace)
        try:
            form = await asyncio.wait_for(self.bot.form(origin, directory, request), self.answers.ack_within)
        except UserError as exc:
            await self.answers.say(interaction, str(exc))
            return
        except TimeoutError:
            await self.answers.say(interaction, "I couldn't get the form ready in time; please try again.")
            return
        typed = self.drafts.take(origin.user_id, request)
        await self.answers.callback(interaction, {"type": MODAL, "data": refilled(modal(form), typed)})

    async def on_form(self, interaction: discord.Interaction, data: dict[str, Any]) -> None:
        """A modal submitted: its values make the command typed text would (`bot.forms`), run
        as the sender. Discord cannot show a refusal inside the modal once sent, so it is said
        only to them, with a button to open the form again."""
        request = request_of(str(data.get("custom_id") or ""))
        if request is None:
            await self.answers.say(interaction, OLD_FORM)
            return
        origin = await self.origin_or_say(interaction)
        if origin is None:
            return
        directory = self.directory(origin.workspace)
        again = Button("Open the form again", command=reopening(request))

        components = list(data.get("components") or [])

        def dress(reply: Reply) -> Message:
            if reply.ok or reply.crashed or reply.duplicate:
                return shown(reply)
            self.drafts.keep(origin.user_id, request, components)  # "again" opens it as they left it
            return Message(reply.message.text, buttons=(*reply.message.buttons, again)[-25:])

        reply = await self.answers.respond(
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
        called = invocation(data)
        focused = next((o for o in called.options if o.get("focused")), None)
        found = called.found
        option = (
            next((o for o in found.options if focused and o.name == focused["name"]), None) if found else None
        )
        choices: list[dict[str, str]] = []
        if option is not None and option.suggest and focused is not None:
            asking = Asking(self.name, str(interaction.guild_id or ""), str(interaction.user.id), called.verb)
            try:
                found_now = await asyncio.wait_for(
                    suggest(self.bot.db, asking, option.suggest, str(focused.get("value") or "")),
                    self.answers.ack_within,
                )
                choices = [{"name": s.label, "value": s.value} for s in found_now]
            except Exception:  # a slow or failing lookup: no suggestions, never an error
                log.warning("autocomplete for %s %s failed", called.verb, option.name, exc_info=True)
        await self.answers.callback(interaction, {"type": AUTOCOMPLETE, "data": {"choices": choices[:25]}})
