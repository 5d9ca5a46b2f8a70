"""Outbox messages to Discord over REST, and Discord's answers as the deliverer's errors and rates.

Exactly once: every message is created with a `nonce` made from its outbox key and
`enforce_nonce`. Discord documents that such a nonce "will be checked for uniqueness in the past
few minutes. If another message was created by the same author with the same nonce, that message
will be returned and no new message will be created" (discord-api-docs, docs/resources/message,
Create Message). So a message sent again within `NONCE_TRUST` of its first hand-over (a lost
answer, a worker restarted at once) needs no lookup: the platform declares that as its
`dedupe_window`. After longer (a worker down for an hour) the nonce is forgotten and a create would
post a second message, so `find` looks in the channel's history first. History shows no nonce (only
the create's answer and the MESSAGE_CREATE event carry it: discord.py issue #2451), and a Discord
message carries nothing of ours that people would not see, so a message is known by what it is:
posted by this bot (not an interaction's answer), with the same content, embeds and buttons,
created after its send began (history is read forward from that moment, as Discord pages it with
`after`). Two identical messages to one channel are told apart by that moment: a destination's
messages go in order, so an earlier one was created before a later one was handed over. A message
that does not match (Discord may strip characters from content; a clock ahead of Discord's by
more than a send's round trip) is sent again: a rare duplicate, never a loss.

Rates: a channel's bucket (5 messages in 5 s, one bucket for every channel and DM) and the bot's
global limit (50 requests a second, across every server). Discord publishes each bucket in the
`X-RateLimit-*` headers of every answer: the first answer of a window tells its rate, which is
handed to the deliverer's limiter (`RateLimiter.publish`) rather than learned, and an answer
saying the window is spent holds the channel until it resets. Reading a channel's history has a
bucket of its own (read from its headers the same way), apart from posting.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from discord.utils import time_snowflake

from bot.config import Settings
from bot.messages import Destination, Message
from bot.outbox import DeliveryError
from bot.platforms.discord.render import payload_for
from bot.platforms.discord.rest import DiscordHttpError, DiscordRest, DiscordUnreachable, ErrorCode
from bot.ratelimit import Limit, RateLimiter
from bot.storage import Workspace

log = logging.getLogger(__name__)

NONCE_MAX = 25
# How long after its first send a message sent again is kept single by its nonce. Discord says
# only "the past few minutes"; two minutes is inside any reading of that, and longer than a
# restarted worker or a retry after a lost answer takes. After it, the history is looked up.
NONCE_TRUST = timedelta(minutes=2)
HISTORY_PAGE = 100  # messages a history read returns at most (Discord's limit)
HISTORY_PAGES = 5  # read at most this many after the send began; past them, sent again
HISTORY_RATE = 1.0  # reads a second in one channel before its headers tell (5 in 5 s, as seen)
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
HISTORY_LEARN = "discord:history"  # and every channel's history bucket
DM_OPEN = "discord:dm-open"  # the bot's bucket for opening DM channels
DM_OPEN_RATE = 5.0  # DM channels opened a second before the bucket's headers tell
GLOBAL = "discord:global"


def nonce(key: str) -> str:
    """At most 25 characters standing for the outbox key: the same key, the same nonce."""
    return "ob" + hashlib.sha256(key.encode()).hexdigest()[: NONCE_MAX - 2]


def fingerprint(message: Mapping[str, Any]) -> tuple[str, tuple[Any, ...], tuple[Any, ...]]:
    """What a message shows, as a create's body or a message Discord returns: its content (ends
    trimmed, as Discord keeps it), its embeds (a card's title and text, and fields) and its
    buttons (command or link)."""
    embeds = tuple(
        (
            str(embed.get("title") or "").strip(),
            str(embed.get("description") or "").strip(),
            tuple((field.get("name"), field.get("value")) for field in embed.get("fields") or ()),
        )
        for embed in message.get("embeds") or ()
    )
    buttons = tuple(
        item.get("custom_id") or item.get("url")
        for row in message.get("components") or ()
        for item in row.get("components") or ()
    )
    return str(message.get("content") or "").strip(), embeds, buttons


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
        self.bot_id: str | None = None  # the bot's own user id, asked once

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

    def history_limit(self, dest: Destination) -> Limit:
        """A channel's history reads: a bucket of their own, its rate as Discord publishes it."""
        return Limit(f"discord:history:{dest.kind}:{dest.target}", HISTORY_RATE, 1, learn=HISTORY_LEARN)

    def lookup_limits(self, workspace: Workspace, dest: Destination) -> list[Limit]:
        return [self.history_limit(dest), self.global_limit()]

    async def find(
        self, workspace: Workspace, dest: Destination, key: str, message: Message, since: datetime
    ) -> str | None:
        """The message sent since `since` that this one is, read from its channel's history (see
        the module's notes); None if it is not there. The first read is under the limits the
        deliverer waited for, each further one waits for them here."""
        try:
            channel = dest.target if dest.kind == "channel" else await self.dm_channel(dest.target)
            me, wanted = await self.own_id(), fingerprint(payload_for(message))
            after = time_snowflake(since) - 1
            for page in range(HISTORY_PAGES):
                if page and self.limiter is not None:
                    await self.limiter.acquire(self.lookup_limits(workspace, dest))
                read = await self.rest.call(
                    "GET", f"channels/{channel}/messages", params={"after": after, "limit": HISTORY_PAGE}
                )
                self.learn(self.history_limit(dest), read.headers)
                found = sorted(read.body or [], key=lambda m: int(m["id"]))
                for seen in found:
                    if (
                        str((seen.get("author") or {}).get("id")) == me
                        and not seen.get("webhook_id")  # an interaction's answer is not an outbox message
                        and fingerprint(seen) == wanted
                    ):
                        return f"{channel}:{seen['id']}"
                if len(found) < HISTORY_PAGE:
                    return None
                after = int(found[-1]["id"])
        except DiscordHttpError as error:
            raise as_delivery_error(error) from error
        except DiscordUnreachable as error:
            raise DeliveryError(f"network: {error!r}", unsure=True) from error
        log.warning(
            "%s: over %d messages since its send began; sending it again", key, HISTORY_PAGE * HISTORY_PAGES
        )
        return None

    async def own_id(self) -> str:
        """The bot's user id (the author of what it posts), asked of Discord once."""
        if self.bot_id is None:
            if self.limiter is not None:
                await self.limiter.acquire([self.global_limit()])
            self.bot_id = str((await self.rest.call("GET", "users/@me")).body["id"])
        return self.bot_id

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
        except DiscordUnreachable as error:  # it may have reached Discord: the nonce keeps a resend single
            raise DeliveryError(f"network: {error!r}", unsure=True) from error
        self.learn(self.channel_limit(dest), created.headers)
        return f"{channel}:{created.body['id']}"

    def dm_open_limit(self) -> Limit:
        """Opening DM channels: one bucket for the bot, its rate as Discord publishes it (a fan-out
        of DMs opens one a person, faster than any one channel's messages go)."""
        return Limit(DM_OPEN, DM_OPEN_RATE, 1, learn=DM_OPEN, ceiling=self.settings.discord_global_rate)

    async def dm_channel(self, user_id: str) -> str:
        """The bot's DM channel with a person, opened once (a request in its own bucket, under the
        global limit)."""
        known = self.dm_channels.get(user_id)
        if known is None:
            limits = [self.dm_open_limit(), self.global_limit()]
            if self.limiter is not None:
                await self.limiter.acquire(limits)
            began = asyncio.get_running_loop().time()
            try:
                opened = await self.rest.call("POST", "users/@me/channels", {"recipient_id": user_id})
            except DiscordHttpError as error:
                if error.retry_after is not None and self.limiter is not None:
                    self.limiter.refused(limits, error.retry_after, began)
                raise
            self.learn(self.dm_open_limit(), opened.headers)
            known = self.dm_channels[user_id] = str(opened.body["id"])
        return known

    def learn(self, limit: Limit, headers: Mapping[str, str]) -> None:
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
