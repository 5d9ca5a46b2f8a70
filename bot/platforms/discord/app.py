"""Discord: application commands, buttons, modals and autocomplete in over the gateway
(`gateway`), answered over REST (`answers`). Only translation.

A slash command becomes the line a person would type (`commands`), a button is its command (its
custom id, answered whatever process posted it, before or after a restart), a modal's values become
the `Command` the typed text would be (`bot.forms.command_from`): the same parser, role checks
and handlers as everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from starlette.routing import BaseRoute

from bot.config import Settings
from bot.domain import UserError
from bot.forms import FormRequest, command_from, form_for_button, form_for_typed
from bot.messages import Button, Message, Reply
from bot.platforms.base import Capabilities, Runner
from bot.platforms.discord.answers import AUTOCOMPLETE, MODAL, Answer, Answers, shown
from bot.platforms.discord.asked import Asked, Kind
from bot.platforms.discord.commands import invocation, typed
from bot.platforms.discord.directory import DiscordDirectory
from bot.platforms.discord.forms import Drafts, form_values, modal, refilled, reopening, request_of
from bot.platforms.discord.gateway import Gateway, connect
from bot.platforms.discord.processes import HandlerProcesses
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
        """The gateway connection, until `stop`; the interactions it acknowledges answered in
        `DISCORD_HANDLERS` processes of their own (`processes`), or with none, here."""
        count, timeout = self.settings.discord_handlers, self.settings.discord_handler_timeout
        receiving = HandlerProcesses(count, self.answers, timeout) if count else contextlib.nullcontext(self)
        async with receiving as receiver:
            self.client = Gateway(self.answers, receiver, guild_ready_timeout=self.guild_ready_timeout)
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

    async def origin(self, asked: Asked) -> Origin | None:
        """Where an interaction came from. In a server: that server, the channel, and the
        member's profile as the interaction tells it. In a DM (a button on a DM): the one server
        the person shares with the bot; None if that is not one."""
        if asked.guild_id is not None:
            self.directory(asked.guild_id).seen(asked.user_id, asked.name, asked.permissions)
            return Origin(self.name, asked.guild_id, asked.user_id, asked.channel_id, asked.guild_name)
        homes = [g for g in asked.guilds if await self.directory(g).profile(asked.user_id) is not None]
        return Origin(self.name, homes[0], asked.user_id, None) if len(homes) == 1 else None

    async def origin_or_say(self, answer: Answer) -> Origin | None:
        """The interaction's origin; None, once the person is told to use a server's channel,
        where it has none."""
        origin = await self.origin(answer.asked)
        if origin is None:
            await answer.say(WHICH_SERVER)
        return origin

    # -------------------------------------------------------------- interactions

    def hold(self) -> None:
        self.followups.hold()

    def take(self, asked: Asked) -> None:
        """An interaction the gateway acknowledged, answered in its process (`DISCORD_HANDLERS`
        0; else a handler process takes it from the pipe: `processes`)."""
        self.followups.start(self.on_asked(asked))

    async def on_asked(self, asked: Asked) -> None:
        answer = self.answers.to(asked)
        kind = asked.kind
        try:
            if kind is Kind.application_command:
                await self.on_command(answer)
            elif kind is Kind.autocomplete:
                await self.on_autocomplete(answer)
            elif kind is Kind.modal_submit:
                await self.on_form(answer)
            elif kind is Kind.component and asked.custom_id.startswith("/"):
                await self.on_button(answer, asked.custom_id)
            elif kind is Kind.component:
                await answer.say(NO_LONGER)  # a bot button's custom id is its command
        except Exception:
            log.exception("interaction %s failed", asked.id)
            await answer.say(SORRY)

    async def on_command(self, answer: Answer) -> None:
        asked = answer.asked
        text = typed(asked.data)
        origin = await self.origin_or_say(answer)
        if origin is None:
            return
        directory = self.directory(origin.workspace)
        request = form_for_typed(text)
        if request is not None:
            await self.open_form(answer, origin, request)
            return
        reply = await answer.respond(
            self.bot.handle(
                origin,
                text,
                directory,
                request_key=f"discord:{asked.id}",
                reply_to=f"{asked.application_id}:{asked.token}",
            ),
        )
        self.after(reply, directory)

    async def on_button(self, answer: Answer, command: str) -> None:
        """A button: its command run as the presser (their role checked as for typed text), or
        the form it opens."""
        origin = await self.origin_or_say(answer)
        if origin is None:
            return
        try:
            request = form_for_button(command)
        except UserError as exc:
            await answer.say(str(exc))
            return
        if request is not None:
            await self.open_form(answer, origin, request)
            return
        directory = self.directory(origin.workspace)
        reply = await answer.respond(
            self.bot.handle(origin, command, directory, request_key=f"discord:{answer.asked.id}")
        )
        self.after(reply, directory)

    async def open_form(self, answer: Answer, origin: Origin, request: FormRequest) -> None:
        """Answer with the form as a modal (a modal is a first answer: it cannot follow a
        deferral), or with why the person may not have it."""
        directory = self.directory(origin.workspace)
        try:
            form = await asyncio.wait_for(self.bot.form(origin, directory, request), self.answers.ack_within)
        except UserError as exc:
            await answer.say(str(exc))
            return
        except TimeoutError:
            await answer.say("I couldn't get the form ready in time; please try again.")
            return
        typed = self.drafts.take(origin.user_id, request)
        await answer.first({"type": MODAL, "data": refilled(modal(form), typed)})

    async def on_form(self, answer: Answer) -> None:
        """A modal submitted: its values make the command typed text would (`bot.forms`), run
        as the sender. Discord cannot show a refusal inside the modal once sent, so it is said
        only to them, with a button to open the form again."""
        asked = answer.asked
        request = request_of(asked.custom_id)
        if request is None:
            await answer.say(OLD_FORM)
            return
        origin = await self.origin_or_say(answer)
        if origin is None:
            return
        directory = self.directory(origin.workspace)
        again = Button("Open the form again", command=reopening(request))

        components = list(asked.data.get("components") or [])

        def dress(reply: Reply) -> Message:
            if reply.ok or reply.crashed or reply.duplicate:
                return shown(reply)
            self.drafts.keep(origin.user_id, request, components)  # "again" opens it as they left it
            return Message(reply.message.text, buttons=(*reply.message.buttons, again)[-25:])

        reply = await answer.respond(
            self.run_form(origin, directory, request, components, f"discord:{asked.id}"), dress
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

    async def on_autocomplete(self, answer: Answer) -> None:
        """Suggestions for the option being typed (`bot.suggestions`), at most 25, in time."""
        asked = answer.asked
        called = invocation(asked.data)
        focused = next((o for o in called.options if o.get("focused")), None)
        found = called.found
        option = (
            next((o for o in found.options if focused and o.name == focused["name"]), None) if found else None
        )
        choices: list[dict[str, str]] = []
        if option is not None and option.suggest and focused is not None:
            asking = Asking(self.name, asked.guild_id or "", asked.user_id, called.verb)
            try:
                found_now = await asyncio.wait_for(
                    suggest(self.bot.db, asking, option.suggest, str(focused.get("value") or "")),
                    self.answers.ack_within,
                )
                choices = [{"name": s.label, "value": s.value} for s in found_now]
            except Exception:  # a slow or failing lookup: no suggestions, never an error
                log.warning("autocomplete for %s %s failed", called.verb, option.name, exc_info=True)
        await answer.first({"type": AUTOCOMPLETE, "data": {"choices": choices[:25]}})
