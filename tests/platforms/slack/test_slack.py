"""Slack over its real wire format: signed HTTP requests into the app served on
127.0.0.1, and a fake Slack Web API (tests/fakes/slack_server.py) recording what went out."""

from __future__ import annotations

import html
import json
import re
import time
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx
from counting import count
from fakes.blockkit import block_errors, buttons_in
from fakes.slack_payloads import (
    block_actions_payload,
    event_callback_body,
    interaction_body,
    slash_command_body,
    view_submission_payload,
)
from fakes.slack_server import FakeSlack
from serving import serving
from slack_app import SECRET, SETUP, SlackApp, datetime_utc, set_up
from sqlalchemy import select

from bot.clock import FakeClock
from bot.config import Settings
from bot.messages import Button, Message
from bot.platforms.slack.blocks import blocks_for
from bot.runtime import Runtime
from bot.storage import Badge, Cohort, Submission, Version, Workspace
from bot.storage.db import Database

# ------------------------------------------------------------------ the protocol


async def test_url_verification_echoes_the_challenge(app: SlackApp) -> None:
    body = json.dumps({"token": "x", "challenge": "abc123", "type": "url_verification"}).encode()
    response = await app.post(body)
    assert response.status_code == 200
    assert response.json()["challenge"] == "abc123"


async def test_bad_signature_is_refused_and_changes_nothing(app: SlackApp, db: Database) -> None:
    body = slash_command_body("/cohort", "create spring <#CFRL|frl-spring>", user_id="UCOORD")
    response = await app.post(body, secret="not-the-secret")
    assert response.status_code == 401
    assert await count(db, Cohort) == 0
    assert app.fake.called("chat.postMessage") == []


async def test_request_older_than_five_minutes_is_refused(app: SlackApp, db: Database) -> None:
    body = slash_command_body("/cohort", "create spring <#CFRL|frl-spring>", user_id="UCOORD")
    response = await app.post(body, timestamp=int(time.time()) - 6 * 60)
    assert response.status_code == 401
    assert await count(db, Cohort) == 0


async def test_slack_not_configured_answers_clearly_and_health_still_works(
    settings: Settings, db: Database
) -> None:
    async with serving(Runtime(settings)) as url, httpx.AsyncClient(base_url=url) as client:
        assert (await client.get("/healthz")).json() == {"ok": True, "database": "ok"}
        refused = await client.post("/slack/events", content=b"x")
        assert refused.status_code == 503 and "Slack is not configured" in refused.json()["error"]


# ------------------------------------------------------------------ commands


async def test_workspace_admins_from_users_info_can_create_cohorts(app: SlackApp) -> None:
    answer = await app.say("UCOORD", SETUP[0][1])
    assert "Created cohort *spring* in <#CFRL>" in answer
    hello = app.fake.last_post("CFRL")
    assert "home of cohort *spring*" in hello["text"]
    assert hello["metadata"]["event_payload"]["key"] == "cohort:1:hello"
    refused = await app.say("UALICE", "/cohort create other <#CFRL|frl-spring>")
    assert "Only workspace admins and coordinators can create cohorts" in refused


async def test_mentions_become_members_with_their_slack_profiles(app: SlackApp, db: Database) -> None:
    await set_up(app)
    from bot.storage import Member

    async with db.transaction() as session:
        alice = await session.scalar(select(Member).where(Member.user_id == "UALICE"))
    assert alice is not None
    assert (alice.email, alice.tz, alice.display_name) == ("alice@school.org", "America/Chicago", "alice")
    welcome = app.fake.last_post("DUALICE")
    assert "Welcome to cohort *spring* as learner" in welcome["text"]


async def test_mention_of_someone_outside_the_workspace_is_refused(app: SlackApp) -> None:
    await app.say("UCOORD", SETUP[0][1])
    answer = await app.say("UCOORD", "/cohort add spring <@UNOBODY|ghost>")
    assert "can't find @ghost in this workspace" in answer


