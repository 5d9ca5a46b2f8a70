"""Badges issued on Credly through the outbox: the real Deliverer, a fake Credly on
127.0.0.1 and the console for the learner's DM."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from fakes.credly import FakeCredly
from sqlalchemy import select, update

from bot.badges.credly import (
    CredlyTransport,
    credly_badge_id,
    credly_enabled,
    credly_request,
    parse_credly_request,
    split_name,
    web_url,
)
from bot.clock import FakeClock
from bot.config import Settings
from bot.delivery import Deliverer, DeliveryReport
from bot.messages import Destination, Message
from bot.outbox import enqueue
from bot.platforms.console import ConsoleChat, ConsoleTransport
from bot.storage import (
    Badge,
    Cohort,
    Credential,
    Member,
    Outbox,
    Review,
    Submission,
    Version,
    Window,
    Workspace,
)
from bot.storage.db import Database

ORG, TOKEN, TEMPLATE, KIND = "org-1", "tok", "tmpl-creators", "credly"
ISSUED = datetime(2026, 3, 20, 22, 0, tzinfo=UTC)


class CredlySettings(Settings):
    """The Credly settings proposed for bot/config.py, so these tests run before and after."""

    credly_organization_id: str | None = None
    credly_token: str | None = None
    credly_api_url: str = "https://api.credly.com"


@dataclass
class Seeded:
    workspace_id: int
    cohort_id: int
    badge_id: int
    uid: str


@dataclass
class Harness:
    db: Database
    clock: FakeClock
    credly: FakeCredly
    deliverer: Deliverer
    said: list[tuple[str, str]]

    async def deliver(self) -> DeliveryReport:
        return await self.deliverer.deliver_due()

    async def row(self, key: str) -> Outbox:
        async with self.db.transaction() as session:
            row = await session.scalar(select(Outbox).where(Outbox.key == key))
        assert row is not None, f"no outbox row {key}"
        return row

    async def later(self, hours: float = 2) -> DeliveryReport:
        """Past any backoff: deliver what is due again."""
        self.clock.advance(timedelta(hours=hours))
        return await self.deliver()

    def dms(self, user: str) -> list[str]:
        return [text for where, text in self.said if where == f"DM @{user}"]


async def seed_badge(
    db: Database, now: datetime, *, email: str = "alice@school.org", revoked: bool = False
) -> Seeded:
    """An approved submission and its badge, as the review handler leaves them."""
    async with db.transaction() as s:
        ws = Workspace(platform="console", external_id="T1", name="FRL", created_at=now)
        s.add(ws)
        await s.flush()
        alice = Member(
            workspace_id=ws.id,
            user_id="alice",
            display_name="Alice Ng",
            email=email,
            badge_email=None,
            tz="UTC",
            created_at=now,
        )
        dana = Member(
            workspace_id=ws.id,
            user_id="dana",
            display_name="Dana",
            email=None,
            badge_email=None,
            tz="UTC",
            created_at=now,
        )
        s.add_all([alice, dana])
        await s.flush()
        cred = await s.scalar(select(Credential).where(Credential.slug == "creators"))
        assert cred is not None
        cred.credly_template_id = TEMPLATE
        cohort = Cohort(
            workspace_id=ws.id, name="spring", tz="UTC", quiet_days=[], created_by=dana.id, created_at=now
        )
        s.add(cohort)
        await s.flush()
        window = Window(
            workspace_id=ws.id,
            cohort_id=cohort.id,
            credential_id=cred.id,
            opens_at=now,
            closes_at=now + timedelta(days=14),
            closed_at=None,
            tz="UTC",
            nudge_offsets=[],
            open_announced_at=None,
            close_announced_at=None,
            created_by=dana.id,
            created_at=now,
        )
        s.add(window)
        await s.flush()
        sub = Submission(
            workspace_id=ws.id,
            window_id=window.id,
            member_id=alice.id,
            state="approved",
            code="S-1",
            created_at=now,
            updated_at=now,
        )
        s.add(sub)
        await s.flush()
        version = Version(
            submission_id=sub.id,
            number=1,
            links=["https://example.org/unit"],
            submitted_at=now,
            link_report=None,
        )
        s.add(version)
        await s.flush()
        review = Review(
            workspace_id=ws.id,
            submission_id=sub.id,
            version_id=version.id,
            state="decided",
            assessor_id=dana.id,
            claimed_at=now,
            decided_at=now,
            decision="approved",
            scores=None,
            created_at=now,
            queued_at=now,
        )
        s.add(review)
        await s.flush()
        badge = Badge(
            uid=secrets.token_urlsafe(16),
            workspace_id=ws.id,
            member_id=alice.id,
            credential_id=cred.id,
            submission_id=sub.id,
            review_id=review.id,
            recipient_email=email,
            state="issued",
            salt=secrets.token_hex(16),
            status_index=1,
            issued_at=ISSUED,
            shared_at=None,
            revoked_at=now if revoked else None,
            revoked_reason=None,
        )
        s.add(badge)
        await s.flush()
        first, last = split_name(alice.display_name)
        await enqueue(
            s,
            ws.id,
            Destination(KIND, badge.uid),
            credly_request(
                badge.uid,
                template_id=TEMPLATE,
                email=email,
                first_name=first,
                last_name=last,
                issued_at=badge.issued_at,
            ),
            f"badge:{badge.id}:credly",
            now,
            cohort_id=cohort.id,
        )
        return Seeded(ws.id, cohort.id, badge.id, badge.uid)


def configured(settings: Settings, credly: FakeCredly, **overrides: str | None) -> CredlySettings:
    values = {"credly_organization_id": ORG, "credly_token": TOKEN, "credly_api_url": credly.url, **overrides}
    return CredlySettings(
        _env_file=None,
        database_url=settings.database_url,  # type: ignore[call-arg]
        **values,
    )


@pytest.fixture
async def credly() -> AsyncIterator[FakeCredly]:
    async with FakeCredly(org=ORG, token=TOKEN, templates={TEMPLATE, "tmpl-other"}) as fake:
        yield fake


def harness(
    db: Database, clock: FakeClock, credly: FakeCredly, settings: Settings, *, timeout: float = 5.0
) -> Harness:
    said: list[tuple[str, str]] = []
    transports = {
        "credly": CredlyTransport(settings, db, clock, timeout=timeout),
        "console": ConsoleTransport(lambda where, text: said.append((where, text))),
    }
    return Harness(db, clock, credly, Deliverer(db, transports, clock), said)  # type: ignore[arg-type]


@pytest.fixture
def h(db: Database, clock: FakeClock, credly: FakeCredly, settings: Settings) -> Harness:
    return harness(db, clock, credly, configured(settings, credly))


# ---------------------------------------------------------------- issuing


async def test_an_approved_badge_is_issued_once_on_credly_and_the_learner_gets_the_accept_link(
    h: Harness,
) -> None:
    seeded = await seed_badge(h.db, h.clock.now())

    first = await h.deliver()  # one round: the Credly issue, then the DM it queued
    assert (first.sent, first.retried, first.dead) == (2, 0, 0)
    [post] = h.credly.posts()
    assert post.path == f"/v1/organizations/{ORG}/badges"
    assert post.auth == (TOKEN, "")
    assert post.json == {
        "recipient_email": "alice@school.org",
        "issued_to_first_name": "Alice",
        "issued_to_last_name": "Ng",
        "badge_template_id": TEMPLATE,
        "issued_at": "2026-03-20 22:00:00 +0000",
    }
    [issued] = h.credly.badges
    row = await h.row(f"badge:{seeded.badge_id}:credly")
    assert (row.state, row.ref, row.attempts) == ("sent", issued["id"], 1)
    assert credly_badge_id(row.ref) == issued["id"]

    await h.deliver()  # the DM the transport queued
    [dm] = h.dms("alice")
    assert issued["accept_badge_url"] in dm
    assert "Credly" in dm
    accept = await h.row(f"badge:{seeded.badge_id}:credly-accept")
    assert (accept.state, accept.cohort_id) == ("sent", seeded.cohort_id)

    quiet = await h.later(hours=24)
    assert (quiet.sent, quiet.retried) == (0, 0)
    assert len(h.credly.posts()) == 1 and len(h.dms("alice")) == 1


async def test_a_credly_server_error_is_retried_and_the_badge_issued_once(h: Harness) -> None:
    seeded = await seed_badge(h.db, h.clock.now())
    h.credly.fail_next(500)

    report = await h.deliver()
    assert (report.sent, report.retried, report.dead) == (0, 1, 0)
    row = await h.row(f"badge:{seeded.badge_id}:credly")
    assert row.state == "pending" and "500" in (row.last_error or "")
    assert h.credly.badges == [] and h.dms("alice") == []

    again = await h.later()
    assert again.sent == 2  # the issue and the learner's DM
    assert len(h.credly.posts()) == 2 and len(h.credly.badges) == 1
    assert (await h.row(f"badge:{seeded.badge_id}:credly")).ref == h.credly.badges[0]["id"]
    await h.deliver()
    assert len(h.dms("alice")) == 1


async def test_a_credly_time_out_is_retried_without_issuing_the_badge_twice(
    db: Database, clock: FakeClock, credly: FakeCredly, settings: Settings
) -> None:
    h = harness(db, clock, credly, configured(settings, credly), timeout=0.3)
    seeded = await seed_badge(db, clock.now())
    credly.delay(1.0)  # Credly issues the badge, but answers after we gave up

    report = await h.deliver()
    assert (report.sent, report.retried, report.dead) == (0, 1, 0)
    row = await h.row(f"badge:{seeded.badge_id}:credly")
    assert row.state == "pending" and "did not answer" in (row.last_error or "")

    await credly.settled()
    assert len(credly.badges) == 1  # it did arrive
    again = await h.later()
    assert (again.sent, again.dead) == (2, 0)
    assert len(credly.posts()) == 2 and len(credly.badges) == 1
    row = await h.row(f"badge:{seeded.badge_id}:credly")
    assert row.state == "sent" and credly_badge_id(row.ref) == credly.badges[0]["id"]
    await h.deliver()
    [dm] = h.dms("alice")
    assert credly.badges[0]["accept_badge_url"] in dm


async def test_a_badge_credly_already_has_counts_as_delivered_not_retried(h: Harness) -> None:
    earlier = h.credly.add_badge("alice@school.org", TEMPLATE)
    seeded = await seed_badge(h.db, h.clock.now())

    report = await h.deliver()
    assert (report.sent, report.retried, report.dead) == (2, 0, 0)
    row = await h.row(f"badge:{seeded.badge_id}:credly")
    assert (row.state, row.attempts, row.last_error) == ("sent", 1, None)
    assert row.ref == f"duplicate:{earlier['id']}"
    assert len(h.credly.badges) == 1
    await h.deliver()
    [dm] = h.dms("alice")
    assert earlier["accept_badge_url"] in dm
    assert (await h.later()).retried == 0 and len(h.credly.posts()) == 1


async def test_a_duplicate_whose_look_up_fails_is_still_delivered(h: Harness) -> None:
    h.credly.add_badge("alice@school.org", TEMPLATE)
    seeded = await seed_badge(h.db, h.clock.now())
    h.credly.fail_next(422, message="User already has this badge")
    h.credly.fail_next(503)  # the look-up of the existing badge

    report = await h.deliver()
    assert (report.sent, report.retried, report.dead) == (1, 0, 0)
    assert (await h.row(f"badge:{seeded.badge_id}:credly")).ref == "duplicate"
    await h.deliver()
    assert h.dms("alice") == []  # no link to give


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("rejected", "Credly 400: Badge template is archived"),
        ("unknown template", "Credly 422: Invalid or missing Badge Template ID: tmpl-gone"),
        ("wrong organization", "Credly 404: Organization not found"),
        ("wrong token", "Credly 401: You must be authenticated"),
    ],
)
async def test_a_badge_credly_refuses_becomes_a_dead_letter_with_credlys_message(
    db: Database, clock: FakeClock, credly: FakeCredly, settings: Settings, case: str, expected: str
) -> None:
    overrides = {
        "wrong organization": {"credly_organization_id": "org-2"},
        "wrong token": {"credly_token": "stolen"},
    }.get(case, {})
    h = harness(db, clock, credly, configured(settings, credly, **overrides))
    seeded = await seed_badge(db, clock.now())
    if case == "rejected":
        credly.fail_next(400, message="Badge template is archived")
    if case == "unknown template":
        async with db.transaction() as s:
            row = await s.scalar(select(Outbox).where(Outbox.key == f"badge:{seeded.badge_id}:credly"))
            assert row is not None
            request = parse_credly_request(Message.from_dict(row.payload))
            row.payload = credly_request(
                request.badge_uid,
                template_id="tmpl-gone",
                email=request.email,
                first_name=request.first_name,
                last_name=request.last_name,
                issued_at=request.issued_at,
            ).to_dict()

    report = await h.deliver()
    assert (report.sent, report.retried, report.dead) == (0, 0, 1)
    row = await h.row(f"badge:{seeded.badge_id}:credly")
    assert row.state == "dead" and row.attempts == 1
    assert (row.last_error or "").startswith(expected)
    assert row.cohort_id == seeded.cohort_id  # so /cohort status shows it to coordinators
    assert credly.badges == []
    assert (await h.later()).sent == 0 and h.dms("alice") == []


async def test_a_rate_limited_badge_waits_as_long_as_credly_asks(h: Harness) -> None:
    seeded = await seed_badge(h.db, h.clock.now())
    h.credly.fail_next(429, headers={"Retry-After": "30"})

    report = await h.deliver()
    assert (report.retried, report.dead) == (1, 0)
    row = await h.row(f"badge:{seeded.badge_id}:credly")
    assert row.state == "pending"
    assert row.next_attempt_at == h.clock.now() + timedelta(seconds=30)
    assert h.credly.badges == []


async def test_a_badge_revoked_before_it_reaches_credly_is_not_issued(h: Harness) -> None:
    seeded = await seed_badge(h.db, h.clock.now(), revoked=True)

    report = await h.deliver()
    assert (report.sent, report.dead) == (1, 0)
    assert (await h.row(f"badge:{seeded.badge_id}:credly")).ref == "revoked"
    assert h.credly.calls == []
    await h.deliver()
    assert h.dms("alice") == []


async def test_without_credly_settings_nothing_is_sent_to_credly(
    db: Database, clock: FakeClock, credly: FakeCredly, settings: Settings
) -> None:
    bare = CredlySettings(
        _env_file=None,
        database_url=settings.database_url,  # type: ignore[call-arg]
        credly_api_url=credly.url,
    )
    assert not credly_enabled(bare) and not credly_enabled(settings)
    assert not credly_enabled(configured(settings, credly, credly_token=None))
    assert credly_enabled(configured(settings, credly))
    h = harness(db, clock, credly, bare)
    seeded = await seed_badge(db, clock.now())

    report = await h.deliver()
    assert report.sent == 0 and report.dead == 1
    row = await h.row(f"badge:{seeded.badge_id}:credly")
    assert "not configured" in (row.last_error or "")
    assert credly.calls == []
    await h.deliver()
    assert h.said == []


# ---------------------------------------------------------------- the payload


def test_a_credly_request_survives_the_outbox_round_trip() -> None:
    message = credly_request(
        "uid-1",
        template_id=TEMPLATE,
        email="a@b.org",
        first_name="Ana",
        last_name="Lucia Ruiz",
        issued_at=datetime(2026, 3, 20, 12, 0, tzinfo=UTC),
    )
    request = parse_credly_request(Message.from_dict(message.to_dict()))
    assert request.body() == {
        "recipient_email": "a@b.org",
        "issued_to_first_name": "Ana",
        "issued_to_last_name": "Lucia Ruiz",
        "badge_template_id": TEMPLATE,
        "issued_at": "2026-03-20 12:00:00 +0000",
    }
    assert request.badge_uid == "uid-1"
    with pytest.raises(ValueError, match="recipient_email"):
        parse_credly_request(
            Message("Issue", fields=tuple(f for f in message.fields if f[0] != "recipient_email"))
        )


def test_names_are_split_the_way_credly_requires() -> None:
    assert split_name("Ana Lucia Ruiz") == ("Ana", "Lucia Ruiz")
    assert split_name("  Cher ") == ("Cher", "Cher")


def test_accept_links_point_at_the_credly_site_of_the_api_in_use() -> None:
    assert web_url("https://api.credly.com") == "https://www.credly.com"
    assert web_url("https://sandbox-api.credly.com/") == "https://sandbox.credly.com"
    assert web_url("http://127.0.0.1:8123") == "http://127.0.0.1:8123"


# An approved badge that its learner confirms, from an empty workspace.
TO_A_CONFIRMED_BADGE = """
    @coord /cohort create spring #frl
    @coord /cohort add spring @ana
    @coord /cohort add spring @dana as assessor
    @coord /window open spring creators closes +10d
    @ana /submit https://example.org/unit
    @dana /review claim R-1
    @dana /review approve R-1
    @ana /badges confirm
