"""Forms, declared once (`bot.forms`): which button opens which form, what each form asks, and
how the values a person fills in become the command they would have typed."""

from __future__ import annotations

import pytest

from bot.domain import UserError, rubric_from_data
from bot.forms import (
    VALUE_MAX,
    Decision,
    Field,
    FieldError,
    Filled,
    FormRequest,
    OneField,
    OneFieldRequest,
    RubricRequest,
    SubmitRequest,
    command_from,
    form_for_button,
    form_for_typed,
    one_field_form,
    resubmit_form,
    rubric_form,
    submit_form,
)
from bot.grammar import Command, clean_command, parse
from bot.messages import COMMAND_MAX, Button, Message

RUBRIC = rubric_from_data(
    [
        {"key": "artifacts", "name": "Student artifacts", "description": "Work students made"},
        {"key": "reflection", "name": "Reflection"},
    ]
)


def filled(request: FormRequest, **values: str) -> Filled:
    return command_from(request, values)


def refused(request: FormRequest, **values: str) -> FieldError:
    with pytest.raises(FieldError) as err:
        command_from(request, values)
    return err.value


def typed_refusal(text: str) -> str:
    with pytest.raises(UserError) as err:
        parse(text)
    return str(err.value)


# ------------------------------------------------------------------ which form


@pytest.mark.parametrize(
    ("command", "request_"),
    [
        ("/submit", SubmitRequest()),
        ("/submit extend", OneFieldRequest(OneField.EXTEND)),
        ("/badges email", OneFieldRequest(OneField.EMAIL)),
        ("/review approve R-7", RubricRequest(7, Decision.APPROVE)),
        ("/review revise R-12", RubricRequest(12, Decision.REVISE)),
        ("/review claim R-7", None),
        ("/badges confirm", None),
        ("/badges share B-3 #frl-spring", None),
    ],
)
def test_a_button_needing_more_than_its_command_opens_a_form(
    command: str, request_: FormRequest | None
) -> None:
    assert form_for_button(command) == request_


def test_a_decision_button_naming_no_review_is_refused() -> None:
    with pytest.raises(UserError, match="review"):
        form_for_button("/review approve X-9")


def test_only_a_bare_typed_submit_opens_a_form() -> None:
    """Typed text runs as typed: `/badges email` alone says what is missing, not a form."""
    assert form_for_typed(" /submit ") == SubmitRequest()
    assert form_for_typed("/submit status") is None
    assert form_for_typed("/badges email") is None
    assert form_for_typed("/review approve R-7") is None


# ------------------------------------------------------------------ what the forms ask


def test_the_submit_form_asks_for_the_three_parts_and_the_window() -> None:
    form = submit_form()
    assert (form.title, form.submit) == ("Submit evidence", "Submit")
    assert [(f.key, f.label, f.required) for f in form.fields] == [
        ("overview", "Overview", False),
        ("links", "Artifact links", True),
        ("reflection", "Reflection", True),
        ("window", "Window", False),
    ]
    assert all(f.hint for f in form.fields)


def test_the_rubric_form_picks_a_level_per_criterion_starting_at_the_passing_one() -> None:
    approve = rubric_form(RubricRequest(7, Decision.APPROVE), RUBRIC)
    assert (approve.title, approve.submit) == ("Approve", "Approve")
    assert [f.key for f in approve.fields] == [
        "level:artifacts",
        "comment:artifacts",
        "level:reflection",
        "comment:reflection",
        "feedback",
    ]
    level = approve.fields[0]
    assert (level.label, level.hint) == ("Student artifacts", "Work students made")
    assert [c.key for c in level.choices] == [lv.key for lv in RUBRIC[0].levels]
    assert level.initial == RUBRIC[0].passing_level.key
    assert approve.fields[1].label == "Comment on Student artifacts" and not approve.fields[1].required
    assert approve.fields[2].hint == "Reflection"  # no description: its name
    assert not approve.fields[-1].required
    revise = rubric_form(RubricRequest(7, Decision.REVISE), RUBRIC)
    assert (revise.title, revise.submit) == ("Request revision", "Send back")
    assert revise.fields[-1].required  # a revision request says what to change


@pytest.mark.parametrize("command", list(OneField))
def test_a_one_field_form_asks_for_the_text_its_command_lacks(command: OneField) -> None:
    form = one_field_form(OneFieldRequest(command))
    assert form.submit == "Send" and [f.key for f in form.fields] == ["value"]
    assert form.fields[0].required


def test_every_form_keeps_to_the_limits_every_platform_takes() -> None:
    forms = [
        submit_form(),
        resubmit_form(["https://example.org/unit"]),
        rubric_form(RubricRequest(7, Decision.REVISE), RUBRIC),
        *(one_field_form(OneFieldRequest(c)) for c in OneField),
    ]
    for form in forms:
        keys = [f.key for f in form.fields]
        assert len(keys) == len(set(keys)), form.title
        assert all(0 < f.max_length <= VALUE_MAX for f in form.fields)
    with pytest.raises(ValueError, match="max_length"):
        Field("essay", "Essay", max_length=VALUE_MAX + 1)


# ------------------------------------------------------------------ values -> the typed command


