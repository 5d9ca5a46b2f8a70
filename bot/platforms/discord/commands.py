"""Discord's application commands, generated from the grammar's usage lines (`grammar.SPECS`),
and the typed text an invocation stands for.

Each verb is a command and each of its actions a subcommand; each part of a usage line an
option: `<name>` a text option, `#channel` a channel option, `[reviews #channel]` an optional
channel option called `reviews`, `show|hide` a choice, `[-- <feedback>]` a text option called
`feedback`. An invocation becomes the line a person would have typed (options in the usage's
order, keywords put back, channels and people as mentions), which the grammar reads like any
other: the same `Command`, the same errors, on every platform. The default action of a verb
(`/badges` alone) is a subcommand named for what it does (`/badges list`), as Discord runs no
command that has subcommands without one.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Any

from bot.grammar import APP_COMMANDS, DEFAULT_ACTION, SPECS, Spec
from bot.markup import cut

NAME_MAX = 32
DESCRIPTION_MAX = 100
CHOICES_MAX = 25


class OptionType(IntEnum):
    """Discord's application command option types (the ones used here)."""

    SUB_COMMAND = 1
    STRING = 3
    CHANNEL = 7


# What a placeholder asks for, by its words: ids people would have to remember are suggested.
SUGGEST = {
    "cohort": "cohort",
    "name": "cohort",
    "credential": "credential",
    "window": "window",
    "review": "review",
    "submission": "submission",
    "badge": "badge",
    "request": "extension",
    "reminder": "reminder",
    "zone": "zone",
    "tz": "zone",
    "command": "command",
}
# Ids as usage lines write them (`R-<id> | S-<id>`), by what they name.
ID_NAMES = {"R": "review", "S": "submission", "W": "window", "E": "request", "B": "badge", "M": "reminder"}
ONE_WORD = {"name", "cohort", "credential"}  # options the grammar reads as one word: typed, a name
# with spaces would be quoted, and an option's value is one thing whatever it holds
DEFAULT_NAMES = {"submit": "evidence"}  # `/submit evidence`: `/submit submit` would read oddly
# What an option asks for, in words (the usage's placeholder otherwise): by its name, or by the
# verb (and action) and its name where one name means different things.
DESCRIBED: dict[str | tuple[str, ...], str] = {
    "name": "the cohort, e.g. spring",
    "cohort": "the cohort, e.g. spring",
    "credential": "the credential, e.g. creators",
    "window": "which window (W-3, or its cohort and credential)",
    ("submit", "window"): "which window, if you have several open (W-3, or the credential)",
    "reflection": "your reflection: what students learned, what you would change",
    "submission": "which submission, e.g. S-12 (your latest if left out)",
    "reason": "why, in a sentence or two",
    "channel": "the channel",
    ("cohort", "channel"): "the cohort's channel (else the one you type in)",
    "reviews": "the assessors' channel (else each assessor gets review tasks by DM)",
    "tz": "the cohort's time zone: America/Chicago, berlin, CST",
    "zone": "the time zone: America/Chicago, berlin, CST (else the cohort's)",
    "as": "their role in it (learner unless you say)",
    ("cohort", "remove", "as"): "only this role (else every role they have in it)",
    ("badges", "channel"): "your cohort's channel, to celebrate it there (else only you see the options)",
    ("badges", "reflection", "setting"): "show it on the badge's public page, or hide it",
    ("badges", "autoshare", "setting"): "on: celebrate new badges without asking; off: ask first",
    ("cohort", "when"): 'when: next friday 9am, in 2 hours, or a schedule such as "0 9 * * mon"',
    "when": "the new deadline: next friday 5pm, Dec 20 17:00, in 3 days",
    "closes": "the deadline: next friday 5pm, Dec 20 17:00, in 3 weeks",
    "opens": "when it opens, if not now: monday 8am, Jan 5",
    "remind": "nudges before the deadline: 7d,2d,1d,2h",
    "late": "late submissions: deny, allow, or a grace period such as 2d",
    "revise-within": "time to resubmit after a revision request, e.g. 14d",
    "text": "what the reminder says",
    "dates": "days without nudges: Dec 24..Jan 2, several separated by commas; clear to remove",
    "reminder": "which reminder, e.g. M-4",
    "request": "which request for more time, e.g. E-2",
    "until": "the learner's new deadline (a week after theirs if left out)",
    "review": "the review (R-7) or its submission (S-12)",
    "scores": "per criterion: artifacts: met, a comment; reflection: exceeds",
    ("review", "revise", "scores"): "each criterion not yet met: reflection: not yet, what to add",
    ("cohort", "remove", "people"): "one or more people: @mention each",
    "feedback": "your feedback to the learner",
    "badge": "which badge, e.g. B-3",
    "address": "an e-mail address",
    ("badges", "zone"): "Europe/Berlin, berlin, CET; auto: back to automatic; empty: the one in use",
    "public-reason": "why, shown on the badge's page and in its documents",
    "private-note": "a note for the audit log only",
    "command": "a command, e.g. window, or one of its subcommands: window extend",
}