async def test_a_user_group_is_refused_in_a_sentence_and_nobody_is_added(app: SlackApp, db: Database) -> None:
    await set_up(app)
    before = len(app.fake.calls)
    answer = await app.say("UCOORD", "/cohort add spring <@UDANA|dana> <!subteam^S0TEAM|@librarians>")
    await app.settle()
    assert "can't add a Slack user group yet: mention each person in it" in answer
    assert "Example: `/cohort add spring @alice @bob`" in answer
    assert not [
        c.method for c in app.fake.calls[before:] if c.method in ("chat.postMessage", "conversations.open")
    ]


async def test_slash_submit_acks_at_once_then_answers_with_a_receipt_and_posts_a_claimable_task(
    app: SlackApp, db: Database
) -> None:
    await set_up(app)
    before = len(app.fake.responses)
    response = await app.command(
        "UALICE",
        "/submit",
        "<https://example.org/unit|example.org/unit> -- Students designed their own tools",
    )
    assert response.status_code == 200
    ack = response.json()
    assert ack["response_type"] == "ephemeral"
    assert "Saving your submission" in ack["text"] and "• https://example.org/unit" in ack["text"]
    assert block_errors(ack["blocks"]) == []
    [(name, receipt)] = app.fake.responses[before:]
    assert name == "UALICE" and receipt["response_type"] == "ephemeral"
    assert "Received S-1 (version 1)" in receipt["text"] and "https://example.org/unit" in receipt["text"]
    assert block_errors(receipt["blocks"]) == []
    app.runtime.clock.advance(timedelta(minutes=1))  # type: ignore[attr-defined]
    await app.settle()  # the receipt arrived, so its stand-by DM never goes
    assert not [m for m in app.fake.posted("UALICE") if "Received S-1" in m["text"]]
    task = app.fake.last_post("CREV")
    assert "Review task R-1: S-1 by <@UALICE>" in task["text"]
    assert buttons_in(task)["Claim"]["value"] == "/review claim R-1"


async def test_a_slash_command_whose_text_says_payload_is_still_understood(app: SlackApp) -> None:
    await set_up(app)
    answer = await app.say("UALICE", "/submit https://example.org/payload-unit -- my payload")
    assert "Received S-1" in answer


async def test_slack_retry_of_a_command_never_submits_twice(app: SlackApp, db: Database) -> None:
    await set_up(app)
    first = await app.command("UALICE", "/submit", "https://example.org/a", trigger_id="trig-1")
    again = await app.command("UALICE", "/submit", "https://example.org/a", trigger_id="trig-1", retry=1)
    assert first.status_code == again.status_code == 200
    assert "Saving your submission" in first.json()["text"]
    assert not again.content or "Saving" not in again.text
    assert len([a for a in app.answers("UALICE") if "Received S-1" in a]) == 1
    assert await count(db, Submission) == 1
    assert len(app.fake.posted("CREV")) == 1


async def test_bad_input_answers_with_one_ephemeral_sentence(app: SlackApp) -> None:
    await set_up(app)
    answer = await app.say("UALICE", "/submit javascript:alert(1)")
    assert "is not a web link" in answer and "Example:" in answer


async def test_text_people_type_never_pings_anyone_or_disguises_a_link(app: SlackApp) -> None:
    """Slack hands typed @mentions and links to a command as markup (`<@U…|bob>`); in text
    others read they are shown as the words the person saw, a link by its real address."""
    await set_up(app)
    disguised = "<https://evil.example.net/x|https://docs.google.com/safe>"
    await app.say(
        "UALICE", f"/submit https://example.org/a -- thanks <@UBOB|bob> <!channel> & all, see {disguised}"
    )
    await app.click("UDANA", buttons_in(app.fake.last_post("CREV"))["Claim"])
    shown = json.dumps(app.fake.last_post("DUDANA")["blocks"])
    assert "<@UBOB" not in shown and "<!channel>" not in shown and "docs.google.com" not in shown
    assert "thanks @bob @channel &amp; all, see https://evil.example.net/x" in shown
    assert "by <@UALICE>" in shown  # the bot's own mention of the learner still works
    await app.say(
        "UDANA", f"/review revise R-1 artifacts: not yet, compare {disguised} -- ask <@UBOB|bob> <!here>"
    )
    told = json.dumps(app.fake.last_post("DUALICE")["blocks"])
    assert "docs.google.com" not in told and "<@UBOB" not in told and "<!here>" not in told
    assert "https://evil.example.net/x" in told and "@bob @here" in told


