"""The fake Slack behaves like Slack on the wire, so adapter tests can trust it.

Everything goes through slack_sdk's real AsyncWebClient (and slack_bolt's real
request handling for the inbound builders), never through the fake's internals.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from fakes.blockkit import block_errors
from fakes.slack_payloads import (
    block_actions_payload,
    event_callback_body,
    interaction_body,
    signed_headers,
    slash_command_body,
    view_submission_payload,
)
from fakes.slack_server import FakeSlack
from slack_bolt.app.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

TOKEN = "xoxb-test"
SECRET = "shh-signing-secret"
USERS: dict[str, dict[str, Any]] = {
    "U1": {
        "name": "alice",
        "real_name": "Alice Liddell",
        "tz": "Europe/London",
        "is_admin": True,
        "profile": {"email": "alice@example.org", "display_name": "alice"},
    },
    "U2": {"name": "bob", "real_name": "Bob Hope", "tz": "America/Chicago"},
}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def button(label: str, action_id: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": label},
        "action_id": action_id,
        "value": action_id,
    }


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack(
        token=TOKEN, users=USERS, channels={"C1": "general", "C2": "random"}, member_of=["C1"]
    ) as fake:
        yield fake


@pytest.fixture
def client(slack: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=slack.api_url, timeout=5)


async def api_error(call: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await call
    return caught.value


# -- recording and auth --------------------------------------------------------------------------


async def test_every_call_is_recorded_with_its_arguments_and_token(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    before = time.monotonic()
    await client.chat_postMessage(channel="C1", text="hello", blocks=[section("hello")])
    await client.conversations_open(users="U1")  # POST with a query string
    await client.users_info(user="U2")  # GET

    assert [c.method for c in slack.calls] == ["chat.postMessage", "conversations.open", "users.info"]
    post = slack.called("chat.postMessage")[0]
    assert post.args == {"channel": "C1", "text": "hello", "blocks": [section("hello")]}
    assert post.token == TOKEN
    assert post.at >= before
    assert post.status == 200 and post.response is not None and post.response["ok"] is True
    assert slack.called("conversations.open")[0].args == {"users": "U1"}
    assert slack.called("users.info")[0].args["user"] == "U2"


async def test_wrong_token_is_invalid_auth_and_missing_token_is_not_authed(slack: FakeSlack) -> None:
    wrong = AsyncWebClient(token="xoxb-wrong", base_url=slack.api_url, timeout=5)
    err = await api_error(wrong.auth_test())
    assert err.response["error"] == "invalid_auth"
    assert err.response.status_code == 200  # Slack answers auth failures with HTTP 200

    anonymous = AsyncWebClient(base_url=slack.api_url, timeout=5)
    err = await api_error(anonymous.chat_postMessage(channel="C1", text="x"))
    assert err.response["error"] == "not_authed"
    assert [c.token for c in slack.calls] == ["xoxb-wrong", None]


async def test_auth_test_identifies_the_bot_so_bolt_treats_the_token_as_a_bot_token(
    client: AsyncWebClient,
) -> None:
    resp = await client.auth_test()
    assert {k: resp[k] for k in ("team_id", "user_id", "bot_id")} == {
        "team_id": "T1",
        "user_id": "UBOT",
        "bot_id": "B1",
    }
    assert resp["url"].startswith("https://") and resp["team"] and resp["user"]
    assert "chat:write" in resp.headers["X-OAuth-Scopes"]


async def test_unknown_method_is_rejected(client: AsyncWebClient) -> None:
    err = await api_error(client.api_call("chat.postMesage"))
    assert err.response["error"] == "unknown_method"
    assert err.response["req_method"] == "chat.postMesage"


# -- messages ------------------------------------------------------------------------------------


async def test_posted_metadata_comes_back_from_history_only_when_asked(client: AsyncWebClient) -> None:
    metadata = {"event_type": "cohort_nudge", "event_payload": {"window": 7, "user": "U2"}}
    posted = await client.chat_postMessage(channel="C1", text="2 days left", metadata=metadata)
    assert posted["message"]["metadata"] == metadata

    with_meta = await client.conversations_history(channel="C1", include_all_metadata=True)
    assert with_meta["messages"][0]["ts"] == posted["ts"]
    assert with_meta["messages"][0]["metadata"] == metadata

    without = await client.conversations_history(channel="C1")
    assert "metadata" not in without["messages"][0]


async def test_history_is_newest_first_with_increasing_ts_and_honours_oldest_and_limit(
    client: AsyncWebClient,
) -> None:
    tss = [(await client.chat_postMessage(channel="C1", text=f"m{i}"))["ts"] for i in range(4)]
    assert tss == sorted(tss, key=float) and len(set(tss)) == 4
    assert tss[0] == "1700000000.000100"

    history = await client.conversations_history(channel="C1")
    assert [m["text"] for m in history["messages"]] == ["m3", "m2", "m1", "m0"]

    newer = await client.conversations_history(channel="C1", oldest=tss[1])  # oldest is exclusive
    assert [m["text"] for m in newer["messages"]] == ["m3", "m2"]

    page = await client.conversations_history(channel="C1", limit=3)
    assert [m["text"] for m in page["messages"]] == ["m3", "m2", "m1"] and page["has_more"] is True
    rest = await client.conversations_history(
        channel="C1", limit=3, cursor=page["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in rest["messages"]] == ["m0"] and rest["has_more"] is False


async def test_update_changes_an_existing_message_and_rejects_an_unknown_ts(client: AsyncWebClient) -> None:
    posted = await client.chat_postMessage(channel="C1", text="draft", blocks=[section("draft")])
    updated = await client.chat_update(channel="C1", ts=posted["ts"], text="final")
    assert updated["ts"] == posted["ts"] and updated["text"] == "final"
    assert updated["message"]["blocks"][0]["text"]["text"] == "draft"  # omitted blocks are kept

    err = await api_error(client.chat_update(channel="C1", ts="1600000000.000100", text="x"))
    assert err.response["error"] == "message_not_found"


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
async def test_post_needs_a_channel_the_bot_is_in_and_some_content(client: AsyncWebClient) -> None:
    assert (await api_error(client.chat_postMessage(channel="C2", text="x"))).response[
        "error"
    ] == "not_in_channel"
    assert (await api_error(client.chat_postMessage(channel="C404", text="x"))).response[
        "error"
    ] == "channel_not_found"
    assert (await api_error(client.chat_postMessage(channel="C1"))).response["error"] == "no_text"

    joined = await client.conversations_join(channel="C2")
    assert joined["channel"]["id"] == "C2" and joined["channel"]["is_member"] is True
    assert (await client.chat_postMessage(channel="C2", text="now I can"))["channel"] == "C2"


async def test_dm_channel_is_stable_and_a_user_id_posts_to_it(client: AsyncWebClient) -> None:
    first = await client.conversations_open(users="U1")
    again = await client.conversations_open(users=["U1"])
    assert first["channel"]["id"] == again["channel"]["id"] == "DU1"
    assert again["already_open"] is True

    posted = await client.chat_postMessage(channel="U1", text="psst")
    assert posted["channel"] == "DU1"
    err = await api_error(client.conversations_open(users="U999"))
    assert err.response["error"] == "user_not_found"


async def test_users_info_answers_known_users_and_rejects_unknown(client: AsyncWebClient) -> None:
    user = (await client.users_info(user="U1"))["user"]
    assert user["id"] == "U1" and user["name"] == "alice" and user["real_name"] == "Alice Liddell"
    assert user["tz"] == "Europe/London" and isinstance(user["tz_offset"], int)
    assert user["is_admin"] is True and user["is_owner"] is False
    assert user["profile"]["email"] == "alice@example.org"
    assert user["profile"]["display_name"] == "alice"

    err = await api_error(client.users_info(user="U404"))
    assert err.response["error"] == "user_not_found"


async def test_json_fields_sent_inside_a_form_arrive_as_objects(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    blocks = [section("from a form")]
    await client.api_call(
        "chat.postMessage", data={"channel": "C1", "text": "x", "blocks": json.dumps(blocks)}
    )
    assert slack.called("chat.postMessage")[0].args["blocks"] == blocks
    assert slack.messages("C1")[0]["blocks"][0]["text"]["text"] == "from a form"


async def test_ephemeral_message_returns_message_ts(slack: FakeSlack, client: AsyncWebClient) -> None:
    resp = await client.chat_postEphemeral(channel="C1", user="U2", text="only you")
    assert resp["message_ts"]
    assert slack.ephemerals[0]["user"] == "U2" and slack.ephemerals[0]["text"] == "only you"
    assert slack.messages("C1") == []


# -- Block Kit limits ----------------------------------------------------------------------------


async def test_51_blocks_are_rejected_as_invalid_blocks_with_a_reason(client: AsyncWebClient) -> None:
    err = await api_error(
        client.chat_postMessage(channel="C1", text="x", blocks=[section(str(i)) for i in range(51)])
    )
    assert err.response["error"] == "invalid_blocks"
    assert err.response.status_code == 200
    assert err.response["response_metadata"]["messages"] == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"
    ]


async def test_a_76_character_button_is_rejected(client: AsyncWebClient) -> None:
    blocks = [{"type": "actions", "elements": [button("x" * 76, "cmd:0")]}]
    err = await api_error(client.chat_postMessage(channel="C1", text="x", blocks=blocks))
    assert err.response["error"] == "invalid_blocks"
    assert "[json-pointer:/blocks/0/elements/0/text/text]" in err.response["response_metadata"]["messages"][0]


async def test_a_message_exactly_at_every_limit_is_accepted(slack: FakeSlack, client: AsyncWebClient) -> None:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        section("s" * 3000),
        {"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2000}] * 10},
        {"type": "actions", "elements": [button("b" * 75, f"cmd:{i}") for i in range(25)]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 10},
    ]
    blocks += [{"type": "divider"}] * (50 - len(blocks))
    resp = await client.chat_postMessage(channel="C1", text="t" * 40_000, blocks=blocks)
    assert resp["ok"] is True
    stored = slack.messages("C1")[0]["blocks"]
    assert len(stored) == 50 and all(b.get("block_id") for b in stored)  # Slack fills in block_ids


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        pytest.param([section("s" * 3001)], "/blocks/0/text/text", id="section-text-3001"),
        pytest.param(
            [{"type": "actions", "elements": [button("b", f"a{i}") for i in range(26)]}],
            "/blocks/0/elements",
            id="actions-26-elements",
        ),
        pytest.param(
            [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
            "/blocks/0/elements",
            id="context-11-elements",
        ),
        pytest.param(
            [
                {"type": "actions", "elements": [button("a", "cmd:0")]},
                {"type": "actions", "elements": [button("b", "cmd:0")]},
            ],
            "/blocks/1/elements/0/action_id",
            id="repeated-action-id",
        ),
        pytest.param(
            [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
            "/blocks/0/text/text",
            id="header-151",
        ),
        pytest.param(
            [{"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}],
            "/blocks/0/text/type",
            id="header-mrkdwn",
        ),
        pytest.param([section("")], "/blocks/0/text/text", id="empty-text"),
    ],
)
async def test_block_kit_limit_breaches_are_invalid_blocks(
    client: AsyncWebClient, blocks: list[Any], pointer: str
) -> None:
    err = await api_error(client.chat_postMessage(channel="C1", text="x", blocks=blocks))
    assert err.response["error"] == "invalid_blocks"
    messages = err.response["response_metadata"]["messages"]
    assert any(m.startswith("[ERROR] ") and m.endswith(f"[json-pointer:{pointer}]") for m in messages), (
        messages
    )
    assert block_errors(blocks) == messages  # same verdict without HTTP, for renderer unit tests


async def test_top_level_text_over_40000_characters_is_msg_too_long(client: AsyncWebClient) -> None:
    err = await api_error(client.chat_postMessage(channel="C1", text="t" * 40_001))
    assert err.response["error"] == "msg_too_long"


# -- views ---------------------------------------------------------------------------------------


MODAL: dict[str, Any] = {
    "type": "modal",
    "callback_id": "submit_work",
    "private_metadata": "window=7",
    "title": {"type": "plain_text", "text": "Submit work"},
    "submit": {"type": "plain_text", "text": "Submit"},
    "blocks": [
        {
            "type": "input",
            "block_id": "link",
            "label": {"type": "plain_text", "text": "Link"},
            "element": {"type": "plain_text_input", "action_id": "url"},
        }
    ],
}


async def test_views_open_needs_a_fresh_trigger_id_and_returns_the_view(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    opened = await client.views_open(trigger_id="111.222.abc", view=MODAL)
    view = opened["view"]
    assert view["id"].startswith("V") and view["callback_id"] == "submit_work"
    assert view["private_metadata"] == "window=7" and view["hash"]
    assert slack.views[view["id"]]["type"] == "modal"

    err = await api_error(client.views_open(trigger_id="111.222.abc", view=MODAL))
    assert err.response["error"] == "exchanged_trigger_id"
    err = await api_error(client.views_open(trigger_id="", view=MODAL))
    assert err.response["error"] == "invalid_arguments"

    too_long = {**MODAL, "title": {"type": "plain_text", "text": "t" * 25}}
    err = await api_error(client.views_open(trigger_id="333.444.def", view=too_long))
    assert err.response["error"] == "invalid_arguments"
    assert "[json-pointer:/view/title/text]" in err.response["response_metadata"]["messages"][0]


async def test_home_tab_publish_and_update_keep_one_view_per_user(client: AsyncWebClient) -> None:
    home = {"type": "home", "blocks": [section("Your cohorts")]}
    first = (await client.views_publish(user_id="U1", view=home))["view"]
    second = (await client.views_publish(user_id="U1", view=home))["view"]
    assert first["id"] == second["id"] and first["hash"] != second["hash"]

    err = await api_error(client.views_update(view_id=first["id"], view=home, hash=first["hash"]))
    assert err.response["error"] == "hash_conflict"
    updated = (await client.views_update(view_id=first["id"], view=home, hash=second["hash"]))["view"]
    assert updated["id"] == first["id"]
    err = await api_error(client.views_update(view_id="V404", view=home))
    assert err.response["error"] == "not_found"


# -- response_url and failure injection ----------------------------------------------------------


async def test_response_url_posts_are_recorded(slack: FakeSlack) -> None:
    webhook = AsyncWebhookClient(slack.response_url("cmd-1"), timeout=5)
    resp = await webhook.send(text="done", response_type="ephemeral", replace_original=False)
    assert resp.status_code == 200
    assert slack.responses == [
        ("cmd-1", {"text": "done", "response_type": "ephemeral", "replace_original": False})
    ]

    bad = await webhook.send(text="x", blocks=[section("s" * 3001)])
    assert bad.status_code == 400 and bad.body == "invalid_blocks"


async def test_rate_limit_surfaces_as_429_with_retry_after_then_clears(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    slack.rate_limit("chat.postMessage", retry_after=7)
    err = await api_error(client.chat_postMessage(channel="C1", text="x"))
    assert err.response.status_code == 429
    assert err.response.headers["Retry-After"] == "7"
    assert err.response["error"] == "ratelimited"
    assert slack.messages("C1") == []  # nothing was posted

    assert (await client.chat_postMessage(channel="C1", text="x"))["ok"] is True
    assert [c.status for c in slack.called("chat.postMessage")] == [429, 200]


async def test_injected_server_error_surfaces_as_an_error(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.fail_next("chat.postMessage", status=500, times=2)
    for _ in range(2):
        err = await api_error(client.chat_postMessage(channel="C1", text="x"))
        assert err.response.status_code == 500
    slack.fail_next("*", status=200, error="channel_not_found")
    assert (await api_error(client.auth_test())).response["error"] == "channel_not_found"
    assert (await client.chat_postMessage(channel="C1", text="x"))["ok"] is True


async def test_delay_holds_the_answer_back(slack: FakeSlack, client: AsyncWebClient) -> None:
    slack.delay("auth.test", 0.3, times=1)
    started = time.monotonic()
    await client.auth_test()
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    await client.auth_test()
    assert time.monotonic() - started < 0.3


# -- what Slack sends the app --------------------------------------------------------------------


def test_signed_headers_pass_slack_sdk_verification_only_while_fresh() -> None:
    verifier = SignatureVerifier(SECRET)
    body = slash_command_body("/cohort", "status spring")
    assert verifier.is_valid_request(body, signed_headers(body, SECRET))
    stale = signed_headers(body, SECRET, timestamp=int(time.time()) - 6 * 60)
    assert not verifier.is_valid_request(body, stale)
    assert not verifier.is_valid_request(body, signed_headers(body, "other-secret"))
    assert signed_headers(body, SECRET)["Content-Type"] == "application/x-www-form-urlencoded"


def bolt_request(body: bytes) -> AsyncBoltRequest:
    headers = {k.lower(): v for k, v in signed_headers(body, SECRET).items()}
    return AsyncBoltRequest(body=body.decode(), headers=headers)


async def test_bolt_parses_the_builders_as_slack_requests(slack: FakeSlack, client: AsyncWebClient) -> None:
    app = AsyncApp(client=client, signing_secret=SECRET)
    seen: dict[str, Any] = {}

    @app.command("/cohort")
    async def on_command(ack: Any, command: dict[str, Any], context: Any) -> None:
        seen["command"] = command
        seen["bot_user_id"] = context.bot_user_id
        await ack()

    @app.action("cmd:0")
    async def on_action(ack: Any, action: dict[str, Any], body: dict[str, Any]) -> None:
        seen["action"], seen["action_body"] = action, body
        await ack()

    @app.view("submit_work")
    async def on_view(ack: Any, view: dict[str, Any], body: dict[str, Any]) -> None:
        seen["view"], seen["view_user"] = view, body["user"]["id"]
        await ack()

    @app.event("app_home_opened")
    async def on_home(event: dict[str, Any]) -> None:
        seen["event"] = event

    command = slash_command_body(
        "/cohort", "status spring & more", user_id="U2", response_url=slack.response_url("c1")
    )
    click = interaction_body(block_actions_payload("cmd:0", "status spring", user_id="U1"))
    opened = (await client.views_open(trigger_id="1.2.3", view=MODAL))["view"]
    submit = interaction_body(
        view_submission_payload(
            "submit_work", {"link": {"url": "https://example.org/w"}}, view=opened, user_id="U1"
        )
    )
    event = event_callback_body(
        {
            "type": "app_home_opened",
            "user": "U1",
            "channel": "DU1",
            "tab": "home",
            "event_ts": "1700000000.000100",
        }
    )

    async with asyncio.timeout(10):
        for body in (command, click, submit, event):
            response = await app.async_dispatch(bolt_request(body))
            assert response.status == 200, (body[:60], response.body)
        await asyncio.sleep(0)  # let the event listener (run after ack) finish
        for _ in range(50):
            if "event" in seen:
                break
            await asyncio.sleep(0.02)

    assert seen["command"]["text"] == "status spring & more" and seen["command"]["user_id"] == "U2"
    assert seen["command"]["response_url"] == slack.response_url("c1")
    assert seen["command"]["trigger_id"] and seen["command"]["api_app_id"] == "A1"
    assert seen["bot_user_id"] == "UBOT"  # from the fake's auth.test
    assert seen["action"]["value"] == "status spring" and seen["action"]["type"] == "button"
    assert seen["action_body"]["channel"]["id"] == "C1"
    assert seen["action_body"]["container"]["type"] == "message"
    assert seen["view"]["private_metadata"] == "window=7"
    assert seen["view"]["state"]["values"]["link"]["url"]["value"] == "https://example.org/w"
    assert seen["view_user"] == "U1"
    assert seen["event"]["tab"] == "home"
    assert slack.called("auth.test")


# -- Socket Mode: who may open a connection (the WebSocket: test_fake_slack_socket_mode.py) ------


async def test_apps_connections_open_takes_only_the_app_level_token(
    slack: FakeSlack, client: AsyncWebClient
) -> None:
    anonymous = AsyncWebClient(base_url=slack.api_url, timeout=5)
    opened = await anonymous.apps_connections_open(app_token="xapp-test")
    assert opened["url"].startswith(f"ws://127.0.0.1:{slack.port}/socket-mode/")
    assert slack.called("apps.connections.open")[0].token == "xapp-test"  # a Bearer header
    assert (await api_error(anonymous.apps_connections_open(app_token=TOKEN))).response["error"] == (
        "not_allowed_token_type"
    )
    assert (await api_error(anonymous.apps_connections_open(app_token="xapp-other"))).response[
        "error"
    ] == "invalid_auth"
    app_level = AsyncWebClient(token="xapp-test", base_url=slack.api_url, timeout=5)
    assert (await api_error(app_level.chat_postMessage(channel="C1", text="x"))).response["error"] == (
        "not_allowed_token_type"
    )


async def test_server_stops_on_exit() -> None:
    async with FakeSlack() as fake:
        port = fake.port
        ok = await AsyncWebClient(token="xoxb-test", base_url=fake.api_url, timeout=5).auth_test()
        assert ok["ok"] is True
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