@dataclass(frozen=True)
class Option:
    name: str
    description: str
    type: OptionType = OptionType.STRING
    required: bool = False
    keyword: str = ""  # typed before the value: "reviews", "closes", "--"
    choices: tuple[str, ...] = ()
    suggest: str = ""  # what autocomplete offers: "cohort", "review", … ("" for nothing)

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "type": int(self.type),
            "name": self.name,
            "description": self.description,
            "required": self.required,
        }
        if self.choices:
            data["choices"] = [{"name": c, "value": c} for c in self.choices[:CHOICES_MAX]]
        elif self.suggest and self.type == OptionType.STRING:
            data["autocomplete"] = True
        return data


@dataclass(frozen=True)
class Subcommand:
    verb: str
    action: str
    name: str
    description: str
    options: tuple[Option, ...]  # in the usage's order (the typed text's)

    def to_json(self) -> dict[str, object]:
        ordered = sorted(self.options, key=lambda o: not o.required)  # Discord: required first
        return {
            "type": int(OptionType.SUB_COMMAND),
            "name": self.name,
            "description": self.description,
            "options": [o.to_json() for o in ordered],
        }

    def typed(self, values: dict[str, str]) -> str:
        """The line a person would have typed for these option values (channels already as
        `<#id|name>` mentions): the grammar reads it."""
        words = [f"/{self.verb}"] + ([] if self.action == DEFAULT_ACTION.get(self.verb) else [self.action])
        for option in self.options:
            value = (values.get(option.name) or "").strip()
            if option.name in ONE_WORD and len(value.split()) > 1:  # `spring 2026`: one name, as if quoted
                value = '"' + " ".join(value.replace('"', "").split()) + '"'
            if value:
                words += [option.keyword, value] if option.keyword else [value]
        return " ".join(words)


def _slug(words: str) -> str:
    name = re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-")
    return name[:NAME_MAX] or "value"


def _parts(usage: str) -> list[str]:
    """Top-level parts of a usage line: `[…]` groups and `<…>` placeholders whole, and
    alternatives one part (`R-<id> | S-<id>`, `show|hide`)."""
    parts: list[str] = []
    depth, current = 0, ""
    for char in usage.replace(" | ", "|"):
        depth += (char in "[<") - (char in "]>")
        if char == " " and depth == 0:
            parts += [current] if current else []
            current = ""
        else:
            current += char
    return parts + ([current] if current else [])


def _joined(parts: list[str]) -> list[str]:
    """A bare keyword joined to the value after it (`closes <when>`), and a rubric's
    `<criterion>: <level>…; …` up to the feedback taken as one part."""
    out: list[str] = []
    i = 0
    while i < len(parts):
        part = parts[i]
        if part.startswith("<criterion>"):
            rest = list(itertools.takewhile(lambda p: not p.startswith("[--"), parts[i:]))
            out.append(" ".join(rest))
            i += len(rest)
            continue
        if re.fullmatch(r"[a-z]+", part) and i + 1 < len(parts):
            out.append(f"{part} {parts[i + 1]}")
            i += 2
            continue
        out.append(part)
        i += 1
    return out


