"""The programme's rules, in plain Python: no I/O, no database, no event loop.

Everything here can be unit-tested with ordinary values. Handlers call these
functions; they never re-state a rule themselves.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


ID_PREFIXES = {"S": "submission", "R": "review", "B": "badge", "W": "window", "M": "reminder",
               "E": "extension request"}
ID_EXAMPLES = {"S": "/submit withdraw S-12", "R": "/review claim R-7", "B": "/badges share B-3",
               "W": "/window close W-3", "M": "/cohort unremind M-3", "E": "/window grant E-2"}


def short_id(prefix: str, number: int) -> str:
    return f"{prefix}-{number}"


def parse_short_id(text: str, prefix: str) -> int:
    """`R-7`, `r7` and `7` all mean review 7; anything else is a clear error."""
    what = ID_PREFIXES[prefix]
    m = re.fullmatch(rf"(?:{prefix}-?)?(\d{{1,9}})", text.strip(), flags=re.IGNORECASE)
    if not m:
        raise UserError(f"'{text}' is not a {what} id; {what} ids look like {prefix}-7.",
                        ID_EXAMPLES[prefix])
    return int(m.group(1))


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
        raise UserError(f"'{url[:60]}' is not a complete web link.",
                        "/submit https://example.org/a") from None
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


def zone(name: str) -> ZoneInfo:
    if name.upper() in ("UTC", "GMT", "Z"):
        return ZoneInfo("UTC")
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(
            f"'{name}' is not a time zone I know; use an IANA name such as "
            "America/Chicago, Europe/London or UTC.",
            "/window open spring creators closes 2026-06-01T17:00 America/Chicago",
        ) from None


def looks_like_zone(token: str) -> bool:
    return token.upper() in ("UTC", "GMT", "Z") or bool(re.fullmatch(r"[A-Za-z_]+/[A-Za-z_/+-]+", token))


DURATION_RE = re.compile(r"(\d{1,4})\s*(w|d|h|m)", re.IGNORECASE)
UNIT = {"w": timedelta(weeks=1), "d": timedelta(days=1), "h": timedelta(hours=1),
        "m": timedelta(minutes=1)}


def parse_duration(text: str) -> timedelta:
    """`7d`, `2h`, `90m`, `1w`, `1d12h`."""
    t = text.strip().lower()
    if not t or not re.fullmatch(r"(\d{1,4}\s*[wdhm])+", t):
        raise UserError(
            f"'{text}' is not a duration; use a number and a unit: 7d, 2d, 1d, 2h or 30m.",
            "/window open spring creators closes 2026-06-01 remind 7d,2d,1d,2h",
        )
    return sum((int(n) * UNIT[u] for n, u in DURATION_RE.findall(t)), timedelta())


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


WHEN_EXAMPLE = "/window open spring creators closes 2026-06-01T17:00 America/Chicago"


def parse_when(text: str, tz: ZoneInfo, now: datetime, *, end_of_day: bool = True) -> datetime:
    """A moment people type, read in `tz`, returned in UTC.

    Accepts ISO dates and times (`2026-06-01`, `2026-06-01T17:00`, `2026-06-01 17:00`,
    with `Z` or an offset), `today`/`tomorrow` with an optional `HH:MM`, and
    relative times (`+2d`, `+3h`, `in 2d`). A bare date means the end of that day
    (23:59) for deadlines, its start otherwise.
    """
    raw = " ".join(text.split())
    t = raw.lower()
    try:
        if t.startswith(("+", "in ")):
            return now + parse_duration(t.removeprefix("in ").lstrip("+"))
        m = re.fullmatch(r"(today|tomorrow)(?:\s+(\d{1,2}):(\d{2}))?", t)
        if m:
            local_day = now.astimezone(tz).date() + timedelta(days=1 if m.group(1) == "tomorrow" else 0)
            clock = time(int(m.group(2)), int(m.group(3))) if m.group(2) else (
                time(23, 59) if end_of_day else time(9, 0))
            return datetime.combine(local_day, clock, tz).astimezone(UTC)
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
            day = datetime.fromisoformat(t).date()
            clock = time(23, 59) if end_of_day else time(0, 0)
            return datetime.combine(day, clock, tz).astimezone(UTC)
        parsed = datetime.fromisoformat(raw.replace(" ", "T", 1).replace("z", "Z"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=tz)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise UserError(
            f"I can't read '{raw}' as a date; use 2026-06-01, 2026-06-01T17:00, tomorrow 17:00 or +3d.",
            WHEN_EXAMPLE,
        ) from None


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
    """How long is left, rounded the way people say it."""
    seconds = delta.total_seconds()
    if seconds <= 0:
        return "closed"
    hours = seconds / 3600
    if round(seconds / 60) < 60:
        n = max(1, round(seconds / 60))
        return f"{n} minute{'s' * (n != 1)} left"
    if hours < 36:
        n = round(hours)
        return f"{n} hour{'s' * (n != 1)} left"
    n = round(hours / 24)
    return f"{n} day{'s' * (n != 1)} left"


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
                "/window open spring creators closes 2026-06-01 late 2d",
            ) from None

    def __str__(self) -> str:
        return self.kind if self.kind != "grace" else format_duration(self.grace)

    def accepts(self, closes_at: datetime, now: datetime) -> bool:
        if self.kind == "allow":
            return True
        return self.kind == "grace" and now < closes_at + self.grace


def window_phase(opens_at: datetime, closes_at: datetime, now: datetime,
                 closed_at: datetime | None = None) -> Phase:
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

    @property
    def passing_level(self) -> Level:
        return next(lv for lv in self.levels if lv.passing)

    @property
    def failing_level(self) -> Level:
        return next(lv for lv in self.levels if not lv.passing)


DEFAULT_LEVELS = (Level("not-yet", "Not yet", False), Level("met", "Met", True))


def rubric_from_data(data: Iterable[dict]) -> tuple[Criterion, ...]:
    """Build a rubric from the credential file's plain data, with sane defaults."""
    out = []
    for item in data:
        levels = tuple(
            Level(slug(lv.get("key") or lv["name"]), lv["name"], bool(lv.get("passing", False)))
            for lv in item.get("levels", [])
        ) or DEFAULT_LEVELS
        if not any(lv.passing for lv in levels) or all(lv.passing for lv in levels):
            raise ValueError(f"criterion {item.get('name')!r} needs passing and non-passing levels")
        out.append(Criterion(slug(item.get("key") or item["name"]), item["name"],
                             item.get("description", ""), levels))
    return tuple(out)


