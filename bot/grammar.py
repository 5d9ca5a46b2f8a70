"""The chat grammar: text a person typed -> a `Command`, or one clear UserError.

Pure, like domain.py. Slack (`<@U1|ann>`, `<#C1|frl>`, `<https://x|x>`, a user group
`<!subteam^S1|@team>`), Discord (`<@123>`, `<#123>`, a role `<@&123>`) and console (`@ann`,
`#frl`) spellings of mentions, groups, channels and links are all understood here, so adapters
pass text through untouched. Every command's usage line and example live in `SPECS`, which also
drives `help`.

Typed text is cleaned here too, for every platform and database: free text (reasons, reminder
text, review bodies, anything after ` -- `) loses invisible characters (`domain.clean_text`);
any other word holding one is refused, naming it (`domain.check_visible`).
"""

from __future__ import annotations

import itertools
import re
import shlex
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from difflib import get_close_matches
from typing import Any

from bot import markup
from bot.domain import (
    WHEN_FORMS,
    LatePolicy,
    Role,
    UserError,
    check_email,
    check_links,
    check_visible,
    clean_text,
    date_words,
    folded,
    looks_like_zone,
    parse_duration,
    parse_offsets,
    parse_ref,
    parse_short_id,
    zone,
    zones_by_folded_name,
)

MAX_TEXT = 4000
REASON_LIMIT = 1000  # characters kept of a reason (an extension asked or denied, a revocation)


def is_name(text: str) -> bool:
    """A cohort's or credential's name: up to 40 letters of any script (with their accents and
    vowel signs), digits, `-` and `_`, starting with a letter or digit."""
    return (
        0 < len(text) <= 40
        and text[0].isalnum()
        and all(c.isalnum() or c in "-_" or unicodedata.category(c).startswith("M") for c in text)
    )


@dataclass(frozen=True)
class Mention:
    user_id: str
    label: str = ""


@dataclass(frozen=True)
class ChannelRef:
    channel_id: str
    name: str = ""


@dataclass(frozen=True)
class GroupRef:
    """A mentioned group of people (a Discord role, a Slack user group): the platform's
    directory says who is in it (`Directory.group`)."""

    group_id: str
    label: str = ""


Token = str | Mention | ChannelRef | GroupRef


@dataclass(frozen=True)
class Command:
    verb: str  # submit, cohort, window, review, badges, help
    action: str  # e.g. create, status, claim; the verb itself for a bare /submit
    args: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------- tokens

MENTION_RE = re.compile(r"<@!?([A-Za-z0-9._-]+)(?:\|([^>]*))?>")
CHANNEL_RE = re.compile(r"<#([A-Za-z0-9._-]+)(?:\|([^>]*))?>")
LINK_RE = re.compile(r"<((?:https?|mailto):[^>|]*)(?:\|[^>]*)?>", re.IGNORECASE)
LABELLED_LINK_RE = re.compile(r"<((?:https?|mailto):[^>|\s]*)\|[^>]*>", re.IGNORECASE)
GROUP_RE = re.compile(r"<@&(\d+)>|<!subteam\^([A-Za-z0-9]+)(?:\|@?([^>]*))?>")  # <@&123>, <!subteam^S1|@team>
SPECIAL_RE = re.compile(r"<!([a-z]+)(?:\^[^|>]*)?(?:\|([^>]*))?>")  # <!here>, <!subteam^S1|@team>
# A handle as typed in the console (`@alice`, `@zoë`, `@ana.m`): any letters or digits, then
# also `.`, `_` or `-`. Handles are case-insensitive, so `@Alice` is `@alice`.
CONSOLE_MENTION_RE = re.compile(r"@([^\W_][\w.-]{0,79})")
CONSOLE_CHANNEL_RE = re.compile(r"#([^\W_][\w.-]{0,79})")  # `#frl`, `#año-2026`: as cohort names


def handle(name: str) -> str:
    """The user id a typed handle stands for: the same however it is capitalised."""
    return name.lower()


def to_token(word: str) -> Token:
    if m := MENTION_RE.fullmatch(word):
        return Mention(m.group(1), m.group(2) or "")
    if m := CHANNEL_RE.fullmatch(word):
        return ChannelRef(m.group(1), m.group(2) or m.group(1))
    if m := GROUP_RE.fullmatch(word):
        return GroupRef(m.group(1) or m.group(2), m.group(3) or "")
    if m := LINK_RE.fullmatch(word):
        return m.group(1)
    if m := CONSOLE_MENTION_RE.fullmatch(word):
        return Mention(handle(m.group(1)), m.group(1))
    if m := CONSOLE_CHANNEL_RE.fullmatch(word):
        return ChannelRef(m.group(1).lower(), m.group(1).lower())
    return word