def _placeholder_name(text: str) -> str:
    """`<public reason>` -> public-reason; `R-<id>|S-<id>` -> review; `<W-id|cohort credential>`
    -> window; `<when|"<cron>">` -> when; `@person…` -> people."""
    first = text.split("|")[0].strip('[]" ')
    if first.startswith("@"):
        return "people"
    if m := re.match(r"<?([A-Z])-(?:<id>|id)", first):
        return ID_NAMES.get(m.group(1), "id")
    if m := re.search(r"<([^<>]+)>", first):
        return _slug(m.group(1)) + ("s" if "…" in text else "")
    return _slug(first.strip("<>…"))


def _option(part: str, required: bool) -> Option | None:
    """One usage part as an option; None for what is folded into the one before it
    (`[<link>…]` after `<link>`)."""
    inner = part[1:-1] if part.startswith("[") and part.endswith("]") else part
    if re.fullmatch(r"<[^<>]+>…", inner):
        return None
    if inner.startswith("-- "):
        name = _placeholder_name(inner[3:])
        return Option(name, f"after --: {inner[3:].strip('<>')}"[:DESCRIPTION_MAX], keyword="--")
    if inner.startswith("#"):
        return Option("channel", "the channel", OptionType.CHANNEL, required)
    words = inner.split(" ", 1)
    if len(words) == 2 and re.fullmatch(r"[a-z]+", words[0]) and not inner.startswith("<"):
        keyword, rest = words
        if rest.startswith("within "):  # `revise within 14d`
            keyword, rest = f"{keyword} within", rest.removeprefix("within ")
        name = _slug(keyword)
        if rest.startswith("#"):
            return Option(name, f"{keyword} #channel", OptionType.CHANNEL, required, keyword)
        alternatives = rest.split("|")
        literal = all(re.fullmatch(r"[a-z]+", a) for a in alternatives) and len(alternatives) > 1
        return Option(
            name,
            f"{keyword} {rest}"[:DESCRIPTION_MAX],
            required=required,
            keyword=keyword,
            choices=tuple(alternatives) if literal else (),
            suggest=SUGGEST.get(name, ""),
        )
    alternatives = inner.split("|")
    if len(alternatives) > 1 and all(re.fullmatch(r"[a-z]+", a) for a in alternatives):
        return Option("setting", inner, required=required, choices=tuple(alternatives))
    name = _placeholder_name(inner)
    if name == "link":
        # never required: `/submit evidence` alone opens the form (`bot.forms.form_for_typed`)
        return Option("links", "links to your evidence, separated by spaces; leave out to fill in a form")
    if name.startswith("criterion"):
        return Option("scores", f"{inner}"[:DESCRIPTION_MAX], required=required)
    if name == "people":
        return Option(name, "one or more people: @mention each (a role too)", required=required)
    shown = inner[1:-1] if re.fullmatch(r"<[^<>]+>", inner) else inner
    return Option(name, shown[:DESCRIPTION_MAX], required=required, suggest=SUGGEST.get(name, ""))


def subcommand(spec: Spec) -> Subcommand:
    usage = spec.usage.split(" ", 1)[1] if " " in spec.usage else ""
    parts = _parts(usage)
    if spec.action != DEFAULT_ACTION.get(spec.verb) and parts and parts[0] == spec.action:
        parts = parts[1:]
    parts = _joined(parts)
    options: list[Option] = []
    for part in parts:
        required = not part.startswith("[")
        if (option := _option(part, required)) is not None:
            taken = {o.name for o in options}
            if option.name in taken:  # `<cohort> <credential>`-like repeats get a number
                option = Option(**{**vars(option), "name": f"{option.name}-{len(options) + 1}"})
            options.append(option)
    default = spec.action == DEFAULT_ACTION.get(spec.verb)
    name = DEFAULT_NAMES.get(spec.verb, spec.action) if default else spec.action
    described = tuple(replace(o, description=described_as(spec, o)) for o in options)
    return Subcommand(spec.verb, spec.action, name, brief(spec.summary), described)


