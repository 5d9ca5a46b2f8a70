"""Forms, declared once: what each form asks (fields, labels, hints, limits), which button or
bare command opens it, and the `Command` its values make: the one the typed text would.

Pure, like grammar.py. A platform only renders a `Form` as its own kind of dialog, keeps the
form's small `request` with it, and hands back the request and the values (field key -> the
text typed, or the key of the choice picked). It never reads a value itself: `command_from`
does, for every platform alike, and a value it refuses raises `FieldError` naming the field,
so the refusal shows beside it. A refusal of the command as a whole (a handler's) shows beside
`Filled.field`.

A field's `required` is what the platform asks of the person; it is no rule here. A value
left out reads as empty, and the command's own rules decide, in the words typed text gets.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import ClassVar

from bot.domain import Criterion, UserError, check_links, parse_short_id
from bot.grammar import Command, parse

VALUE_MAX = 3000  # the most one input holds on every platform the bot serves
COMMENT_MAX = 2000  # a comment on one criterion of a rubric
ONE_FIELD_MAX = 1000


class FormKind(StrEnum):
    """Which form: the id a platform keeps with an open form (these were the first ids used,
    and forms opened before a restart still answer to them)."""

    SUBMIT = "submit_form"
    RUBRIC = "decision_form"
    ONE_FIELD = "one_field_form"


class Decision(StrEnum):
    APPROVE = "approve"
    REVISE = "revise"


class OneField(StrEnum):
    """Button commands that need one more piece of text: a one-field form asks for it."""

    EXTEND = "/submit extend"
    EMAIL = "/badges email"


class FieldError(UserError):
    """A value a form handed back that cannot make its command; `field` is where to say so."""

    def __init__(self, field: str, message: str, example: str | None = None) -> None:
        super().__init__(message, example)
        self.field = field

    @classmethod
    def at(cls, field: str, error: UserError) -> FieldError:
        return cls(field, error.message, error.example)


@dataclass(frozen=True)
class Choice:
    key: str  # what comes back when it is picked
    label: str


@dataclass(frozen=True)
class Field:
    key: str  # what the value comes back under
    label: str
    hint: str = ""  # the longer help shown with it
    multiline: bool = True
    required: bool = True
    max_length: int = VALUE_MAX
    choices: tuple[Choice, ...] = ()  # pick one of these, else the field takes text
    initial: str | None = None  # the key of the choice picked to begin with
    value: str = ""  # text filled in to begin with (a resubmission's links)

    def __post_init__(self) -> None:
        if not 0 < self.max_length <= VALUE_MAX:
            raise ValueError(f"field {self.key}: max_length {self.max_length} is not within 1..{VALUE_MAX}")


@dataclass(frozen=True)
class SubmitRequest:
    """Hand in evidence (a `/submit` button, or `/submit` typed with nothing after it)."""

    kind: ClassVar[FormKind] = FormKind.SUBMIT


@dataclass(frozen=True)
class RubricRequest:
    """Decide a review against its credential's rubric."""

    kind: ClassVar[FormKind] = FormKind.RUBRIC
    review: int
    decision: Decision


@dataclass(frozen=True)
class OneFieldRequest:
    kind: ClassVar[FormKind] = FormKind.ONE_FIELD
    command: OneField


FormRequest = SubmitRequest | RubricRequest | OneFieldRequest
"""What a platform keeps with an open form (its fields, `dataclasses.asdict`, are a few
short values) to know, when the values come back, what they answer."""

REQUESTS: dict[FormKind, type[FormRequest]] = {
    FormKind.SUBMIT: SubmitRequest,
    FormKind.RUBRIC: RubricRequest,
    FormKind.ONE_FIELD: OneFieldRequest,
}


@dataclass(frozen=True)
class Form:
    request: FormRequest
    title: str
    submit: str  # the submit button's label
    fields: tuple[Field, ...]


@dataclass(frozen=True)
class Filled:
    """A form's values read: the command they make, and the field beside which a refusal of
    that command (by its handler) is shown."""

    command: Command
    field: str


# ------------------------------------------------------------------- which form


DECISION_RE = re.compile(r"^/review (approve|revise) (\S+)$")
ONE_FIELD_COMMANDS = frozenset(command.value for command in OneField)


def form_for_button(command: str) -> FormRequest | None:
    """The form a button's command opens, or None: the command runs as it is. A decision
    button naming no review raises UserError."""
    if command == "/submit":
        return SubmitRequest()
    if command in ONE_FIELD_COMMANDS:
        return OneFieldRequest(OneField(command))
    if decision := DECISION_RE.match(command):
        return RubricRequest(parse_short_id(decision.group(2), "R"), Decision(decision.group(1)))
    return None


def form_for_typed(text: str) -> FormRequest | None:
    """The form a typed command opens instead of running: `/submit` with nothing after it.
    (Typed text is otherwise always run, so a typed `/badges email` says what is missing.)"""
    return SubmitRequest() if text.strip() == "/submit" else None


# ------------------------------------------------------------------- the forms