def rubric_to_data(rubric: Iterable[Criterion]) -> list[dict]:
    return [{"key": c.key, "name": c.name, "description": c.description,
             "levels": [{"key": lv.key, "name": lv.name, "passing": lv.passing} for lv in c.levels]}
            for c in rubric]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


@dataclass(frozen=True)
class Score:
    criterion: str
    level: str
    passing: bool
    comment: str = ""


@dataclass(frozen=True)
class Assessment:
    scores: tuple[Score, ...]
    feedback: str

    @property
    def unmet(self) -> list[Score]:
        return [s for s in self.scores if not s.passing]


def _match(text: str, options: Iterable[tuple[str, str]]) -> str | None:
    """Match typed text against (key, name) pairs, forgiving case, spaces and hyphens."""
    wanted = slug(text)
    for key, name in options:
        if wanted in (key, slug(name)):
            return key
    return None


def assess(body: str, rubric: Sequence[Criterion], decision: str) -> Assessment:
    """Read an assessor's typed scores and feedback against the rubric.

    The body is `criterion: level[, comment]` segments split by `;` or new lines,
    then optionally `-- overall feedback`. Segments that name no criterion are
    feedback. Unnamed criteria count as met. `revise` needs at least one criterion
    not yet met, so the learner always knows what to work on; `approve` refuses a
    criterion scored below passing.
    """
    scored, overall = (*re.split(r"(?:^|\s)--(?:\s|$)", body, maxsplit=1), "")[:2]
    by_key = {c.key: c for c in rubric}
    levels: dict[str, tuple[Level, str]] = {}
    loose: list[str] = []
    for segment in re.split(r"[;\n]", scored):
        segment = segment.strip()
        if not segment:
            continue
        name, sep, rest = segment.partition(":")
        key = _match(name, ((c.key, c.name) for c in rubric)) if sep else None
        if key is None:
            loose.append(segment)
            continue
        crit = by_key[key]
        rest = rest.strip()
        level = None
        for lv in sorted(crit.levels, key=lambda lv: -len(lv.name)):
            for label in (lv.name, lv.key, lv.key.replace("-", " ")):
                if re.match(rf"{re.escape(label)}(?!\w)", rest, re.IGNORECASE):
                    level, rest = lv, rest[len(label):]
                    break
            if level:
                break
        comment = rest.strip().lstrip(",—–-:").strip()
        if level is None:  # a comment alone means "not yet" when revising
            level = crit.failing_level if decision == "revise" else crit.passing_level
        levels[key] = (level, comment)
    feedback = "; ".join([*loose, overall.strip()] if overall.strip() else loose).strip()
    return score(rubric, {k: (lv.key, c) for k, (lv, c) in levels.items()}, feedback, decision)


