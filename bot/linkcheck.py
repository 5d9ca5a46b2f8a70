"""Background checks of evidence links, so a learner hears early that an assessor
won't be able to open one.

Only public addresses are fetched: the host is resolved first and refused when
any address is private, loopback, link-local or otherwise internal (no
server-side request forgery), and the connection is pinned to the checked
address so a second DNS answer can't redirect it. Redirects are followed by
hand, a few at most, each hop checked the same way.

A link may be a 128 MB video: the answer is streamed, and its status and headers
decide, with at most SNIFF_BYTES of an HTML page read to spot a password form.
LINK_CHECK_TIMEOUT bounds the whole check of a link, name lookups and redirects
included, so a server dripping its answer a byte a second can't hold one open.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import socket
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from sqlalchemy import select

from bot.config import Settings
from bot.domain import short_id
from bot.messages import Destination, Message
from bot.storage import Member, Submission, Version, Window
from bot.storage.db import Database
from bot.workflows.sending import Outgoing, send

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
# The most of a body the checker reads (only an HTML page's, to spot a password form near its
# top); a video is never downloaded. httpx receives up to 64 KiB at a time, so up to that much
# more may arrive in its buffer and be dropped with the connection.
SNIFF_BYTES = 64 * 1024
# a password box is what an assessor without the learner's account would be stopped at
PASSWORD_FIELD_RE = re.compile(rb"<input\b[^>]*\btype\s*=\s*[\"']?password\b", re.IGNORECASE)
LOGIN_HINTS = ("login", "signin", "sign-in", "sign_in", "auth", "servicelogin", "sso")
EXAMPLE_DOMAINS = ("example.org", "example.com", "example.net")  # RFC 2606: never real evidence
RESERVED_TLDS = ("example", "test", "invalid")
# a hint counts only as a whole word: "/lessons" holds "sso" and "/authors" holds "auth"
LOGIN_RE = re.compile(rf"(?<![a-z0-9])(?:{'|'.join(map(re.escape, LOGIN_HINTS))})(?![a-z0-9])")


@dataclass(frozen=True)
class LinkResult:
    url: str
    verdict: str  # ok, login, broken, unreachable, refused, skipped
    detail: str = ""
    read: int = field(default=0, compare=False)  # bytes of the body the checker took: <= SNIFF_BYTES

    @property
    def problem(self) -> bool:
        return self.verdict not in ("ok", "skipped")


class Refused(Exception):
    pass


def allowed_ip(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_loopback: bool) -> bool:
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not ip.is_multicast


async def resolve(host: str, port: int, allow_loopback: bool) -> str:
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
        addresses = [literal]
    except ValueError:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not addresses:
        raise OSError(f"{host} has no address")
    for ip in addresses:
        if not allowed_ip(ip, allow_loopback):
            raise Refused(f"{host} points to a private address")
    return str(addresses[0])


def is_example(host: str) -> bool:
    host = host.lower().rstrip(".")
    return host.rsplit(".", 1)[-1] in RESERVED_TLDS or any(
        host == d or host.endswith("." + d) for d in EXAMPLE_DOMAINS
    )


async def check_link(client: httpx.AsyncClient, url: str, settings: Settings) -> LinkResult:
    """One link's whole check within LINK_CHECK_TIMEOUT: httpx's own time-out is per read, and a
    byte a second (or five slow redirects) never trips it."""
    try:
        async with asyncio.timeout(settings.link_check_timeout):
            return await follow(client, url, settings)
    except TimeoutError:
        return too_slow(url, settings)


def too_slow(url: str, settings: Settings) -> LinkResult:
    return LinkResult(
        url, "unreachable", f"too slow: no full answer within {settings.link_check_timeout:g} s"
    )


async def follow(client: httpx.AsyncClient, url: str, settings: Settings) -> LinkResult:
    """Fetch one link the way an assessor's browser would, without their cookies."""
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        parts = urlsplit(current)
        host = parts.hostname or ""
        if is_example(host):
            return LinkResult(url, "skipped", "example domain")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            return LinkResult(url, "broken", "its port number is not valid")
        try:
            ip = await resolve(host, port, settings.link_check_allow_loopback)
        except Refused as exc:
            return LinkResult(url, "refused", str(exc))
        except OSError:
            return LinkResult(url, "unreachable", f"{host} could not be found")
        shown_ip = f"[{ip}]" if ":" in ip else ip
        pinned = urlunsplit((parts.scheme, f"{shown_ip}:{port}", parts.path or "/", parts.query, ""))
        try:
            async with client.stream(
                "GET",
                pinned,
                headers={"Host": parts.netloc.split("@")[-1], "Accept-Encoding": "identity"},
                extensions={"sni_hostname": host},
            ) as response:
                if not (response.is_redirect and "location" in response.headers):
                    return await judge(url, response)
                current = urljoin(current, response.headers["location"])
        except httpx.TimeoutException:
            return too_slow(url, settings)
        except httpx.HTTPError as exc:
            return LinkResult(url, "unreachable", type(exc).__name__)
        if LOGIN_RE.search(current.lower()):
            return LinkResult(url, "login", "it asks for a sign-in")
    return LinkResult(url, "broken", "too many redirects")