# ------------------------------------------------------------------ buttons and modals


async def test_claim_button_updates_the_task_in_place_and_dms_the_evidence(app: SlackApp) -> None:
    await set_up(app)
    await app.say("UALICE", "/submit https://example.org/unit -- reflection")
    task_ts = app.fake.called("chat.postMessage")[-1].response["ts"]
    response = await app.click("UDANA", buttons_in(app.fake.last_post("CREV"))["Claim"])
    assert response.status_code == 200
    update = app.fake.called("chat.update")[-1].args
    assert update["ts"] == task_ts and "claimed by <@UDANA>" in update["text"]
    evidence = app.fake.last_post("DUDANA")
    assert "https://example.org/unit" in evidence["text"]
    assert set(buttons_in(evidence)) == {"Approve", "Request revision"}
    assert any("You claimed R-1 (S-1 by <@UALICE>)" in r[1].get("text", "") for r in app.fake.responses)


async def test_learner_pressing_an_assessors_button_is_refused(app: SlackApp, db: Database) -> None:
    await set_up(app)
    await app.say("UALICE", "/submit https://example.org/unit")
    await app.click("UDANA", buttons_in(app.fake.last_post("CREV"))["Claim"])
    approve = buttons_in(app.fake.last_post("DUDANA"))["Approve"]
    await app.click("UBOB", approve)
    assert app.fake.called("views.open") == []
    assert any(
        "claimed by another assessor" in r[1].get("text", "") for r in app.fake.responses if r[0] == "UBOB"
    )
    assert await count(db, Badge) == 0


async def test_a_button_from_another_workspace_is_refused_with_one_bot_token(
    app: SlackApp, db: Database
) -> None:
    await set_up(app)
    await app.say("UALICE", "/submit https://example.org/unit")
    claim = buttons_in(app.fake.last_post("CREV"))["Claim"]
    refused = await app.click("UDANA", claim, team="T2")
    assert refused.status_code == 403 and "another Slack workspace" in refused.text
    async with db.transaction() as session:
        assert (await session.get_one(Submission, 1)).state == "submitted"
        assert await session.scalar(select(Workspace.id).where(Workspace.external_id == "T2")) is None


async def test_a_command_from_another_workspace_is_refused_with_one_bot_token(
    app: SlackApp, db: Database
) -> None:
    """A request the app signed (Slack signs for every workspace an app is in) but naming a team
    other than the token's must not be served with that token, nor become a second workspace."""
    refused = await app.command("UCOORD", "/cohort", "create autumn <#CFRL|frl-spring>", team="T9")
    assert refused.status_code == 403
    assert app.fake.responses == [] and app.fake.called("chat.postMessage") == []
    async with db.transaction() as session:
        assert await session.scalar(select(Workspace.id).where(Workspace.external_id == "T9")) is None
        assert await session.scalar(select(Cohort.id)) is None
    assert "not in any cohort" in await app.say("UCOORD", "/cohort list")


