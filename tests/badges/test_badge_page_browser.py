"""The public badge page as a person sees it: rendered by a real headless Chromium from the
served web app, the way an employer opens a shared link or a social site builds its preview.

Needs Debian's `chromium` (`.ci/run` installs it when it can); skips, never fails, without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import shutil
import signal
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from badge_site import Site
from PIL import Image

CHROMIUM = shutil.which("chromium")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="no `chromium` binary on PATH (apt-get install chromium)"),
    # What the browser shows does not depend on the database: SQLite alone keeps this file quick.
    pytest.mark.parametrize("db_url", ["sqlite"], indirect=True),
]

# Root needs --no-sandbox; the rest keep Chromium off the network and quiet.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--hide-scrollbars",
    "--mute-audio",
]
EMAIL = re.compile(r"[\w.+-]+(@|%40)[\w-]+(\.[\w-]+)+", re.IGNORECASE)
BADGE = "Empowering Students as Creators"
REASON = "Evidence was not the learner's own"


async def chromium(*args: str, seconds: float = 25) -> bytes:
    """Run headless Chromium once with a fresh profile; its stdout. Killed whole on timeout."""
    return (await chromium_run(*args, seconds=seconds))[0]


async def chromium_run(*args: str, seconds: float = 25) -> tuple[bytes, bytes]:
    """Run headless Chromium once with a fresh profile; its stdout and stderr."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="cohortbot-chromium-", ignore_cleanup_errors=True) as profile:
        proc = await asyncio.create_subprocess_exec(
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={profile}",
            *args,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), seconds)
        except TimeoutError:
            pytest.fail(f"chromium {' '.join(args)} did not finish within {seconds}s")
        finally:
            # Its own process group (start_new_session): take down any helper left behind.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            if proc.returncode is None:
                await proc.wait()
    assert proc.returncode == 0, err.decode(errors="replace")[-2000:]
    return out, err


async def rendered_dom(url: str) -> str:
    dom = (await chromium("--dump-dom", url)).decode()
    assert "<html" in dom, dom[:500]
    return dom


class Page(HTMLParser):
    """The rendered DOM's meta tags, its visible text and its <img> sources."""

    def __init__(self, dom: str) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.images: list[str] = []
        self.parts: list[str] = []
        self._hidden = 0
        self.feed(dom)
        self.text = re.sub(r"\s+", " ", " ".join(self.parts)).strip()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "meta" and "content" in found and ("property" in found or "name" in found):
            self.meta[found.get("property") or found["name"]] = found["content"]
        elif tag == "img":
            self.images.append(found.get("src", ""))
        elif tag in ("style", "script", "title", "textarea"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "title", "textarea"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


async def test_the_badge_page_renders_in_a_browser_with_name_earner_issuer_and_verification(
    site: Site,
) -> None:
    page = Page(await rendered_dom(f"{site.base}/badges/{site.uid()}"))
    issuer = (await site.http.get("/issuers/future-ready-librarians")).json()["name"]
    assert BADGE in page.text
    assert "Alice Ng earned" in page.text
    assert f"Issued by {issuer} on 02 March 2026" in page.text
    assert f"✓ Verified: issued by {issuer} on 02 March 2026" in page.text
    assert "https://example.org/makerspace" in page.text and "Revoked" not in page.text


async def test_share_previews_have_absolute_open_graph_and_twitter_tags_and_a_loading_image(
    site: Site,
) -> None:
    uid = site.uid()
    meta = Page(await rendered_dom(f"{site.base}/badges/{uid}")).meta
    for tag in ("og:title", "og:description", "og:image", "og:url", "twitter:card", "twitter:image"):
        assert meta.get(tag), f"{tag} missing from the rendered page: {meta}"
    assert meta["og:title"] == f"Alice Ng earned {BADGE}"
    assert meta["og:url"] == f"{site.base}/badges/{uid}"
    assert meta["og:image"] == meta["twitter:image"] == f"{site.base}/badges/{uid}/image.png"
    assert meta["twitter:card"] == "summary"
    # A preview crawler fetches og:image by its absolute URL, from outside: do exactly that.
    async with httpx.AsyncClient(timeout=10) as outsider:
        image = await outsider.get(meta["og:image"])
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(image.content)) as png:
        assert png.format == "PNG" and min(png.size) >= 200


async def test_no_email_address_appears_anywhere_in_the_rendered_page(site: Site) -> None:
    dom = await rendered_dom(f"{site.base}/badges/{site.uid()}")
    assert "Alice Ng earned" in dom  # the real page, not an error page
    assert EMAIL.search(dom) is None, EMAIL.search(dom)
    assert "alice.ng" not in dom.lower() and "school.org" not in dom.lower()


async def test_a_revoked_badge_plainly_says_so_in_the_browser_and_offers_no_sharing(site: Site) -> None:
    uid = site.uid()
    await site.chat.run(f"@coord /badges revoke B-1 {REASON}")
    assert "Revoked B-1" in site.chat.last("only @coord")
    page = Page(await rendered_dom(f"{site.base}/badges/{uid}"))
    assert f"Revoked on 02 March 2026: {REASON}" in page.text
    assert "This badge is no longer valid" in page.text
    # Said near the top, before the badge's details, not buried below them.
    assert page.text.index("Revoked on") < page.text.index("What it recognises")
    assert "✓ Verified" not in page.text
    assert "Share on LinkedIn" not in page.text and "Add to LinkedIn" not in page.text


async def test_the_badge_page_screenshot_is_a_real_picture_not_a_blank_page(
    site: Site, tmp_path: Path
) -> None:
    shot = tmp_path / "badge.png"
    await chromium(f"--screenshot={shot}", "--window-size=1200,900", f"{site.base}/badges/{site.uid()}")
    with Image.open(shot) as png:
        assert png.format == "PNG" and png.size == (1200, 900)
        rgb = png.convert("RGB")
    colours = rgb.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50, f"only {len(colours)} colours: a blank or failed render"
    # The page's top is not one flat colour either: the card, badge image and heading are there.
    top = rgb.crop((0, 0, 1200, 450)).getcolors(maxcolors=1 << 20) or []
    assert len(top) > 50, f"the top half has only {len(top)} colours"


async def test_the_page_renders_under_its_content_security_policy_with_no_violation(site: Site) -> None:
    """The page's protective headers are there, and a browser applying them still shows the
    styled page and its badge image: it reports no blocked style or image."""
    url = f"{site.base}/badges/{site.uid()}"
    served = await site.http.get(url)
    policy = served.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["referrer-policy"] == "no-referrer"
    out, err = await chromium_run("--enable-logging=stderr", "--v=0", "--dump-dom", url)
    console = err.decode(errors="replace")
    assert "Content Security Policy" not in console, console[-3000:]
    assert "Alice Ng earned" in out.decode()
