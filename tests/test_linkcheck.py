"""Evidence links are checked in the background, so a learner hears early when an assessor
won't be able to open one, and the bot never fetches private addresses while doing so.

A real HTTP server on 127.0.0.1 plays the learner's websites; everything else on the network
is blocked and recorded, so a test can tell that an address was never contacted.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import httpx
import pytest
from conftest import SPRING
from sqlalchemy import select

from bot.clock import FakeClock
from bot.config import Settings
from bot.linkcheck import SNIFF_BYTES, LinkResult, check_links
from bot.platforms.console import ConsoleChat
from bot.storage import Version
from bot.storage.db import Database

T = TypeVar("T")

BOUND = 15.0  # no test step may take longer than this, whatever the code under test does
SLOW_TIMEOUT = 0.5  # the link-check time-out where a test waits for it to expire
SLOW_HOLD = 10.0  # how long /slow keeps a request waiting (released at teardown)
MARGIN = 0.5  # how long after LINK_CHECK_TIMEOUT a check given up may take to end
DRIP_EVERY = 1.0  # a byte a second, as the server in issue 11 did
HOP_DELAY = 0.4  # each /slow-hops/N waits this long before redirecting to N - 1


async def bounded(awaitable: Awaitable[T]) -> T:
    return await asyncio.wait_for(awaitable, BOUND)


# --------------------------------------------------------------------------- a learner's website


@dataclass
class Site:
    """A local web server with the kinds of pages learners link to, recording every request."""

    server: ThreadingHTTPServer
    release: threading.Event
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)
    sent: dict[str, int] = field(default_factory=dict)  # path -> bytes of a big body the socket took
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def paths(self) -> list[str]:
        with self.lock:
            return [path for path, _ in self.requests]

    def hosts(self) -> list[str]:
        with self.lock:
            return [host for _, host in self.requests]

    def record_sent(self, path: str, count: int) -> None:
        with self.changed:
            self.sent[path] = count
            self.changed.notify_all()

    async def body_sent(self, path: str) -> int:
        """How much of a big body the server got out before the checker hung up (once it stopped)."""

        def wait() -> int:
            with self.changed:
                assert self.changed.wait_for(lambda: path in self.sent, BOUND), f"{path} still sending"
                return self.sent[path]

        return await asyncio.to_thread(wait)


REDIRECTS = {
    "/to-login": (302, "/accounts/login?next=%2Fto-login"),
    "/loop": (302, "/loop"),
    "/hop": (301, "/ok"),
    "/to-metadata": (302, "http://169.254.169.254/latest/meta-data/"),
    "/lessons": (301, "/lessons/"),
}
DRIPS = {  # what comes at once; then a byte every DRIP_EVERY seconds until the checker hangs up
    "/drip-headers": b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nX-Padding: ",
    "/drip-page": b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html><body>",
}
BIG = 128 * 1024 * 1024  # a learner's video or an endless page, made a chunk at a time as it is sent
CHUNK = b"x" * 65536
BIG_BODIES = {"/lecture.mp4": "video/mp4", "/huge.html": "text/html"}
MOST_SENT = 2 * 1024 * 1024  # what socket buffers on both ends may take in before the checker hangs up
SIGN_IN_FORM = b'<form method="post"><input name="user"><input type="password" name="pw"></form>'
PAGES = {  # 200s with a body that matters
    "/members-only": b"<html><title>Unit 3</title><body>" + SIGN_IN_FORM + b"</body></html>",
    "/password-tips": b"<html><body><p>A good password is long; type it twice.</p></body></html>",
    "/long-read": b"<html><body>" + b"<p>A long reflection.</p>" * (SNIFF_BYTES // 10) + SIGN_IN_FORM,
}
STATUS = {
    "/ok": 200,
    "/lessons/": 200,
    "/accounts/login": 200,
    "/missing": 404,
    "/gone": 410,
    "/private": 403,
    "/auth": 401,
    "/error": 500,
}


def make_handler(site_ref: list[Site]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def answer(self, status: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
            body = body or f"<html><body>{status}</body></html>".encode()
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def send_big(self, site: Site, path: str) -> None:
            """BIG bytes a chunk at a time, counting what the socket took until the checker hung up."""
            # a small send buffer, so what waits in the kernel doesn't blur what the checker took
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, len(CHUNK))
            self.send_response(200)
            self.send_header("Content-Type", BIG_BODIES[path])
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            sent = 0
            try:
                while sent < BIG and not site.release.is_set():
                    self.wfile.write(CHUNK)
                    sent += len(CHUNK)
            finally:
                site.record_sent(path, sent)

        def drip(self, site: Site, path: str) -> None:
            self.wfile.write(DRIPS[path])
            while not site.release.wait(DRIP_EVERY):
                self.wfile.write(b"x")

        def slow_hop(self, site: Site, hops: int) -> None:
            site.release.wait(HOP_DELAY)
            if hops:
                self.answer(302, {"Location": f"/slow-hops/{hops - 1}"})
            else:
                self.answer(200)

        def do_GET(self) -> None:
            site = site_ref[0]
            path = self.path.split("?", 1)[0]
            with site.lock:
                site.requests.append((path, self.headers.get("Host", "")))
            try:
                if path == "/slow":
                    site.release.wait(SLOW_HOLD)
                    self.answer(200)
                elif path in DRIPS:
                    self.drip(site, path)
                elif path.startswith("/slow-hops/"):
                    self.slow_hop(site, int(path.rsplit("/", 1)[1]))
                elif path in BIG_BODIES:
                    self.send_big(site, path)
                elif path in PAGES:
                    self.answer(200, body=PAGES[path])
                elif path in REDIRECTS:
                    status, location = REDIRECTS[path]
                    self.answer(status, {"Location": location})
                else:
                    self.answer(STATUS.get(path, 404))
            except (BrokenPipeError, ConnectionResetError):  # the checker gave up waiting
                pass

    return Handler


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@pytest.fixture
def site() -> Iterator[Site]:
    ref: list[Site] = []
    server = QuietServer(("127.0.0.1", 0), make_handler(ref))
    ref.append(Site(server, threading.Event()))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield ref[0]
    finally:
        ref[0].release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --------------------------------------------------------------------------- the rest of the network


@dataclass
class Network:
    """Every outgoing HTTP request and name lookup the checker makes; only 127.0.0.1 is reachable."""

    requests: list[str] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    names: dict[str, list[str]] = field(default_factory=dict)  # fake DNS: name -> addresses
    hang: set[str] = field(default_factory=set)  # names whose lookup never ends (until teardown)
    release: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
async def network(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Network]:
    """Async, so its teardown frees a hanging lookup's thread before the loop waits for it."""
    net = Network()
    real_request = httpx.AsyncHTTPTransport.handle_async_request

    async def handle_async_request(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
        net.requests.append(str(request.url))
        if request.url.host != "127.0.0.1":
            raise httpx.ConnectError(f"test network: {request.url.host} is not reachable", request=request)
        return await real_request(self, request)

    def getaddrinfo(
        host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0
    ) -> list[Any]:
        name = host.decode() if isinstance(host, bytes) else str(host)
        net.lookups.append(name)
        if name in net.hang:
            net.release.wait(BOUND)
        if name not in net.names:
            raise socket.gaierror(socket.EAI_NONAME, f"test network: no such name {name}")
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                socket.IPPROTO_TCP,
                "",
                (a, int(port or 0)),
            )
            for a in net.names[name]
        ]

    monkeypatch.setattr(httpx.AsyncHTTPTransport, "handle_async_request", handle_async_request)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    try:
        yield net
    finally:
        net.release.set()


