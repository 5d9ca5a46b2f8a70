"""Discord's REST API as the bot's own code calls it, with httpx rather than discord.py's HTTP
client: the outbox's deliverer must see a 429 or a 5xx itself (discord.py would wait or retry
out of its sight), and interaction answers are the JSON `render` builds, not discord.py's
objects. Errors come back as `DiscordHttpError` with Discord's status, code and `retry_after`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from bot.config import Settings

USER_AGENT = "DiscordBot (https://github.com/cohortbot/cohortbot, 0.1)"  # the form Discord asks for


class ErrorCode:
    """Discord's JSON error codes the bot acts on."""

    UNKNOWN_CHANNEL = 10003
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

    def __init__(self, status: int, body: Any, headers: httpx.Headers) -> None:
        body = body if isinstance(body, dict) else {}
        self.status, self.body = status, body
        self.code = int(body.get("code") or 0)
        self.retry_after: float | None = None
        self.global_limit = bool(body.get("global")) or headers.get("X-RateLimit-Global") == "true"
        if status == 429:
            wait = body.get("retry_after") or headers.get("Retry-After") or 1.0
            self.retry_after = max(float(wait), 0.0)
        super().__init__(f"HTTP {status} {self.code}: {body.get('message') or ''}".strip())


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: httpx.Headers


class DiscordRest:
    """One kept-alive HTTP client for every call the bot makes itself (deliveries, lookups,
    interaction answers and followups): its connections are reused, its timeout is
    DISCORD_TIMEOUT. Interaction callbacks and followups carry no token: the interaction's
    own token in the path is their authority."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(
                base_url=self.settings.discord_api_url.rstrip("/") + "/",
                timeout=self.settings.discord_timeout,
                headers={"User-Agent": USER_AGENT},
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=100),
            )
        return self._client

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
        `params`); raises DiscordHttpError for an answer of 400 or more, httpx's errors for a
        failed connection."""
        headers = {"Authorization": f"Bot {self.settings.discord_token}"} if token else {}
        response = await self.client.request(
            method, path.lstrip("/"), json=body, headers=headers, params=params
        )
        try:
            parsed = response.json() if response.content else None
        except ValueError:
            parsed = None
        if response.status_code >= 400:
            raise DiscordHttpError(response.status_code, parsed, response.headers)
        return Answer(response.status_code, parsed, response.headers)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