"""


async def chat_with_credly(
    db: Database, settings: Settings, credly: FakeCredly, template_id: str
) -> ConsoleChat:
    """The console with Credly configured and the `creators` credential on `template_id`."""
    configured = settings.model_copy(
        update={"credly_organization_id": ORG, "credly_token": TOKEN, "credly_api_url": credly.url}
    )
    async with db.transaction() as session:
        await session.execute(
            update(Credential).where(Credential.slug == "creators").values(credly_template_id=template_id)
        )
    return ConsoleChat(db, configured, out=None)


async def test_approval_in_the_chat_issues_on_credly_and_dms_the_accept_link(
    db: Database, settings: Settings
) -> None:
    """The whole path: an assessor approves, the learner confirms, Credly issues, the DM arrives."""
    async with FakeCredly(templates={TEMPLATE}) as credly:
        chat = await chat_with_credly(db, settings, credly, TEMPLATE)
        await chat.run(
            ':admin @coord\n:user @ana name="Ana Lopez" email=ana@school.org\n' + TO_A_CONFIRMED_BADGE
        )
        assert chat.crashes == 0
        assert [
            (
                p.json["recipient_email"],
                p.json["badge_template_id"],
                p.json["issued_to_first_name"],
                p.json["issued_to_last_name"],
            )
            for p in credly.posts()
        ] == [("ana@school.org", TEMPLATE, "Ana", "Lopez")]
        assert chat.saw("DM @ana", "credly.com")


async def test_coordinators_are_told_when_credly_refuses_a_badge(db: Database, settings: Settings) -> None:
    async with FakeCredly(templates={TEMPLATE}) as credly:
        chat = await chat_with_credly(db, settings, credly, "tmpl-retired")  # Credly doesn't know it
        await chat.run(":admin @coord\n" + TO_A_CONFIRMED_BADGE + "@coord /cohort status spring\n")
        notice = chat.last("DM @coord")
        assert "could not be delivered (badge:1:credly)" in notice and "Credly 4" in notice
        assert "could not be delivered" in chat.last("only @coord")
        assert chat.saw("DM @ana", "You earned")  # the badge itself was issued regardless
