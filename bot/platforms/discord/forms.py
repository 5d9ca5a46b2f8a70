"""Neutral forms (`bot.forms`) as Discord modals, and the values a submitted modal hands back.

Discord's modals are narrower than the forms: at most five inputs, labels of 45 characters,
hints (a label's description) of 100, text inputs only (no select menu the bot can rely on).
Each field is a labelled text input whose custom id is the field's key, with these fittings:

- a field with choices (a rubric level) is typed: its hint lists the choices, and the value
  begins as the one picked by default;
- the rubric form's 2n+1 fields become n+1 inputs: one per criterion holding "level, comment"
  (the level first, then any comment after a comma), then the feedback. A rubric of more than
  four criteria gets one input holding a line per criterion, "criterion: level, comment",
  begun with each criterion's key and passing level.

The form's request rides in the modal's custom id (`form_id`), so the submit is understood by
any process, after a restart too; the channel is the submit's own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from bot.forms import (
    Decision,
    Field,
    FieldError,
    Form,
    FormKind,
    FormRequest,
    OneField,
    OneFieldRequest,
    RubricRequest,
    SubmitRequest,
)
from bot.markup import cut

TITLE_MAX = 45
LABEL_MAX = 45
HINT_MAX = 100
INPUTS_MAX = 5
SHORT, PARAGRAPH = 1, 2
TEXT_INPUT, LABEL = 4, 18
CRITERION = "criterion:"  # an input holding one criterion's "level, comment"
SCORES = "scores"  # the one input holding every criterion's line, for a long rubric


def shortened(label: str, hint: str) -> tuple[str, str]:
    """A label too long for Discord is cut at a word, and shown whole as the hint if there is
    none (the one-field forms ask their question in the label)."""
    if len(label) <= LABEL_MAX:
        return label, hint
    return cut(label, LABEL_MAX), hint or label


# ------------------------------------------------------------------ the request in a custom id


def form_id(request: FormRequest) -> str:
    """`submit_form`, `decision_form:7:approve`, `one_field_form:/badges email`."""
    if isinstance(request, RubricRequest):
        return f"{request.kind.value}:{request.review}:{request.decision.value}"
    if isinstance(request, OneFieldRequest):
        return f"{request.kind.value}:{request.command.value}"
    return request.kind.value


def request_of(custom_id: str) -> FormRequest | None:
    """The request a modal's custom id holds; None for one this version does not know."""
    kind, _, rest = custom_id.partition(":")
    try:
        if kind == FormKind.SUBMIT:
            return SubmitRequest()
        if kind == FormKind.RUBRIC:
            review, decision = rest.split(":")
            return RubricRequest(int(review), Decision(decision))
        if kind == FormKind.ONE_FIELD:
            return OneFieldRequest(OneField(rest))
    except ValueError:
        return None
    return None


def reopening(request: FormRequest) -> str:
    """The command of a button that opens the form again (`bot.forms.form_for_button`)."""
    if isinstance(request, RubricRequest):
        return f"/review {request.decision.value} R-{request.review}"
    if isinstance(request, OneFieldRequest):
        return request.command.value
    return "/submit"


# ------------------------------------------------------------------ rendering


def labelled(
    key: str,
    label: str,
    hint: str,
    *,
    multiline: bool,
    required: bool,
    max_length: int,
    value: str | None = None,
) -> dict[str, Any]:
    field: dict[str, Any] = {
        "type": TEXT_INPUT,
        "custom_id": key,
        "style": PARAGRAPH if multiline else SHORT,
        "required": required,
        "max_length": max_length,
    }
    if value:
        field["value"] = value[:max_length]
    label, hint = shortened(label, hint)
    item: dict[str, Any] = {"type": LABEL, "label": label, "component": field}
    if hint:
        item["description"] = cut(hint, HINT_MAX)
    return item


def choice_hint(field: Field) -> str:
    return " / ".join(choice.label for choice in field.choices)


def initial_label(field: Field) -> str | None:
    return next((c.label for c in field.choices if c.key == field.initial), None)


def inputs(form: Form) -> list[dict[str, Any]]:
    if isinstance(form.request, RubricRequest):
        return rubric_inputs(form.fields)
    return [
        labelled(
            f.key,
            f.label,
            f.hint,
            multiline=f.multiline,
            required=f.required,
            max_length=f.max_length,
            value=f.value or None,
        )
        for f in form.fields
    ][:INPUTS_MAX]


