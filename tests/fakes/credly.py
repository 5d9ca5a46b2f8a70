"""A local fake of Credly's Web Service API (issued badges only), for wire-level tests.

Served in-process by uvicorn on 127.0.0.1 (a free port)::

    async with FakeCredly(org="org-1", token="tok") as credly:
        transport = CredlyTransport(settings_with(credly_api_url=credly.url, ...), db, clock)
        ...
        assert credly.posts()[0].json["recipient_email"] == "alice@school.org"

Like Credly: HTTP Basic with the organization's authorization token as the user name
(401 otherwise), the organization id in the path (404 for another), JSON bodies
``{"data": ..., "metadata": ...}``. ``POST /v1/organizations/<org>/badges`` checks
Credly's required fields and ``issued_at`` ("2014-04-01 09:41:00 -0500" or ISO 8601) and
answers 201 with a pending badge and its ``accept_badge_url``, or 422 with
``data.message`` (a second badge of one template to one recipient, an unknown template
when ``templates`` is given, a missing field). ``GET .../badges?filter=recipient_email::…|
badge_template_id::…`` lists issued badges; ``GET .../badges/<id>`` shows one.

Faults: ``fail_next(status, times)`` answers the next requests with Credly's error shape;
``delay(seconds, times)`` answers late, but the request still takes effect (as when a
client gives up on a Credly that did issue the badge); ``settled()`` waits for late ones.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .local_server import LocalServer

__all__ = ["CredlyCall", "FakeCredly"]

REQUIRED = (
    "recipient_email",
    "issued_to_first_name",
    "issued_to_last_name",
    "badge_template_id",
    "issued_at",
)
CREDLY_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4}$")


@dataclass
class CredlyCall:
    """One request as the fake received it."""

    method: str
    path: str
    json: Any
    auth: tuple[str, str] | None  # (user name, password) from HTTP Basic
    query: dict[str, str]
    status: int = 0  # what the fake answered (0 while it is being answered)


@dataclass
class _Fault:
    status: int
    message: str
    headers: dict[str, str]
    times: int


@dataclass
class _Delay:
    seconds: float
    times: int | None


@dataclass
class _Badges:
    by_id: dict[str, dict[str, Any]] = field(default_factory=dict)

    def duplicate(self, email: str, template_id: str) -> dict[str, Any] | None:
        for badge in self.by_id.values():
            if (
                badge["recipient_email"].lower() == email.lower()
                and badge["badge_template"]["id"] == template_id
                and badge["state"] != "revoked"
            ):
                return badge
        return None


class FakeCredly:
    """Credly's issued-badges API on 127.0.0.1, recording every request.

    ``templates``: the organization's badge template ids (None: any id is a template).
    ``site``: where ``accept_badge_url`` points (Credly's web site, not this server).
    """

    def __init__(
        self,
        *,
        org: str = "org-1",
        token: str = "tok",
        templates: set[str] | None = None,
        site: str = "https://www.credly.com",
        startup_timeout: float = 10.0,
    ) -> None:
        self.org, self.token, self.templates, self.site = org, token, templates, site
        self.startup_timeout = startup_timeout
        self.calls: list[CredlyCall] = []
        self.store = _Badges()
        self._faults: list[_Fault] = []
        self._delay: _Delay | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.port = 0
        self._local: LocalServer | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/organizations/{org}/badges", self._badges, methods=["GET", "POST"]),
                Route("/v1/organizations/{org}/badges/{badge_id}", self._badge, methods=["GET"]),
            ]
        )

    # ------------------------------------------------------------------ test API

    @property
    def url(self) -> str:
        """The API's base URL (what CREDLY_API_URL would be)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def badges(self) -> list[dict[str, Any]]:
        """Badges issued so far, oldest first."""
        return list(self.store.by_id.values())

    def posts(self) -> list[CredlyCall]:
        return [c for c in self.calls if c.method == "POST"]

    def add_badge(
        self,
        email: str,
        template_id: str,
        *,
        state: str = "pending",
        first_name: str = "Earner",
        last_name: str = "Name",
    ) -> dict[str, Any]:
        """A badge Credly already has (issued earlier, elsewhere)."""
        return self._issue(
            {
                "recipient_email": email,
                "badge_template_id": template_id,
                "issued_to_first_name": first_name,
                "issued_to_last_name": last_name,
                "issued_at": datetime.now(UTC).isoformat(),
            },
            state=state,
        )

    def fail_next(
        self,
        status: int = 500,
        times: int = 1,
        *,
        message: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next ``times`` requests answer ``status`` with ``{"data": {"message": ...}}``."""
        text = message or {
            429: "Rate limit exceeded",
            500: "Internal server error",
            503: "Service unavailable",
        }.get(status, f"Error {status}")
        self._faults.append(_Fault(status, text, dict(headers or {}), times))

    def delay(self, seconds: float, times: int | None = 1) -> None:
        """Answer the next ``times`` requests (None: all) only after ``seconds``; 0 clears.
        The request takes effect after the wait even if the client has gone."""
        self._delay = _Delay(seconds, times) if seconds > 0 else None

    async def settled(self, within: float = 10.0) -> None:
        """Wait until every request that arrived has been answered (or dropped)."""
        await asyncio.wait_for(self._idle.wait(), within)

    # ------------------------------------------------------------------ server

    async def __aenter__(self) -> FakeCredly:
        self._local = LocalServer(self.app, "fake Credly", startup_timeout=self.startup_timeout)
        await self._local.start()
        self.port = self._local.port
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        with contextlib.suppress(TimeoutError):
            await self.settled(within=5)
        if self._local is not None:
            await self._local.stop()

    # ------------------------------------------------------------------ handlers

    async def _badges(self, request: Request) -> JSONResponse:
        return await self._answer(request, self._list if request.method == "GET" else self._create)

    async def _badge(self, request: Request) -> JSONResponse:
        return await self._answer(request, self._show)

    async def _answer(self, request: Request, handler: Any) -> JSONResponse:
        self._in_flight += 1
        self._idle.clear()
        call = CredlyCall(
            request.method, request.url.path, None, _basic_auth(request), dict(request.query_params)
        )
        self.calls.append(call)
        try:
            raw = await request.body()
            if raw:
                try:
                    call.json = await request.json()
                except ValueError:
                    call.json = raw.decode(errors="replace")
            wait = self._take_delay()
            if wait:
                await asyncio.sleep(wait)
            response = self._take_fault() or self._check(request, call) or handler(request, call)
            call.status = response.status_code
            return response
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    def _check(self, request: Request, call: CredlyCall) -> JSONResponse | None:
        if call.auth is None or call.auth[0] != self.token:
            return _error(401, "You must be authenticated to access this resource.")
        if request.path_params["org"] != self.org:
            return _error(404, "Organization not found")
        return None

    def _create(self, request: Request, call: CredlyCall) -> JSONResponse:
        body = call.json
        if not isinstance(body, dict):
            return _error(400, "Request body must be JSON")
        missing = [name for name in REQUIRED if not str(body.get(name) or "").strip()]
        if missing:
            return _error(
                422,
                "Validation failed: "
                + ", ".join(f"{name.replace('_', ' ').capitalize()} can't be blank" for name in missing),
            )
        template_id = str(body["badge_template_id"])
        if self.templates is not None and template_id not in self.templates:
            return _error(422, f"Invalid or missing Badge Template ID: {template_id}")
        if _parse_time(str(body["issued_at"])) is None:
            return _error(422, "Validation failed: Issued at is invalid")
        if self.store.duplicate(str(body["recipient_email"]), template_id):
            return _error(422, "User already has this badge")
        return JSONResponse({"data": self._issue(body), "metadata": {}}, status_code=201)

    def _list(self, request: Request, call: CredlyCall) -> JSONResponse:
        found = self.badges
        for term in filter(None, call.query.get("filter", "").split("|")):
            name, _, value = term.partition("::")
            if name == "recipient_email":
                found = [b for b in found if b["recipient_email"].lower() == value.lower()]
            elif name == "badge_template_id":
                found = [b for b in found if b["badge_template"]["id"] == value]
            elif name == "state":
                found = [b for b in found if b["state"] == value]
            else:
                return _error(400, f"Invalid filter: {name}")
        return JSONResponse(
            {
                "data": found,
                "metadata": {
                    "count": len(found),
                    "current_page": 1,
                    "total_count": len(found),
                    "total_pages": 1,
                    "per": 50,
                    "previous_page_url": None,
                    "next_page_url": None,
                },
            }
        )

    def _show(self, request: Request, call: CredlyCall) -> JSONResponse:
        badge = self.store.by_id.get(request.path_params["badge_id"])
        if badge is None:
            return _error(404, "Badge not found")
        return JSONResponse({"data": badge, "metadata": {}})

    # ------------------------------------------------------------------ internals

    def _issue(self, body: dict[str, Any], *, state: str = "pending") -> dict[str, Any]:
        badge_id = str(uuid.uuid4())
        issued = _parse_time(str(body["issued_at"])) or datetime.now(UTC)
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        first, last = str(body["issued_to_first_name"]), str(body["issued_to_last_name"])
        template_id = str(body["badge_template_id"])
        badge = {
            "id": badge_id,
            "badge_template": {
                "id": template_id,
                "name": f"Template {template_id}",
                "allow_duplicate_badges": False,
                "state": "active",
            },
            "issued_to": f"{first} {last}",
            "issued_to_first_name": first,
            "issued_to_middle_name": None,
            "issued_to_last_name": last,
            "issuer_earner_id": body.get("issuer_earner_id"),
            "locale": body.get("locale", "en"),
            "public": True,
            "recipient_email": str(body["recipient_email"]),
            "state": state,
            "suppress_badge_notification_email": bool(body.get("suppress_badge_notification_email")),
            "created_at": now,
            "updated_at": now,
            "expires_at": None,
            "issued_at": issued.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "issued_at_date": issued.astimezone(UTC).date().isoformat(),
            "image_url": f"https://images.credly.com/images/{template_id}/image.png",
            "badge_url": f"{self.site}/badges/{badge_id}",
            "accept_badge_url": f"{self.site}/badges/{badge_id}/accept",
            "evidence": [],
            "alignments": [],
        }
        self.store.by_id[badge_id] = badge
        return badge

    def _take_fault(self) -> JSONResponse | None:
        if not self._faults:
            return None
        fault = self._faults[0]
        fault.times -= 1
        if fault.times <= 0:
            self._faults.pop(0)
        return _error(fault.status, fault.message, fault.headers)

    def _take_delay(self) -> float:
        d = self._delay
        if d is None:
            return 0.0
        if d.times is not None:
            d.times -= 1
            if d.times <= 0:
                self._delay = None
        return d.seconds


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"data": {"message": message}, "metadata": None}, status_code=status, headers=headers)


def _basic_auth(request: Request) -> tuple[str, str] | None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def _parse_time(text: str) -> datetime | None:
    """Credly's "2014-04-01 09:41:00 -0500", or ISO 8601 with a zone."""
    try:
        if CREDLY_TIME.match(text):
            return datetime.strptime(text, "%Y-%m-%d %H:%M:%S %z")
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None