def link_settings(*, allow_loopback: bool = True, timeout: float = 2.0) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url="sqlite+aiosqlite://",
        link_check=True,
        link_check_allow_loopback=allow_loopback,
        link_check_timeout=timeout,
    )


async def check_one(url: str, settings: Settings) -> LinkResult:
    results = await bounded(check_links([url], settings))
    assert len(results) == 1
    return results[0]


# --------------------------------------------------------------------------- verdicts


@pytest.mark.parametrize(
    ("path", "verdict", "detail"),
    [
        ("/ok", "ok", ""),
        ("/hop", "ok", ""),
        ("/missing", "broken", "404"),
        ("/gone", "broken", "410"),
        ("/error", "broken", "500"),
        ("/private", "login", "403"),
        ("/auth", "login", "401"),
        ("/to-login", "login", "sign-in"),
        ("/loop", "broken", "too many redirects"),
    ],
)
async def test_each_link_gets_the_verdict_an_assessor_opening_it_would_agree_with(
    site: Site, network: Network, path: str, verdict: str, detail: str
) -> None:
    result = await check_one(site.url(path), link_settings())
    assert result.url == site.url(path)  # the link as the learner gave it, not where it led
    assert result.verdict == verdict, result
    assert detail in result.detail
    assert result.problem == (verdict != "ok")
    assert site.paths()[0] == path  # really fetched from the server


async def test_a_redirect_is_followed_to_the_page_it_points_at(site: Site, network: Network) -> None:
    result = await check_one(site.url("/hop"), link_settings())
    assert result.verdict == "ok"
    assert site.paths() == ["/hop", "/ok"]