def split_words(text: str) -> list[str]:
    """Words, honouring quotes when they pair up and ignoring them when they don't."""
    try:
        lexer = shlex.shlex(text, posix=True)
        lexer.whitespace_split = True
        lexer.commenters = ""
        lexer.escape = ""
        lexer.quotes = '"'  # apostrophes in free text are not quotes
        return list(lexer)
    except ValueError:
        return text.split()


def word(tok: Token) -> str:
    if isinstance(tok, Mention):
        return f"@{tok.label or tok.user_id}"
    if isinstance(tok, ChannelRef):
        return f"#{tok.name or tok.channel_id}"
    if isinstance(tok, GroupRef):
        return f"@{tok.label or tok.group_id}"
    return tok


# ------------------------------------------------------------------- specs


@dataclass(frozen=True)
class Spec:
    verb: str
    action: str
    usage: str
    example: str
    summary: str
    parse: Callable[[list[Token], str | None], dict[str, Any]]
    role: str = "anyone"


class Args:
    """A cursor over one command's tokens with errors that cite the usage."""

    def __init__(self, spec: Spec, tokens: list[Token]) -> None:
        self.spec, self.tokens, self.i = spec, tokens, 0

    def fail(self, message: str) -> UserError:
        return UserError(f"{message} Usage: `{self.spec.usage}`.", self.spec.example)

    def more(self) -> bool:
        return self.i < len(self.tokens)

    def peek(self) -> Token | None:
        return self.tokens[self.i] if self.more() else None

    def next(self, what: str) -> Token:
        """The next word, which is not free text: refused if it holds an invisible character."""
        if not self.more():
            raise self.fail(f"Missing {what}.")
        tok = self.tokens[self.i]
        try:
            check_visible(word(tok))
        except UserError as exc:
            raise self.fail(exc.message) from None
        self.i += 1
        return tok

    def text(self, what: str) -> str:
        tok = self.next(what)
        if not isinstance(tok, str):
            raise self.fail(f"Expected {what} but got {word(tok)}.")
        return tok

    def keyword(self, *words: str) -> str | None:
        tok = self.peek()
        if isinstance(tok, str) and tok.lower() in words:
            self.i += 1
            return tok.lower()
        return None

    def name(self, what: str) -> str:
        """A one-word name in any script (`año-2026`, `zoë`), lower case; a quoted one of several
        words (`"spring cohort"`) becomes the hyphenated one (`spring-cohort`)."""
        raw = self.text(what)
        name = "-".join(unicodedata.normalize("NFC", raw).lower().split())
        if not is_name(name):
            raise self.fail(f"'{raw}' is not a {what}; use letters, digits and hyphens, like spring-2026.")
        return name

    def people(self) -> list[Mention | GroupRef]:
        """The people mentioned from here, and the groups (everyone in them), at least one."""
        out: list[Mention | GroupRef] = []
        while isinstance(self.peek(), (Mention, GroupRef)):
            out.append(self.next("a person"))  # type: ignore[arg-type]
        if not out:
            got = f" but got '{word(self.next('a person'))}'" if self.more() else ""
            raise self.fail(f"Mention at least one person, like @alice{got}.")
        return out

    def channel(self, what: str) -> ChannelRef:
        tok = self.next(what)
        if not isinstance(tok, ChannelRef):
            raise self.fail(f"Expected {what} like #frl-spring but got '{word(tok)}'.")
        return tok

    def when(self, what: str) -> str:
        """A date phrase (`next friday 5pm`, `Dec 20`, `in 2 weeks`, or one quoted): the words
        from here that can belong to one (`domain.date_words`), so it ends at the command's
        next keyword, a zone, or a reminder's text. The handler reads it, knowing now and the zone."""
        tok = self.peek()
        if isinstance(tok, str) and len(tok.split()) > 1:  # quoted
            return " ".join(self.text(what).split())
        words = list(itertools.takewhile(lambda t: isinstance(t, str), self.tokens[self.i :]))
        length = len(date_words(words))  # type: ignore[arg-type]
        if not length:
            if not self.more():
                raise self.fail(f"Missing {what}.")
            raise self.fail(f"I can't read '{word(self.next(what))}' as {what}; type it like {WHEN_FORMS}.")
        return " ".join(self.text(what) for _ in range(length))

    def zone_name(self, *, cities: bool = True) -> str | None:
        """A zone typed here, if one is: an IANA name, an abbreviation, UTC, or (with `cities`)
        a zone's city of up to three words (`berlin`, `new york`, `são paulo`), as
        `/badges timezone` takes them. Not before free text, where a city may begin it
        (`Paris trip forms due`)."""
        words = list(itertools.takewhile(lambda t: isinstance(t, str), self.tokens[self.i : self.i + 3]))
        for n in range(len(words), 0, -1) if cities else ():
            typed = " ".join(str(w) for w in words[:n])
            if folded(typed) in zones_by_folded_name():
                self.i += n
                return typed
        tok = self.peek()
        if isinstance(tok, str) and looks_like_zone(tok):
            self.i += 1
            zone(tok)  # unknown zones fail here, with the zone error
            return tok
        return None

    def rest(self, note: str | None) -> str:
        """Everything left, as typed words, plus the free text after ` -- `: free text, cleaned."""
        words = [word(t) for t in self.tokens[self.i :]] + ([note] if note else [])
        return free_text(" ".join(words)).strip()

    def reason(self, note: str | None, missing: str | None = None) -> str:
        """The rest as a reason people will read, cut to REASON_LIMIT; `missing`, when
        given, is the sentence that answers a reason left out."""
        reason = self.rest(note)
        if not reason and missing:
            raise self.fail(missing)
        return reason[:REASON_LIMIT]

    def unexpected(self) -> UserError:
        """The refusal of the next word, which fits nowhere here."""
        return self.fail(f"I don't understand '{word(self.next('more'))}' here.")

    def done(self) -> None:
        if self.more():
            raise self.unexpected()


