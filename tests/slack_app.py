"""Our Slack app as Slack sees it, for tests over the wire: `cohortbot serve`'s app on
127.0.0.1 taking signed requests, and a fake Slack Web API (tests/fakes/) recording what
went out. The `fake` and `app` fixtures, and the steps most conversations start with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from delivery_kit import SECRET, slack_settings
from fakes.slack_payloads import block_actions_payload, interaction_body, post_signed, slash_command_body
from fakes.slack_server import FakeSlack
from fakes.slack_workspace import SCHOOL_USERS as USERS
from serving import serving

from bot.clock import FakeClock
from bot.config import Settings
from bot.runtime import Runtime
from bot.storage.db import Database

CHANNELS = {"CFRL": "frl-spring", "CREV": "frl-assessors"}


class SlackWire:
    """Our app as Slack reaches it, whichever way it is connected (signed HTTP requests, a
    Socket Mode WebSocket: the subclass says): slash commands typed, buttons clicked, and
    what each person saw. Every Slack harness here is one of these, tests/harness.py's
    conversations included."""

    home = "CFRL"  # where a command is typed unless a test says

    def __init__(self, runtime: Runtime, fake: FakeSlack) -> None:
        self.runtime, self.fake = runtime, fake

    def slash(
        self,
        user: str,
        command: str,
        text: str,
        *,
        channel: str,
        team: str = "T1",
        trigger_id: str | None = None,
    ) -> bytes:
        """The slash command Slack sends when `user` types it in `channel` (a D… id: their DM)."""
        return slash_command_body(
            command,
            text,
            team_id=team,
            user_id=user,
            user_name=self.username(user),
            channel_id=channel,
            channel_name=self.fake.channels.get(channel, "directmessage"),
            trigger_id=trigger_id,
            response_url=self.fake.response_url(user),
        )

    def press(self, user: str, button: dict[str, Any], *, channel: str, team: str = "T1") -> dict[str, Any]:
        """The block_actions payload Slack sends when `user` clicks `button` in `channel`."""
        return block_actions_payload(
            button["action_id"],
            button.get("value"),
            user_id=user,
            user_name=self.username(user),
            team_id=team,
            channel_id=channel,
            channel_name=self.fake.channels.get(channel, ""),
            response_url=self.fake.response_url(user),
        )

    def username(self, user: str) -> str | None:
        return self.fake.users.get(user, {}).get("name")

    async def typed(
        self, user: str, command: str, text: str = "", *, channel: str, deliver: bool = True
    ) -> dict[str, Any] | None:
        """Type a slash command; the answer its acknowledgement carries (None: an empty ack)."""
        raise NotImplementedError

    async def say(self, user: str, line: str, *, channel: str | None = None, **kw: Any) -> str:
        """Type a slash command; return what the person sees: the ephemeral ack's text and
        any answer that followed on the command's response_url (a taken-in submission's)."""
        command, _, text = line.partition(" ")
        before = len(self.fake.responses)
        ack = await self.typed(user, command, text, channel=channel or self.home, **kw)
        return "\n".join(([ack["text"]] if ack else []) + self.answers(user, since=before))

    def answers(self, user: str, since: int = 0) -> list[str]:
        """Texts posted to `user`'s response_url (after the first `since` posts of anyone)."""
        return [payload["text"] for name, payload in self.fake.responses[since:] if name == user]

    async def settle(self, *, deliver: bool = True) -> None:
        """Let the app's follow-ups finish and, unless `deliver` is false (the worker behind),
        the outbox deliver."""
        if deliver:
            await settle(self.runtime)
        else:
            await self.runtime.platforms["slack"].drain()


class SlackApp(SlackWire):
    """Our app as Slack sees it over HTTP: an endpoint that takes signed requests."""

    def __init__(self, runtime: Runtime, url: str, fake: FakeSlack) -> None:
        super().__init__(runtime, fake)
        self.url = url
        self.http = httpx.AsyncClient(base_url=url, timeout=10)

    async def post(
        self,
        body: bytes,
        *,
        secret: str = SECRET,
        timestamp: int | None = None,
        retry: int | None = None,
        deliver: bool = True,
    ) -> httpx.Response:
        """Send a signed request, then settle."""
        retried = (
            {} if retry is None else {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        )
        response = await post_signed(self.http, body, secret, timestamp=timestamp, headers=retried)
        await self.settle(deliver=deliver)
        return response

    async def command(
        self,
        user: str,
        command: str,
        text: str = "",
        *,
        channel: str | None = None,
        team: str = "T1",
        trigger_id: str | None = None,
        retry: int | None = None,
        deliver: bool = True,
    ) -> httpx.Response:
        body = self.slash(user, command, text, channel=channel or self.home, team=team, trigger_id=trigger_id)
        return await self.post(body, retry=retry, deliver=deliver)

    async def typed(
        self, user: str, command: str, text: str = "", *, channel: str, deliver: bool = True, **kw: Any
    ) -> dict[str, Any] | None:
        response = await self.command(user, command, text, channel=channel, deliver=deliver, **kw)
        assert response.status_code == 200, response.text
        return response.json() if response.content else None

    async def click(
        self, user: str, button: dict[str, Any], *, team: str = "T1", channel: str = "CREV"
    ) -> httpx.Response:
        return await self.post(interaction_body(self.press(user, button, channel=channel, team=team)))


async def settle(runtime: Runtime) -> None:
    """Let follow-ups finish and the outbox deliver, as the worker would."""
    await runtime.platforms["slack"].drain()
    await runtime.deliverer.deliver_due()
    await runtime.platforms["slack"].drain()


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(users=USERS, channels=CHANNELS) as slack:
        yield slack


@pytest.fixture
async def app(fake: FakeSlack, settings: Settings, db: Database) -> AsyncIterator[SlackApp]:
    async with served_app(fake, settings, FakeClock(datetime_utc(2026, 3, 2, 15))) as slack_app:
        yield slack_app


@asynccontextmanager
async def served_app(fake: FakeSlack, settings: Settings, clock: FakeClock) -> AsyncIterator[SlackApp]:
    """The app configured for `fake`, served on a free port, running on `clock`."""
    runtime = Runtime(slack_settings(settings, fake), clock=clock)
    async with serving(runtime) as url:
        slack_app = SlackApp(runtime, url, fake)
        try:
            yield slack_app
        finally:
            await slack_app.http.aclose()


def datetime_utc(*parts: int) -> Any:
    from datetime import UTC, datetime

    return datetime(*parts, tzinfo=UTC)


SETUP = [
    ("UCOORD", "/cohort create spring <#CFRL|frl-spring> reviews <#CREV|frl-assessors>"),
    ("UCOORD", "/cohort add spring <@UALICE|alice> <@UBOB|bob>"),
    ("UCOORD", "/cohort add spring <@UDANA|dana> as assessor"),
    ("UCOORD", "/window open spring creators closes 2026-03-20T17:00 America/Chicago"),
]


async def set_up(app: SlackWire, steps: list[tuple[str, str]] = SETUP) -> None:
    """A cohort, its roster and an open window, typed by its coordinator (`steps`, as who
    typed what); stops at the first answer that refuses."""
    for user, line in steps:
        answer = await app.say(user, line)
        assert "Only" not in answer and "There is no" not in answer, answer