async def test_approve_opens_a_rubric_modal_and_the_decision_issues_a_badge(
    app: SlackApp, db: Database
) -> None:
    await set_up(app)
    await app.say("UALICE", "/submit https://example.org/unit -- reflection")
    await app.click("UDANA", buttons_in(app.fake.last_post("CREV"))["Claim"])
    await app.click("UDANA", buttons_in(app.fake.last_post("DUDANA"))["Approve"], channel="DUDANA")
    opened = app.fake.called("views.open")[-1].args["view"]
    blocks = {b["block_id"] for b in opened["blocks"]}
    assert {"level:artifacts", "level:self-direction", "level:reflection", "feedback"} <= blocks
    view = next(iter(app.fake.views.values()))
    values = {
        "level:artifacts": {
            "level:artifacts": {"type": "static_select", "selected_option": {"value": "exceeds"}}
        },
        "feedback": {"feedback": "A model unit!"},
    }
    response = await app.post(
        interaction_body(view_submission_payload("decision_form", values, view=view, user_id="UDANA"))
    )
    assert response.status_code == 200 and "errors" not in response.text
    async with db.transaction() as session:
        badge = await session.scalar(select(Badge))
    assert badge is not None
    ask = app.fake.last_post("DUALICE")
    assert "your badge will be issued to *alice@school.org*" in ask["text"]
    await app.click("UALICE", buttons_in(ask)["Issue it to alice@school.org"], channel="DUALICE")
    dm = app.fake.last_post("DUALICE")
    assert "You earned *Empowering Students as Creators* (B-1), issued to alice@school.org" in dm["text"]
    links = buttons_in(dm)
    assert links["Add to LinkedIn profile"]["url"].startswith("https://www.linkedin.com/profile/add?")
    assert links["Share to #frl-spring"]["value"] == "/badges share B-1 #frl-spring"
    assert block_errors(dm["blocks"]) == []


async def test_share_to_the_channel_button_posts_once_and_only_for_the_learner(app: SlackApp) -> None:
    """`/badges share` answers only the learner; the DM's "Share to #frl-spring" button posts the
    celebration, once, and does nothing for anyone else who presses it."""

    def celebrations() -> list[str]:
        return [m["text"] for m in app.fake.posted("CFRL") if "earned" in m.get("text", "")]

    await set_up(app)
    await app.say("UALICE", "/submit https://example.org/unit -- what my students learned")
    await app.say("UDANA", "/review claim R-1")
    await app.say("UDANA", "/review approve R-1")
    await app.say("UALICE", "/badges confirm", channel="DUALICE")
    button = buttons_in(app.fake.last_post("DUALICE"))["Share to #frl-spring"]
    options = await app.say("UALICE", "/badges share B-1", channel="DUALICE")
    assert "Only you see this" in options and celebrations() == []
    await app.click("UBOB", button, channel="CFRL")
    assert "You have no badge B-1." in app.answers("UBOB")[-1] and celebrations() == []
    await app.click("UALICE", button, channel="DUALICE")
    assert celebrations() == ["🎉 <@UALICE> earned *Empowering Students as Creators*! Congratulations!"]
    posted = next(m for m in app.fake.posted("CFRL") if "earned" in m.get("text", ""))
    assert list(buttons_in(posted)) == ["View badge", "Share on LinkedIn", "Share on X", "Share on Facebook"]
    assert "Celebrated B-1 in <#CFRL>" in app.answers("UALICE")[-1]
    await app.click("UALICE", button, channel="DUALICE")
    assert "already celebrated" in app.answers("UALICE")[-1]
    assert len(celebrations()) == 1


async def test_a_channel_whose_name_is_too_long_for_a_button_is_shared_to_by_its_id(app: SlackApp) -> None:
    """A button holds at most 100 characters of command: in a channel whose name would not fit
    (Slack's names reach 80 characters, Discord's 100; badge ids grow) the learner's Share
    button names the channel by its id, and still celebrates there."""
    name = "frl-" + "x" * 96
    create = f"/cohort create spring <#CFRL|{name}> reviews <#CREV|frl-assessors>"
    await set_up(app, [("UCOORD", create), *SETUP[1:]])
    await app.say("UALICE", "/submit https://example.org/unit -- what my students learned")
    await app.say("UDANA", "/review claim R-1")
    await app.say("UDANA", "/review approve R-1")
    await app.say("UALICE", "/badges confirm", channel="DUALICE")
    dm = app.fake.last_post("DUALICE")
    button = buttons_in(dm)[f"Share to #{name}"[:75]]
    assert button["value"] == "/badges share B-1 #CFRL" and block_errors(dm["blocks"]) == []
    await app.click("UALICE", button, channel="DUALICE")
    assert "Celebrated B-1 in <#CFRL>" in app.answers("UALICE")[-1]


