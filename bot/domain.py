"""The programme's rules, in plain Python: no I/O, no database, no event loop.

Everything here can be unit-tested with ordinary values. Handlers call these
functions; they never re-state a rule themselves.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from difflib import get_close_matches
from enum import StrEnum
from functools import cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import dateparser

MAX_LINKS = 10
MAX_LINK_LENGTH = 2000
DEFAULT_NUDGE_OFFSETS = ("7d", "2d", "1d", "2h")
DEFAULT_REVISE_WITHIN = timedelta(days=14)  # a learner's time to resubmit after a revision request


class UserError(Exception):
    """Bad input or a refused action: one clear sentence, optionally an example.

    Raised anywhere below a handler; the dispatcher turns it into a reply and
    rolls back, so a UserError never changes anything.
    """

    def __init__(self, message: str, example: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.example = example

    def __str__(self) -> str:
        if self.example:
            return f"{self.message} Example: `{self.example}`"
        return self.message


class Role(StrEnum):
    LEARNER = "learner"
    ASSESSOR = "assessor"
    COORDINATOR = "coordinator"


# --------------------------------------------------------------------------- ids


ID_PREFIXES = {
    "S": "submission",
    "R": "review",
    "B": "badge",
    "W": "window",
    "M": "reminder",
    "E": "extension request",
}
ID_EXAMPLES = {
    "S": "/submit withdraw S-12",
    "R": "/review claim R-7",
    "B": "/badges share B-3",
    "W": "/window close W-3",
    "M": "/cohort unremind M-3",
    "E": "/window grant E-2",
}


def short_id(prefix: str, number: int) -> str:
    return f"{prefix}-{number}"


def parse_short_id(text: str, prefix: str) -> int:
    """`R-7`, `r7` and `7` all mean review 7; anything else is a clear error."""
    what = ID_PREFIXES[prefix]
    m = re.fullmatch(rf"(?:{prefix}-?)?(\d{{1,9}})", text.strip(), flags=re.IGNORECASE)
    if not m:
        raise UserError(f"'{text}' is not a {what} id; {what} ids look like {prefix}-7.", ID_EXAMPLES[prefix])
    return int(m.group(1))


def parse_ref(text: str, *prefixes: str) -> tuple[str, int]:
    """An id of one of several kinds: `S-12`, `r7` -> ("S", 12), ("R", 7). A bare number is
    of the first kind, as `parse_short_id` reads it."""
    m = re.fullmatch(r"(?:([A-Za-z])-?)?(\d{1,9})", text.strip())
    prefix = ((m.group(1) or prefixes[0]).upper()) if m else ""
    if m is None or prefix not in prefixes:
        kinds = " or ".join(ID_PREFIXES[p] for p in prefixes)
        looks = " or ".join(short_id(p, n) for p, n in zip(prefixes, (7, 12), strict=False))
        raise UserError(f"'{text}' is not a {kinds} id; they look like {looks}.", ID_EXAMPLES[prefixes[0]])
    return prefix, int(m.group(2))


# --------------------------------------------------------------------------- typed text

# Characters typed text must never carry: C0 controls but tab and newline (PostgreSQL text cannot
# even hold NUL), DEL and C1 controls, bidirectional overrides and isolates (they can make a
# link read as another), and the private-use area, which the bot keeps for its own markup.
INVISIBLE_RE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ue000-\uf8ff]")


def _kind(char: str) -> str:
    code = ord(char)
    if 0x202A <= code <= 0x2069:
        kind = "an invisible text-direction character"
    elif code >= 0xE000:
        kind = "a private-use character"
    else:
        kind = "an invisible control character"
    return f"{kind} (U+{code:04X})"


def clean_text(text: str) -> str:
    """Free text (a reflection, a reason, feedback) as it may be kept and shown: line breaks
    as `\\n`, the characters of INVISIBLE_RE dropped. Nothing in free text is worth refusing
    a command over."""
    return INVISIBLE_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def check_visible(text: str, what: str = "command", example: str | None = None) -> str:
    """Return structured text (a link, an address, an id, a name) unchanged, or refuse it
    naming its first invisible character: dropping one silently could change an address."""
    if m := INVISIBLE_RE.search(text):
        raise UserError(f"That {what} contains {_kind(m.group())}; type it again without it.", example)
    return text


# --------------------------------------------------------------------------- links


def check_link(url: str) -> str:
    """Return the link if people could open it from a chat message, else explain why not."""
    check_visible(url, "link", "/submit https://example.org/portfolio -- my reflection")
    if len(url) > MAX_LINK_LENGTH:
        raise UserError(
            f"That link is {len(url):,} characters long; links can be at most "
            f"{MAX_LINK_LENGTH:,}. Use a shorter share link.",
            "/submit https://example.org/portfolio -- my reflection",
        )
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. `http://[` or a host that is invalid under NFKC
        raise UserError(
            f"'{url[:60]}' is not a complete web link.", "/submit https://example.org/a"
        ) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        shown = url if len(url) <= 60 else url[:57] + "..."
        raise UserError(
            f"'{shown}' is not a web link; evidence links must start with https:// or http://.",
            "/submit https://example.org/portfolio -- my reflection",
        )
    host = parts.hostname or ""
    try:
        parts.port  # noqa: B018 - raises on an impossible port such as :99999
    except ValueError:
        host = ""
    if not host or any(c.isspace() for c in url):
        raise UserError(f"'{url[:60]}' is not a complete web link.", "/submit https://example.org/a")
    return url


def check_links(urls: Sequence[str]) -> list[str]:
    """Validate and de-duplicate evidence links, keeping their order."""
    seen: list[str] = []
    for url in urls:
        link = check_link(url)
        if link not in seen:
            seen.append(link)
    if not seen:
        raise UserError(
            "Add at least one link to your evidence.",
            "/submit https://example.org/portfolio -- my reflection",
        )
    if len(seen) > MAX_LINKS:
        raise UserError(
            f"That is {len(seen)} links; a submission can have at most {MAX_LINKS}. "
            "Put the rest in a folder or a portfolio page and link that.",
            "/submit https://example.org/portfolio -- my reflection",
        )
    return seen


def what_changed(old: Sequence[str], new: Sequence[str]) -> tuple[list[str], list[str]]:
    """Links added and removed between two versions, in the order people gave them."""
    return [u for u in new if u not in old], [u for u in old if u not in new]


EMAIL_RE = re.compile(r"[^@\s<>\"']+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


def check_email(address: str) -> str:
    check_visible(address, "e-mail address", "/badges email you@school.org")
    address = address.strip().strip("<>")
    if address.lower().startswith("mailto:"):
        address = address[7:]
    if "|" in address:  # Slack wraps e-mails as <mailto:a@b.org|a@b.org>
        address = address.split("|", 1)[1]
    if not EMAIL_RE.fullmatch(address) or len(address) > 254:
        raise UserError(f"'{address}' is not an e-mail address.", "/badges email you@school.org")
    return address


# --------------------------------------------------------------------------- time

WHEN_EXAMPLE = "/window open spring creators closes next friday 5pm America/Chicago"
WHEN_FORMS = "`next friday 5pm`, `tomorrow 17:00`, `in 2 weeks` or a date with its month's name"

# Zone abbreviations people type, each read as the IANA zone whose clock it names. False: that
# zone's winter (standard) time only, True: its summer (daylight) time only, None: all year. A
# season-bound one is refused for a moment in the other season (`check_season`): in July nobody
# in New York keeps EST, so whoever types it means New York's clock or a fixed UTC-5.
ZONE_ABBREVIATIONS: dict[str, tuple[str, bool | None]] = {
    "ET": ("America/New_York", None),
    "EST": ("America/New_York", False),
    "EDT": ("America/New_York", True),
    "CT": ("America/Chicago", None),
    "CST": ("America/Chicago", False),
    "CDT": ("America/Chicago", True),
    "MT": ("America/Denver", None),
    "MST": ("America/Denver", False),
    "MDT": ("America/Denver", True),
    "PT": ("America/Los_Angeles", None),
    "PST": ("America/Los_Angeles", False),
    "PDT": ("America/Los_Angeles", True),
    "AKST": ("America/Anchorage", False),
    "AKDT": ("America/Anchorage", True),
    "HST": ("Pacific/Honolulu", None),
    "WET": ("Europe/Lisbon", False),
    "WEST": ("Europe/Lisbon", True),
    "BST": ("Europe/London", True),
    "CET": ("Europe/Paris", False),
    "CEST": ("Europe/Paris", True),
    "EET": ("Europe/Athens", False),
    "EEST": ("Europe/Athens", True),
    "MSK": ("Europe/Moscow", None),
    "SAST": ("Africa/Johannesburg", None),
    "EAT": ("Africa/Nairobi", None),
    "WAT": ("Africa/Lagos", None),
    "JST": ("Asia/Tokyo", None),
    "KST": ("Asia/Seoul", None),
    "HKT": ("Asia/Hong_Kong", None),
    "SGT": ("Asia/Singapore", None),
    "AEST": ("Australia/Sydney", False),
    "AEDT": ("Australia/Sydney", True),
    "AWST": ("Australia/Perth", None),
    "NZST": ("Pacific/Auckland", False),
    "NZDT": ("Pacific/Auckland", True),
}
# Abbreviations several zones share: refused, naming them.
SHARED_ABBREVIATIONS = {
    "IST": "Asia/Kolkata (India), Europe/Dublin (Ireland) or Asia/Jerusalem (Israel)",
    "AST": "America/Halifax (Atlantic) or Asia/Riyadh (Arabia)",
}
# Also read in lower case (`est`); the rest only in capitals, since `eat` or `west` are words.
LOWER_CASE_ABBREVIATIONS = frozenset(
    {"EST", "EDT", "CST", "CDT", "MST", "MDT", "PST", "PDT", "CET", "CEST", "BST", "IST"}
)
UTC_NAMES = ("UTC", "GMT", "Z")


def abbreviation(name: str) -> str | None:
    """The zone abbreviation `name` is (`EST`, `est`, `PT`), or None."""
    upper = name.upper()
    if upper not in ZONE_ABBREVIATIONS and upper not in SHARED_ABBREVIATIONS:
        return None
    return upper if name == upper or upper in LOWER_CASE_ABBREVIATIONS else None


# The areas of the IANA zones people pick from (America/Chicago); not Etc/GMT+5 nor the old
# US/Eastern, which are still read when typed whole.
ZONE_AREAS = frozenset(
    {"Africa", "America", "Antarctica", "Asia", "Atlantic", "Australia", "Europe", "Indian", "Pacific"}
)


@cache
def zone_names() -> tuple[str, ...]:
    """The IANA zones a person may pick, sorted (the installed time zone database's)."""
    return tuple(sorted(z for z in available_timezones() if z.split("/")[0] in ZONE_AREAS))


def folded(name: str) -> str:
    """A zone or city name as people may type it: `São Paulo`, `sao-paulo` and `Sao_Paulo` alike."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[\s_-]+", "_", plain.strip().lower())


@cache
def zones_by_folded_name() -> dict[str, str]:
    """Each zone by its folded whole name (`europe/berlin`) and its city (`berlin`). Where an old
    alias shares a city with the current zone (America/Buenos_Aires and
    America/Argentina/Buenos_Aires), the current, longer name wins."""
    out: dict[str, str] = {}
    for name in sorted(zone_names(), key=lambda z: (z.count("/"), z)):
        out[folded(name)] = out[folded(name.rsplit("/", 1)[1])] = name
    return out


def zone(name: str) -> ZoneInfo:
    """The zone a person named: an IANA name in any case, its city (`berlin`, `new york`), UTC
    (or GMT), or a common abbreviation read as the IANA zone whose clock it is (EST, PT, CET);
    one that several zones share is refused, and an unknown one with the nearest zone, if any."""
    if name.upper() in UTC_NAMES:
        return ZoneInfo("UTC")
    if abbr := abbreviation(name):
        if abbr in SHARED_ABBREVIATIONS:
            raise UserError(
                f"{abbr} names several time zones; use {SHARED_ABBREVIATIONS[abbr]}.", WHEN_EXAMPLE
            )
        return ZoneInfo(ZONE_ABBREVIATIONS[abbr][0])
    known = zones_by_folded_name()
    if found := known.get(folded(name)):
        return ZoneInfo(found)
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        near = get_close_matches(folded(name), list(known), n=1, cutoff=0.8)
        raise UserError(
            f"'{name}' is not a time zone I know"
            + (f" (did you mean {known[near[0]]}?)" if near else "")
            + "; use an IANA name such as America/Chicago, Europe/London or UTC, a city such as "
            "Berlin, or an abbreviation such as EST or CET.",
            WHEN_EXAMPLE,
        ) from None


def check_season(name: str, moment: datetime) -> None:
    """Refuse a season-bound abbreviation for a moment its zone keeps the other time: `EST` for
    a day in July (New York is on EDT then). Who types it means New York's clock or a fixed
    UTC-5, and only they know which."""
    abbr = abbreviation(name)
    if abbr is None or abbr in SHARED_ABBREVIATIONS:
        return
    key, summer = ZONE_ABBREVIATIONS[abbr]
    local = as_utc(moment).astimezone(ZoneInfo(key))
    if summer is not None and bool(local.dst()) != summer:
        raise UserError(
            f"{abbr} is ambiguous in {'summer' if local.dst() else 'winter'}: on {day_name(local)} "
            f"{key} is on {local.tzname()}; use {key}.",
            WHEN_EXAMPLE,
        )


def looks_like_zone(token: str) -> bool:
    return (
        token.upper() in UTC_NAMES
        or abbreviation(token) is not None
        or bool(re.fullmatch(r"[A-Za-z_]+/[A-Za-z_/+-]+", token))
    )


UNIT_WORDS = r"weeks?|w|days?|d|hours?|hrs?|h|minutes?|mins?|m"
DURATION_RE = re.compile(rf"(\d{{1,4}})\s*({UNIT_WORDS})(?![a-z])", re.IGNORECASE)
UNIT = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1)}


def parse_duration(text: str) -> timedelta:
    """`7d`, `2h`, `90m`, `1w`, `1d12h`, `2 weeks`, `3 days`."""
    t = text.strip().lower()
    if not t or not re.fullmatch(rf"(\d{{1,4}}\s*(?:{UNIT_WORDS})(?![a-z])\s*)+", t):
        raise UserError(
            f"'{text}' is not a duration; use a number and a unit: 7d, 2d, 1d, 2h or 30m.",
            "/window open spring creators closes next friday 5pm remind 7d,2d,1d,2h",
        )
    return sum((int(n) * UNIT[u[0]] for n, u in DURATION_RE.findall(t)), timedelta())


def format_duration(delta: timedelta) -> str:
    """The inverse of parse_duration, for stored offsets: 2 days -> `2d`."""
    minutes = int(delta.total_seconds() // 60)
    out = ""
    for unit, size in (("d", 1440), ("h", 60), ("m", 1)):
        if minutes >= size:
            out += f"{minutes // size}{unit}"
            minutes %= size
    return out or "0m"


def parse_offsets(text: str) -> list[timedelta]:
    offsets = sorted({parse_duration(p) for p in text.split(",") if p.strip()}, reverse=True)
    if not offsets:
        raise UserError("Give at least one reminder offset.", "remind 7d,2d,1d,2h")
    if any(o <= timedelta() for o in offsets):
        raise UserError("Reminder offsets must be longer than zero.", "remind 7d,2d,1d,2h")
    return offsets


# Date phrases. The grammar reads a phrase as the words from a keyword on that can belong to
# one (`closes next friday 5pm remind 7d` ends at `remind`, a reminder's `friday 9am Office
# hours` at `Office`): `date_words` is that reading, shared by the grammar and `parse_when`.
WEEKDAYS = {
    name: n
    for n, names in enumerate(
        (
            ("mon", "monday"),
            ("tue", "tues", "tuesday"),
            ("wed", "weds", "wednesday"),
            ("thu", "thur", "thurs", "thursday"),
            ("fri", "friday"),
            ("sat", "saturday"),
            ("sun", "sunday"),
        )
    )
    for name in names
}
MONTHS = {
    name: n
    for n, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
WORD_KINDS = {
    "today": "day",
    "tomorrow": "day",
    "tonight": "day",
    "noon": "clock",
    "midnight": "clock",
    "next": "modifier",
    "this": "modifier",
    "in": "in",
    "a": "a",
    "an": "a",
    "at": "filler",
    "on": "filler",
    "the": "filler",
    "of": "filler",
    "by": "filler",
    "am": "ampm",
    "pm": "ampm",
    "a.m.": "ampm",
    "p.m.": "ampm",
}
KIND_PATTERNS = (  # loose on purpose: `25:00` belongs to the phrase, and parse_when says why not
    ("iso", re.compile(r"\d{4}-\d{1,2}-\d{1,2}(?:t[\d:.]*)?(?:z|[+-][\d:]+)?")),
    ("clock", re.compile(r"\d{1,2}(?::\d{2})?(?:[ap]\.?m\.?)|\d{1,2}:\d{2}")),
    ("numeric", re.compile(r"\d{1,2}/\d{1,2}(?:/\d{2,4})?")),
    ("plus", re.compile(r"\+\S*")),
    ("ordinal", re.compile(r"\d{1,2}(?:st|nd|rd|th)")),
    ("number", re.compile(r"\d{1,4}")),
    ("duration", re.compile(rf"(?:\d{{1,4}}(?:{UNIT_WORDS}))+")),
    ("unit", re.compile(r"weeks?|days?|hours?|hrs?|minutes?|mins?")),
)
TRAILING = {"filler", "modifier", "in", "a"}  # words a phrase never ends on: given back


def _word_kind(word: str) -> str | None:
    w = word.lower().rstrip(",")
    if w in WEEKDAYS:
        return "weekday"
    if w in MONTHS:
        return "month"
    if w in WORD_KINDS:
        return WORD_KINDS[w]
    return next((kind for kind, pattern in KIND_PATTERNS if pattern.fullmatch(w)), None)


def date_words(words: Sequence[str]) -> list[str]:
    """The kinds of the leading words that make a date phrase, as many as belong to one: a
    month or a plain number only next to what makes it a date (`Dec 20`, `20 Dec 2026`,
    `5 pm`, `in 2 weeks`), never a trailing `at`, `on` or `next`."""
    kinds = [_word_kind(w) for w in words]
    out: list[str] = []
    for i, kind in enumerate(kinds):
        prev = out[-1] if out else None
        nxt = kinds[i + 1] if i + 1 < len(kinds) else None
        if kind == "number":
            number = words[i].rstrip(",")
            fits = (
                prev in ("in", "month") or nxt in ("month", "ampm") or (len(number) == 4 and "month" in out)
            )
        else:
            fits = {
                None: False,
                "month": prev in ("number", "ordinal")
                or nxt in ("number", "ordinal")
                or (prev == "filler" and len(out) > 1 and out[-2] == "ordinal"),
                "ampm": prev == "number",
                "unit": prev in ("number", "a", "modifier"),
                "a": prev == "in",
                "duration": prev == "in",
                "in": nxt in ("number", "a", "duration"),
            }.get(kind, True)
        if not fits:
            break
        out.append(kind)  # type: ignore[arg-type]
    while out and out[-1] in TRAILING:
        out.pop()
    return out


END_OF_DAY, START_OF_DAY, MORNING = time(23, 59), time(0, 0), time(9, 0)


def day_name(moment: datetime) -> str:
    """`Fri 11 Dec 2026`."""
    return f"{moment:%a} {moment.day} {moment:%b %Y}"


def typed_form(local: datetime, now: datetime, with_time: bool = True) -> str:
    """How to type `local` so it cannot be misread: `Dec 18 17:00`, `Jan 4 2028`."""
    year = f" {local.year}" if local.year != now.year else ""
    return f"{local:%b} {local.day}{year}" + (f" {local:%H:%M}" if with_time else "")


def cannot_read(raw: str) -> UserError:
    return UserError(f"I can't read '{raw}' as a date; type it like {WHEN_FORMS}.", WHEN_EXAMPLE)


def parse_when(
    text: str, tz: ZoneInfo | str, now: datetime, *, day_at: time = END_OF_DAY, future: bool = True
) -> datetime:
    """A moment people type, read in `tz` (a zone, or its name as typed: `EST` in July is
    refused, see `check_season`), returned in UTC.

    ISO dates and times (`2026-06-01`, `2026-06-01T17:00`, with `Z` or an offset) and times
    from now (`+3d`, `in 2 weeks`) are read here; phrases (`next friday 5pm`, `tomorrow 17:00`,
    `Dec 20`, `20 Dec 2026 5pm`) by dateparser, relative to `now` on the zone's calendar,
    preferring the future. A day without a time means `day_at` (a deadline: 23:59). Refused,
    saying what was understood: what could be read two ways (`friday` on a Friday, `3/4`, a
    month day that has just passed, `midnight`, a clock time that a change of clocks skips or
    repeats) and, when `future`, a moment already past.
    """
    raw = " ".join(text.split())
    words = raw.split()
    kinds = date_words(words)
    if not words or len(kinds) != len(words):
        raise cannot_read(raw)
    tzinfo = zone(tz) if isinstance(tz, str) else tz
    local_now = now.astimezone(tzinfo)
    try:
        if kinds[0] in ("plus", "in"):
            moment = now + _span(raw[1:] if kinds[0] == "plus" else " ".join(words[1:]), raw)
        elif kinds in (["iso"], ["iso", "clock"]) and not raw.lower().endswith(("am", "pm", ".")):
            moment = _iso(raw, tzinfo, day_at)
        else:
            moment = _phrase(raw, words, kinds, tzinfo, local_now, day_at)
        moment = moment.astimezone(UTC)
    except (ValueError, OverflowError):
        raise cannot_read(raw) from None
    if isinstance(tz, str):
        check_season(tz, moment)
    if future and moment <= now:
        raise _past(raw, moment, tzinfo, now)
    return moment


def _span(text: str, raw: str) -> timedelta:
    """`3d`, `2 weeks`, `a week`: how far from now."""
    try:
        return parse_duration(re.sub(r"\ban?\b", "1", text.lower()))
    except UserError:
        raise cannot_read(raw) from None


def _iso(raw: str, tz: ZoneInfo, day_at: time) -> datetime:
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):
        return _localize(datetime.combine(date.fromisoformat(raw), day_at), tz, typed=False)
    parsed = datetime.fromisoformat(raw.replace(" ", "T", 1).replace("z", "Z").replace("t", "T"))
    return parsed if parsed.tzinfo is not None else _localize(parsed, tz, typed=True)


def _phrase(
    raw: str, words: list[str], kinds: list[str], tz: ZoneInfo, local_now: datetime, day_at: time
) -> datetime:
    """A phrase read by dateparser, then held to the rules that make it mean one moment."""
    lowered = [w.lower().rstrip(",") for w in words]
    if "midnight" in lowered:
        raise UserError(
            f"'{raw}' could mean the start or the end of that day; type 00:00 or 23:59.", WHEN_EXAMPLE
        )
    for kind, w in zip(kinds, lowered, strict=True):
        if kind == "numeric":
            _check_order(w)
        if kind in ("number", "ordinal") and int(re.sub(r"\D", "", w)) > 31 and len(w) < 4:
            raise cannot_read(raw)
        if kind == "clock" and (m := CLOCK_RE.fullmatch(w)) and not _clock_fits(*m.groups()):
            raise UserError(f"'{w}' is not a time of day; type it like 17:00 or 5pm.", WHEN_EXAMPLE)
    base = local_now.replace(tzinfo=None)
    found = dateparser.parse(
        " ".join(lowered),
        languages=["en"],
        settings={
            "PREFER_DATES_FROM": "future",
            "RELATIVE_BASE": base,
            "RETURN_AS_TIMEZONE_AWARE": False,
            "PARSERS": ["relative-time", "absolute-time"],
            "PREFER_DAY_OF_MONTH": "first",
        },
    )
    if found is None:
        raise cannot_read(raw)
    if found.tzinfo is not None:
        found = found.astimezone(tz).replace(tzinfo=None)
    timed = _timed(raw, kinds)
    naive = found if timed else datetime.combine(found.date(), day_at)
    weekdays = [WEEKDAYS[w] for w in lowered if w in WEEKDAYS]
    if (
        weekdays
        and weekdays[0] == base.weekday()
        and "modifier" not in kinds
        and not {"month", "numeric", "iso", "day"} & set(kinds)
    ):
        today = datetime.combine(base.date(), naive.time())
        naive = later = today + timedelta(days=7)
        if today <= base:  # today's has passed: a week from today is the one meant
            return _localize(naive, tz, typed=timed)
        raise UserError(
            f"'{raw}' could be today ({_shown(today, tz)}) or a week from today ({_shown(later, tz)}); "
            f"type `{'today ' + f'{today:%H:%M}' if timed else 'today'}` or "
            f"`{typed_form(later, base, timed)}`.",
            WHEN_EXAMPLE,
        )
    if "month" in kinds and "iso" not in kinds and not any(len(w) == 4 for w in lowered if w.isdigit()):
        this_year = _same_day(naive, base.year)
        if (
            this_year is not None
            and naive.year > base.year
            and timedelta() < base - this_year < timedelta(days=183)
        ):
            raise UserError(
                f"'{raw}' has passed this year ({day_name(this_year)}); for "
                f"{day_name(naive)}, type the year: `{typed_form(naive, base, timed)}`.",
                WHEN_EXAMPLE,
            )
    return _localize(naive, tz, typed=timed)


CLOCK_RE = re.compile(r"(\d{1,2})(?::(\d{2}))?([ap])?\.?m?\.?")


def _clock_fits(hour: str, minute: str | None, half: str | None) -> bool:
    return (1 <= int(hour) <= 12 if half else int(hour) <= 23) and int(minute or 0) <= 59


def _timed(raw: str, kinds: list[str]) -> bool:
    """Whether the phrase says a time of day, not just a day."""
    return (
        any(k in ("clock", "ampm") for k in kinds)
        or "tonight" in raw.lower()
        or ("iso" in kinds and "t" in raw.lower())
    )


def _check_order(typed: str) -> None:
    """`12/20` and `20/12` can only be 20 December; `3/4` is refused: 4 March, or 3 April?"""
    a, b = (int(n) for n in typed.split("/")[:2])
    if a != b and a <= 12 and b <= 12:
        one, other = date(2000, a, b), date(2000, b, a)
        raise UserError(
            f"'{typed}' could be {one:%B} {one.day} or {other:%B} {other.day}; type the "
            f"month's name, like `{one:%b} {one.day}`.",
            WHEN_EXAMPLE,
        )


def _same_day(moment: datetime, year: int) -> datetime | None:
    try:
        return moment.replace(year=year)
    except ValueError:  # 29 February
        return None


def _shown(local: datetime, tz: ZoneInfo) -> str:
    return format_time(_localize(local, tz, typed=False), tz)


def _localize(naive: datetime, tz: ZoneInfo, *, typed: bool) -> datetime:
    """`naive` on the clock of `tz`. A typed time the clocks skip or repeat that day is refused;
    a day's own time (23:59, 00:00) falling there is taken as its first moment."""
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset() or not typed:
        return first
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != naive:  # skipped
        raise UserError(
            f"{naive:%H:%M} does not exist on {day_name(naive)} in {tz.key}: the clocks "
            "go forward an hour that night. Type a time before or after the change.",
            WHEN_EXAMPLE,
        )
    raise UserError(
        f"{naive:%H:%M} happens twice on {day_name(naive)} in {tz.key}, as the clocks go "
        "back an hour; type it in UTC instead, like "
        f"`{first.astimezone(UTC):%Y-%m-%dT%H:%MZ}` for the first.",
        WHEN_EXAMPLE,
    )


def _past(raw: str, moment: datetime, tz: ZoneInfo, now: datetime) -> UserError:
    """A moment already past, said as understood; for a day named from today (`today 9am`,
    `monday`), the same clock time a day or a week on, when that is what was probably meant."""
    local, local_now = moment.astimezone(tz), now.astimezone(tz)
    kinds = date_words(raw.split())
    late = now - moment
    step = next((s for s in (timedelta(days=1), timedelta(days=7)) if late < s), None)
    hint = "pick a time still to come"
    if step is not None and not {"iso", "month", "numeric", "ordinal", "plus", "in"} & set(kinds):
        later = _localize(local.replace(tzinfo=None) + step, tz, typed=False)
        hint = (
            f"did you mean {format_time(later, tz)}? Type "
            f"`{typed_form(later, local_now, _timed(raw, kinds))}`"
        )
    return UserError(f"'{raw}' is {format_time(moment, tz)}, which has passed; {hint}.", WHEN_EXAMPLE)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def stamp(moment: datetime) -> str:
    """A compact UTC timestamp for idempotency keys."""
    return f"{as_utc(moment):%Y%m%dT%H%M%S}"


def format_time(moment: datetime, tz: ZoneInfo) -> str:
    """`Mon 1 Jun 2026, 17:00 CDT`: the reader's own clock."""
    local = as_utc(moment).astimezone(tz)
    return f"{local:%a} {local.day} {local:%b %Y, %H:%M} {local.tzname()}"


def format_left(delta: timedelta) -> str:
    """How long is left, to the nearest minute, hour or day, the way people say it: 2 days
    23 hours is "3 days left", and a half rounds up (2½ days too). Each unit is counted from
    the one below, already rounded, so the words never jump back as the deadline nears."""
    seconds = delta.total_seconds()
    if seconds <= 0:
        return "closed"
    minutes = max(1, nearest(seconds / 60))
    if minutes < 60:
        return f"{minutes} minute{'s' * (minutes != 1)} left"
    hours = nearest(minutes / 60)
    if hours < 36:
        return f"{hours} hour{'s' * (hours != 1)} left"
    days = nearest(hours / 24)
    return f"{days} day{'s' * (days != 1)} left"


def format_age(age: timedelta) -> str:
    """How long something has waited (`3 days`, `5 hours`), rounded as `format_left`; a task
    posted a moment ago is "waiting less than a minute", never "waiting closed"."""
    if age < timedelta(seconds=30):
        return "less than a minute"
    return format_left(age).removesuffix(" left")


def nearest(x: float) -> int:
    """Rounded half up, as people round (Python's round() takes 2.5 to 2, the even one)."""
    return int(x + 0.5)


# --------------------------------------------------------------------------- windows


class Phase(StrEnum):
    UPCOMING = "upcoming"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class LatePolicy:
    """deny (default), allow, or a grace period after the close."""

    kind: str = "deny"
    grace: timedelta = timedelta()

    @classmethod
    def parse(cls, text: str) -> LatePolicy:
        t = text.strip().lower()
        if t in ("deny", "no", "none", "off"):
            return cls("deny")
        if t in ("allow", "yes", "on"):
            return cls("allow")
        try:
            return cls("grace", parse_duration(t))
        except UserError:
            raise UserError(
                f"'{text}' is not a late policy; use deny, allow, or a grace period such as 2d.",
                "/window open spring creators closes next friday 5pm late 2d",
            ) from None

    def __str__(self) -> str:
        return self.kind if self.kind != "grace" else format_duration(self.grace)

    def accepts(self, closes_at: datetime, now: datetime) -> bool:
        if self.kind == "allow":
            return True
        return self.kind == "grace" and now < closes_at + self.grace


def window_phase(
    opens_at: datetime, closes_at: datetime, now: datetime, closed_at: datetime | None = None
) -> Phase:
    if closed_at is not None and as_utc(closed_at) <= now:
        return Phase.CLOSED
    if now < as_utc(opens_at):
        return Phase.UPCOMING
    if now >= as_utc(closes_at):
        return Phase.CLOSED
    return Phase.OPEN


def own_deadline(window_ends: datetime, own: datetime | None) -> datetime | None:
    """A learner's own deadline (more time granted, or a revision asked for) when it counts:
    later than the moment the window stops taking work for everyone (`window_ends`: its close,
    or when it was closed by hand). Earlier, the window's deadline is the one that applies."""
    return own if own is not None and as_utc(own) > as_utc(window_ends) else None


def check_window_times(opens_at: datetime, closes_at: datetime, now: datetime) -> None:
    if closes_at <= now:
        raise UserError("That close time is in the past; pick a time still to come.", WHEN_EXAMPLE)
    if closes_at <= opens_at:
        raise UserError("A window must close after it opens.", WHEN_EXAMPLE)


# --------------------------------------------------------------------------- submissions


class ReviewState(StrEnum):
    """open (in the queue) -> claimed (an assessor holds it) -> decided; open or claimed ->
    cancelled (withdrawn, superseded by a new version); claimed -> open (released)."""

    OPEN = "open"
    CLAIMED = "claimed"
    DECIDED = "decided"
    CANCELLED = "cancelled"


class BadgeState(StrEnum):
    """awaiting address (the learner has not confirmed where it goes) -> issued; either ->
    cancelled (an approval corrected to a revision: never issued, listed or corrected).
    Revocation is `Badge.revoked_at`: a revoked badge stays issued, its page says so."""

    AWAITING_ADDRESS = "awaiting address"
    ISSUED = "issued"
    CANCELLED = "cancelled"


class ExtensionState(StrEnum):
    """pending (asked) -> approved | denied; a revision's own deadline is approved at once."""

    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"


class SubmissionState(StrEnum):
    SUBMITTED = "submitted"
    IN_REVIEW = "in review"
    REVISION_REQUESTED = "revision requested"
    RESUBMITTED = "resubmitted"
    APPROVED = "approved"
    WITHDRAWN = "withdrawn"


S = SubmissionState
TRANSITIONS: dict[tuple[SubmissionState, str], SubmissionState] = {
    (S.SUBMITTED, "new version"): S.SUBMITTED,
    (S.RESUBMITTED, "new version"): S.RESUBMITTED,
    (S.REVISION_REQUESTED, "new version"): S.RESUBMITTED,
    (S.WITHDRAWN, "new version"): S.SUBMITTED,
    (S.SUBMITTED, "claim"): S.IN_REVIEW,
    (S.RESUBMITTED, "claim"): S.IN_REVIEW,
    (S.IN_REVIEW, "approve"): S.APPROVED,
    (S.IN_REVIEW, "revise"): S.REVISION_REQUESTED,
    (S.SUBMITTED, "withdraw"): S.WITHDRAWN,
    (S.RESUBMITTED, "withdraw"): S.WITHDRAWN,
    (S.REVISION_REQUESTED, "withdraw"): S.WITHDRAWN,
    # an assessor correcting the decision they just made (see check_correction)
    (S.APPROVED, "approve instead"): S.APPROVED,
    (S.APPROVED, "revise instead"): S.REVISION_REQUESTED,
    (S.REVISION_REQUESTED, "revise instead"): S.REVISION_REQUESTED,
    (S.REVISION_REQUESTED, "approve instead"): S.APPROVED,
}

REFUSALS = {
    (S.IN_REVIEW, "new version"): "An assessor is reviewing it right now; wait for their decision.",
    (S.APPROVED, "new version"): "It is already approved, so there is nothing to resubmit.",
    (S.IN_REVIEW, "withdraw"): "An assessor is reviewing it right now, so it can't be withdrawn.",
    (S.APPROVED, "withdraw"): "It is already approved, so it can't be withdrawn.",
}


def advance(state: SubmissionState, event: str) -> SubmissionState:
    """The submission state machine; a refused move explains itself."""
    nxt = TRANSITIONS.get((state, event))
    if nxt is None:
        reason = REFUSALS.get((state, event), f"A submission that is {state} can't {event}.")
        raise UserError(reason)
    return nxt


def release_state(version_number: int) -> SubmissionState:
    """Where a released claim puts its submission back."""
    return S.SUBMITTED if version_number == 1 else S.RESUBMITTED


# --------------------------------------------------------------------------- rubrics


@dataclass(frozen=True)
class Level:
    key: str
    name: str
    passing: bool


@dataclass(frozen=True)
class Criterion:
    key: str
    name: str
    description: str
    levels: tuple[Level, ...]
    unmentioned_met: bool = False  # the credential counts it met when an assessor does not mention it

    @property
    def passing_level(self) -> Level:
        return next(lv for lv in self.levels if lv.passing)

    @property
    def failing_level(self) -> Level:
        return next(lv for lv in self.levels if not lv.passing)

    @property
    def level_names(self) -> str:
        """`Not yet, Met or Exceeds`, as a refusal lists them."""
        names = [lv.name for lv in self.levels]
        return ", ".join(names[:-1]) + f" or {names[-1]}" if len(names) > 1 else names[0]

    @property
    def label(self) -> str:
        """How assessors type it, with its name when that says more: `artifacts (Student creation
        artifacts)`."""
        return self.key if slug(self.name) == self.key else f"{self.key} ({self.name})"


DEFAULT_LEVELS = (Level("not-yet", "Not yet", False), Level("met", "Met", True))
# What a credential says of a criterion an assessor does not mention (`unmentioned_criteria` in the
# catalogue): "not judged" (the default: it is recorded as such, never as met) or "met".
UNMENTIONED = ("not judged", "met")
NOT_JUDGED = "not-judged"  # the level recorded for a criterion the assessor did not judge


def rubric_from_data(data: Iterable[dict], *, unmentioned: str = "not judged") -> tuple[Criterion, ...]:
    """Build a rubric from the credential file's plain data, with sane defaults. `unmentioned`
    is the credential's rule for criteria an assessor does not mention; a criterion's own
    `unmentioned` (how the rubric is stored) wins."""
    out = []
    for item in data:
        levels = (
            tuple(
                Level(slug(lv.get("key") or lv["name"]), lv["name"], bool(lv.get("passing", False)))
                for lv in item.get("levels", [])
            )
            or DEFAULT_LEVELS
        )
        if not any(lv.passing for lv in levels) or all(lv.passing for lv in levels):
            raise ValueError(f"criterion {item.get('name')!r} needs passing and non-passing levels")
        rule = str(item.get("unmentioned", unmentioned)).strip().lower()
        if rule not in UNMENTIONED:
            raise ValueError(f"unmentioned criteria are {' or '.join(map(repr, UNMENTIONED))}, not {rule!r}")
        out.append(
            Criterion(
                slug(item.get("key") or item["name"]),
                item["name"],
                item.get("description", ""),
                levels,
                unmentioned_met=rule == "met",
            )
        )
    return tuple(out)


def rubric_to_data(rubric: Iterable[Criterion]) -> list[dict]:
    return [
        {
            "key": c.key,
            "name": c.name,
            "description": c.description,
            "levels": [{"key": lv.key, "name": lv.name, "passing": lv.passing} for lv in c.levels],
            **({"unmentioned": "met"} if c.unmentioned_met else {}),
        }
        for c in rubric
    ]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass(frozen=True)
class Score:
    criterion: str
    level: str  # a level key of the criterion, or NOT_JUDGED
    passing: bool | None  # None: not judged
    comment: str = ""
    mentioned: bool = True  # False: left to the credential's rule for unmentioned criteria

    def to_data(self) -> dict:
        return {
            "criterion": self.criterion,
            "level": self.level,
            "passing": self.passing,
            "comment": self.comment,
            **({} if self.mentioned else {"mentioned": False}),
        }

    @classmethod
    def from_data(cls, data: dict) -> Score:
        return cls(
            data["criterion"],
            data["level"],
            data["passing"],
            data.get("comment") or "",
            data.get("mentioned", True),
        )


@dataclass(frozen=True)
class Assessment:
    scores: tuple[Score, ...]
    feedback: str

    @property
    def unmet(self) -> list[Score]:
        """The criteria judged not yet met: what a learner works on (not judged ones are not)."""
        return [s for s in self.scores if s.passing is False]


def unmet_criteria(stored: Iterable[dict] | None) -> list[str]:
    """Keys of the criteria a stored decision judged not yet met."""
    return [s.criterion for s in Assessment(tuple(map(Score.from_data, stored or [])), "").unmet]


def _match(text: str, options: Iterable[tuple[str, str]]) -> str | None:
    """Match typed text against (key, name) pairs, forgiving case, spaces and hyphens."""
    wanted = slug(text)
    for key, name in options:
        if wanted in (key, slug(name)):
            return key
    return None


# `criterion: …` the way people type a label: a few words, the colon then a space (a link's
# `https://` or a time's `10:30` is no criterion)
LABEL_RE = re.compile(r"[^\W\d_][\w'’&]*(?:[\s-]+[\w'’&]+){0,4}")


def criteria_list(rubric: Sequence[Criterion]) -> str:
    return ", ".join(c.label for c in rubric)


def _unknown_criterion(
    name: str, rest: str, rubric: Sequence[Criterion], decision: str, ref: str
) -> UserError:
    """A `label:` that names no criterion: the criteria there are, and the closest one."""
    close = get_close_matches(
        slug(name), [c.key for c in rubric] + [slug(c.name) for c in rubric], n=1, cutoff=0.6
    )
    guess = next((c for c in rubric if close and close[0] in (c.key, slug(c.name))), None)
    level = rubric[0].failing_level if decision == "revise" else rubric[0].passing_level
    example = (
        f"/review {decision} {ref} {guess.key}: {rest.strip()}"
        if guess
        else f"/review {decision} {ref} {rubric[0].key}: {level.name.lower()} -- {name}: {rest.strip()}"
    )
    return UserError(
        f"'{name}' is not a criterion of this credential; its criteria are {criteria_list(rubric)}."
        f"{f' Did you mean {guess.key}?' if guess else ''} Overall feedback goes after ` -- `.",
        example,
    )


def _level_and_comment(crit: Criterion, text: str, decision: str, ref: str) -> tuple[Level, str]:
    """The level `text` starts with, by name or key in any case (`Not yet`, `not-yet`,
    `not yet`), and the comment after it; anything else is refused with the valid levels."""
    for lv in sorted(crit.levels, key=lambda lv: -len(lv.name)):
        for label in (lv.name, lv.key):
            words = map(re.escape, slug(label).split("-"))
            m = re.match(r"[\s_-]*".join(words) + r"(?!\w)", text, re.IGNORECASE)
            if m:
                return lv, text[m.end() :].strip().lstrip(",—–-:;.").strip()
    typed = re.split(r"[,;—–]|\s-\s", text, maxsplit=1)[0].strip()
    level = crit.failing_level if decision == "revise" else crit.passing_level
    example = f"/review {decision} {ref} {crit.key}: {level.name.lower()}, {text or 'your comment'}"
    if not typed:
        raise UserError(f"Say the level of {crit.name}: {crit.level_names}.", example)
    shown = typed if len(typed) <= 40 else typed[:37] + "..."
    raise UserError(
        f"'{shown}' is not a level of {crit.name}; its levels are {crit.level_names} "
        "(your comment goes after a comma).",
        example,
    )


def assess(body: str, rubric: Sequence[Criterion], decision: str, ref: str = "R-7") -> Assessment:
    """Read an assessor's typed scores and feedback against the rubric.

    The body is `criterion: level[, comment]` segments split by `;` or new lines, then
    optionally `-- overall feedback`. A criterion is named by its key or its name, a level by
    its name or key, in any case; a criterion or a level that does not exist is refused,
    listing the ones that do, never read as something else. Segments without a `label:` are
    feedback. Criteria the assessor does not mention follow the credential's rule (`score`).
    """
    scored, overall = (*re.split(r"(?:^|\s)--(?:\s|$)", body, maxsplit=1), "")[:2]
    by_key = {c.key: c for c in rubric}
    levels: dict[str, tuple[str, str]] = {}
    loose: list[str] = []
    for segment in re.split(r"[;\n]", scored):
        segment = segment.strip()
        if not segment:
            continue
        name, sep, rest = segment.partition(":")
        key = _match(name, ((c.key, c.name) for c in rubric)) if sep else None
        if key is None:
            if sep and rubric and rest[:1] in ("", " ", "\t") and LABEL_RE.fullmatch(name.strip()):
                raise _unknown_criterion(name.strip(), rest, rubric, decision, ref)
            loose.append(segment)
            continue
        crit = by_key[key]
        if key in levels:
            raise UserError(
                f"You judged {crit.name} twice; say its level once.",
                f"/review {decision} {ref} {key}: {crit.passing_level.name.lower()}, …",
            )
        level, comment = _level_and_comment(crit, rest.strip(), decision, ref)
        levels[key] = (level.key, comment)
    feedback = "; ".join([*loose, overall.strip()] if overall.strip() else loose).strip()
    return score(rubric, levels, feedback, decision, ref)


def score(
    rubric: Sequence[Criterion],
    chosen: dict[str, tuple[str, str]],
    feedback: str,
    decision: str,
    ref: str = "R-7",
) -> Assessment:
    """Scores from chosen (level key, comment) per criterion key, checked for the decision.

    Shared by typed commands and by forms (Slack modals) that pick levels directly. A
    criterion not chosen is "not judged", or met when the credential says unmentioned criteria
    are (`Criterion.unmentioned_met`); never silently met. `revise` needs a criterion judged not
    yet met, so the learner knows what to work on; `approve` refuses one, and takes the rest as
    met or left to the credential's rule.
    """
    for key in chosen:
        if key not in {c.key for c in rubric}:
            raise UserError(
                f"'{key}' is not a criterion of this credential; its criteria are {criteria_list(rubric)}."
            )
    scores = []
    for c in rubric:
        if c.key not in chosen:
            scores.append(
                Score(c.key, c.passing_level.key, True, mentioned=False)
                if c.unmentioned_met
                else Score(c.key, NOT_JUDGED, None, mentioned=False)
            )
            continue
        level_key, comment = chosen[c.key]
        level = next((lv for lv in c.levels if lv.key == level_key), None)
        if level is None:
            raise UserError(f"'{level_key}' is not a level of {c.name}; its levels are {c.level_names}.")
        scores.append(Score(c.key, level.key, level.passing, comment.strip()))
    result = Assessment(tuple(scores), feedback.strip())
    names = ", ".join(c.key for c in rubric)
    if decision == "revise" and not result.unmet:
        first = rubric[0].key if rubric else "criterion"
        raise UserError(
            f"Say which criteria are not yet met so the learner knows what to work on (criteria: {names}).",
            f"/review revise {ref} {first}: not yet, add a student example -- Good start!",
        )
    if decision == "approve" and result.unmet:
        low = ", ".join(s.criterion for s in result.unmet)
        raise UserError(
            f"You scored {low} below passing; use /review revise to ask for changes instead.",
            f"/review revise {ref} {result.unmet[0].criterion}: not yet, what to add",
        )
    return result


# --------------------------------------------------------------------------- corrections

CORRECTION_GRACE = timedelta(minutes=15)


def check_correction(
    *, label: str, decision: str, decided_at: datetime, now: datetime, own: bool, settled: str | None
) -> None:
    """May an assessor change a decision by deciding again? Only their own, within
    CORRECTION_GRACE of it, and only while nothing has come of it: `settled` says what has
    (its badge issued, the learner's resubmission), and then the decision stands."""
    if not own:
        raise UserError(f"{label} was already decided ({decision}) by another assessor.")
    if settled:
        raise UserError(
            f"{label} was already decided ({decision}) and {settled}, so it can no longer be corrected."
        )
    if now >= as_utc(decided_at) + CORRECTION_GRACE:
        after = (
            "a coordinator can revoke its badge if it must not stand"
            if decision == "approved"
            else "the learner's resubmission comes back for review"
        )
        raise UserError(
            f"{label} was already decided ({decision}); a decision can be corrected only "
            f"within {CORRECTION_GRACE.seconds // 60} minutes of it, and {after}."
        )


# --------------------------------------------------------------------------- claims


NOT_ASSESSOR = "Only assessors of this cohort can claim its reviews."


def check_claim(
    *,
    assessor_id: int,
    learner_id: int,
    is_assessor: bool,
    claimed_by: int | None,
    open_claims: int,
    cap: int,
    review_label: str,
) -> None:
    """Who may claim a review task, in the order people would want to be told."""
    if not is_assessor:
        raise UserError(NOT_ASSESSOR, "/review queue")
    if assessor_id == learner_id:
        raise UserError(
            "You can't review your own submission; another assessor will pick it up.", "/review queue"
        )
    if claimed_by is not None:
        if claimed_by == assessor_id:
            raise UserError(f"You have already claimed {review_label}.")
        raise UserError(f"{review_label} is already claimed by another assessor.", "/review queue")
    if open_claims >= cap:
        raise UserError(
            f"You already hold {open_claims} open claims, the most allowed; decide or release one first.",
            "/review release R-7",
        )


# --------------------------------------------------------------------------- nudges


@dataclass(frozen=True)
class WindowPlan:
    """What nudge planning needs to know of a window."""

    window_id: int
    opens_at: datetime
    closes_at: datetime
    offsets: tuple[timedelta, ...]


@dataclass(frozen=True)
class LearnerProgress:
    member_id: int
    submitted: bool
    revision_pending: bool = False
    closes_at: datetime | None = None  # their own deadline, when granted an extension

    @property
    def owes_work(self) -> bool:
        return not self.submitted or self.revision_pending


@dataclass(frozen=True)
class Nudge:
    window_id: int
    target: str  # "channel" or "member:<id>"
    key: str  # offset @ deadline, so a moved deadline plans afresh
    offset: timedelta
    member_id: int | None = None


@dataclass
class NudgePlan:
    nudges: list[Nudge] = field(default_factory=list)

    @property
    def channel(self) -> Nudge | None:
        return next((n for n in self.nudges if n.member_id is None), None)

    @property
    def direct(self) -> list[Nudge]:
        return [n for n in self.nudges if n.member_id is not None]


def current_offset(window: WindowPlan, now: datetime) -> timedelta | None:
    """The latest reminder offset that is due now, if any.

    Offsets whose moment had already passed when the window opened are skipped:
    the opening announcement covers them. Only the latest due offset counts, so a
    bot that was down for days sends one timely nudge, not a backlog.
    """
    due = [o for o in window.offsets if window.opens_at <= window.closes_at - o <= now < window.closes_at]
    return min(due) if due else None


QUIET_FROM, QUIET_UNTIL = time(21, 0), time(8, 0)


def send_time(
    due: datetime,
    tz: ZoneInfo,
    deadline: datetime,
    quiet_days: frozenset[date] = frozenset(),
    *,
    quiet_hours: bool = True,
) -> datetime:
    """When a nudge due at `due` should reach someone in `tz`.

    Not between 21:00 and 08:00 their time (when `quiet_hours`), and not on a quiet day
    (school holidays, testing weeks): it moves to the next allowed 08:00. Unless the
    deadline comes first — then it goes when due, since a late nudge is no nudge at all.
    """
    local = as_utc(due).astimezone(tz)
    moved = local
    for _ in range(370):  # a year of quiet days at most
        quiet_hour = quiet_hours and (moved.time() >= QUIET_FROM or moved.time() < QUIET_UNTIL)
        if moved.date() not in quiet_days and not quiet_hour:
            break
        day = moved.date() + timedelta(days=1) if moved.time() >= QUIET_UNTIL else moved.date()
        if day == moved.date() and moved.date() in quiet_days:
            day += timedelta(days=1)
        moved = datetime.combine(day, QUIET_UNTIL, tz)
    moved_utc = moved.astimezone(UTC)
    return as_utc(due) if moved_utc >= as_utc(deadline) else moved_utc


QUIET_EXAMPLE = "/cohort quiet spring next monday..friday"
ISO_DAYS_RE = re.compile(r"\d{4}-\d{2}-\d{2}(?:\.\.\d{4}-\d{2}-\d{2})?")


def parse_days(text: str, tz: ZoneInfo | str, now: datetime) -> list[date]:
    """Days as people name them (`2026-03-23`, `Dec 21`, `next monday`) or ranges of them
    (`next monday..friday`: the end is read from the start), comma separated: the dates they
    cover, on the calendar of `tz`."""
    tzinfo = zone(tz) if isinstance(tz, str) else tz
    days: list[date] = []
    for part in _day_items(text):
        first, _, last = part.partition("..")
        start = _day(first, tzinfo, now)
        end = _day(last, tzinfo, datetime.combine(start, START_OF_DAY, tzinfo)) if last else start
        if end < start:
            raise UserError(f"'{part}' ends before it starts.", QUIET_EXAMPLE)
        if (end - start).days > 366:
            raise UserError("A quiet period can be at most a year long.")
        days.extend(start + timedelta(days=n) for n in range((end - start).days + 1))
    if not days:
        raise UserError("Give at least one date.", QUIET_EXAMPLE)
    return days


def _day_items(text: str) -> list[str]:
    """The days and ranges of `text`: split at commas, and at spaces between ISO dates."""
    items: list[str] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        words = part.split()
        items.extend(words if all(ISO_DAYS_RE.fullmatch(w) for w in words) else [part])
    return items


def _day(text: str, tz: ZoneInfo, now: datetime) -> date:
    try:
        return parse_when(text, tz, now, day_at=START_OF_DAY, future=False).astimezone(tz).date()
    except UserError as exc:
        raise UserError(exc.message, QUIET_EXAMPLE) from None


def nudge_key(offset: timedelta, closes_at: datetime) -> str:
    return f"{format_duration(offset)}@{as_utc(closes_at):%Y%m%dT%H%MZ}"


def plan_nudges(
    window: WindowPlan,
    learners: Iterable[LearnerProgress],
    now: datetime,
    planned: set[str],
    *,
    channel: bool = True,
) -> NudgePlan:
    """Nudges due now and not yet in the ledger (`planned` holds `target|key`).

    A channel summary, and a DM to each learner who still owes work, timed against
    their own deadline when they were granted one. Level-triggered: calling it twice,
    or after a restart, plans nothing twice.
    """
    plan = NudgePlan()
    offset = current_offset(window, now)
    if channel and offset is not None:
        key = nudge_key(offset, window.closes_at)
        if f"channel|{key}" not in planned:
            plan.nudges.append(Nudge(window.window_id, "channel", key, offset))
    for learner in learners:
        if not learner.owes_work:
            continue
        own = window if learner.closes_at is None else replace(window, closes_at=learner.closes_at)
        mine = offset if learner.closes_at is None else current_offset(own, now)
        if mine is None:
            continue
        key = nudge_key(mine, own.closes_at)
        target = f"member:{learner.member_id}"
        if f"{target}|{key}" not in planned:
            plan.nudges.append(Nudge(window.window_id, target, key, mine, learner.member_id))
    return plan