async def test_a_redirect_loop_is_given_up_after_a_few_hops(site: Site, network: Network) -> None:
    result = await check_one(site.url("/loop"), link_settings())
    assert result.verdict == "broken"
    assert 2 <= len(site.paths()) <= 6
    assert set(site.paths()) == {"/loop"}


async def test_a_sign_in_redirect_is_reported_without_visiting_the_sign_in_page(
    site: Site, network: Network
) -> None:
    result = await check_one(site.url("/to-login"), link_settings())
    assert result.verdict == "login"
    assert site.paths() == ["/to-login"]


async def test_a_redirect_to_a_lessons_page_is_not_mistaken_for_a_sign_in(
    site: Site, network: Network
) -> None:
    # "lessons" contains "sso"; a teacher's /lessons -> /lessons/ redirect opens fine
    result = await check_one(site.url("/lessons"), link_settings())
    assert result.verdict == "ok", result
    assert site.paths() == ["/lessons", "/lessons/"]


async def test_a_site_that_never_answers_is_reported_unreachable_within_the_time_out(
    site: Site, network: Network
) -> None:
    started = time.monotonic()
    result = await check_one(site.url("/slow"), link_settings(timeout=SLOW_TIMEOUT))
    elapsed = time.monotonic() - started
    assert result.verdict == "unreachable", result
    assert "too slow" in result.detail
    assert result.problem
    assert elapsed < SLOW_TIMEOUT + MARGIN, elapsed
    assert site.paths() == ["/slow"]


@pytest.mark.parametrize("path", DRIPS)
async def test_a_site_dripping_its_answer_is_given_up_at_the_time_out(
    site: Site, network: Network, path: str
) -> None:
    # every read gets a byte within the time-out, so only a deadline on the whole check ends it
    timeout = 2.0
    started = time.monotonic()
    result = await check_one(site.url(path), link_settings(timeout=timeout))
    elapsed = time.monotonic() - started
    assert result.verdict == "unreachable", result
    assert "too slow" in result.detail and "2 s" in result.detail
    assert elapsed < timeout + MARGIN, elapsed


async def test_the_time_out_bounds_a_chain_of_slow_redirects_as_a_whole(site: Site, network: Network) -> None:
    # five answers 0.4 s apart: each well within the time-out, all of them not
    timeout = 1.0
    started = time.monotonic()
    result = await check_one(site.url("/slow-hops/4"), link_settings(timeout=timeout))
    elapsed = time.monotonic() - started
    assert result.verdict == "unreachable", result
    assert "too slow" in result.detail
    assert elapsed < timeout + MARGIN, elapsed
    followed = site.paths()
    assert followed == ["/slow-hops/4", "/slow-hops/3", "/slow-hops/2"][: len(followed)]
    assert len(followed) >= 2  # redirects were followed until the deadline


async def test_the_time_out_includes_a_name_lookup_that_hangs(network: Network) -> None:
    network.names["slow-dns.school.org"] = ["93.184.215.14"]
    network.hang.add("slow-dns.school.org")
    started = time.monotonic()
    result = await check_one("https://slow-dns.school.org/unit", link_settings(timeout=SLOW_TIMEOUT))
    elapsed = time.monotonic() - started
    assert result.verdict == "unreachable", result
    assert "too slow" in result.detail
    assert elapsed < SLOW_TIMEOUT + MARGIN, elapsed
    assert network.lookups == ["slow-dns.school.org"]
    assert network.requests == []


async def test_every_link_is_reported_in_the_order_the_learner_gave_them(
    site: Site, network: Network
) -> None:
    urls = [site.url("/missing"), site.url("/ok"), "https://example.org/x", site.url("/auth")]
    results = await bounded(check_links(urls, link_settings()))
    assert [r.url for r in results] == urls
    assert [r.verdict for r in results] == ["broken", "ok", "skipped", "login"]


async def test_one_malformed_link_does_not_stop_the_others_being_checked(
    site: Site, network: Network
) -> None:
    # the submit grammar accepts this link (it has a scheme and a host); its port is impossible
    bad = "http://portfolio.school.org:99999/unit"
    results = await bounded(check_links([site.url("/missing"), bad], link_settings()))
    assert [r.url for r in results] == [site.url("/missing"), bad]
    assert results[0].verdict == "broken"
    assert results[1].problem
    assert not [u for u in network.requests if "99999" in u]


# --------------------------------------------------------------------------- big files