async def judge(url: str, response: httpx.Response) -> LinkResult:
    """The verdict on a final answer, from its status, or the top of an HTML page."""
    status = response.status_code
    if status in (401, 403):
        return LinkResult(url, "login", f"it answers {status}: sign-in needed")
    if status in (404, 410):
        return LinkResult(url, "broken", f"it answers {status}: not found")
    if status >= 400:
        return LinkResult(url, "broken", f"it answers {status}")
    if not (response.is_success and readable_page(response)):
        return LinkResult(url, "ok")
    head = await read_head(response)
    if PASSWORD_FIELD_RE.search(head):
        return LinkResult(url, "login", "it asks for a password", read=len(head))
    return LinkResult(url, "ok", read=len(head))


def readable_page(response: httpx.Response) -> bool:
    """HTML (or untyped, as browsers sniff it) and not compressed: bytes a password form shows in."""
    content_type = response.headers.get("content-type", "text/html").lower()
    encoding = response.headers.get("content-encoding", "identity").lower()
    return "html" in content_type and encoding in ("identity", "")


async def read_head(response: httpx.Response) -> bytes:
    """The first SNIFF_BYTES of the body (all of a shorter one); the rest is never asked for."""
    # pieces of SNIFF_BYTES; httpx types aiter_raw as an AsyncIterator, but it is an async
    # generator, which aclosing closes at once
    async with contextlib.aclosing(response.aiter_raw(SNIFF_BYTES)) as pieces:  # type: ignore[type-var]
        async for head in pieces:
            return head
    return b""


async def check_links(urls: list[str], settings: Settings) -> list[LinkResult]:
    timeout = httpx.Timeout(settings.link_check_timeout)
    async with httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"User-Agent": "CohortBot-linkcheck/1"},
    ) as client:
        results = await asyncio.gather(
            *(check_link(client, u, settings) for u in urls), return_exceptions=True
        )
    return [
        r if isinstance(r, LinkResult) else LinkResult(u, "unreachable", type(r).__name__)
        for u, r in zip(urls, results, strict=True)
    ]


ADVICE = {
    "login": "needs a sign-in, so your assessor may not be able to open it; share it so "
    "anyone with the link can view",
    "broken": "seems broken",
    "unreachable": "could not be reached",
    "refused": "points to a private network address that assessors can't open",
}


async def warn_about_links(
    db: Database, settings: Settings, workspace_id: int, version_id: int
) -> list[LinkResult]:
    """Check a version's links and DM the learner about any problem (after the ack)."""
    async with db.transaction() as session:
        version = await session.get_one(Version, version_id)
        links = list(version.links)
    results = await check_links(links, settings)
    problems = [r for r in results if r.problem]
    async with db.transaction() as session:
        version = await session.get_one(Version, version_id)
        version.link_report = [{"url": r.url, "verdict": r.verdict, "detail": r.detail} for r in results]
        if problems:
            sub = await session.get_one(Submission, version.submission_id)
            member = await session.get_one(Member, sub.member_id)
            window = await session.scalar(select(Window).where(Window.id == sub.window_id))
            lines = [f"⚠️ A heads-up about {short_id('S', sub.id)} (version {version.number}):"]
            lines.extend(f"• {r.url} {ADVICE[r.verdict]} ({r.detail})." for r in problems)
            lines.append("Fix the link and send it again with `/submit <links> -- <note>`.")
            now = version.submitted_at
            await send(
                session,
                workspace_id,
                now,
                Outgoing(
                    Destination.dm(member.user_id),
                    Message("\n".join(lines)),
                    f"linkcheck:{version.id}",
                    cohort_id=window.cohort_id if window else None,
                ),
            )
    return results