# Each parse function gets the tokens after the action word and the text after ` -- `.


def _submit(a: Args, note: str | None) -> dict[str, Any]:
    window = None
    first = a.peek()
    if isinstance(first, str) and len(a.tokens) > 1 and is_name(first):
        window = unicodedata.normalize("NFC", a.text("window")).lower()
    links: list[str] = []
    while a.more():
        tok = a.next("a link")
        if not isinstance(tok, str):
            raise a.fail(f"'{word(tok)}' is not a link.")
        links.append(tok)
    if not links:
        raise a.fail("Add at least one evidence link.")
    parts = [p.strip() for p in (note or "").split(" -- ")] if note else []
    return {"window": window, "links": check_links(links), "parts": [p for p in parts if p]}


def _submit_ref(a: Args, note: str | None) -> dict[str, Any]:
    sub = parse_short_id(a.text("a submission id"), "S") if a.more() else None
    a.done()
    return {"submission": sub}


def _extend(a: Args, note: str | None) -> dict[str, Any]:
    window = None
    first = a.peek()
    if isinstance(first, str) and (re.fullmatch(r"[Ww]-?\d{1,9}", first) or first.lower() == "for"):
        a.keyword("for")
        window = a.text("window").lower()
    return {
        "window": window,
        "reason": a.reason(note, "Say why you need more time; your coordinator reads it."),
    }


def _grant(a: Args, note: str | None) -> dict[str, Any]:
    eid = parse_short_id(a.text("an extension request id"), "E")
    until = None
    if a.keyword("until", "to", "closes"):
        until = a.when("the learner's new deadline")
    tz = a.zone_name() if until else None
    a.done()
    return {"extension": eid, "until": until, "tz": tz}


def _deny(a: Args, note: str | None) -> dict[str, Any]:
    eid = parse_short_id(a.text("an extension request id"), "E")
    return {"extension": eid, "reason": a.reason(note)}


def _quiet(a: Args, note: str | None) -> dict[str, Any]:
    name = a.name("cohort name")
    if a.keyword("clear", "none", "off"):
        a.done()
        return {"name": name, "days": None, "clear": True}
    days = " ".join(word(a.next("a date")) for _ in a.tokens[a.i :])
    return {"name": name, "days": days or None, "clear": False}


