"""The fake Slack's rate limits and cut connections, through slack_sdk's real client: the
delivery tests trust it to refuse what real Slack would refuse, and to fail the way a
network fails."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from fakes.slack_server import FakeSlack
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(users={"U1": {"name": "alice"}}, channels={"C1": "general", "C2": "random"}) as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=slack.token, base_url=slack.api_url, timeout=5, retry_handlers=[])


async def post(client: AsyncWebClient, channel: str) -> int:
    try:
        await client.chat_postMessage(channel=channel, text="x")
        return 200
    except SlackApiError as exc:
        return int(exc.response.status_code)


async def test_limits_are_off_by_default(slack: FakeSlack, client: AsyncWebClient) -> None:
    assert [await post(client, "C1") for _ in range(30)] == [200] * 30
    assert slack.throttled == 0 and len(slack.messages("C1")) == 30


async def test_a_burst_over_the_channel_limit_is_refused_with_retry_after_and_not_stored(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.enforce_limits(per_channel=(1.0, 3))
    assert [await post(client, "C1") for _ in range(5)] == [200, 200, 200, 429, 429]
    refused = slack.called("chat.postMessage")[-1]
    assert refused.response == {"ok": False, "error": "ratelimited"}
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C1", text="x")
    retry_after = caught.value.response.headers["Retry-After"]
    assert retry_after.isdigit() and int(retry_after) >= 1
    assert len(slack.messages("C1")) == 3
    assert slack.throttled == 3
    assert await post(client, "C2") == 200  # another channel has its own bucket


async def test_the_channel_bucket_refills_at_its_rate(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.enforce_limits(per_channel=(10.0, 1))
    assert [await post(client, "C1") for _ in range(2)] == [200, 429]
    await asyncio.sleep(0.12)
    assert await post(client, "C1") == 200


async def test_a_user_id_and_its_dm_share_one_channel_bucket(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.enforce_limits(per_channel=(1.0, 1))
    assert [await post(client, "U1"), await post(client, "DU1")] == [200, 429]


async def test_the_workspace_limit_spans_channels(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.enforce_limits(per_channel=(100.0, 100), per_workspace=(1.0, 2))
    assert [await post(client, c) for c in ("C1", "C2", "U1")] == [200, 200, 429]
    slack.enforce_limits()  # off again
    assert await post(client, "U1") == 200


async def test_in_flight_lists_calls_not_answered_yet(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.delay("chat.postMessage", 0.3, times=1)
    pending = asyncio.create_task(client.chat_postMessage(channel="C1", text="x"))
    for _ in range(100):
        if slack.calls:
            break
        await asyncio.sleep(0.01)
    assert [c.method for c in slack.in_flight()] == ["chat.postMessage"]
    await pending
    assert slack.in_flight() == [] and slack.calls[0].answered_at is not None


async def test_a_dropped_call_is_carried_out_but_the_caller_gets_no_answer(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.drop_next("chat.postMessage")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.chat_postMessage(channel="C1", text="did it work?")
    assert [m["text"] for m in slack.messages("C1")] == ["did it work?"]
    [call] = slack.called("chat.postMessage")
    assert call.status == 0 and call.answered_at is not None
    assert await post(client, "C1") == 200  # only the next call was cut