@pytest.mark.parametrize(("path", "most_read"), [("/lecture.mp4", 0), ("/huge.html", SNIFF_BYTES)])
async def test_a_huge_file_is_judged_without_downloading_it(
    site: Site, network: Network, path: str, most_read: int
) -> None:
    # a learner linking a 128 MB video: the headers say it opens; a page is read no further than the cap
    result = await check_one(site.url(path), link_settings())
    sent = await site.body_sent(path)
    assert sent < MOST_SENT, f"the server got {sent:,} bytes out before the checker hung up"
    assert result.verdict == "ok", result
    assert result.read <= most_read, result


@pytest.mark.parametrize(("path", "verdict"), [("/members-only", "login"), ("/password-tips", "ok")])
async def test_a_page_asking_for_a_password_is_spotted_as_a_sign_in(
    site: Site, network: Network, path: str, verdict: str
) -> None:
    # a password box stops an assessor; the word alone, in a page about passwords, does not
    result = await check_one(site.url(path), link_settings())
    assert result.verdict == verdict, result
    assert ("password" in result.detail) == (verdict == "login")
    assert result.read == len(PAGES[path])


async def test_a_page_is_read_no_further_than_the_cap(site: Site, network: Network) -> None:
    # its password form lies past SNIFF_BYTES, so the checker never sees it: the cost of the cap
    assert PAGES["/long-read"].find(b"password") > SNIFF_BYTES
    result = await check_one(site.url("/long-read"), link_settings())
    assert result.verdict == "ok", result
    assert result.read == SNIFF_BYTES


# --------------------------------------------------------------------------- no private addresses


PRIVATE = [
    "http://10.0.0.1/",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]/",
    "http://0.0.0.0/",
    "http://192.168.1.1/",
]


async def test_a_link_to_this_machine_is_refused_and_never_fetched(site: Site, network: Network) -> None:
    result = await check_one(site.url("/ok"), link_settings(allow_loopback=False))
    assert result.verdict == "refused", result
    assert result.problem
    assert site.paths() == []
    assert network.requests == []


@pytest.mark.parametrize("url", PRIVATE)
async def test_a_link_to_a_private_address_is_refused_without_contacting_it(
    network: Network, url: str
) -> None:
    result = await check_one(url, link_settings(allow_loopback=False))
    assert result.verdict == "refused", result
    assert result.url == url
    assert network.requests == []


@pytest.mark.parametrize("url", [u for u in PRIVATE if "[::1]" not in u])
async def test_allowing_loopback_for_tests_still_refuses_other_private_addresses(
    network: Network, url: str
) -> None:
    result = await check_one(url, link_settings(allow_loopback=True))
    assert result.verdict == "refused", result
    assert network.requests == []


async def test_a_redirect_to_the_cloud_metadata_address_is_refused(site: Site, network: Network) -> None:
    result = await check_one(site.url("/to-metadata"), link_settings(allow_loopback=True))
    assert result.verdict == "refused", result
    assert result.url == site.url("/to-metadata")
    assert site.paths() == ["/to-metadata"]  # the first hop was fetched, the second refused
    assert not [u for u in network.requests if "169.254" in u]


async def test_a_name_that_resolves_to_a_private_address_is_refused(network: Network) -> None:
    network.names["intranet.school.org"] = ["10.20.30.40"]
    network.names["mixed.school.org"] = ["93.184.215.14", "192.168.0.9"]
    results = await bounded(
        check_links(
            ["https://intranet.school.org/unit", "https://mixed.school.org/unit"],
            link_settings(allow_loopback=False),
        )
    )
    assert [r.verdict for r in results] == ["refused", "refused"], results
    assert network.requests == []


async def test_a_named_site_is_fetched_at_the_address_that_was_checked(site: Site, network: Network) -> None:
    network.names["portfolio.school.org"] = ["127.0.0.1"]
    url = f"http://portfolio.school.org:{site.port}/hop"
    result = await check_one(url, link_settings(allow_loopback=True))
    assert result.verdict == "ok", result
    assert site.hosts() == [f"portfolio.school.org:{site.port}"] * 2  # the site sees its own name
    assert network.lookups == ["portfolio.school.org"] * 2  # once per hop, then pinned
    assert all(u.startswith(f"http://127.0.0.1:{site.port}/") for u in network.requests)


async def test_a_name_that_cannot_be_found_is_reported_unreachable(network: Network) -> None:
    result = await check_one("https://no-such-site.school.org/unit", link_settings())
    assert result.verdict == "unreachable", result
    assert "no-such-site.school.org" in result.detail
    assert network.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "https://example.org/x",
        "https://www.example.com/unit",
        "http://portfolio.example/",
        "https://school.test/a",
    ],
)
async def test_example_links_are_skipped_without_touching_the_network(network: Network, url: str) -> None:
    result = await check_one(url, link_settings(allow_loopback=False))
    assert result.verdict == "skipped", result
    assert not result.problem
    assert network.requests == []
    assert network.lookups == []