def _cohort_create(a: Args, note: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": a.name("cohort name"), "channel": None, "reviews": None, "tz": None}
    while a.more():
        if a.keyword("reviews", "review", "assessors"):
            out["reviews"] = a.channel("the assessors' channel")
        elif a.keyword("tz", "timezone"):
            out["tz"] = zone(a.zone_name() or a.text("a time zone")).key  # EST: America/New_York
        elif isinstance(a.peek(), ChannelRef) and out["channel"] is None:
            out["channel"] = a.channel("the cohort channel")
        elif a.i == 1 and isinstance(tok := a.peek(), str) and is_name(tok):
            joined = f"{out['name']}-{tok.lower()}"
            raise a.fail(
                f'A cohort name is one word: for "{out["name"]} {tok}" type `{joined}` '
                "(or quote the name); a channel starts with #."
            )
        else:
            raise a.unexpected()
    return out


def _cohort_edit(a: Args, note: str | None) -> dict[str, Any]:
    """What `create` takes, changed: at least one of them."""
    out = _cohort_create(a, note)
    if not any(out[k] for k in ("channel", "reviews", "tz")):
        raise a.fail("Say what to change: the cohort's #channel, reviews #channel, or tz <zone>.")
    return out


def _role(a: Args) -> Role | None:
    if a.keyword("as"):
        raw = a.text("a role").lower().rstrip("s")
        try:
            return Role(raw)
        except ValueError:
            raise a.fail(f"'{raw}' is not a role; use learner, assessor or coordinator.") from None
    return None


def _cohort_add(a: Args, note: str | None) -> dict[str, Any]:
    name = a.name("cohort name")
    people = a.people()
    role = _role(a)
    a.done()
    return {"name": name, "people": people, "role": role}


def _cohort_remove(a: Args, note: str | None) -> dict[str, Any]:
    """As `add`, but each person by name: a group's members leave one by one, knowingly."""
    out = _cohort_add(a, note)
    if group := next((p for p in out["people"] if isinstance(p, GroupRef)), None):
        raise a.fail(f"Mention each person to remove; a group ({word(group)}) can only be added.")
    return out


def _cohort_name(a: Args, note: str | None) -> dict[str, Any]:
    name = a.name("cohort name")
    a.done()
    return {"name": name}


def _cohort_list(a: Args, note: str | None) -> dict[str, Any]:
    a.done()
    return {}


def _cohort_remind(a: Args, note: str | None) -> dict[str, Any]:
    name = a.name("cohort name")
    tok = a.text("a time or a cron schedule")
    cron = None
    when = None
    if len(tok.split()) == 5:  # a quoted cron line: "0 9 * * mon"
        cron = tok
    elif tok.lower() in ("every", "cron"):
        fields = [a.text("cron fields") for _ in range(5)]
        cron = " ".join(fields)
    else:
        a.i -= 1
        when = a.when("a time")
    tz = a.zone_name(cities=False)
    text = a.rest(note)
    if not text:
        raise a.fail("Add the reminder text.")
    return {"name": name, "when": when, "cron": cron, "tz": tz, "text": text}


def _reminder_id(a: Args, note: str | None) -> dict[str, Any]:
    rid = parse_short_id(a.text("a reminder id"), "M")
    a.done()
    return {"reminder": rid}


def _window_ref(a: Args) -> dict[str, Any]:
    first = a.text("a window (W-3, or cohort and credential)")
    if re.fullmatch(r"[Ww]-?\d{1,9}", first):
        return {"window": parse_short_id(first, "W"), "cohort": None, "credential": None}
    a.i -= 1
    return {"window": None, "cohort": a.name("cohort name"), "credential": a.name("credential")}


def _window_open(a: Args, note: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "cohort": a.name("cohort name"),
        "credential": a.name("credential"),
        "closes": None,
        "opens": None,
        "tz": None,
        "offsets": None,
        "late": None,
        "revise_within": None,
    }
    while a.more():
        if a.keyword("closes", "close", "until", "due"):
            out["closes"] = a.when("the close time")
            out["tz"] = a.zone_name() or out["tz"]
        elif a.keyword("opens", "open", "from"):
            out["opens"] = a.when("the open time")
            out["tz"] = a.zone_name() or out["tz"]
        elif a.keyword("remind", "reminders", "nudges"):
            out["offsets"] = parse_offsets(a.text("reminder offsets like 7d,2d,1d,2h"))
        elif a.keyword("late"):
            out["late"] = LatePolicy.parse(a.text("a late policy"))
        elif a.keyword("revise", "revisions"):
            a.keyword("within", "in")
            out["revise_within"] = _revise_within(a)
        elif a.keyword("tz", "timezone"):
            out["tz"] = a.text("a time zone")
            zone(out["tz"])
        elif (tz := a.zone_name()) is not None:
            out["tz"] = tz
        else:
            raise a.unexpected()
    if out["closes"] is None:
        raise a.fail("Say when the window closes.")
    return out


def _revise_within(a: Args) -> timedelta:
    """How long a learner has to resubmit after a revision request: `10d`, `2w`."""
    raw = a.text("how long a revision may take, like 14d")
    try:
        within = parse_duration(raw)
    except UserError:
        within = timedelta()
    if within <= timedelta():
        raise a.fail(f"'{raw}' is not a time for revisions; say how long after a request, like 10d or 2w.")
    return within


def _window_extend(a: Args, note: str | None) -> dict[str, Any]:
    out = _window_ref(a)
    a.keyword("to", "until", "closes")
    out["closes"] = a.when("the new close time")
    out["tz"] = a.zone_name()
    a.done()
    return out


def _window_close(a: Args, note: str | None) -> dict[str, Any]:
    out = _window_ref(a)
    a.done()
    return out


def _window_list(a: Args, note: str | None) -> dict[str, Any]:
    name = a.name("cohort name") if a.more() else None
    a.done()
    return {"cohort": name}


def _review_ref(a: Args) -> dict[str, Any]:
    """`R-7`, or the submission's `S-12` (the handler finds its one open review)."""
    prefix, number = parse_ref(a.text("a review or submission id"), "R", "S")
    return {"review": number} if prefix == "R" else {"submission": number}


def _review_id(a: Args, note: str | None) -> dict[str, Any]:
    out = _review_ref(a)
    a.done()
    return out


def _review_decision(a: Args, note: str | None) -> dict[str, Any]:
    out = _review_ref(a)
    body = " ".join(word(t) for t in a.tokens[a.i :])
    if note:
        body += f" -- {note}"
    return {**out, "body": free_text(body).strip()}


def _review_revise(a: Args, note: str | None) -> dict[str, Any]:
    out = _review_decision(a, note)
    if not out["body"]:
        raise a.fail("Say what needs to change, criterion by criterion.")
    return out


def _badge_share(a: Args, note: str | None) -> dict[str, Any]:
    bid = parse_short_id(a.text("a badge id"), "B")
    channel = a.channel("your cohort's channel") if a.more() else None
    a.done()
    return {"badge": bid, "channel": channel}


def _badge_reflection(a: Args, note: str | None) -> dict[str, Any]:
    bid = parse_short_id(a.text("a badge id"), "B")
    choice = a.keyword("show", "hide")
    if choice is None:
        raise a.fail("Say show or hide.")
    a.done()
    return {"badge": bid, "show": choice == "show"}


def _revoke(a: Args, note: str | None) -> dict[str, Any]:
    """The reason before ` -- ` is public (the page, the assertion); the note after it is for
    the audit log only."""
    bid = parse_short_id(a.text("a badge id"), "B")
    reason = a.reason(
        None,
        "Say why; the learner and anyone checking the badge will see it "
        "(a private note for the audit log goes after ` -- `).",
    )
    return {"badge": bid, "reason": reason, "note": (note or "")[:REASON_LIMIT]}


def _badge_email(a: Args, note: str | None) -> dict[str, Any]:
    bid = parse_short_id(a.text("a badge id"), "B")
    address = check_email(a.text("the right e-mail address"))
    a.done()
    return {"badge": bid, "email": address}


def _autoshare(a: Args, note: str | None) -> dict[str, Any]:
    choice = a.keyword("on", "off")
    if choice is None:
        raise a.fail("Say on or off.")
    a.done()
    return {"on": choice == "on"}


def _email(a: Args, note: str | None) -> dict[str, Any]:
    address = check_email(a.text("an e-mail address"))
    a.done()
    return {"email": address}


def _timezone(a: Args, note: str | None) -> dict[str, Any]:
    """A zone as people type it (`Europe/Berlin`, `berlin`, `new york`, `CET`), `auto` (or
    `clear`) to go back to the one the bot finds, or nothing to ask which is in use."""
    if not a.more():
        return {"zone": None, "auto": False}
    if a.keyword("auto", "clear"):
        a.done()
        return {"zone": None, "auto": True}
    typed = " ".join(a.text("a time zone") for _ in a.tokens[a.i :])
    try:
        return {"zone": zone(typed).key, "auto": False}  # EST: America/New_York
    except UserError as exc:
        raise a.fail(exc.message) from None


def _help(a: Args, note: str | None) -> dict[str, Any]:
    """`/help`, `/help window`, or one subcommand: `/help window extend`."""
    if not a.more():
        return {"topic": None}
    topic = a.text("a topic").lower().lstrip("/")
    if a.more():
        topic += " " + a.text("a subcommand").lower()
    a.done()
    return {"topic": topic}


def spec(
    verb: str,
    action: str,
    usage: str,
    example: str,
    summary: str,
    parse: Callable[[Args, str | None], dict[str, Any]],
    role: str = "anyone",
) -> Spec:
    holder: list[Spec] = []

    def run(tokens: list[Token], note: str | None) -> dict[str, Any]:
        return parse(Args(holder[0], tokens), note)

    s = Spec(verb, action, usage, example, summary, run, role)
    holder.append(s)
    return s


SPECS: list[Spec] = [
    spec(
        "submit",
        "submit",
        "/submit [<window>] <link> [<link>…] [-- <reflection>]",
        "/submit https://example.org/makerspace-unit -- Students designed their own tools",
        "hand in evidence for your cohort's open window; again after a revision request",
        _submit,
        "learner",
    ),
    spec(
        "submit",
        "status",
        "/submit status",
        "/submit status",
        "your submissions, their review state, feedback and deadlines",
        lambda a, n: _cohort_list(a, n),
        "learner",
    ),
    spec(
        "submit",
        "withdraw",
        "/submit withdraw [S-<id>]",
        "/submit withdraw S-12",
        "take back a submission that nobody is reviewing yet",
        _submit_ref,
        "learner",
    ),
    spec(
        "submit",
        "extend",
        "/submit extend [W-<id>] <reason>",
        "/submit extend Our testing week moved; could I have until next Friday?",
        "ask your coordinator for a later deadline of your own",
        _extend,
        "learner",
    ),
    spec(
        "cohort",
        "create",
        "/cohort create <name> [#channel] [reviews #channel] [tz <zone>]",
        "/cohort create spring #frl-spring reviews #frl-assessors tz America/Chicago",
        "create a cohort with its channel and, optionally, its assessors' channel",
        _cohort_create,
        "coordinator",
    ),
    spec(
        "cohort",
        "edit",
        "/cohort edit <name> [#channel] [reviews #channel] [tz <zone>]",
        "/cohort edit spring tz Europe/Berlin",
        "change a cohort's channel, its assessors' channel or its time zone",
        _cohort_edit,
        "coordinator",
    ),
    spec(
        "cohort",
        "add",
        "/cohort add <name> @person|@group… [as learner|assessor|coordinator]",
        "/cohort add spring @alice @bob",
        "add people to a cohort (learners unless you say); a group (a server role) adds everyone in it",
        _cohort_add,
        "coordinator",
    ),
    spec(
        "cohort",
        "remove",
        "/cohort remove <name> @person… [as <role>]",
        "/cohort remove spring @bob",
        "take people (or just one role) out of a cohort",
        _cohort_remove,
        "coordinator",
    ),
    spec("cohort", "list", "/cohort list", "/cohort list", "the cohorts you can see", _cohort_list),
    spec(
        "cohort",
        "status",
        "/cohort status <name>",
        "/cohort status spring",
        "progress of each window, reviews waiting and undelivered messages",
        _cohort_name,
        "coordinator",
    ),
    spec(
        "cohort",
        "remind",
        '/cohort remind <name> <when | "<cron>"> [<zone>] <text>',
        '/cohort remind spring "0 9 * * mon" Office hours today at 4pm in #frl-spring',
        "post a reminder to the cohort channel once or on a schedule (at most hourly)",
        _cohort_remind,
        "coordinator",
    ),
    spec(
        "cohort",
        "reminders",
        "/cohort reminders <name>",
        "/cohort reminders spring",
        "the cohort's custom reminders",
        _cohort_name,
        "coordinator",
    ),
    spec(
        "cohort",
        "unremind",
        "/cohort unremind M-<id>",
        "/cohort unremind M-3",
        "cancel a custom reminder",
        _reminder_id,
        "coordinator",
    ),
    spec(
        "cohort",
        "quiet",
        "/cohort quiet <name> [<date>[..<date>], … | clear]",
        "/cohort quiet spring next monday..friday",
        "days with no nudges (holidays, testing weeks); without dates, list them",
        _quiet,
        "coordinator",
    ),
    spec(
        "window",
        "open",
        "/window open <cohort> <credential> closes <when> [<zone>] [opens <when>] "
        "[remind 7d,2d,1d,2h] [late deny|allow|<grace>] [revise within 14d]",
        "/window open spring creators closes next friday 5pm America/Chicago",
        "open a submission window and plan its nudges",
        _window_open,
        "coordinator",
    ),
    spec(
        "window",
        "extend",
        "/window extend <W-id | cohort credential> <when> [<zone>]",
        "/window extend spring creators next friday 5pm",
        "move a window's deadline later; nudges are planned again",
        _window_extend,
        "coordinator",
    ),
    spec(
        "window",
        "close",
        "/window close <W-id | cohort credential>",
        "/window close W-3",
        "close a window now",
        _window_close,
        "coordinator",
    ),
    spec(
        "window",
        "grant",
        "/window grant E-<id> [until <when>]",
        "/window grant E-2 until next friday",
        "give a learner the later deadline they asked for (a week by default)",
        _grant,
        "coordinator",
    ),
    spec(
        "window",
        "deny",
        "/window deny E-<id> [<reason>]",
        "/window deny E-2 The window closes for everyone on Friday",
        "turn down a request for more time, with a reason",
        _deny,
        "coordinator",
    ),
    spec(
        "window",
        "list",
        "/window list [<cohort>]",
        "/window list spring",
        "windows and their deadlines",
        _window_list,
    ),
    spec(
        "review",
        "queue",
        "/review queue",
        "/review queue",
        "review tasks waiting, and the ones you have claimed",
        _cohort_list,
        "assessor",
    ),
    spec(
        "review",
        "claim",
        "/review claim R-<id> | S-<id>",
        "/review claim S-12",
        "take a review task, by its id or its submission's",
        _review_id,
        "assessor",
    ),
    spec(
        "review",
        "approve",
        "/review approve R-<id> | S-<id> [<criterion>: <level>[, comment]; …] [-- feedback]",
        "/review approve R-7 artifacts: exceeds, students led the design -- A model unit",
        "approve a submission you claimed (criteria you don't name are not judged); the learner "
        "earns the badge. Deciding again within 15 minutes corrects a decision",
        _review_decision,
        "assessor",
    ),
    spec(
        "review",
        "revise",
        "/review revise R-<id> | S-<id> <criterion>: not yet[, <what to change>]; … [-- feedback]",
        "/review revise R-7 reflection: not yet, say what students learned -- Strong artifacts!",
        "send a submission back with a level (and comment) per criterion; deciding again within "
        "15 minutes corrects a decision",
        _review_revise,
        "assessor",
    ),
    spec(
        "review",
        "release",
        "/review release R-<id> | S-<id>",
        "/review release R-7",
        "give a claimed task back to the queue",
        _review_id,
        "assessor",
    ),
    spec("badges", "list", "/badges", "/badges", "your badges and their links", _cohort_list, "learner"),
    spec(
        "badges",
        "share",
        "/badges share B-<id> [#channel]",
        "/badges share B-3 #frl-spring",
        "your share options, shown only to you; with your cohort's #channel, celebrate it there",
        _badge_share,
        "learner",
    ),
    spec(
        "badges",
        "reflection",
        "/badges reflection B-<id> show|hide",
        "/badges reflection B-3 show",
        "show or hide your reflection on the badge's public page (hidden unless you say show)",
        _badge_reflection,
        "learner",
    ),
    spec(
        "badges",
        "autoshare",
        "/badges autoshare on|off",
        "/badges autoshare on",
        "celebrate new badges in the cohort channel without asking first",
        _autoshare,
        "learner",
    ),
    spec(
        "badges",
        "email",
        "/badges email <address>",
        "/badges email you@school.org",
        "the address your badges are issued to",
        _email,
        "learner",
    ),
    spec(
        "badges",
        "timezone",
        "/badges timezone [<zone> | auto]",
        "/badges timezone Europe/Berlin",
        "your time zone (Europe/Berlin, berlin, CET); alone: the one in use; auto: back to automatic",
        _timezone,
    ),
    spec(
        "badges",
        "confirm",
        "/badges confirm",
        "/badges confirm",
        "confirm the address your badges are issued to (issues any waiting badge)",
        _cohort_list,
        "learner",
    ),
    spec(
        "badges",
        "revoke",
        "/badges revoke B-<id> <public reason> [-- <private note>]",
        "/badges revoke B-3 Evidence was not the learner's own work -- see the thread of 3 March",
        "revoke a badge: its page and documents show the reason; a private note stays in the audit log only",
        _revoke,
        "coordinator",
    ),
    spec(
        "badges",
        "correct",
        "/badges correct B-<id> <address>",
        "/badges correct B-3 ana@school.org",
        "re-issue a badge to the right address before it is shared",
        _badge_email,
        "coordinator",
    ),
    spec("help", "help", "/help [<command>]", "/help submit", "what you can do", _help),
]

BY_KEY = {(s.verb, s.action): s for s in SPECS}
VERBS = ("submit", "cohort", "window", "review", "badges", "help")
# The verbs each platform registers as its own commands, with the line it shows beside each
# (help is asked with `<verb> help` or a mention); Slack's manifest and Discord's app commands.
APP_COMMANDS = {
    "submit": "Hand in evidence for your cohort's open window; see your submissions",
    "cohort": "Cohorts, rosters, progress and custom reminders",
    "window": "Open, extend, close and list submission windows",
    "review": "The review queue: claim, approve, request revisions",
    "badges": "Your badges, sharing, auto-share, badge e-mail and time zone",
}
DEFAULT_ACTION = {"submit": "submit", "badges": "list", "help": "help"}


def parse(text: str) -> Command:
    """Parse one command line, `/verb action args… [-- free text]`."""
    text = text.strip()
    if not text:
        raise UserError("Type a command, for example `/submit help`.", "/help")
    if len(text) > MAX_TEXT:
        raise UserError(
            f"That message is too long to be a command (over {MAX_TEXT:,} characters); "
            "link long text instead of pasting it.",
            "/submit https://example.org/portfolio -- a short reflection",
        )
    head, sep, typed_note = text.partition(" -- ")
    if not sep and head.endswith(" --"):
        head = head[:-3]
    note = free_text(typed_note).strip() or None
    words = split_words(LABELLED_LINK_RE.sub(r"<\1>", head))  # a link's label may hold spaces
    verb = words[0].lstrip("/").lower() if words else ""
    if verb not in VERBS:
        typed = check_visible(words[0] if words else text, example="/help")
        guess = closest(verb, VERBS)
        raise UserError(
            f"I don't know the command '{typed}'."
            + (f" Did you mean /{guess}?" if guess else "")
            + " Commands: /submit, /cohort, /window, /review, /badges, /help.",
            f"/{guess} help" if guess else "/help",
        )
    rest = [to_token(w) for w in words[1:]]
    first = rest[0].lower() if rest and isinstance(rest[0], str) else None
    if first == "help" and verb != "help":
        return Command("help", "help", {"topic": verb})
    if first is not None and (verb, first) in BY_KEY and (verb, first) != ("submit", "submit"):
        action, tokens = first, rest[1:]
        if [t.lower() if isinstance(t, str) else t for t in tokens] == ["help"]:  # `/badges timezone help`
            return Command("help", "help", {"topic": f"{verb} {action}"})
    elif verb in DEFAULT_ACTION:
        try:
            return Command(verb, DEFAULT_ACTION[verb], BY_KEY[(verb, DEFAULT_ACTION[verb])].parse(rest, note))
        except UserError:  # `/submit stauts`: a typo of a subcommand, not a bad link
            if first is not None and closest(first, actions_of(verb)):
                raise not_a_subcommand(verb, rest) from None
            raise
    else:
        raise not_a_subcommand(verb, rest)
    return Command(verb, action, BY_KEY[(verb, action)].parse(tokens, note))


def actions_of(verb: str) -> list[str]:
    return [s.action for s in SPECS if s.verb == verb and s.action != verb]


def closest(typed: str, options: Iterable[str]) -> str | None:
    """What a mistyped word most likely meant (`sumbit`: submit, `crate`: create), or None."""
    found = get_close_matches(typed.lower(), list(options), n=1, cutoff=0.6)
    return found[0] if found else None


def not_a_subcommand(verb: str, rest: list[Token]) -> UserError:
    """`/cohort crate`: the subcommand it most likely meant, with that one's example."""
    if not rest:
        return UserError(
            f"Missing a /{verb} subcommand; use one of: {', '.join(actions_of(verb))}.", f"/{verb} help"
        )
    typed = check_visible(word(rest[0]), example=f"/{verb} help")
    guess = closest(typed, actions_of(verb))
    return UserError(
        f"'{typed}' is not a /{verb} subcommand; "
        + (f"did you mean `{guess}`? Or use " if guess else "use ")
        + f"one of: {', '.join(actions_of(verb))}.",
        BY_KEY[(verb, guess)].example if guess else f"/{verb} help",
    )


def free_text(text: str) -> str:
    """Free text as the person saw it while typing: invisible characters dropped, and chat
    markup (Slack sends a typed @ann as `<@U1|ann>`) turned back into the words it showed. A
    link keeps its real address, never a label that could disguise it; nothing stays a ping."""
    text = MENTION_RE.sub(lambda m: "@" + (m.group(2) or m.group(1)), clean_text(text))
    text = CHANNEL_RE.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = LINK_RE.sub(lambda m: m.group(1), text)
    return SPECIAL_RE.sub(lambda m: m.group(2) or "@" + m.group(1), text)


FREE_TEXT_ARGS = frozenset({"parts", "reason", "note", "text", "body", "feedback"})


def _clean_value(value: Any, free: bool) -> Any:
    if isinstance(value, str):
        return free_text(value) if free else check_visible(value)
    if isinstance(value, (Mention, ChannelRef, GroupRef)):
        check_visible(word(value))
    elif isinstance(value, (list, tuple)):
        return type(value)(_clean_value(v, free) for v in value)
    elif isinstance(value, dict):
        return {_clean_value(k, False): _clean_value(v, free) for k, v in value.items()}
    return value


def clean_command(command: Command) -> Command:
    """A Command a form built, held to the rule `parse` applies to typed text: free text
    (FREE_TEXT_ARGS, and a decision form's comment per criterion) cleaned, any other string
    refused if it holds an invisible character."""
    args = {}
    for key, value in command.args.items():
        if key == "levels":  # {criterion: (level, comment)}
            args[key] = {
                check_visible(c): (check_visible(level), free_text(comment))
                for c, (level, comment) in value.items()
            }
        else:
            args[key] = _clean_value(value, key in FREE_TEXT_ARGS)
    return Command(command.verb, command.action, args)


def help_text(topic: str | None = None) -> str:
    """Usage and an example for one command (`window`) or one of its subcommands (`window
    extend`), or a short menu of them all."""
    if topic:
        topic, _, action = topic.lstrip("/").lower().partition(" ")
        specs = [s for s in SPECS if s.verb == topic]
        if not specs:
            guess = closest(topic, tuple(APP_COMMANDS))
            raise UserError(
                f"There is no /{topic} command."
                + (f" Did you mean /{guess}?" if guess else "")
                + " Commands: /submit, /cohort, /window, /review, /badges.",
                f"/help {guess or 'submit'}",
            )
        one = [s for s in specs if action and s.action == action.strip()]
        title = f"/{topic} {one[0].action}" if one and one[0].action != topic else f"/{topic}"
        lines = [markup.bold(title)]
        for s in one or specs:
            lines.append(f"• `{s.usage}` — {s.summary}\n    e.g. `{s.example}`")
        if action and not one:
            lines.insert(1, f"(/{topic} has no subcommand '{action.strip()}'; here are all of them.)")
        return "\n".join(lines)
    lines = [f"{markup.bold('Cohort Bot')} — type `<command> help` for details:"]
    for verb in APP_COMMANDS:
        who = {s.role for s in SPECS if s.verb == verb} - {"anyone"}
        lines.append(
            f"• `/{verb}` ({', '.join(sorted(who)) or 'anyone'}): "
            + "; ".join(s.action for s in SPECS if s.verb == verb)
        )
    return "\n".join(lines)