def test_the_submit_form_makes_the_command_typed_text_would() -> None:
    form = filled(
        SubmitRequest(),
        overview=" Grade 5 makerspace ",
        links="https://example.org/a\nhttps://example.org/b https://example.org/a",
        reflection="Students led the design",
        window="Creators",
    )
    typed = parse(
        "/submit creators https://example.org/a https://example.org/b "
        "-- Grade 5 makerspace -- Students led the design"
    )
    assert clean_command(form.command) == typed
    assert form.field == "links"  # where a refusal of the submission shows


def test_the_submit_form_without_overview_or_window_reads_as_links_and_reflection() -> None:
    form = filled(SubmitRequest(), links="https://example.org/a", reflection="r", overview="  ")
    assert form.command == Command(
        "submit", "submit", {"window": None, "links": ["https://example.org/a"], "parts": ["r"]}
    )


def test_bad_links_in_the_submit_form_are_refused_beside_the_links() -> None:
    error = refused(SubmitRequest(), links="not a link", reflection="r")
    assert error.field == "links" and "is not a web link" in str(error)
    error = refused(SubmitRequest(), reflection="r")
    assert error.field == "links" and "Add at least one link to your evidence." in str(error)


def test_a_one_field_form_makes_its_command_with_the_value_on_one_line() -> None:
    email = filled(OneFieldRequest(OneField.EMAIL), value="  ana@school.org \n")
    assert email.command == parse("/badges email ana@school.org") and email.field == "value"
    extend = filled(OneFieldRequest(OneField.EXTEND), value="Testing week\nmoved")
    assert extend.command == parse("/submit extend Testing week moved")


def test_a_one_field_form_is_refused_in_the_words_typed_text_gets() -> None:
    error = refused(OneFieldRequest(OneField.EMAIL), value="ana at school")
    assert error.field == "value"
    assert str(error) == typed_refusal("/badges email ana at school")
    error = refused(OneFieldRequest(OneField.EXTEND), value=" ")
    assert error.field == "value" and "Say why you need more time" in str(error)


def test_the_rubric_form_makes_a_decision_with_levels_comments_and_feedback() -> None:
    decided = filled(
        RubricRequest(7, Decision.REVISE),
        **{
            "level:artifacts": "met",
            "comment:artifacts": "clear",
            "level:reflection": "not-yet",
            "comment:reflection": "say what they learned",
            "feedback": "Nearly there",
        },
    )
    assert decided.command == Command(
        "review",
        "revise",
        {
            "review": 7,
            "levels": {"artifacts": ("met", "clear"), "reflection": ("not-yet", "say what they learned")},
            "feedback": "Nearly there",
        },
    )
    assert decided.field == "level:artifacts"  # a refusal of the decision shows at the first level


def test_a_rubric_form_without_levels_names_no_criterion_and_refusals_show_at_feedback() -> None:
    decided = filled(RubricRequest(7, Decision.APPROVE), feedback="", **{"comment:artifacts": "lost"})
    assert decided.command.args == {"review": 7, "levels": {}, "feedback": ""}
    assert decided.field == "feedback"


@pytest.mark.parametrize(
    ("request_", "field", "limit"),
    [
        (SubmitRequest(), "reflection", 3000),
        (SubmitRequest(), "links", 3000),
        (RubricRequest(7, Decision.APPROVE), "feedback", 3000),
        (RubricRequest(7, Decision.APPROVE), "comment:artifacts", 2000),
        (OneFieldRequest(OneField.EXTEND), "value", 1000),
    ],
)
def test_a_value_longer_than_its_field_holds_is_refused_beside_that_field(
    request_: FormRequest, field: str, limit: int
) -> None:
    """A platform's own form keeps to each field's length; a forged request is held to it too."""
    values = {"links": "https://example.org/a", "level:artifacts": "met", field: "x" * (limit + 1)}
    with pytest.raises(FieldError) as err:
        command_from(request_, values)
    assert err.value.field == field and f"at most {limit:,}" in str(err.value)
    if field == "links":  # ten links of 298 characters, a line each, and spaces to fill
        values[field] = "\n".join(f"https://example.org/{i}" + "x" * 277 for i in range(10)).ljust(limit)
    else:
        values[field] = "x" * limit
    command_from(request_, values)  # exactly the limit is taken


# ------------------------------------------------------------------ buttons


def test_a_button_holds_a_command_of_at_most_100_characters() -> None:
    assert COMMAND_MAX == 100
    fits = "/submit extend " + "x" * 85
    assert Button("Ask", command=fits).command == fits
    with pytest.raises(ValueError, match="at most 100"):
        Button("Ask", command=fits + "x")
    assert Button("Read", url="https://example.org/" + "x" * 500).url  # a link is no command


def test_a_stored_button_longer_than_the_cap_is_left_out_rather_than_sink_its_message() -> None:
    """Messages waiting in the outbox from before the cap still go, without that one button."""
    stored = Message("You earned it", (Button("Share", command="/badges share B-1 #frl"),)).to_dict()
    stored["buttons"].append({"label": "Old", "command": "/badges share B-1 #" + "x" * 90})
    assert [b.label for b in Message.from_dict(stored).buttons] == ["Share"]