# --------------------------------------------------------------------------- in the conversation


@pytest.fixture
async def checking_chat(db: Database, settings: Settings, clock: FakeClock) -> ConsoleChat:
    """The SPRING cohort, with link checks on and 127.0.0.1 allowed for the local site."""
    on = settings.model_copy(
        update={"link_check": True, "link_check_allow_loopback": True, "link_check_timeout": 2.0}
    )
    chat = ConsoleChat(db, on, clock=clock, out=None)
    await bounded(chat.run(SPRING))
    assert chat.crashes == 0 and chat.errors == 0, chat.transcript
    return chat


async def link_reports(db: Database) -> list[list[dict[str, str]] | None]:
    async with db.transaction() as session:
        versions = (await session.scalars(select(Version).order_by(Version.id))).all()
        return [v.link_report for v in versions]


def positions(chat: ConsoleChat, where: str, text: str) -> list[int]:
    return [i for i, s in enumerate(chat.transcript) if s.where == where and text in s.text]


async def test_learner_is_warned_after_the_receipt_about_a_broken_link_only(
    checking_chat: ConsoleChat, site: Site, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    chat = checking_chat
    ok, missing = site.url("/ok"), site.url("/missing")
    await bounded(chat.line(f"@alice /submit {ok} {missing} -- reflection"))
    assert chat.crashes == 0 and chat.errors == 0, chat.transcript
    assert "follow-up failed" not in caplog.text

    receipts = positions(chat, "only @alice", "Received")
    warnings = positions(chat, "DM @alice", "heads-up")
    assert len(receipts) == 1, chat.transcript
    assert len(warnings) == 1, chat.transcript
    assert receipts[0] < warnings[0]  # the ack first, the warning after
    receipt = chat.transcript[receipts[0]].text
    assert ok in receipt and missing in receipt
    assert "heads-up" not in receipt

    warning = chat.transcript[warnings[0]].text
    assert missing in warning
    assert "broken" in warning and "404" in warning
    assert ok not in warning
    assert not chat.saw("DM @bob", "heads-up") and not chat.saw("DM @carol", "heads-up")

    assert await link_reports(db) == [
        [
            {"url": ok, "verdict": "ok", "detail": ""},
            {"url": missing, "verdict": "broken", "detail": "it answers 404: not found"},
        ]
    ]
    assert sorted(site.paths()) == ["/missing", "/ok"]


async def test_learner_is_warned_when_a_link_needs_a_login(
    checking_chat: ConsoleChat, site: Site, db: Database
) -> None:
    chat = checking_chat
    await bounded(chat.line(f"@alice /submit {site.url('/to-login')} -- reflection"))
    assert chat.saw("only @alice", "Received"), chat.transcript
    warning = chat.last("DM @alice")
    assert "heads-up" in warning, chat.transcript
    assert site.url("/to-login") in warning
    assert "sign-in" in warning and "anyone with the link" in warning
    reports = await link_reports(db)
    assert [[r["verdict"] for r in report or []] for report in reports] == [["login"]]


async def test_learner_is_not_warned_when_every_link_opens(
    checking_chat: ConsoleChat, site: Site, db: Database
) -> None:
    chat = checking_chat
    ok, hop = site.url("/ok"), site.url("/hop")
    await bounded(chat.line(f"@alice /submit {ok} {hop} -- reflection"))
    assert chat.crashes == 0 and chat.errors == 0, chat.transcript
    assert chat.saw("only @alice", "Received"), chat.transcript
    assert not chat.saw("DM @alice", "heads-up"), chat.transcript
    assert not chat.saw("DM @alice", ok)
    assert await link_reports(db) == [
        [
            {"url": ok, "verdict": "ok", "detail": ""},
            {"url": hop, "verdict": "ok", "detail": ""},
        ]
    ]  # the check did run
    assert sorted(site.paths()) == ["/hop", "/ok", "/ok"]


async def test_links_are_not_fetched_when_link_checks_are_off(
    chat: ConsoleChat, site: Site, db: Database
) -> None:
    assert chat.settings.link_check is False
    await bounded(chat.run(SPRING))
    await bounded(chat.line(f"@alice /submit {site.url('/missing')} -- reflection"))
    assert chat.saw("only @alice", "Received"), chat.transcript
    assert not chat.saw("DM @alice", "heads-up")
    assert site.paths() == []
    assert await link_reports(db) == [None]