def rubric_inputs(fields: Sequence[Field]) -> list[dict[str, Any]]:
    levels = [f for f in fields if f.key.startswith("level:")]
    comments = {f.key.removeprefix("comment:"): f for f in fields if f.key.startswith("comment:")}
    feedback = next(f for f in fields if f.key == "feedback")
    out: list[dict[str, Any]] = []
    if len(levels) < INPUTS_MAX:
        for level in levels:
            key = level.key.removeprefix("level:")
            comment = comments.get(key)
            out.append(
                labelled(
                    CRITERION + key,
                    level.label,
                    f"{choice_hint(level)}; then a comment after a comma",
                    multiline=True,
                    required=False,
                    max_length=(comment.max_length if comment else 0) + 100,
                    value=initial_label(level),
                )
            )
    else:
        lines = [f"{f.key.removeprefix('level:')}: {initial_label(f) or ''}" for f in levels]
        out.append(
            labelled(
                SCORES,
                "Each criterion: level, comment",
                "A line per criterion: its key, a colon, the level, then any comment after a comma",
                multiline=True,
                required=False,
                max_length=4000,
                value="\n".join(lines),
            )
        )
    out.append(
        labelled(
            feedback.key,
            feedback.label,
            feedback.hint,
            multiline=True,
            required=feedback.required,
            max_length=feedback.max_length,
        )
    )
    return out


def modal(form: Form) -> dict[str, Any]:
    """The `data` of a MODAL interaction answer (callback type 9)."""
    return {
        "custom_id": form_id(form.request),
        "title": cut(form.title, TITLE_MAX),
        "components": inputs(form),
    }


def refilled(data: dict[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """A modal's `data` with what the person typed last time in each of its inputs (`values`,
    by custom id, as `submitted` reads them)."""
    for item in data["components"]:
        field = item.get("component") if isinstance(item.get("component"), dict) else item
        typed = values.get(str(field.get("custom_id")))
        if typed:
            field["value"] = typed[: int(field.get("max_length") or len(typed))]
    return data


class Drafts:
    """What someone typed in a form Discord sent and the bot refused, kept a while so that "Open
    the form again" opens it as they left it (Discord shows a refusal only after the modal has
    closed). In memory: after a restart the form opens empty."""

    def __init__(self, ttl: float = 15 * 60) -> None:
        self.ttl = ttl
        self.kept: dict[tuple[str, str], tuple[float, dict[str, str]]] = {}

    def keep(self, user_id: str, request: FormRequest, components: Sequence[Mapping[str, Any]]) -> None:
        now = time.monotonic()
        self.kept = {k: v for k, v in self.kept.items() if v[0] > now}  # the old ones go
        self.kept[(user_id, form_id(request))] = (now + self.ttl, dict(submitted(components)))

    def take(self, user_id: str, request: FormRequest) -> dict[str, str]:
        expires, values = self.kept.pop((user_id, form_id(request)), (0.0, {}))
        return values if expires > time.monotonic() else {}


# ------------------------------------------------------------------ values back


def submitted(components: Sequence[Mapping[str, Any]]) -> Iterator[tuple[str, str]]:
    """(custom id, value) of every text input in a modal submit, whatever its layout."""
    for item in components:
        inner = [*item.get("components", [])]
        if isinstance(item.get("component"), dict):
            inner.append(item["component"])
        if "custom_id" in item and "value" in item:
            yield str(item["custom_id"]), str(item.get("value") or "")
        yield from submitted(inner)


def form_values(components: Sequence[Mapping[str, Any]], form: Form) -> dict[str, str]:
    """Field key -> value, undoing the fittings (see the module's notes): a typed level is the
    key of the choice it names (by label or key, in any case); what `bot.forms.command_from`
    reads. FieldError names what cannot be read."""
    levels = {f.key.removeprefix("level:"): f for f in form.fields if f.key.startswith("level:")}
    out: dict[str, str] = {}
    for custom_id, value in submitted(components):
        if custom_id.startswith(CRITERION):
            criterion(out, levels, custom_id.removeprefix(CRITERION), value)
        elif custom_id == SCORES:
            for line in value.splitlines():
                if not line.strip():
                    continue
                name, colon, rest = line.partition(":")
                key = next(
                    (k for k, f in levels.items() if name.strip().lower() in (k, f.label.lower())), None
                )
                if not colon or key is None:
                    raise FieldError(
                        SCORES,
                        f"'{cut(line.strip(), 60)}' names no criterion: write each line as "
                        f"criterion: level, comment (the criteria are {', '.join(levels)}).",
                    )
                criterion(out, levels, key, rest)
        else:
            out[custom_id] = value
    return out


def criterion(out: dict[str, str], levels: Mapping[str, Field], key: str, value: str) -> None:
    """One criterion's "level, comment"; left empty, it is not judged (as when not typed)."""
    typed, _, comment = value.partition(",")
    field = levels.get(key)
    if not typed.strip() or field is None:
        return
    wanted = typed.strip().lower()
    choice = next((c for c in field.choices if wanted in (c.key.lower(), c.label.lower())), None)
    if choice is None:
        raise FieldError(
            field.key,
            f"'{typed.strip()}' is not a level of {field.label}; its levels are {choice_hint(field)}. "
            "Write the level, then a comma and any comment.",
        )
    out[field.key] = choice.key
    out[f"comment:{key}"] = comment.strip()
