"""What people type in Slack, Discord or the console, and what the bot understands by it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.domain import INVISIBLE_RE, LatePolicy, Role, UserError
from bot.grammar import (
    BY_KEY,
    SPECS,
    VERBS,
    ChannelRef,
    Command,
    GroupRef,
    Mention,
    Spec,
    clean_command,
    help_text,
    parse,
)


def refusal(text: str) -> str:
    with pytest.raises(UserError) as err:
        parse(text)
    return str(err.value)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: f"{s.verb}-{s.action}")
def test_every_documented_example_does_what_its_usage_says(spec: Spec) -> None:
    command = parse(spec.example)
    assert (command.verb, command.action) == (spec.verb, spec.action)


@pytest.mark.parametrize("verb", VERBS[:-1])
def test_asking_a_command_for_help_gives_that_commands_help(verb: str) -> None:
    assert parse(f"/{verb} help") == Command("help", "help", {"topic": verb})
    assert parse(f"/help /{verb.upper()}") == Command("help", "help", {"topic": verb})


def test_an_unknown_command_is_refused_listing_the_commands() -> None:
    message = refusal("/frobnicate now")
    assert "'/frobnicate'" in message
    assert all(f"/{verb}" in message for verb in VERBS)


@pytest.mark.parametrize(
    ("typed", "start"),
    [
        ("/cohort frobnicate spring", "'frobnicate' is not a /cohort subcommand"),
        ("/cohort", "Missing a /cohort subcommand"),
        ("/review @alice", "'@alice' is not a /review subcommand"),
    ],
)
def test_an_unknown_or_missing_subcommand_is_refused_listing_the_choices(typed: str, start: str) -> None:
    message = refusal(typed)
    verb = typed.split()[0]
    assert message.startswith(start)
    assert all(s.action in message for s in SPECS if f"/{s.verb}" == verb)


@pytest.mark.parametrize(
    ("typed", "action"),
    [
        ("/review claim", ("review", "claim")),
        ("/cohort add spring", ("cohort", "add")),
        ("/cohort status", ("cohort", "status")),
        ("/window open spring creators", ("window", "open")),
        ("/window open spring creators opens 2026-05-01", ("window", "open")),
        ("/badges email", ("badges", "email")),
        ("/badges autoshare maybe", ("badges", "autoshare")),
        ("/badges reflection B-3", ("badges", "reflection")),
        ("/badges reflection B-3 public", ("badges", "reflection")),
        ("/badges share B-3 frl", ("badges", "share")),
        ("/review revise R-7", ("review", "revise")),
        ("/cohort remind spring tomorrow 09:00", ("cohort", "remind")),
    ],
)
def test_a_command_missing_its_arguments_shows_its_usage_and_example(
    typed: str, action: tuple[str, str]
) -> None:
    message = refusal(typed)
    spec = BY_KEY[action]
    assert f"Usage: `{spec.usage}`" in message
    assert spec.example in message


def test_people_are_recognised_in_slack_discord_and_console_spelling() -> None:
    args = parse("/cohort add spring <@U1|ann> <@123> <@!456> @carol as assessors").args
    assert args["people"] == [Mention("U1", "ann"), Mention("123"), Mention("456"), Mention("carol", "carol")]
    assert args["role"] == Role.ASSESSOR


def test_a_discord_role_and_a_slack_user_group_are_groups_of_people_to_add() -> None:
    args = parse("/cohort add spring <@&123> <@U1|ann> <!subteam^S0TEAM|@librarians> as assessor").args
    assert args["people"] == [GroupRef("123"), Mention("U1", "ann"), GroupRef("S0TEAM", "librarians")]
    assert args["role"] == Role.ASSESSOR


def test_people_are_removed_one_by_one_never_by_group() -> None:
    assert "Mention each person to remove; a group (@librarians) can only be added" in refusal(
        "/cohort remove spring @ann <!subteam^S0TEAM|@librarians>"
    )


def test_an_unknown_role_is_refused_naming_the_roles() -> None:
    assert "learner, assessor or coordinator" in refusal("/cohort add spring @ann as boss")


@pytest.mark.parametrize(
    ("typed", "channel"),
    [
        ("<#C1|frl>", ChannelRef("C1", "frl")),
        ("<#C1>", ChannelRef("C1", "C1")),
        ("<#1234567>", ChannelRef("1234567", "1234567")),
        ("#FRL-Spring", ChannelRef("frl-spring", "frl-spring")),
    ],
)
def test_channels_are_recognised_in_slack_discord_and_console_spelling(
    typed: str, channel: ChannelRef
) -> None:
    args = parse(f"/cohort create spring {typed} reviews {typed} tz Europe/London").args
    assert args["channel"] == args["reviews"] == channel
    assert args["tz"] == "Europe/London"


def test_a_cohort_channel_must_be_a_channel_not_a_person() -> None:
    assert "Expected the assessors' channel" in refusal("/cohort create spring #frl reviews @ann")


@pytest.mark.parametrize(
    "typed",
    [
        "<https://x.org/a|x.org/a>",
        "<https://x.org/a>",
        pytest.param("<https://x.org/a|my unit page>", id="slack-label-with-spaces"),
    ],
)
def test_a_slack_wrapped_link_is_submitted_as_the_plain_link(typed: str) -> None:
    assert parse(f"/submit {typed} -- reflection").args["links"] == ["https://x.org/a"]


@pytest.mark.parametrize(
    ("typed", "window", "links"),
    [
        ("/submit spring https://x.org/a", "spring", ["https://x.org/a"]),
        (
            "/submit Spring-2 <https://x.org/a|x.org/a> http://y.org",
            "spring-2",
            ["https://x.org/a", "http://y.org"],
        ),
        ("/submit https://x.org/a", None, ["https://x.org/a"]),
        (
            "/submit https://x.org/a https://y.org/b https://x.org/a",
            None,
            ["https://x.org/a", "https://y.org/b"],
        ),
    ],
)
def test_submit_takes_an_optional_window_before_its_links(
    typed: str, window: str | None, links: list[str]
) -> None:
    args = parse(typed).args
    assert (args["window"], args["links"]) == (window, links)


def test_a_submission_of_just_a_word_is_refused_as_not_a_link() -> None:
    assert "'spring' is not a web link" in refusal("/submit spring")


def test_double_dashes_split_the_submission_note_into_its_parts() -> None:
    args = parse("/submit https://x.org/a -- Overview of the unit --  -- What students learned").args
    assert args["parts"] == ["Overview of the unit", "What students learned"]
    assert parse("/submit https://x.org/a --").args["parts"] == []


@pytest.mark.parametrize(
    ("typed", "cron", "when", "tz", "text"),
    [
        (
            '/cohort remind spring "0 9 * * mon" America/Chicago Office hours',
            "0 9 * * mon",
            None,
            "America/Chicago",
            "Office hours",
        ),
        (
            "/cohort remind spring every 0 9 * * mon -- Office hours",
            "0 9 * * mon",
            None,
            None,
            "Office hours",
        ),
        (
            "/cohort remind spring tomorrow 09:00 Europe/London Bring #frl notes",
            None,
            "tomorrow 09:00",
            "Europe/London",
            "Bring #frl notes",
        ),
        ("/cohort remind spring in 2h Stand-up", None, "in 2h", None, "Stand-up"),
    ],
)
def test_a_reminder_is_scheduled_once_or_by_cron(
    typed: str, cron: str | None, when: str | None, tz: str | None, text: str
) -> None:
    assert parse(typed).args == {"name": "spring", "when": when, "cron": cron, "tz": tz, "text": text}


@pytest.mark.parametrize(
    ("typed", "arg", "said"),
    [
        pytest.param(
            "/cohort remind spring tomorrow 09:00 It's Bob's turn to host",
            "text",
            "It's Bob's turn to host",
            id="reminder",
        ),
        pytest.param(
            "/review revise R-7 reflection: not yet, it's thin and the students' voices are missing",
            "body",
            "reflection: not yet, it's thin and the students' voices are missing",
            id="review",
        ),
    ],
)
def test_apostrophes_in_free_text_are_kept(typed: str, arg: str, said: str) -> None:
    assert parse(typed).args[arg] == said


def test_a_window_can_be_opened_with_its_zone_opening_reminders_and_late_policy() -> None:
    args = parse(
        "/window open Spring creators closes 2026-06-01T17:00 America/Chicago "
        "opens tomorrow 09:00 remind 1d,7d late 2d revise within 10d"
    ).args
    assert args == {
        "cohort": "spring",
        "credential": "creators",
        "closes": "2026-06-01T17:00",
        "opens": "tomorrow 09:00",
        "tz": "America/Chicago",
        "offsets": [timedelta(days=7), timedelta(days=1)],
        "late": LatePolicy.parse("2d"),
        "revise_within": timedelta(days=10),
    }
    assert parse("/window open spring creators tz UTC closes in 3d late allow").args["tz"] == "UTC"


@pytest.mark.parametrize(
    ("typed", "tz"),
    [
        ("/window open spring creators closes next friday 5pm berlin", "berlin"),
        ("/window open spring creators closes next friday 5pm New York remind 2d", "New York"),
        ("/window extend W-1 next saturday 5pm são paulo", "são paulo"),
        ("/window grant E-2 until next friday Los Angeles", "Los Angeles"),
        ("/cohort create spring #frl tz new york", "America/New_York"),
    ],
)
def test_a_zone_may_be_typed_as_its_city_as_badges_timezone_takes_it(typed: str, tz: str) -> None:
    assert parse(typed).args["tz"] == tz


def test_a_reminder_text_beginning_with_a_city_stays_the_text() -> None:
    args = parse("/cohort remind spring friday 9am Paris trip forms due").args
    assert args["tz"] is None and args["text"] == "Paris trip forms due"


@pytest.mark.parametrize(
    ("typed", "complaint"),
    [
        ("/window open spring creators closes 2026-06-01 Mars/Olympus", "'Mars/Olympus' is not a time zone"),
        ("/window open spring creators closes 2026-06-01 tz Gotham", "'Gotham' is not a time zone"),
        ("/window open spring creators closes 2026-06-01 remind 0d", "longer than zero"),
        ("/window open spring creators closes 2026-06-01 late sometimes", "'sometimes' is not a late policy"),
        ("/window open spring creators closes 2026-06-01 please", "I don't understand 'please' here"),
    ],
)
def test_a_window_with_a_bad_detail_is_refused_naming_it(typed: str, complaint: str) -> None:
    assert complaint in refusal(typed)


@pytest.mark.parametrize(
    ("typed", "args"),
    [
        (
            "/window extend W-3 to tomorrow 17:00 Europe/London",
            {
                "window": 3,
                "cohort": None,
                "credential": None,
                "closes": "tomorrow 17:00",
                "tz": "Europe/London",
            },
        ),
        (
            "/window extend spring creators 2026-06-08",
            {
                "window": None,
                "cohort": "spring",
                "credential": "creators",
                "closes": "2026-06-08",
                "tz": None,
            },
        ),
    ],
)
def test_a_window_is_named_by_its_id_or_by_cohort_and_credential(typed: str, args: dict[str, object]) -> None:
    assert parse(typed).args == args


@pytest.mark.parametrize(
    ("typed", "args"),
    [
        ("/review approve r7", {"review": 7, "body": ""}),
        (
            "/review approve R-7 artifacts: exceeds -- Lovely",
            {"review": 7, "body": "artifacts: exceeds -- Lovely"},
        ),
        ("/submit withdraw", {"submission": None}),
        ("/badges email <mailto:you@school.org|you@school.org>", {"email": "you@school.org"}),
        ("/badges autoshare OFF", {"on": False}),
        ("/badges share B-3", {"badge": 3, "channel": None}),
        ("/badges share b3 <#C1|frl-spring>", {"badge": 3, "channel": ChannelRef("C1", "frl-spring")}),
        ("/badges reflection B-3 SHOW", {"badge": 3, "show": True}),
        ("/badges reflection 3 hide", {"badge": 3, "show": False}),
        (
            "/badges revoke B-3 Not their own work -- report from Ms Lee",
            {"badge": 3, "reason": "Not their own work", "note": "report from Ms Lee"},
        ),
        ("/badges revoke B-3 Not their own work", {"badge": 3, "reason": "Not their own work", "note": ""}),
    ],
)
def test_review_submission_and_badge_details_are_read(typed: str, args: dict[str, object]) -> None:
    assert parse(typed).args == args


def test_a_badge_id_of_the_wrong_kind_is_refused() -> None:
    assert "'R-3' is not a badge id" in refusal("/badges share R-3")


def test_the_help_menu_names_every_command_and_its_subcommands() -> None:
    menu = help_text()
    for verb in VERBS[:-1]:
        assert f"`/{verb}`" in menu
        line = next(line for line in menu.splitlines() if f"`/{verb}`" in line)
        assert all(s.action in line for s in SPECS if s.verb == verb)


@pytest.mark.parametrize("verb", VERBS)
def test_help_for_a_command_shows_each_usage_and_example(verb: str) -> None:
    text = help_text(f"/{verb.upper()}")
    for spec in SPECS:
        assert (spec.usage in text and spec.example in text) is (spec.verb == verb)


@pytest.mark.parametrize(
    "spec", [s for s in SPECS if s.action != s.verb], ids=lambda s: f"{s.verb}-{s.action}"
)
def test_asking_a_subcommand_for_help_gives_only_its_help(spec: Spec) -> None:
    assert parse(f"/{spec.verb} {spec.action} Help") == Command(
        "help", "help", {"topic": f"{spec.verb} {spec.action}"}
    )
    assert parse(f"/help {spec.verb} {spec.action}") == Command(
        "help", "help", {"topic": f"{spec.verb} {spec.action}"}
    )
    text = help_text(f"{spec.verb} {spec.action}")
    assert spec.usage in text and spec.example in text
    assert text.count("\n• ") == 1  # that one alone


def test_help_for_a_subcommand_that_does_not_exist_shows_the_commands_help_saying_so() -> None:
    text = help_text("window frob")
    assert "/window has no subcommand 'frob'" in text
    assert all(s.usage in text for s in SPECS if s.verb == "window")


def test_help_for_something_that_is_not_a_command_is_refused() -> None:
    with pytest.raises(UserError, match="There is no /frob command"):
        help_text("frob")


# ----------------------------------------------------------------------- anything at all

VOCABULARY = st.sampled_from(
    [
        "/submit",
        "submit",
        "/cohort",
        "/window",
        "/review",
        "/badges",
        "/help",
        "help",
        "/HELP",
        "create",
        "add",
        "remove",
        "list",
        "status",
        "remind",
        "reminders",
        "unremind",
        "open",
        "extend",
        "close",
        "queue",
        "claim",
        "approve",
        "revise",
        "release",
        "share",
        "autoshare",
        "email",
        "withdraw",
        "spring",
        "creators",
        "closes",
        "opens",
        "remind",
        "late",
        "tz",
        "reviews",
        "as",
        "every",
        "to",
        "on",
        "off",
        "learner",
        "R-7",
        "r7",
        "S-1",
        "W-3",
        "M-2",
        "B-1",
        "7",
        "0d",
        "7d,2d",
        "2d",
        "+3d",
        "in",
        "tomorrow",
        "17:00",
        "25:00",
        "2026-06-01",
        "2026-06-01T17:00Z",
        "UTC",
        "utc",
        "Z",
        "America/Chicago",
        "Mars/Olympus",
        "a/../b",
        "<@U1|ann>",
        "<@123>",
        "<@!456>",
        "@ann",
        "<#C1|frl>",
        "<#123>",
        "#frl",
        "https://example.org/a",
        "<https://x.org/a|x.org/a>",
        "<https://x.org/a|my page>",
        "http://[",
        "http://",
        "javascript:alert(1)",
        "<mailto:a@b.org|a@b.org>",
        "you@school.org",
        "--",
        " -- ",
        '"',
        "'",
        '"0 9 * * mon"',
        "reflection:",
        "not yet,",
        ";",
        "é",
        "日本",
        "\u200b",
        "🎓",
        "\x00",
        "\n",
    ]
)
command_text = st.one_of(
    st.text(),
    st.lists(VOCABULARY, min_size=1, max_size=10).map(" ".join),
    st.tuples(st.lists(VOCABULARY, max_size=6).map(" ".join), st.text(max_size=20)).map(" ".join),
)


@settings(max_examples=300, deadline=None, database=None)
@given(command_text)
@example("/submit http://[")
@example("/submit spring https://a\uff03b/x")
def test_anything_typed_is_either_understood_or_answered_with_a_clear_sentence(text: str) -> None:
    try:
        command = parse(text)
    except UserError as err:
        assert err.message.strip()
        return
    assert (command.verb, command.action) in BY_KEY
    assert isinstance(command.args, dict)


@pytest.mark.parametrize(
    ("typed", "start"),
    [
        ("/submit extend", "Say why you need more time; your coordinator reads it."),
        ("/submit extend W-2", "Say why you need more time"),
        ("/badges revoke B-4", "Say why; the learner and anyone checking the badge will see it"),
        ("/badges revoke B-4 -- a note for the audit log", "Say why; the learner and anyone checking"),
    ],
)
def test_a_reason_left_out_is_asked_for_in_one_sentence(typed: str, start: str) -> None:
    assert refusal(typed).startswith(start)


def test_a_reason_is_kept_up_to_a_thousand_characters_and_may_be_left_out_of_a_denial() -> None:
    long = "x" * 1500
    assert parse(f"/submit extend {long}").args["reason"] == "x" * 1000
    assert parse(f"/badges revoke B-4 {long}").args["reason"] == "x" * 1000
    assert parse(f"/badges revoke B-4 public -- {long}").args["note"] == "x" * 1000
    assert parse("/window deny E-3").args["reason"] == ""
    assert parse("/window deny E-3 Everyone closes together").args["reason"] == "Everyone closes together"


# ----------------------------------------------------------------------- invisible characters

HIDDEN = [
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\x85",
    "\x9b",
    "\u202a",
    "\u202e",
    "\u2066",
    "\u2069",
    "\ue000",
    "\uf8ff",
]


def invisible(value: object) -> list[str]:
    """Every string in a parsed value that holds a character typed text must not carry."""
    if isinstance(value, str):
        return [value] if INVISIBLE_RE.search(value) else []
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in invisible(v)]
    if isinstance(value, dict):
        return invisible(list(value.keys())) + invisible(list(value.values()))
    if isinstance(value, (Mention, ChannelRef)):
        return invisible(list(vars(value).values()))
    return []


@pytest.mark.parametrize(
    ("typed", "arg", "said"),
    [
        (
            "/submit https://x.org/a -- before\x00after -- see \u202egnp.exe",
            "parts",
            ["beforeafter", "see gnp.exe"],
        ),
        ("/submit https://x.org/a -- line one\r\nline\x07 two", "parts", ["line one\nline two"]),
        ("/submit extend Our testing\x00 week\ue000 moved", "reason", "Our testing week moved"),
        ("/window deny E-2 -- Everyone\u2066 closes\x1b together", "reason", "Everyone closes together"),
        ("/badges revoke B-3 Not\x00 their own work", "reason", "Not their own work"),
        ('/cohort remind spring "0 9 * * mon" Office\x00 hours \u202eat 4', "text", "Office hours at 4"),
        (
            "/review revise R-7 reflection: not yet,\x00 say more -- Good\x7f start",
            "body",
            "reflection: not yet, say more -- Good start",
        ),
    ],
)
def test_free_text_loses_invisible_characters_wherever_it_is_typed(
    typed: str, arg: str, said: object
) -> None:
    assert parse(typed).args[arg] == said


@pytest.mark.parametrize(
    ("typed", "named"),
    [
        ("/submit https://x.org/a\x00 -- fine", "U+0000"),
        ("/submit spr\x00ing https://x.org/a", "U+0000"),
        ("/badges email a\x00b@example.org", "U+0000"),
        ("/badges correct B-3 ana@school.org\u202e", "U+202E"),
        ("/cohort create spr\ue000ing #frl", "U+E000"),
        ("/cohort create spring <#C1|f\x00rl>", "U+0000"),
        ("/cohort add spring <@U1|a\x00nn>", "U+0000"),
        ("/cohort add spring a\x00nn", "U+0000"),
        ("/cohort quiet spring 2026-03-2\x003", "U+0000"),
        ("/window open spring creators closes 2026-06-01 tz America/Chi\x00cago", "U+0000"),
        ('/cohort remind spring "0 9 * * m\x00on" Office hours', "U+0000"),
        ("/window open spring creators closes 2026-06-01\x9b", "U+009B"),
        ("/window grant E-2\u2066", "U+2066"),
        ("/review claim R-7\x00", "U+0000"),
        ("/badges confirm \x07", "U+0007"),
        ("/sub\x00mit https://x.org/a", "U+0000"),
        ("/cohort fr\x00ob spring", "U+0000"),
    ],
)
def test_an_invisible_character_outside_free_text_is_refused_naming_it(typed: str, named: str) -> None:
    message = refusal(typed)
    assert message.startswith("That command contains ") and f"({named}); type it again without it." in message
    assert "Example: `" in message
    assert not INVISIBLE_RE.search(message), "the refusal must not echo the character"


@settings(max_examples=300, deadline=None, database=None)
@given(
    st.one_of(
        command_text,
        st.lists(st.one_of(VOCABULARY, st.sampled_from(HIDDEN)), min_size=1, max_size=12).map("".join),
        st.lists(st.one_of(VOCABULARY, st.sampled_from(HIDDEN)), min_size=1, max_size=12).map(" ".join),
    )
)
@example("/submit https://x.org/a -- \x00")
@example("/submit extend \x00")
def test_a_parsed_command_never_holds_an_invisible_character(text: str) -> None:
    try:
        command = parse(text)
    except UserError as err:
        assert err.message.strip() and not INVISIBLE_RE.search(str(err))
        return
    assert not invisible(command.args), command


def test_a_form_built_command_is_held_to_the_same_rule_as_typed_text() -> None:
    submit = clean_command(
        Command(
            "submit",
            "submit",
            {"window": None, "links": ["https://x.org/a"], "parts": ["over\x00view", "see \u202egnp.exe"]},
        )
    )
    assert submit.args["parts"] == ["overview", "see gnp.exe"]
    decision = clean_command(
        Command(
            "review",
            "revise",
            {
                "review": 7,
                "levels": {"reflection": ("not-yet", "say\x00 more\r\nplease")},
                "feedback": "Good\ue000 start",
            },
        )
    )
    assert decision.args["levels"] == {"reflection": ("not-yet", "say more\nplease")}
    assert decision.args["feedback"] == "Good start"
    for bad in [
        Command("submit", "submit", {"window": "spr\x00ing", "links": [], "parts": []}),
        Command(
            "review", "approve", {"review": 7, "levels": {"reflection": ("met\x00", "")}, "feedback": ""}
        ),
    ]:
        with pytest.raises(UserError, match=r"invisible control character \(U\+0000\)"):
            clean_command(bad)