SUBMIT_FIELDS = (
    Field("overview", "Overview", "Your learners, your space, the project.", required=False),
    Field(
        "links",
        "Artifact links",
        "One link per line (up to 10): student work, plans, photos, each viewable by anyone with the link.",
    ),
    Field("reflection", "Reflection", "What students learned and what you would change next time."),
    Field(
        "window",
        "Window",
        "Only if you have several open windows: the credential, e.g. creators.",
        multiline=False,
        required=False,
    ),
)

ONE_FIELD_FORMS: dict[OneField, tuple[str, Field]] = {  # the title, and the one field
    OneField.EXTEND: (
        "More time",
        Field("value", "Why do you need more time? Your coordinator reads this.", max_length=ONE_FIELD_MAX),
    ),
    OneField.EMAIL: (
        "Badge address",
        Field(
            "value",
            "The e-mail address you use on LinkedIn or in your backpack",
            multiline=False,
            max_length=ONE_FIELD_MAX,
        ),
    ),
}


def submit_form() -> Form:
    return Form(SubmitRequest(), "Submit evidence", "Submit", SUBMIT_FIELDS)


def resubmit_form(links: Sequence[str]) -> Form:
    """The form after a revision request: what changed first (what `-- <what changed>` says
    typed), the links as they stand to edit, and a new reflection only if there is one."""
    _, given, reflection, window = SUBMIT_FIELDS
    return Form(
        SubmitRequest(),
        "Resubmit evidence",
        "Resubmit",
        (
            Field("changed", "What changed", "What you changed after your assessor's request."),
            replace(given, value="\n".join(links)),
            replace(
                reflection,
                label="New reflection",
                hint="Only if it changed: leave it empty to keep your reflection.",
                required=False,
            ),
            window,
        ),
    )


def one_field_form(request: OneFieldRequest) -> Form:
    title, field = ONE_FIELD_FORMS[request.command]
    return Form(request, title, "Send", (field,))


def rubric_form(request: RubricRequest, rubric: Sequence[Criterion]) -> Form:
    """A level to pick for each criterion (its passing level to begin with) and a comment on
    it, then feedback to the learner: what a revision request must have."""
    revise = request.decision is Decision.REVISE
    fields: list[Field] = []
    for c in rubric:
        fields.append(
            Field(
                f"level:{c.key}",
                c.name,
                c.description or c.name,
                choices=tuple(Choice(lv.key, lv.name) for lv in c.levels),
                initial=c.passing_level.key,
            )
        )
        fields.append(
            Field(f"comment:{c.key}", f"Comment on {c.name}", required=False, max_length=COMMENT_MAX)
        )
    fields.append(Field("feedback", "Feedback to the learner", required=revise))
    title = "Request revision" if revise else "Approve"
    return Form(request, title, "Send back" if revise else "Approve", tuple(fields))


# ------------------------------------------------------------------- values -> Command


def command_from(request: FormRequest, values: Mapping[str, str]) -> Filled:
    """The command a form's values make; FieldError names the field a value is wrong in."""
    if isinstance(request, RubricRequest):
        return rubric_command(request, values)
    if isinstance(request, OneFieldRequest):
        return one_field_command(request, values)
    return submit_command(values)


def value_of(values: Mapping[str, str], key: str, max_length: int = VALUE_MAX) -> str:
    """One value, as long as its field holds at most (a platform's own form keeps to that, a
    forged request need not); a value left out is empty."""
    value = values.get(key) or ""
    if len(value) > max_length:
        raise FieldError(
            key,
            f"That is {len(value):,} characters; this holds at most {max_length:,}. "
            "Link long text instead of pasting it.",
        )
    return value


def submit_command(values: Mapping[str, str]) -> Filled:
    """`/submit [<window>] <link>… -- <overview> -- <reflection>`, as typed."""
    typed = value_of(values, "links")
    try:
        links = check_links(typed.split())
    except UserError as exc:
        raise FieldError.at("links", exc) from None
    first = "changed" if "changed" in values else "overview"  # a resubmission's: what changed
    parts = [value_of(values, key).strip() for key in (first, "reflection")]
    window = unicodedata.normalize("NFC", value_of(values, "window").strip()).lower() or None
    args = {"window": window, "links": links, "parts": [p for p in parts if p]}
    return Filled(Command("submit", "submit", args), "links")


def one_field_command(request: OneFieldRequest, values: Mapping[str, str]) -> Filled:
    """The button's command with the one value after it, read as if typed on one line."""
    value = " ".join(value_of(values, "value", ONE_FIELD_MAX).split())
    try:
        return Filled(parse(f"{request.command} {value}"), "value")
    except UserError as exc:
        raise FieldError.at("value", exc) from None


def rubric_command(request: RubricRequest, values: Mapping[str, str]) -> Filled:
    """`/review approve|revise R-<id>` with the levels picked (and comments) per criterion and
    the feedback; a criterion with no level picked is not named, as when typed."""
    levels = {
        key.removeprefix("level:"): (
            value_of(values, key),
            value_of(values, f"comment:{key.removeprefix('level:')}", COMMENT_MAX),
        )
        for key in values
        if key.startswith("level:")
    }
    args = {"review": request.review, "levels": levels, "feedback": value_of(values, "feedback")}
    first = next((key for key in values if key.startswith("level:")), "feedback")
    return Filled(Command("review", request.decision.value, args), first)
