"""Answering an interaction: once, within Discord's 3 seconds, over REST.

A command or a button is acknowledged at once ("thinking…") and that message filled in with its
answer; a form (a modal) or suggestions cannot be deferred, so they are the first answer, when
ready within `ack_within` (2 s). Answers only the person sees are ephemeral, and a failure is a
sentence, never "This interaction failed". A command taken in earlier is answered with a
followup for the token's 15 minutes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.domain import UserError
from bot.messages import Message, Reply
from bot.platforms.discord.render import payload_for
from bot.platforms.discord.rest import DiscordHttpError, DiscordRest, DiscordUnreachable
from bot.service import SORRY

log = logging.getLogger(__name__)

ACK_WITHIN = 2.0  # seconds a form or suggestions may take: Discord allows 3, less the network's
EPHEMERAL = 1 << 6
ANSWER, DEFER, AUTOCOMPLETE, MODAL = 4, 5, 8, 9  # interaction callback types
ALREADY = "That was already done."


def only_them(message: Message) -> dict[str, Any]:
    """The message as an answer only the person who asked sees."""
    return {**payload_for(message), "flags": EPHEMERAL}


def shown(reply: Reply) -> Message:
    return Message(ALREADY) if reply.duplicate else reply.message


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


class Answers:
    """The REST calls that answer interactions, and the time allowed before deferring."""

    def __init__(self, rest: DiscordRest, ack_within: float = ACK_WITHIN) -> None:
        self.rest, self.ack_within = rest, ack_within

    async def callback(self, interaction: discord.Interaction, body: dict[str, Any]) -> bool:
        """The interaction's one answer; False (logged) if Discord refused it or was not reached."""
        try:
            await self.rest.call(
                "POST", f"interactions/{interaction.id}/{interaction.token}/callback", body, token=False
            )
        except (DiscordHttpError, DiscordUnreachable) as error:
            log.warning("answering interaction %s failed: %r", interaction.id, error)
            return False
        return True

    async def say(self, interaction: discord.Interaction, message: Message | str) -> bool:
        said = Message(message) if isinstance(message, str) else message
        return await self.callback(interaction, {"type": ANSWER, "data": only_them(said)})

    async def webhook(self, application_id: str, token: str, message: Message, *, original: bool) -> bool:
        """A followup only the person sees, or (`original`) the deferred answer filled in."""
        try:
            if original:
                path = f"webhooks/{application_id}/{token}/messages/@original"
                await self.rest.call("PATCH", path, payload_for(message), token=False)
            else:
                await self.rest.call(
                    "POST", f"webhooks/{application_id}/{token}", only_them(message), token=False
                )
        except (DiscordHttpError, DiscordUnreachable) as error:
            log.warning("following up interaction %s… failed: %r", token[:12], error)
            return False
        return True

    async def respond(
        self,
        interaction: discord.Interaction,
        work: Awaitable[Reply],
        dress: Callable[[Reply], Message] = shown,
    ) -> Reply:
        """Acknowledge at once ("thinking…", only to the person) while the work runs, then fill
        that in with its reply, which `dress` makes the message shown. The acknowledgement never
        waits for the database, so no rush or slow query brings Discord's 3 s near; the cost is
        one more call, and "thinking…" for as long as the work takes."""
        deferring = asyncio.ensure_future(
            self.callback(interaction, {"type": DEFER, "data": {"flags": EPHEMERAL}})
        )
        # One turn of the loop first: aiohttp (on Python < 3.12) writes a request's body from a
        # task of its own, which would otherwise wait behind the work's first steps.
        await asyncio.sleep(0)
        task = asyncio.ensure_future(work)
        deferred = await deferring
        await asyncio.wait({task})
        reply = outcome(task)
        if deferred:
            await self.webhook(
                str(interaction.application_id), interaction.token, dress(reply), original=True
            )
        return reply
