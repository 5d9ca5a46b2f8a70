"""Issuing badges through Credly, as outbox deliveries of their own destination kind.

An approval that should also live on Credly enqueues a row for `Destination("credly",
badge.uid)` in the transaction that records the badge, so the Credly call is retried
with backoff and ends as a dead letter coordinators see, like any message the bot owes.
Credly refuses a second badge of one template to one recipient, and that refusal is
taken as "already delivered": a re-send after a time-out or a crash never issues twice.
After Credly accepts, the learner gets the accept link as a DM through the outbox.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from bot import markup
from bot.clock import Clock
from bot.config import Settings
from bot.domain import as_utc
from bot.messages import Button, Destination, Message
from bot.outbox import DeliveryError, Limit
from bot.storage import Badge, Member, Submission, Window, Workspace
from bot.storage.db import Database
from bot.workflows.sending import Outgoing, send

log = logging.getLogger(__name__)

KIND = "credly"  # the outbox destination kind this transport takes
DEFAULT_API_URL = "https://api.credly.com"
TIMEOUT = 10.0  # seconds for one Credly call; a slow answer is retried, never waited on for ever
RATE, BURST = 2.0, 5  # per organization: far below what bulk issuing tolerates, plenty for approvals
DEFAULT_RETRY_AFTER = 30.0  # a 429 without Retry-After
DUPLICATE = "duplicate"  # the ref of a badge Credly already had and we could not look up

# Message.fields labels: the neutral payload of a Credly row (not shown to anyone).
_UID, _TEMPLATE, _EMAIL, _FIRST, _LAST, _ISSUED = (
    "badge_uid",
    "badge_template_id",
    "recipient_email",
    "issued_to_first_name",
    "issued_to_last_name",
    "issued_at",
)


def credly_enabled(settings: Settings) -> bool:
    """Both the organization and its token are set (read leniently until config.py has them)."""
    return bool(getattr(settings, "credly_organization_id", None) and getattr(settings, "credly_token", None))


@dataclass(frozen=True)
class CredlyRequest:
    """What Credly needs to issue one badge (its required fields)."""

    badge_uid: str
    template_id: str
    email: str
    first_name: str
    last_name: str
    issued_at: datetime

    def body(self) -> dict[str, Any]:
        return {
            "recipient_email": self.email,
            "issued_to_first_name": self.first_name,
            "issued_to_last_name": self.last_name,
            "badge_template_id": self.template_id,
            "issued_at": credly_time(self.issued_at),
        }


def credly_time(moment: datetime) -> str:
    """Credly's timestamp format, e.g. "2014-04-01 09:41:00 -0500" (sent in UTC)."""
    return as_utc(moment).strftime("%Y-%m-%d %H:%M:%S %z")


def split_name(display_name: str) -> tuple[str, str]:
    """First and last name for Credly, which requires both: "Ana Lucia Ruiz" -> ("Ana", "Lucia
    Ruiz"); a single name is used for both rather than having Credly reject the badge."""
    parts = display_name.strip().split(None, 1)
    if not parts:
        return "", ""
    return (parts[0], parts[1]) if len(parts) == 2 else (parts[0], parts[0])


def credly_request(
    badge_uid: str, *, template_id: str, email: str, first_name: str, last_name: str, issued_at: datetime
) -> Message:
    """The outbox payload for issuing a badge on Credly (to `Destination("credly", badge_uid)`)."""
    return Message(
        f"Issue badge {badge_uid} on Credly",
        fields=(
            (_UID, badge_uid),
            (_TEMPLATE, template_id),
            (_EMAIL, email),
            (_FIRST, first_name),
            (_LAST, last_name),
            (_ISSUED, as_utc(issued_at).isoformat()),
        ),
    )


def parse_credly_request(message: Message) -> CredlyRequest:
    """The reverse of `credly_request`; ValueError when a field is missing."""
    fields = dict(message.fields)
    try:
        return CredlyRequest(
            badge_uid=fields[_UID],
            template_id=fields[_TEMPLATE],
            email=fields[_EMAIL],
            first_name=fields[_FIRST],
            last_name=fields[_LAST],
            issued_at=datetime.fromisoformat(fields[_ISSUED]),
        )
    except KeyError as exc:
        raise ValueError(f"Credly request without {exc.args[0]}") from exc


def credly_badge_id(ref: str | None) -> str | None:
    """The Credly badge id in a delivered row's ref (None when Credly's id is unknown)."""
    if not ref or ref == DUPLICATE:
        return None
    return ref.removeprefix(f"{DUPLICATE}:")


@dataclass(frozen=True)
class Issued:
    """A badge Credly holds for the recipient: what the learner's DM needs."""

    badge_id: str
    state: str
    accept_url: str | None


