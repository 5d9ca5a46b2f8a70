"""The forms (bot/forms.py) as Discord's modals: within Discord's limits (five inputs, 45-character
labels, 100-character hints), the form's request in the modal's custom id, and the values a
submitted modal hands back read as the typed command would be."""

from __future__ import annotations

from typing import Any

import pytest
from fakes.discord.limits import modal_errors

from bot.domain import Criterion, Level
from bot.forms import (
    Decision,
    FieldError,
    FormRequest,
    OneField,
    OneFieldRequest,
    RubricRequest,
    SubmitRequest,
    command_from,
    one_field_form,
    resubmit_form,
    rubric_form,
    submit_form,
)
from bot.platforms.discord.forms import form_values, modal, reopening, request_of

LEVELS = (Level("not-yet", "Not yet", False), Level("met", "Met", True), Level("exceeds", "Exceeds", True))


def rubric(n: int) -> tuple[Criterion, ...]:
    return tuple(
        Criterion(f"c{i}", f"Criterion number {i} with a long name to cut", "", LEVELS) for i in range(n)
    )


def filled(data: dict[str, Any], values: dict[str, str]) -> list[dict[str, Any]]:
    """What Discord sends back for a modal: each input's custom id and value, in its label."""
    out = []
    for item in data["components"]:
        field = item["component"]
        value = values.get(field["custom_id"], field.get("value", ""))
        out.append({"type": 18, "component": {"type": 4, "custom_id": field["custom_id"], "value": value}})
    return out


@pytest.mark.parametrize(
    "form",
    [
        submit_form(),
        resubmit_form(["https://example.org/" + "x" * 3000]),
        one_field_form(OneFieldRequest(OneField.EMAIL)),
        one_field_form(OneFieldRequest(OneField.EXTEND)),
        rubric_form(RubricRequest(7, Decision.APPROVE), rubric(3)),
        rubric_form(RubricRequest(7, Decision.REVISE), rubric(4)),
        rubric_form(RubricRequest(7, Decision.REVISE), rubric(9)),
    ],
    ids=["submit", "resubmit", "email", "extend", "rubric of 3", "rubric of 4", "rubric of 9"],
)
def test_every_form_is_a_modal_discord_takes(form: Any) -> None:
    data = modal(form)
    assert not modal_errors(data), [str(e.pointer) for e in modal_errors(data)]
    assert request_of(data["custom_id"]) == form.request


def test_a_long_question_is_cut_at_a_word_and_asked_whole_in_the_hint() -> None:
    (item,) = modal(one_field_form(OneFieldRequest(OneField.EMAIL)))["components"]
    assert item["label"] == "The e-mail address you use on LinkedIn or…"
    assert item["description"] == "The e-mail address you use on LinkedIn or in your backpack"


def test_a_rubric_of_four_has_an_input_per_criterion_holding_level_and_comment() -> None:
    form = rubric_form(RubricRequest(7, Decision.REVISE), rubric(4))
    data = modal(form)
    assert [i["component"]["custom_id"] for i in data["components"]] == [
        "criterion:c0",
        "criterion:c1",
        "criterion:c2",
        "criterion:c3",
        "feedback",
    ]
    assert data["components"][0]["component"]["value"] == "Met"  # the passing level to begin with
    values = form_values(
        filled(data, {"criterion:c1": "not yet, add photos", "criterion:c2": "", "feedback": "Close!"}), form
    )
    command = command_from(form.request, values).command
    assert command.args["levels"] == {"c0": ("met", ""), "c1": ("not-yet", "add photos"), "c3": ("met", "")}
    assert command.args["feedback"] == "Close!"


def test_a_long_rubric_is_one_input_with_a_line_per_criterion() -> None:
    form = rubric_form(RubricRequest(7, Decision.APPROVE), rubric(9))
    data = modal(form)
    assert [i["component"]["custom_id"] for i in data["components"]] == ["scores", "feedback"]
    lines = data["components"][0]["component"]["value"].splitlines()
    assert lines[:2] == ["c0: Met", "c1: Met"] and len(lines) == 9
    text = "\n".join(["c0: Exceeds, lovely", *lines[1:]])
    values = form_values(filled(data, {"scores": text}), form)
    assert (
        values["level:c0"] == "exceeds" and values["comment:c0"] == "lovely" and values["level:c8"] == "met"
    )
    with pytest.raises(FieldError, match="'nonsense' names no criterion"):
        form_values(filled(data, {"scores": "nonsense"}), form)


def test_a_level_that_is_not_one_is_refused_naming_the_levels() -> None:
    form = rubric_form(RubricRequest(7, Decision.REVISE), rubric(2))
    data = modal(form)
    with pytest.raises(
        FieldError, match=r"'great' is not a level of .*; its levels are Not yet / Met / Exceeds"
    ):
        form_values(filled(data, {"criterion:c0": "great, really"}), form)


@pytest.mark.parametrize(
    ("request_", "command"),
    [
        (SubmitRequest(), "/submit"),
        (RubricRequest(12, Decision.APPROVE), "/review approve R-12"),
        (OneFieldRequest(OneField.EXTEND), "/submit extend"),
    ],
)
def test_a_refused_form_is_offered_again_by_the_button_that_opens_it(
    request_: FormRequest, command: str
) -> None:
    from bot.forms import form_for_button

    assert form_for_button(reopening(request_)) == request_
    assert reopening(request_) == command


def test_a_custom_id_this_version_does_not_know_is_no_request() -> None:
    assert request_of("decision_form:x:maybe") is None and request_of("elsewhere") is None
