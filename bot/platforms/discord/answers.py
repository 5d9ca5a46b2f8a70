"""Answering an interaction: once, within Discord's 3 seconds, over REST.

The gateway acknowledges a command, a button or a form sent at once ("thinking…", `acknowledge`),
before any database work, and its answer fills that in; a form (a modal) or suggestions cannot
be deferred, so they are the first answer, when ready within `ack_within` (2 s). Answers only
the person sees are ephemeral, and a failure is a sentence, never "This interaction failed". A
command taken in earlier is answered with a followup for the token's 15 minutes.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from bot.domain import UserError
from bot.messages import Message, Reply
from bot.platforms.discord.asked import Asked
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


async def outcome(work: Awaitable[Reply]) -> Reply:
    """The work's reply; a failure of the work (not of the command: `handle` answers those) as a
    sentence."""
    try:
        return await work
    except UserError as exc:
        return Reply.text(str(exc), ok=False)
    except Exception:
        log.exception("answering an interaction failed")
        return Reply.text(SORRY, ok=False, crashed=True)


class Answers:
    """The REST calls that answer interactions, and the time allowed for a first answer."""

    def __init__(self, rest: DiscordRest, ack_within: float = ACK_WITHIN) -> None:
        self.rest, self.ack_within = rest, ack_within

    async def callback(self, asked: Asked, body: dict[str, Any]) -> bool:
        """The interaction's one first answer; False (logged) if Discord refused it or was not
        reached."""
        try:
            await self.rest.call("POST", f"interactions/{asked.id}/{asked.token}/callback", body, token=False)
        except (DiscordHttpError, DiscordUnreachable) as error:
            log.warning("answering interaction %s failed: %r", asked.id, error)
            return False
        return True

    async def acknowledge(self, asked: Asked) -> bool:
        """ "thinking…", only to the person, for the answer to fill in."""
        return await self.callback(asked, {"type": DEFER, "data": {"flags": EPHEMERAL}})

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

    def to(self, asked: Asked) -> Answer:
        return Answer(self, asked)


class Answer:
    """One interaction's answer: filling in the gateway's "thinking…" for one it deferred, else
    its one first answer."""

    def __init__(self, answers: Answers, asked: Asked) -> None:
        self.answers, self.asked = answers, asked

    async def first(self, body: dict[str, Any]) -> bool:
        """A form or suggestions: what cannot follow "thinking…"."""
        return await self.answers.callback(self.asked, body)

    async def say(self, message: Message | str) -> bool:
        said = Message(message) if isinstance(message, str) else message
        asked = self.asked
        if asked.deferred:
            return await self.answers.webhook(asked.application_id, asked.token, said, original=True)
        return await self.first({"type": ANSWER, "data": only_them(said)})

    async def respond(self, work: Awaitable[Reply], dress: Callable[[Reply], Message] = shown) -> Reply:
        """The work's reply, which `dress` makes the message shown."""
        reply = await outcome(work)
        await self.say(dress(reply))
        return reply