class CredlyTransport:
    """Issues badges with Credly's Web Service API (HTTP Basic: the token is the user name).

    `find` answers None: a row sent again after a crash meets Credly's duplicate refusal,
    which `send` already treats as delivered.
    """

    def __init__(self, settings: Settings, db: Database, clock: Clock, *, timeout: float = TIMEOUT) -> None:
        self.db, self.clock, self.timeout = db, clock, timeout
        self.enabled = credly_enabled(settings)
        self.org = getattr(settings, "credly_organization_id", None) or ""
        self.token = getattr(settings, "credly_token", None) or ""
        self.api_url = (getattr(settings, "credly_api_url", None) or DEFAULT_API_URL).rstrip("/")

    def limits(self, workspace: Workspace, dest: Destination) -> list[Limit]:
        return [Limit(f"credly:{self.org}", RATE, BURST)]

    async def find(
        self, workspace: Workspace, dest: Destination, key: str, message: Message, since: datetime
    ) -> str | None:
        return None

    async def send(
        self, workspace: Workspace, dest: Destination, message: Message, key: str, edit_ref: str | None = None
    ) -> str:
        if not self.enabled:
            raise DeliveryError(
                "Credly is not configured (CREDLY_ORGANIZATION_ID, CREDLY_TOKEN)", permanent=True
            )
        try:
            request = parse_credly_request(message)
        except ValueError as exc:
            raise DeliveryError(str(exc), permanent=True) from exc
        badge = await self._badge(workspace.id, dest.target)
        if badge is not None and badge.revoked_at is not None:
            log.info("badge %s was revoked before it reached Credly: not issued", dest.target)
            return "revoked"
        path = f"/v1/organizations/{self.org}/badges"
        async with httpx.AsyncClient(
            base_url=self.api_url,
            auth=(self.token, ""),
            timeout=self.timeout,
            headers={"Accept": "application/json"},
        ) as client:
            try:
                response = await client.post(path, json=request.body())
                issued = self._issued(response)
                if issued is None:  # Credly already has this badge for this recipient
                    issued = await self._existing(client, path, request)
                    ref = f"{DUPLICATE}:{issued.badge_id}" if issued else DUPLICATE
                else:
                    ref = issued.badge_id
            except httpx.TimeoutException as exc:
                raise DeliveryError(f"Credly did not answer within {self.timeout:g} s") from exc
            except httpx.TransportError as exc:
                raise DeliveryError(f"Credly unreachable: {exc!r}") from exc
        if issued is not None and badge is not None:
            await self._tell_learner(badge, issued)
        return ref

    def _issued(self, response: httpx.Response) -> Issued | None:
        """A 2xx as the new badge; None for Credly's duplicate refusal; anything else raised."""
        status = response.status_code
        data = _data(response)
        if response.is_success:
            if not data.get("id"):
                raise DeliveryError(f"Credly {status} without a badge id")
            return self._as_issued(data)
        message = _error_message(data, response)
        if status == 422 and any(word in message.lower() for word in ("already", "duplicate")):
            return None
        if status == 429:
            raise DeliveryError(f"Credly 429: {message}", retry_after=_retry_after(response))
        # a 4xx will not change by asking again (coordinators see it); 5xx and the rest are retried
        raise DeliveryError(f"Credly {status}: {message}", permanent=400 <= status < 500 and status != 408)

    async def _existing(self, client: httpx.AsyncClient, path: str, request: CredlyRequest) -> Issued | None:
        """The recipient's badge of this template, to tell them about it; None when unknown."""
        wanted = f"recipient_email::{request.email}|badge_template_id::{request.template_id}"
        try:
            response = await client.get(path, params={"filter": wanted})
        except httpx.HTTPError as exc:
            log.warning("Credly duplicate for badge %s; look-up failed: %r", request.badge_uid, exc)
            return None
        if not response.is_success:
            log.warning(
                "Credly duplicate for badge %s; look-up answered %s", request.badge_uid, response.status_code
            )
            return None
        try:
            found = response.json().get("data") or []
        except ValueError:
            return None
        for item in found:
            same = (item.get("badge_template") or {}).get("id", request.template_id) == request.template_id
            if item.get("id") and same and item.get("state") in ("pending", "accepted"):
                return self._as_issued(item)
        return None

    def _as_issued(self, data: dict[str, Any]) -> Issued:
        badge_id = str(data["id"])
        return Issued(
            badge_id,
            str(data.get("state") or "pending"),
            data.get("accept_badge_url") or f"{web_url(self.api_url)}/badges/{badge_id}",
        )

    async def _badge(self, workspace_id: int, uid: str) -> Badge | None:
        async with self.db.transaction() as session:
            return await session.scalar(
                select(Badge).where(Badge.workspace_id == workspace_id, Badge.uid == uid)
            )

    async def _tell_learner(self, badge: Badge, issued: Issued) -> None:
        """DM the accept link (once: the outbox key is the badge's) while the badge is pending."""
        if issued.state != "pending" or not issued.accept_url:
            return
        async with self.db.transaction() as session:
            member = await session.get(Member, badge.member_id)
            cohort_id = await session.scalar(
                select(Window.cohort_id)
                .join(Submission, Submission.window_id == Window.id)
                .where(Submission.id == badge.submission_id)
            )
            if member is None:
                return
            message = Message(
                f"Your {markup.bold(badge.credential.name)} badge is on Credly too: "
                f"{markup.link(issued.accept_url, 'accept it')} to add it to your Credly profile.",
                buttons=(Button("Accept on Credly", url=issued.accept_url, style="primary"),),
            )
            await send(
                session,
                badge.workspace_id,
                self.clock.now(),
                Outgoing(
                    Destination.dm(member.user_id),
                    message,
                    f"badge:{badge.id}:credly-accept",
                    cohort_id=cohort_id,
                ),
            )


def web_url(api_url: str) -> str:
    """Credly's site for its API: api.credly.com -> www.credly.com, sandbox-api -> sandbox."""
    parts = urlsplit(api_url)
    host = parts.netloc
    if host.startswith("sandbox-api."):
        host = "sandbox." + host.removeprefix("sandbox-api.")
    elif host.startswith("api."):
        host = "www." + host.removeprefix("api.")
    return f"{parts.scheme}://{host}"


def _data(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    data = body.get("data") if isinstance(body, dict) else None
    return data if isinstance(data, dict) else {}


def _error_message(data: dict[str, Any], response: httpx.Response) -> str:
    """Credly's own words ({"data": {"message": ...}}), else the start of the body."""
    message = data.get("message")
    if isinstance(message, str) and message:
        return message
    return response.text.strip()[:200] or response.reason_phrase or "no message"


def _retry_after(response: httpx.Response) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(1.0, float(value))
    except ValueError:
        pass
    try:  # an HTTP date
        return max(1.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