async def test_revision_modal_without_an_unmet_criterion_shows_the_error_in_the_form(app: SlackApp) -> None:
    await set_up(app)
    await app.say("UALICE", "/submit https://example.org/unit")
    await app.click("UDANA", buttons_in(app.fake.last_post("CREV"))["Claim"])
    await app.click("UDANA", buttons_in(app.fake.last_post("DUDANA"))["Request revision"])
    view = next(iter(app.fake.views.values()))
    response = await app.post(
        interaction_body(
            view_submission_payload(
                "decision_form", {"feedback": {"feedback": "more please"}}, view=view, user_id="UDANA"
            )
        )
    )
    answer = response.json()
    assert answer["response_action"] == "errors"
    assert "Say which criteria are not yet met" in next(iter(answer["errors"].values()))


async def test_bare_submit_opens_the_three_part_form(app: SlackApp, db: Database) -> None:
    await set_up(app)
    response = await app.command("UALICE", "/submit")
    assert response.status_code == 200
    view = app.fake.called("views.open")[-1].args["view"]
    assert [b["block_id"] for b in view["blocks"]][:3] == ["overview", "links", "reflection"]
    stored = next(iter(app.fake.views.values()))
    bad = await app.post(
        interaction_body(
            view_submission_payload(
                "submit_form",
                {"links": {"links": "not a link"}, "reflection": {"reflection": "r"}},
                view=stored,
                user_id="UALICE",
            )
        )
    )
    assert bad.json()["response_action"] == "errors"
    assert "is not a web link" in bad.json()["errors"]["links"]
    good = await app.post(
        interaction_body(
            view_submission_payload(
                "submit_form",
                {
                    "overview": {"overview": "Grade 5"},
                    "links": {"links": "https://example.org/a\nhttps://example.org/b"},
                    "reflection": {"reflection": "Students led"},
                },
                view=stored,
                user_id="UALICE",
            )
        )
    )
    assert good.status_code == 200
    assert await count(db, Submission) == 1
    assert any("Received S-1" in e.get("text", "") for e in app.fake.ephemerals)


# ------------------------------------------------------------------ events


async def test_app_mention_gets_help_and_home_tab_is_published(app: SlackApp) -> None:
    mention = event_callback_body(
        {"type": "app_mention", "user": "UALICE", "channel": "CFRL", "text": "<@UBOT> help", "ts": "1.1"}
    )
    assert (await app.post(mention)).status_code == 200
    assert "Cohort Bot" in app.fake.ephemerals[-1]["text"]
    home = event_callback_body(
        {"type": "app_home_opened", "user": "UALICE", "tab": "home", "channel": "DUALICE"}
    )
    assert (await app.post(home)).status_code == 200
    assert app.fake.called("views.publish")[-1].args["user_id"] == "UALICE"


async def test_a_button_on_the_home_tab_is_answered_by_dm(app: SlackApp) -> None:
    """A click in a view (the Home tab, a form) comes with no response_url: the answer goes to
    the presser as a DM instead of being lost."""
    await set_up(app)
    home = {"id": "VHOME", "type": "home", "blocks": []}
    click = block_actions_payload("cmd:0", "/submit status", user_id="UALICE", view=home)
    assert "response_url" not in click
    assert (await app.post(interaction_body(click))).status_code == 200
    assert "Your submissions" in app.fake.last_post("DUALICE")["text"]
    assert app.fake.responses == []


# ------------------------------------------------------------------ Block Kit


