"""Our Slack app as Slack sees it, for tests over the wire: `cohortbot serve`'s app on
127.0.0.1 taking signed requests, and a fake Slack Web API (tests/fakeslack.py) recording
what went out. The `fake` and `app` fixtures, and the steps most conversations start with."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fakeslack import SCHOOL_USERS as USERS
from fakeslack import (
    FakeSlack,
    block_actions_payload,
    interaction_body,
    signed_headers,
    slash_command_body,
)
from serving import serving

from bot.clock import FakeClock
from bot.config import Settings
from bot.runtime import Runtime
from bot.storage.db import Database

SECRET = "test-signing-secret"
CHANNELS = {"CFRL": "frl-spring", "CREV": "frl-assessors"}


class SlackApp:
    """Our app as Slack sees it: an HTTP endpoint that takes signed requests."""

    def __init__(self, runtime: Runtime, url: str, fake: FakeSlack) -> None:
        self.runtime, self.url, self.fake = runtime, url, fake
        self.http = httpx.AsyncClient(base_url=url, timeout=10)

    async def post(self, body: bytes, *, secret: str = SECRET, timestamp: int | None = None,
                   retry: int | None = None, deliver: bool = True) -> httpx.Response:
        """Send a signed request; then let the app's follow-ups finish and, unless `deliver`
        is false (the worker behind), the outbox deliver."""
        headers = signed_headers(body, secret, timestamp)
        if retry is not None:
            headers |= {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"}
        response = await self.http.post("/slack/events", content=body, headers=headers)
        if deliver:
            await self.settle()
        else:
            assert self.runtime.slack is not None
            await self.runtime.slack.drain()
        return response

    async def command(self, user: str, command: str, text: str = "", *, channel: str = "CFRL",
                      team: str = "T1", trigger_id: str | None = None,
                      retry: int | None = None, deliver: bool = True) -> httpx.Response:
        body = slash_command_body(command, text, team_id=team, user_id=user, channel_id=channel,
                                  channel_name=CHANNELS.get(channel, "directmessage"),
                                  trigger_id=trigger_id, response_url=self.fake.response_url(user))
        return await self.post(body, retry=retry, deliver=deliver)

    async def say(self, user: str, line: str, **kw: Any) -> str:
        """Type a slash command; return what the person sees: the ephemeral ack's text and
        any answer that followed on the command's response_url (a taken-in submission's)."""
        command, _, text = line.partition(" ")
        before = len(self.fake.responses)
        response = await self.command(user, command, text, **kw)
        assert response.status_code == 200, response.text
        ack = [response.json()["text"]] if response.content else []
        return "\n".join(ack + self.answers(user, since=before))

    def answers(self, user: str, since: int = 0) -> list[str]:
        """Texts posted to `user`'s response_url (after the first `since` posts of anyone)."""
        return [payload["text"] for name, payload in self.fake.responses[since:] if name == user]

    async def click(self, user: str, button: dict[str, Any], *, team: str = "T1",
                    channel: str = "CREV") -> httpx.Response:
        payload = block_actions_payload(button["action_id"], button.get("value"), user_id=user,
                                        team_id=team, channel_id=channel,
                                        response_url=self.fake.response_url(user))
        return await self.post(interaction_body(payload))

    async def settle(self) -> None:
        await settle(self.runtime)


async def settle(runtime: Runtime) -> None:
    """Let follow-ups finish and the outbox deliver, as the worker would."""
    assert runtime.slack is not None
    await runtime.slack.drain()
    await runtime.deliverer.deliver_due()
    await runtime.slack.drain()


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
    configured = settings.model_copy(update={"slack_bot_token": "xoxb-test",
                                             "slack_signing_secret": SECRET,
                                             "slack_api_url": fake.api_url})
    runtime = Runtime(configured, clock=clock)
    async with serving(runtime) as url:
        slack_app = SlackApp(runtime, url, fake)
        try:
            yield slack_app
        finally:
            await slack_app.http.aclose()


def datetime_utc(*parts: int) -> Any:
    from datetime import UTC, datetime

    return datetime(*parts, tzinfo=UTC)


def last_post(fake: FakeSlack, channel: str) -> dict[str, Any]:
    """The newest message posted to `channel`; a DM "D<user>" may be addressed by user id."""
    posts = [c for c in fake.called("chat.postMessage")
             if channel in (c.args.get("channel"), f"D{c.args.get('channel')}")]
    assert posts, f"nothing was posted to {channel}"
    return posts[-1].args


def buttons_in(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["text"]["text"]: e for b in message.get("blocks", []) if b["type"] == "actions"
            for e in b["elements"]}



SETUP = [
    ("UCOORD", "/cohort create spring <#CFRL|frl-spring> reviews <#CREV|frl-assessors>"),
    ("UCOORD", "/cohort add spring <@UALICE|alice> <@UBOB|bob>"),
    ("UCOORD", "/cohort add spring <@UDANA|dana> as assessor"),
    ("UCOORD", "/window open spring creators closes 2026-03-20T17:00 America/Chicago"),
]


async def set_up(app: SlackApp) -> None:
    for user, line in SETUP:
        answer = await app.say(user, line)
        assert "Only" not in answer and "There is no" not in answer, answer
