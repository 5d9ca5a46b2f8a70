"""Neutral markup: the mentions, channels, links, bold words and times the bot itself writes.

Handlers never write a platform's syntax (`<@U1>` and `*bold*` are Slack's, `<@123>` and
`**bold**` Discord's). They call `mention`, `channel`, `link`, `bold` and `time`, which wrap
the piece in two private-use characters that typed text can never hold (`domain.clean_text`
drops them). Each platform renders the message
with `render`: the bot's own pieces become its mentions and links, and every other character,
whatever a person typed, is shown as text. So a learner's `<@U…>` or
`<https://evil.example|https://docs.google.com/…>` reaches nobody as a ping or a disguised
link, on any platform.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.domain import as_utc, format_time

OPEN, CLOSE = "\ue000", "\ue001"
TOKEN_RE = re.compile(f"{OPEN}([@#>*~])([^{OPEN}{CLOSE}|]*)(?:\\|([^{OPEN}{CLOSE}]*))?{CLOSE}")


def mention(user_id: str) -> str:
    """The person with this platform user id, as the platform names them (a ping where it pings)."""
    return f"{OPEN}@{user_id}{CLOSE}"


def channel(channel_id: str) -> str:
    return f"{OPEN}#{channel_id}{CLOSE}"


def link(url: str, label: str | None = None) -> str:
    """A link the bot offers (never one a person typed: those are shown as themselves)."""
    return f"{OPEN}>{url.replace('|', '%7C')}|{(label or url).replace(CLOSE, '')}{CLOSE}"


def bold(text: str) -> str:
    """Words the reader's eye should find first (a cohort's or a credential's name)."""
    return f"{OPEN}*|{_loose(text)}{CLOSE}"


def time(moment: datetime, tz: ZoneInfo) -> str:
    """A moment, shown in the reader's own zone where the platform knows it (Slack's and
    Discord's dates), else as `format_time` writes it in `tz` (the reader's, as far as the
    bot knows, or the cohort's)."""
    return f"{OPEN}~{int(as_utc(moment).timestamp())}|{format_time(moment, tz)}{CLOSE}"


@dataclass(frozen=True)
class Renderer:
    """How one platform shows each piece: its text (escaped for the platform), a mention, a
    channel, a link with its label, bold words, and a moment (its Unix time and the words
    for it in the zone the bot chose); labels and words already rendered as text."""

    text: Callable[[str], str]
    mention: Callable[[str], str]
    channel: Callable[[str], str]
    link: Callable[[str, str], str]
    bold: Callable[[str], str] = lambda words: f"*{words}*"
    time: Callable[[int, str], str] = lambda unix, words: words


def render(text: str, renderer: Renderer) -> str:
    out, last = [], 0
    for m in TOKEN_RE.finditer(text):
        out.append(renderer.text(_loose(text[last : m.start()])))
        kind, target, label = m.groups()
        if kind == "@":
            out.append(renderer.mention(target))
        elif kind == "#":
            out.append(renderer.channel(target))
        elif kind == "*":
            out.append(renderer.bold(renderer.text(label or "")))
        elif kind == "~":
            out.append(renderer.time(int(target), renderer.text(label or "")))
        else:
            out.append(renderer.link(target, renderer.text(label or target)))
        last = m.end()
    out.append(renderer.text(_loose(text[last:])))
    return "".join(out)


def word_cut(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, ending at a space where one falls near the end, and
    never on an escaping backslash (whose character was cut away)."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    space = head.rfind(" ")
    return (head[:space] if space > limit * 4 // 5 else head).rstrip("\\")


def cut(text: str, limit: int) -> str:
    """`text` within `limit` characters for a short field (a label, a title, a hint, a quote of
    what someone typed): cut at a word where one falls near the end, marked "…"."""
    if len(text) <= limit:
        return text
    return word_cut(text, limit - 1).rstrip(" ,;:(") + "…"


def chunks(text: str, limit: int) -> list[str]:
    """`text` in pieces of at most `limit` characters, for a platform that shows a long text as
    several blocks: split at line breaks, a line no piece could hold split at words (begun on
    the piece before, so none is left short)."""
    out: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            room = limit - len(current) - 1 if current else limit
            head = word_cut(line, room) if room > 0 else ""
            if not current:
                head = head or line[:limit]
            out.append("\n".join(piece for piece in (current, head) if piece))
            current, line = "", line[len(head) :].lstrip(" ")
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            out.append(current)
            current = line
        else:
            current = candidate
    if current:
        out.append(current)
    return out or [" "]


def fit(text: str, limit: int) -> str:
    """`text` within `limit` characters, saying what was cut: whole lines while they fit, then
    `… and 12 more lines`; a first line longer than the limit cut at a word, then `… and 1,234
    more characters`."""
    if len(text) <= limit:
        return text
    lines = text.split("\n")
    size = -1  # of the lines kept, joined
    for i, line in enumerate(lines):
        left = len(lines) - i - 1
        note = f"\n… and {left} more line{'s' * (left != 1)}" if left else ""
        if size + 1 + len(line) + len(note) > limit:
            break
        size += 1 + len(line)
    if i:
        left = len(lines) - i
        return "\n".join(lines[:i]) + f"\n… and {left} more line{'s' * (left != 1)}"
    room = limit - len(f"\n… and {len(text):,} more characters")
    head = word_cut(text, room)
    return f"{head}\n… and {len(text) - len(head):,} more characters"


def _loose(text: str) -> str:
    """A stray sentinel (a token cut in half by a length limit) is dropped, never shown."""
    return text.replace(OPEN, "").replace(CLOSE, "")


def plain(text: str) -> str:
    """The text with every piece shown by its target: for logs and tests."""
    return render(
        text,
        Renderer(
            text=str,
            mention=lambda u: f"@{u}",
            channel=lambda c: f"#{c}",
            link=lambda url, label: label if label == url else f"{label} ({url})",
        ),
    )


# Messages stored before this markup existed (outbox rows waiting at an upgrade) spelled the
# bot's pieces in Slack's syntax; they were written by the bot, so they are read as its own.
_LEGACY = re.compile(
    r"<(?:@([UWB][A-Z0-9]+)|#([CGD][A-Z0-9]+)(?:\|[^<>]*)?|((?:https?|mailto):[^<>\s|]+)"
    r"(?:\|([^<>]*))?)>"
)


def from_legacy(text: str) -> str:
    def token(m: re.Match[str]) -> str:
        user, chan, url, label = m.groups()
        return mention(user) if user else channel(chan) if chan else link(url, label)

    return _LEGACY.sub(token, text)