def score(rubric: Sequence[Criterion], chosen: dict[str, tuple[str, str]], feedback: str,
          decision: str) -> Assessment:
    """Scores from chosen (level key, comment) per criterion key, checked for the decision.

    Shared by typed commands and by forms (Slack modals) that pick levels directly.
    """
    scores = []
    for c in rubric:
        level_key, comment = chosen.get(c.key, (c.passing_level.key, ""))
        level = next((lv for lv in c.levels if lv.key == level_key), None)
        if level is None:
            raise UserError(f"'{level_key}' is not a level of {c.name}; use "
                            f"{', '.join(lv.key for lv in c.levels)}.")
        scores.append(Score(c.key, level.key, level.passing, comment.strip()))
    result = Assessment(tuple(scores), feedback.strip())
    names = ", ".join(c.key for c in rubric)
    if decision == "revise" and not result.unmet:
        first = rubric[0].key if rubric else "criterion"
        raise UserError(
            f"Say which criteria are not yet met so the learner knows what to work on "
            f"(criteria: {names}).",
            f"/review revise R-7 {first}: not yet, add a student example -- Good start!",
        )
    if decision == "approve" and result.unmet:
        low = ", ".join(s.criterion for s in result.unmet)
        raise UserError(
            f"You scored {low} below passing; use /review revise to ask for changes instead.",
            f"/review revise R-7 {result.unmet[0].criterion}: not yet, what to add",
        )
    return result


# --------------------------------------------------------------------------- claims


def check_claim(*, assessor_id: int, learner_id: int, is_assessor: bool, claimed_by: int | None,
                open_claims: int, cap: int, review_label: str) -> None:
    """Who may claim a review task, in the order people would want to be told."""
    if not is_assessor:
        raise UserError("Only assessors of this cohort can claim its reviews.", "/review queue")
    if assessor_id == learner_id:
        raise UserError("You can't review your own submission; another assessor will pick it up.",
                        "/review queue")
    if claimed_by is not None:
        if claimed_by == assessor_id:
            raise UserError(f"You have already claimed {review_label}.")
        raise UserError(f"{review_label} is already claimed by another assessor.",
                        "/review queue")
    if open_claims >= cap:
        raise UserError(
            f"You already hold {open_claims} open claims, the most allowed; decide or release "
            "one first.", "/review release R-7")


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
    due = [o for o in window.offsets
           if window.opens_at <= window.closes_at - o <= now < window.closes_at]
    return min(due) if due else None


QUIET_FROM, QUIET_UNTIL = time(21, 0), time(8, 0)


def send_time(due: datetime, tz: ZoneInfo, deadline: datetime, quiet_days: frozenset[date] = frozenset(),
              *, quiet_hours: bool = True) -> datetime:
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


def parse_days(text: str) -> list[date]:
    """`2026-03-23`, `2026-03-23..2026-03-27`, comma separated: the dates they cover."""
    days: list[date] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        first, _, last = part.partition("..")
        try:
            start = date.fromisoformat(first.strip())
            end = date.fromisoformat(last.strip()) if last else start
        except ValueError:
            raise UserError(f"'{part}' is not a date or a range of dates.",
                            "/cohort quiet spring 2026-03-23..2026-03-27") from None
        if end < start:
            raise UserError(f"'{part}' ends before it starts.", "/cohort quiet spring 2026-03-23..2026-03-27")
        if (end - start).days > 366:
            raise UserError("A quiet period can be at most a year long.")
        days.extend(start + timedelta(days=n) for n in range((end - start).days + 1))
    if not days:
        raise UserError("Give at least one date.", "/cohort quiet spring 2026-03-23..2026-03-27")
    return days


def nudge_key(offset: timedelta, closes_at: datetime) -> str:
    return f"{format_duration(offset)}@{as_utc(closes_at):%Y%m%dT%H%MZ}"


def plan_nudges(window: WindowPlan, learners: Iterable[LearnerProgress], now: datetime,
                planned: set[str], *, channel: bool = True) -> NudgePlan:
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
    key = nudge_key(offset, window.closes_at)
    if f"channel|{key}" not in planned:
        plan.nudges.append(Nudge(window.window_id, "channel", key, offset))
    for learner in learners:
        target = f"member:{learner.member_id}"
        if learner.owes_work and f"{target}|{key}" not in planned:
            plan.nudges.append(Nudge(window.window_id, target, key, offset, learner.member_id))
    return plan