def test_long_messages_are_cut_to_fit_slacks_limits() -> None:
    text = "\n".join(f"• line {i} " + "x" * 200 for i in range(2000))
    buttons = tuple(Button("b" * 100, command=f"/x {i}") for i in range(60))
    blocks = blocks_for(Message(text, buttons=buttons, context="c" * 5000))
    assert len(blocks) <= 50
    assert block_errors(blocks) == []
    assert "more part(s)" in json.dumps(blocks[-4:])


# ------------------------------------------------------------------ the manifest


def test_committed_manifest_matches_the_grammar_and_the_adapter() -> None:
    from pathlib import Path

    import yaml

    from bot.platforms.slack.app import COMMANDS
    from bot.platforms.slack.manifest import render

    committed = (Path(__file__).resolve().parents[3] / "slack-manifest.yml").read_text()
    assert committed == render("https://cohortbot.example.org")
    data = yaml.safe_load(committed)
    assert [c["command"] for c in data["features"]["slash_commands"]] == list(COMMANDS)
    assert all(c["should_escape"] for c in data["features"]["slash_commands"])
    scopes = set(data["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "im:write", "users:read", "users:read.email"} <= scopes
    assert data["settings"]["interactivity"]["request_url"].endswith("/slack/events")


# ------------------------------------------------------------------ OAuth installs


async def test_oauth_install_stores_the_workspace_token_and_commands_use_it(
    fake: FakeSlack, settings: Settings, db: Database
) -> None:
    oauth = settings.model_copy(
        update={
            "slack_client_id": "client-id",
            "slack_client_secret": "client-secret",
            "slack_signing_secret": SECRET,
            "slack_api_url": fake.api_url,
        }
    )
    runtime = Runtime(oauth, clock=FakeClock(datetime_utc(2026, 3, 2, 15)))
    async with serving(runtime) as url, httpx.AsyncClient(base_url=url, timeout=10) as browser:
        page = await browser.get("/slack/install")
        assert page.status_code == 200
        authorize = html.unescape(
            re.search(r'href="(https://slack.com/oauth/v2/authorize[^"]+)"', page.text).group(1)
        )  # type: ignore[union-attr]
        query = dict(parse_qsl(urlsplit(authorize).query))
        assert query["client_id"] == "client-id" and "chat:write" in query["scope"].split(",")
        state = query["state"]
        # the state cookie is Secure (production is https); a browser sends it back
        cookie = page.headers["set-cookie"].split(";", 1)[0]
        done = await browser.get(f"/slack/oauth_redirect?code=c1&state={state}", headers={"Cookie": cookie})
        assert done.status_code == 200, done.text
        assert fake.called("oauth.v2.access")
        app = SlackApp(runtime, url, fake)
        answer = await app.say("UCOORD", "/cohort create spring <#CFRL|frl-spring>")
        assert "Created cohort *spring*" in answer
        assert fake.last_post("CFRL")
        assert {c.token for c in fake.called("users.info")} == {"xoxb-installed-c1"}
        assert {c.token for c in fake.called("chat.postMessage")} == {"xoxb-installed-c1"}
        await app.http.aclose()


async def test_oauth_callback_with_a_forged_state_installs_nothing(
    fake: FakeSlack, settings: Settings, db: Database
) -> None:
    oauth = settings.model_copy(
        update={
            "slack_client_id": "client-id",
            "slack_client_secret": "client-secret",
            "slack_signing_secret": SECRET,
            "slack_api_url": fake.api_url,
        }
    )
    async with serving(Runtime(oauth)) as url, httpx.AsyncClient(base_url=url) as browser:
        refused = await browser.get("/slack/oauth_redirect?code=c1&state=forged")
        assert refused.status_code >= 400
    assert fake.called("oauth.v2.access") == []


async def test_one_click_to_change_the_badge_address_opens_a_form(app: SlackApp, db: Database) -> None:
    await set_up(app)
    await app.say("UALICE", "/submit https://example.org/unit")
    await app.click("UDANA", buttons_in(app.fake.last_post("CREV"))["Claim"])
    await app.click("UDANA", buttons_in(app.fake.last_post("DUDANA"))["Approve"], channel="DUDANA")
    view = next(iter(app.fake.views.values()))
    await app.post(interaction_body(view_submission_payload("decision_form", {}, view=view, user_id="UDANA")))
    ask = app.fake.last_post("DUALICE")
    await app.click("UALICE", buttons_in(ask)["Use another address"], channel="DUALICE")
    form = app.fake.called("views.open")[-1].args["view"]
    assert form["callback_id"] == "one_field_form"
    stored = [v for v in app.fake.views.values() if v.get("callback_id") == "one_field_form"][-1]
    bad = await app.post(
        interaction_body(
            view_submission_payload(
                "one_field_form", {"value": {"value": "not an address"}}, view=stored, user_id="UALICE"
            )
        )
    )
    assert "is not an e-mail address" in bad.json()["errors"]["value"]
    good = await app.post(
        interaction_body(
            view_submission_payload(
                "one_field_form", {"value": {"value": "alice.ng@school.org"}}, view=stored, user_id="UALICE"
            )
        )
    )
    assert good.status_code == 200
    assert "issued to alice.ng@school.org" in app.fake.last_post("DUALICE")["text"]
    async with db.transaction() as session:
        assert (await session.scalar(select(Badge))).recipient_email == "alice.ng@school.org"


async def test_bare_submit_whose_form_slack_refused_tells_the_learner_what_to_do(app: SlackApp) -> None:
    await set_up(app)
    app.fake.expire_trigger("trig-late")  # the process took over Slack's 3 s to ask for the form
    before = len(app.fake.responses)
    response = await app.command("UALICE", "/submit", trigger_id="trig-late")
    assert response.status_code == 200
    await app.settle()
    [(name, answer)] = app.fake.responses[before:]
    assert name == "UALICE" and answer["response_type"] == "ephemeral"
    assert "didn't let me open the form in time" in answer["text"]
    assert "/submit https://example.org/unit -- what you learned" in answer["text"]


async def test_ampersands_and_angle_brackets_slack_escaped_are_stored_as_the_learner_typed_them(
    app: SlackApp, db: Database
) -> None:
    await set_up(app)
    # Slack sends &, < and > in a slash command's text as entities, inside its link markup too
    seen = await app.say(
        "UALICE",
        "/submit <https://example.org/unit?a=1&amp;b=2|example.org/unit?a=1&amp;b=2>"
        " -- Tools &amp; materials, 3 &lt; 5 &gt; 2",
    )
    assert "Received S-1" in seen
    async with db.transaction() as session:
        version = await session.scalar(select(Version))
    assert version is not None
    assert version.links == ["https://example.org/unit?a=1&b=2"]
    assert version.reflection == "Tools & materials, 3 < 5 > 2"
    assert "?a=1&amp;b=2" in seen and "&amp;amp;" not in seen  # escaped once for Slack, as it should be


async def test_a_button_this_version_does_not_know_is_answered_and_explained(app: SlackApp) -> None:
    await set_up(app)
    before = len(app.fake.responses)
    old = await app.click("UALICE", {"action_id": "claim_review_v0", "value": "R-1"})  # an older message's
    assert old.status_code == 200  # unanswered, Slack shows the person an error and counts it
    await app.settle()
    assert app.answers("UALICE", before) == [
        "That button no longer does anything; type the command instead (`/help` lists them)."
    ]
    closed = await app.post(
        interaction_body(
            {
                "type": "view_closed",
                "team": {"id": "T1", "domain": "cohort-test"},
                "user": {"id": "UALICE", "team_id": "T1"},
                "api_app_id": "A1",
                "token": "verification-token",
                "view": {"id": "V1", "type": "modal", "callback_id": "submit_form", "team_id": "T1"},
                "is_cleared": False,
            }
        )
    )
    assert closed.status_code == 200
