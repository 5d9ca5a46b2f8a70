"""Outbox messages to Slack with the Web API, and Slack's errors as the deliverer's."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.messages import Destination, Message
from bot.outbox import DeliveryError, Limit
from bot.platforms.slack.blocks import blocks_for, fallback_text
from bot.storage import Workspace

PERMANENT_ERRORS = {
    "channel_not_found",
    "is_archived",
    "user_not_found",
    "account_inactive",
    "invalid_blocks",
    "msg_too_long",
    "no_text",
    "cannot_dm_bot",
    "user_disabled",
    "restricted_action",
}


class SlackTransport:
    """Delivers outbox messages with the Web API.

    DMs are posted with the user id as the channel (no conversations.open per person,
    which is rate-limited far harder). The outbox key travels in the message's
    `metadata`, so after a crash the worker can ask `conversations.history` whether a
    message already arrived.
    """

    HISTORY_PAGES = 5

    def __init__(self, clients: Callable[[str], Awaitable[AsyncWebClient]], settings: Settings) -> None:
        self.clients = clients  # team id -> a client holding that workspace's bot token
        self.settings = settings

    def limits(self, workspace: Workspace, dest: Destination) -> list[Limit]:
        """A channel's (one rate learned for all of the workspace's, never above the setting:
        Slack documents 1 a second) and the workspace's (learned from the setting up to
        SLACK_WORKSPACE_RATE_MAX: Slack publishes no figure)."""
        s, team = self.settings, workspace.external_id
        return [
            Limit(
                f"slack:{team}:channel:{dest.target}",
                s.slack_channel_rate,
                s.slack_channel_burst,
                learn=f"slack:{team}:channel",
            ),
            Limit(
                f"slack:{team}:messages",
                s.slack_workspace_rate,
                s.slack_workspace_burst,
                learn=f"slack:{team}:messages",
                ceiling=s.slack_workspace_rate_max,
            ),
        ]

    def lookup_limits(self, workspace: Workspace, dest: Destination) -> list[Limit]:
        """`find`'s own budget: conversations.history (and .open) are Tier 3, ~50 calls a minute."""
        s = self.settings
        return [Limit(f"slack:{workspace.external_id}:history", s.slack_lookup_rate, s.slack_lookup_burst)]

    async def find(
        self, workspace: Workspace, dest: Destination, key: str, message: Message, since: datetime
    ) -> str | None:
        try:
            client = await self.clients(workspace.external_id)
            channel = dest.target
            if dest.kind == "dm":
                channel = (await client.conversations_open(users=dest.target))["channel"]["id"]
            cursor = None
            for _ in range(self.HISTORY_PAGES):
                page = await client.conversations_history(
                    channel=channel, limit=200, cursor=cursor, include_all_metadata=True
                )
                messages: list[dict[str, Any]] = page.get("messages", [])
                for msg in messages:
                    if (msg.get("metadata") or {}).get("event_payload", {}).get("key") == key:
                        return f"{channel}:{msg['ts']}"
                cursor = (page.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    return None
        except SlackApiError as exc:
            raise as_delivery_error(exc) from exc
        return None

    async def send(
        self, workspace: Workspace, dest: Destination, message: Message, key: str, edit_ref: str | None = None
    ) -> str:
        try:
            client = await self.clients(workspace.external_id)
            channel = dest.target  # a user id posts to the app's DM with that person
            blocks, text = blocks_for(message), fallback_text(message)
            if edit_ref:
                ref_channel, ts = edit_ref.split(":", 1)
                await client.chat_update(channel=ref_channel, ts=ts, text=text, blocks=blocks)
                return edit_ref
            posted = await self.post(client, channel, text, blocks, key)
            return f"{posted['channel']}:{posted['ts']}"
        except SlackApiError as exc:
            raise as_delivery_error(exc) from exc
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:  # it may have reached Slack
            raise DeliveryError(f"network: {exc!r}", unsure=True) from exc

    @staticmethod
    async def post(
        client: AsyncWebClient, channel: str, text: str, blocks: list[dict[str, Any]], key: str
    ) -> Any:
        metadata = {"event_type": "cohortbot_outbox", "event_payload": {"key": key}}
        try:
            return await client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, metadata=metadata, unfurl_links=False
            )
        except SlackApiError as exc:
            if exc.response.get("error") != "not_in_channel":
                raise
            await client.conversations_join(channel=channel)
            return await client.chat_postMessage(
                channel=channel, text=text, blocks=blocks, metadata=metadata, unfurl_links=False
            )


def outbound_logger() -> logging.Logger:
    """slack_sdk's logger for outbox calls, with its level set. slack_sdk formats a debug line
    of every request and answer (the whole message, its headers) whenever its logger's own
    level is unset, DEBUG enabled or not: a tenth of a delivery's CPU. Set to the level in
    effect, so DEBUG logging still shows them when it is turned on."""
    logger = logging.getLogger("slack_sdk.web.async_client.outbox")
    if logger.level == logging.NOTSET:
        logger.setLevel(logger.getEffectiveLevel())
    return logger


def as_delivery_error(exc: SlackApiError) -> DeliveryError:
    status = exc.response.status_code
    error = exc.response.get("error") or f"HTTP {status}"
    if status == 429:
        retry = exc.response.headers.get("Retry-After") or exc.response.headers.get("retry-after")
        return DeliveryError(f"rate limited: {error}", retry_after=float(retry or 1))
    return DeliveryError(error, permanent=error in PERMANENT_ERRORS, unsure=status >= 500)