def described_as(spec: Spec, option: Option) -> str:
    keys = ((spec.verb, spec.action, option.name), (spec.verb, option.name), option.name)
    said = next((DESCRIBED[k] for k in keys if k in DESCRIBED), option.description)
    return cut(said, DESCRIPTION_MAX)


def brief(summary: str) -> str:
    """A summary within Discord's 100 characters: its first clauses where they fit, else cut at a
    word."""
    if len(summary) > DESCRIPTION_MAX and "; " in summary[:DESCRIPTION_MAX]:
        return summary[: summary.rfind("; ", 0, DESCRIPTION_MAX)]
    return cut(summary, DESCRIPTION_MAX)


HELP = "What each command does, with examples"


def command_tree() -> list[dict[str, object]]:
    """The application commands to register (`cohortbot discord sync`): one per app command
    verb, each with its actions as subcommands, and `/help` (Discord reserves no name)."""
    tree: list[dict[str, object]] = []
    for verb, description in APP_COMMANDS.items():
        subs = [subcommand(s) for s in SPECS if s.verb == verb]
        tree.append(
            {
                "name": verb,
                "description": description[:DESCRIPTION_MAX],
                "type": 1,
                "options": [s.to_json() for s in subs],
            }
        )
    help_ = subcommand(next(s for s in SPECS if s.verb == "help"))
    tree.append({"name": "help", "description": HELP, "type": 1, "options": help_.to_json()["options"]})
    return tree


@functools.cache
def subcommands() -> dict[tuple[str, str], Subcommand]:
    """Every subcommand by (verb, its name), read from the usage lines once: each interaction
    looks one up."""
    return {(s.verb, sub.name): sub for s in SPECS if (sub := subcommand(s))}


def find(verb: str, name: str | None) -> Subcommand | None:
    """The subcommand an interaction names (`/help` has none: it is its one action)."""
    if verb == "help":
        return next((sub for (v, _), sub in subcommands().items() if v == "help"), None)
    return subcommands().get((verb, name or ""))


@dataclass(frozen=True)
class Invocation:
    """An interaction's command as Discord sends it: the verb, the subcommand's name (none for
    `/help`), its options' raw data, and the subcommand the grammar knows by those names."""

    verb: str
    sub: str | None
    options: list[dict[str, Any]]

    @property
    def found(self) -> Subcommand | None:
        return find(self.verb, self.sub)


def invocation(data: dict[str, Any]) -> Invocation:
    """Read an application command's or autocomplete's raw interaction data."""
    verb, options = str(data.get("name") or ""), list(data.get("options") or [])
    sub = None
    if options and options[0].get("type") == OptionType.SUB_COMMAND:
        sub, options = options[0]["name"], list(options[0].get("options") or [])
    return Invocation(verb, sub, options)


def typed(data: dict[str, Any]) -> str:
    """The line a person would type for a slash command's raw data (channels as `<#id|name>`)."""
    called = invocation(data)
    found = called.found
    if found is None:  # registered by another version: the grammar names the nearest command
        return f"/{called.verb} {called.sub or ''}".strip()
    channels = (data.get("resolved") or {}).get("channels") or {}
    values: dict[str, str] = {}
    for option in called.options:
        value = str(option.get("value") or "")
        if option.get("type") == OptionType.CHANNEL:
            name = (channels.get(value) or {}).get("name")
            value = f"<#{value}|{name}>" if name else f"<#{value}>"
        values[option["name"]] = value
    return found.typed(values)
