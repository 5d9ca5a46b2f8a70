"""Discord's REST API as the bot's own code calls it, with an aiohttp session of its own rather
than discord.py's HTTP client: the outbox's deliverer must see a 429 or a 5xx itself (discord.py
would wait or retry out of its sight), and interaction answers are the JSON `render` builds, not
discord.py's objects. Errors come back as `DiscordHttpError` with Discord's status, code and
`retry_after`; a call that may not have reached Discord as `DiscordUnreachable`.

aiohttp, as on Slack, not httpx: an interaction's answer is one of these calls, and httpx spent
1.1-1.4 ms of CPU on each (4-5 times aiohttp), which in a rush queued every interaction behind it
(bench/discord_ack.py, -c 20 on SQLite: p99 2.7-7.6 times a bare discord.py bot's, 0.9-1.4 after)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.config import Settings

NEW_TOKEN = "copy the bot's token again from the Developer Portal (Bot → Reset Token)"  # on a 401
USER_AGENT = "DiscordBot (https://github.com/cohortbot/cohortbot, 0.1)"  # the form Discord asks for


class ErrorCode:
    """Discord's JSON error codes the bot acts on."""

    UNKNOWN_CHANNEL = 10003
    UNKNOWN_GUILD = 10004
    UNKNOWN_MEMBER = 10007
    UNKNOWN_MESSAGE = 10008
    UNKNOWN_USER = 10013
    UNKNOWN_INTERACTION = 10062
    MISSING_ACCESS = 50001
    EMPTY_MESSAGE = 50006
    CANNOT_MESSAGE_USER = 50007
    MISSING_PERMISSIONS = 50013
    INVALID_FORM_BODY = 50035


class DiscordHttpError(Exception):
    """A refused call: `status`, Discord's `code` (0 when it gave none) and, for a 429, how many
    seconds to wait (`retry_after`) and whether the bot's global limit was hit."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str]) -> None:
        body = body if isinstance(body, dict) else {}
        self.status, self.body = status, body
        self.code = int(body.get("code") or 0)
        self.retry_after: float | None = None
        self.global_limit = bool(body.get("global")) or headers.get("X-RateLimit-Global") == "true"
        if status == 429:
            wait = body.get("retry_after") or headers.get("Retry-After") or 1.0
            self.retry_after = max(float(wait), 0.0)
        super().__init__(f"HTTP {status} {self.code}: {body.get('message') or ''}".strip())


class DiscordUnreachable(Exception):
    """No answer from Discord (no connection, a time-out, a connection cut): the call may or may
    not have been carried out."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: Mapping[str, str]  # case-insensitive, as HTTP's are


class DiscordRest:
    """One kept-alive HTTP session for every call the bot makes itself (deliveries, lookups,
    interaction answers and followups): its connections are reused, its timeout is
    DISCORD_TIMEOUT. Interaction callbacks and followups carry no token: the interaction's
    own token in the path is their authority."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.base = settings.discord_api_url.rstrip("/") + "/"
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.settings.discord_timeout),
                headers={"User-Agent": USER_AGENT},
                connector=aiohttp.TCPConnector(limit=0),  # no cap: Discord's limits pace the calls
            )
        return self._session

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: bool = True,
        params: dict[str, str | int] | None = None,
    ) -> Answer:
        """`method path` (e.g. "POST", "channels/1/messages") with a JSON body (and a query's
        `params`); raises DiscordHttpError for an answer of 400 or more, DiscordUnreachable for
        no answer."""
        headers = {"Authorization": f"Bot {self.settings.discord_token}"} if token else {}
        url = self.base + path.lstrip("/")
        try:
            async with self.session.request(
                method, url, json=body, headers=headers, params=params
            ) as response:
                status, content, answered = response.status, await response.read(), response.headers
        except (TimeoutError, OSError, aiohttp.ClientError) as error:
            raise DiscordUnreachable(str(error) or type(error).__name__) from error
        try:
            parsed = json.loads(content) if content else None
        except ValueError:
            parsed = None
        if status >= 400:
            raise DiscordHttpError(status, parsed, answered)
        return Answer(status, parsed, answered)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
