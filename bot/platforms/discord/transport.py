"""Outbox messages to Discord over REST, and Discord's answers as the deliverer's errors and rates.

Exactly once: every message is created with a `nonce` made from its outbox key and
`enforce_nonce`, so a create sent again after a crash or a lost answer returns the message that
already arrived instead of posting a second one (Discord keeps nonces for a few minutes; the
outbox retries a message in doubt within its lease, seconds). A message cannot be found by its
key afterwards: Discord's history does not show nonces, and a message carries nothing else of
ours that people would not see. So the platform declares `find_by_key` False and relies on the
nonce.

Rates: a channel's bucket (5 messages in 5 s, one bucket for every channel and DM) and the bot's
global limit (50 requests a second, across every server). Discord publishes each bucket in the
`X-RateLimit-*` headers of every answer: the first answer of a window tells its rate, which is
handed to the deliverer's limiter (`RateLimiter.publish`) rather than learned, and an answer
saying the window is spent holds the channel until it resets.
"""

from __future__ import annotations

import hashlib
import logging

import httpx

from bot.config import Settings
from bot.messages import Destination, Message
from bot.outbox import DeliveryError
from bot.platforms.discord.render import payload_for
from bot.platforms.discord.rest import DiscordHttpError, DiscordRest, ErrorCode
from bot.ratelimit import Limit, RateLimiter
from bot.storage import Workspace

log = logging.getLogger(__name__)

NONCE_MAX = 25
# Refusals that sending again cannot mend: the channel or person is gone, the bot may not post
# there, the person takes no DMs from it, or the message itself is malformed (a bug: park it).
PERMANENT = {
    ErrorCode.UNKNOWN_CHANNEL,
    ErrorCode.UNKNOWN_MESSAGE,
    ErrorCode.UNKNOWN_USER,
    ErrorCode.MISSING_ACCESS,
    ErrorCode.EMPTY_MESSAGE,
    ErrorCode.CANNOT_MESSAGE_USER,
    ErrorCode.MISSING_PERMISSIONS,
    ErrorCode.INVALID_FORM_BODY,
}
CHANNEL_LEARN = "discord:channel"  # every channel's bucket has the same figures
GLOBAL = "discord:global"


def nonce(key: str) -> str:
    """At most 25 characters standing for the outbox key: the same key, the same nonce."""
    return "ob" + hashlib.sha256(key.encode()).hexdigest()[: NONCE_MAX - 2]


def as_delivery_error(error: DiscordHttpError) -> DeliveryError:
    if error.status == 429:
        scope = "global" if error.global_limit else "route"
        return DeliveryError(f"rate limited ({scope})", retry_after=error.retry_after or 1.0)
    return DeliveryError(
        str(error),
        permanent=error.code in PERMANENT or error.status in (401, 403, 404),
        unsure=error.status >= 500,
    )


class DiscordTransport:
    """Creates and edits messages; opens (and remembers) the DM channel of each person."""

    def __init__(self, rest: DiscordRest, settings: Settings) -> None:
        self.rest, self.settings = rest, settings
        self.dm_channels: dict[str, str] = {}  # user id -> the bot's DM channel with them
        self.limiter: RateLimiter | None = None

    def publish_to(self, limiter: RateLimiter) -> None:
        """The deliverer's limiter: the buckets Discord publishes are kept to there."""
        self.limiter = limiter

    def channel_limit(self, dest: Destination) -> Limit:
        """A channel's (or DM's) bucket: its rate as Discord publishes it, never above the
        setting (Discord's 5 in 5 s)."""
        s = self.settings
        return Limit(
            f"discord:{dest.kind}:{dest.target}",
            s.discord_channel_rate,
            s.discord_channel_burst,
            learn=CHANNEL_LEARN,
        )

    def global_limit(self) -> Limit:
        """The bot's own, across servers: a learned key only so that workers share it."""
        rate = self.settings.discord_global_rate
        return Limit(GLOBAL, rate, 1, learn=GLOBAL, ceiling=rate)

    def limits(self, workspace: Workspace, dest: Destination) -> list[Limit]:
        return [self.channel_limit(dest), self.global_limit()]

    async def find(self, workspace: Workspace, dest: Destination, key: str) -> str | None:
        return None  # see the module's notes: the nonce does this work (find_by_key is False)

    async def send(
        self, workspace: Workspace, dest: Destination, message: Message, key: str, edit_ref: str | None = None
    ) -> str:
        body = payload_for(message)
        try:
            if edit_ref:
                channel, message_id = edit_ref.split(":", 1)
                await self.rest.call("PATCH", f"channels/{channel}/messages/{message_id}", body)
                return edit_ref
            channel = dest.target if dest.kind == "channel" else await self.dm_channel(dest.target)
            created = await self.rest.call(
                "POST",
                f"channels/{channel}/messages",
                {**body, "nonce": nonce(key), "enforce_nonce": True},
            )
        except DiscordHttpError as error:
            raise as_delivery_error(error) from error
        except httpx.HTTPError as error:  # it may have reached Discord: the nonce keeps a resend single
            raise DeliveryError(f"network: {error!r}", unsure=True) from error
        self.learn(self.channel_limit(dest), created.headers)
        return f"{channel}:{created.body['id']}"

    async def dm_channel(self, user_id: str) -> str:
        """The bot's DM channel with a person, opened once (a request under the global limit)."""
        known = self.dm_channels.get(user_id)
        if known is None:
            if self.limiter is not None:
                await self.limiter.acquire([self.global_limit()])
            opened = await self.rest.call("POST", "users/@me/channels", {"recipient_id": user_id})
            known = self.dm_channels[user_id] = str(opened.body["id"])
        return known

    def learn(self, limit: Limit, headers: httpx.Headers) -> None:
        """A bucket as its headers tell it: its rate, read on the first request of its window
        (when what is left is one less than the limit, the time to reset is the window's
        length), and, when nothing is left of it, no send under it until it resets (Discord
        counts whole windows: a send paced at the rate can still come early in the next)."""
        if self.limiter is None:
            return
        try:
            total = int(headers["X-RateLimit-Limit"])
            remaining = int(headers["X-RateLimit-Remaining"])
            reset_after = float(headers["X-RateLimit-Reset-After"])
        except (KeyError, ValueError):
            return
        if remaining == total - 1 and reset_after > 0:
            self.limiter.publish(limit, total / reset_after)
        if remaining == 0 and reset_after > 0:
            self.limiter.hold([limit], reset_after)
