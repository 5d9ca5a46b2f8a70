"""The programme's rules as people meet them: ids, links, times, reviews, claims and nudges."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.domain import (
    END_OF_DAY,
    MORNING,
    START_OF_DAY,
    LatePolicy,
    LearnerProgress,
    Phase,
    SubmissionState,
    UserError,
    WindowPlan,
    advance,
    assess,
    check_claim,
    check_correction,
    check_email,
    check_link,
    check_links,
    check_visible,
    check_window_times,
    clean_text,
    format_duration,
    format_left,
    format_time,
    looks_like_zone,
    parse_duration,
    parse_offsets,
    parse_ref,
    parse_short_id,
    parse_when,
    plan_nudges,
    release_state,
    rubric_from_data,
    rubric_to_data,
    window_phase,
    zone,
)

S = SubmissionState
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
CHICAGO = ZoneInfo("America/Chicago")
FUZZ = settings(max_examples=300, deadline=None, database=None)


# --------------------------------------------------------------------------- ids


@pytest.mark.parametrize("text", ["R-7", "r7", "7", " r-7 "])
def test_a_review_id_can_be_typed_with_or_without_its_prefix(text: str) -> None:
    assert parse_short_id(text, "R") == 7


@pytest.mark.parametrize("text", ["X-7", "R-", "", "S-7", "R-7a", "seven"])
def test_a_malformed_review_id_is_refused_with_the_expected_shape(text: str) -> None:
    with pytest.raises(UserError) as err:
        parse_short_id(text, "R")
    assert f"'{text}' is not a review id" in err.value.message
    assert "R-7" in err.value.message


# --------------------------------------------------------------------------- links


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "file:///etc/passwd",
        "portfolio",
        "example.org/unit",
        "https://",
        "http://exa mple.org/a",
    ],
)
def test_evidence_that_is_not_a_web_link_is_refused_with_an_example(url: str) -> None:
    with pytest.raises(UserError) as err:
        check_link(url)
    assert "link" in err.value.message
    assert err.value.example and err.value.example.startswith("/submit https://")


def test_a_link_over_two_thousand_characters_is_refused_saying_how_long_it_is() -> None:
    url = "https://example.org/" + "a" * 1981
    with pytest.raises(UserError) as err:
        check_link(url)
    assert "2,001 characters" in err.value.message and "2,000" in err.value.message
    assert check_link(url[:-1]) == url[:-1]


def test_more_than_ten_distinct_links_are_refused_but_ten_are_fine() -> None:
    links = [f"https://example.org/{i}" for i in range(11)]
    with pytest.raises(UserError, match="at most 10") as err:
        check_links(links)
    assert err.value.example
    assert check_links(links[:10]) == links[:10]


def test_repeated_links_are_kept_once_in_the_order_given() -> None:
    got = check_links(["https://b.org/x", "http://a.org/y", "https://b.org/x", "http://a.org/y"])
    assert got == ["https://b.org/x", "http://a.org/y"]


def test_evidence_without_any_link_is_refused() -> None:
    with pytest.raises(UserError, match="at least one link"):
        check_links([])


@FUZZ
@given(
    st.lists(
        st.one_of(
            st.text(),
            st.builds(
                "".join,
                st.tuples(
                    st.sampled_from(["http://", "https://", "HTTP://", "ftp://", "mailto:"]), st.text()
                ),
            ),
        ),
        max_size=12,
    )
)
@example(["http://["])
@example(["https://a\uff03b/"])
def test_checking_any_typed_links_either_explains_the_problem_or_returns_web_links(urls: list[str]) -> None:
    try:
        links = check_links(urls)
    except UserError as err:
        assert err.message
        return
    assert 1 <= len(links) <= 10 and len(set(links)) == len(links)
    assert all(link.lower().startswith(("http://", "https://")) for link in links)


# --------------------------------------------------------------------------- typed text


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        pytest.param("before\x00after", "beforeafter", id="nul"),
        pytest.param("bell\x07 escape\x1b[31m del\x7f c1\x85\x9b", "bell escape[31m del c1", id="controls"),
        pytest.param("one\r\ntwo\rthree\nfour\tfive", "one\ntwo\nthree\nfour\tfive", id="line-breaks"),
        pytest.param("see \u202egnp.exe and \u2066this\u2069", "see gnp.exe and this", id="bidi"),
        pytest.param("\ue000mark\uf8ff", "mark", id="private-use"),
        pytest.param("Élèves 日本 🎓 it's \u200b fine", "Élèves 日本 🎓 it's \u200b fine", id="visible"),
    ],
)
def test_free_text_keeps_what_people_see_and_drops_invisible_characters(typed: str, kept: str) -> None:
    assert clean_text(typed) == kept


@pytest.mark.parametrize(
    ("typed", "named"),
    [
        ("a\x00b@example.org", "an invisible control character (U+0000)"),
        ("spring\x9b", "an invisible control character (U+009B)"),
        ("spring\r", "an invisible control character (U+000D)"),
        ("https://example.org/\u202efdp.exe", "an invisible text-direction character (U+202E)"),
        ("spr\ue000ing", "a private-use character (U+E000)"),
    ],
)
def test_a_word_that_is_not_free_text_is_refused_naming_its_invisible_character(
    typed: str, named: str
) -> None:
    with pytest.raises(UserError) as err:
        check_visible(typed)
    assert err.value.message == f"That command contains {named}; type it again without it."
    assert check_visible("spring Élèves\t日本\n") == "spring Élèves\t日本\n"


@pytest.mark.parametrize(
    ("check", "typed", "what"),
    [
        (
            check_link,
            "https://example.org/a\x00b",
            "That link contains an invisible control character (U+0000)",
        ),
        (check_link, "https://example.org/\u202egnp.exe", "That link contains an invisible text-direction"),
        (check_email, "a\x00b@example.org", "That e-mail address contains an invisible control character"),
        (check_email, "you@school.org\x85", "That e-mail address contains an invisible control character"),
    ],
)
def test_a_link_or_address_with_an_invisible_character_is_refused_not_silently_changed(
    check: Callable[[str], str], typed: str, what: str
) -> None:
    with pytest.raises(UserError) as err:
        check(typed)
    assert err.value.message.startswith(what) and err.value.example


# --------------------------------------------------------------------------- e-mail


@pytest.mark.parametrize(
    ("typed", "address"),
    [
        ("you@school.org", "you@school.org"),
        ("  you@school.org ", "you@school.org"),
        ("mailto:a@b.org", "a@b.org"),
        ("<mailto:a@b.org|a@b.org>", "a@b.org"),
    ],
)
def test_an_email_address_is_read_however_the_chat_wrapped_it(typed: str, address: str) -> None:
    assert check_email(typed) == address


@pytest.mark.parametrize("typed", ["you", "you@school", "@school.org", "a b@school.org", ""])
def test_something_that_is_not_an_email_address_is_refused(typed: str) -> None:
    with pytest.raises(UserError, match="is not an e-mail address"):
        check_email(typed)


# --------------------------------------------------------------------------- zones and durations


@pytest.mark.parametrize("name", ["UTC", "America/Chicago", "Europe/London"])
def test_iana_time_zones_are_understood(name: str) -> None:
    assert zone(name).key == name


@pytest.mark.parametrize("name", ["Mars/Olympus", "Gotham", "", "../etc/passwd", "/etc/localtime"])
def test_an_unknown_time_zone_is_refused_naming_it(name: str) -> None:
    with pytest.raises(UserError) as err:
        zone(name)
    assert f"'{name}'" in err.value.message and "America/Chicago" in err.value.message
    assert "did you mean" not in err.value.message


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("berlin", "Europe/Berlin"),
        ("Chicago", "America/Chicago"),
        ("new york", "America/New_York"),
        ("São Paulo", "America/Sao_Paulo"),
        ("europe/berlin", "Europe/Berlin"),
        ("buenos aires", "America/Argentina/Buenos_Aires"),  # the current name, not the old alias
        ("cet", "Europe/Paris"),
        ("US/Eastern", "US/Eastern"),  # an old name typed whole is still read
    ],
)
def test_a_zone_is_read_as_people_type_it_and_named_as_iana_does(typed: str, key: str) -> None:
    assert zone(typed).key == key


def test_a_mistyped_city_is_refused_with_the_zone_it_most_likely_meant() -> None:
    with pytest.raises(UserError) as err:
        zone("Berln")
    assert err.value.message.startswith("'Berln' is not a time zone I know (did you mean Europe/Berlin?)")


@pytest.mark.parametrize("name", ["utc", "Z", "gmt"])
def test_a_zone_the_grammar_accepts_as_a_zone_is_understood(name: str) -> None:
    assert looks_like_zone(name)
    moment = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert zone(name).utcoffset(moment) == timedelta(0)


@pytest.mark.parametrize(
    ("text", "delta", "shown"),
    [
        ("7d", timedelta(days=7), "7d"),
        ("2h", timedelta(hours=2), "2h"),
        ("90m", timedelta(minutes=90), "1h30m"),
        ("1w", timedelta(weeks=1), "7d"),
        ("1D12H", timedelta(days=1, hours=12), "1d12h"),
    ],
)
def test_durations_are_read_and_shown_back_compactly(text: str, delta: timedelta, shown: str) -> None:
    assert parse_duration(text) == delta
    assert format_duration(delta) == shown


def test_reminder_offsets_are_sorted_latest_first_without_repeats() -> None:
    assert parse_offsets("2h, 7d,1d,2d,24h") == [timedelta(days=d) for d in (7, 2, 1)] + [timedelta(hours=2)]


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("0d", "longer than zero"),
        ("abc", "'abc' is not a duration"),
        ("7d,soon", "'soon' is not a duration"),
        (" , ", "at least one"),
    ],
)
def test_bad_reminder_offsets_are_refused(text: str, complaint: str) -> None:
    with pytest.raises(UserError, match=complaint):
        parse_offsets(text)


# --------------------------------------------------------------------------- moments


@pytest.mark.parametrize(
    ("typed", "day_at", "utc"),
    [
        ("2026-06-01", END_OF_DAY, datetime(2026, 6, 2, 4, 59)),  # 23:59 CDT for a deadline
        ("2026-06-01", START_OF_DAY, datetime(2026, 6, 1, 5, 0)),  # its start for an opening
        ("2026-06-01", MORNING, datetime(2026, 6, 1, 14, 0)),  # 09:00 for a reminder
        ("2026-06-01T17:00", END_OF_DAY, datetime(2026, 6, 1, 22, 0)),
        ("2026-06-01 17:00", END_OF_DAY, datetime(2026, 6, 1, 22, 0)),
        ("2026-01-15T17:00", END_OF_DAY, datetime(2026, 1, 15, 23, 0)),  # CST in winter
        ("2026-06-01T17:00Z", END_OF_DAY, datetime(2026, 6, 1, 17, 0)),
        ("2026-06-01T17:00+02:00", END_OF_DAY, datetime(2026, 6, 1, 15, 0)),
    ],
)
def test_dates_and_times_are_read_in_the_given_zone_unless_they_say_otherwise(
    typed: str, day_at: time, utc: datetime
) -> None:
    assert parse_when(typed, CHICAGO, NOW, day_at=day_at, future=False) == utc.replace(tzinfo=UTC)


def test_tomorrow_means_the_next_day_on_the_readers_own_calendar() -> None:
    now = datetime(2026, 3, 3, 3, 0, tzinfo=UTC)  # still Monday 2 March, 21:00, in Chicago
    assert parse_when("Tomorrow 17:00", CHICAGO, now) == datetime(2026, 3, 3, 23, 0, tzinfo=UTC)
    assert parse_when("today", CHICAGO, now) == datetime(2026, 3, 3, 5, 59, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "later"),
    [
        ("+3d", timedelta(days=3)),
        ("in 2h", timedelta(hours=2)),
        ("+1d12h", timedelta(hours=36)),
    ],
)
def test_relative_times_count_from_now(typed: str, later: timedelta) -> None:
    assert parse_when(typed, CHICAGO, NOW) == NOW + later


@pytest.mark.parametrize(
    "typed",
    [
        "next fortnight",
        "2026-13-01",
        "",
        "+",
        "in a while",
        "tomorrow 25:00",
        "today 17:99",
        "9999-12-31",
        "0001-01-01T00:00+01:00",
        pytest.param("+" + "9999w" * 42, id="+9999w*42"),
    ],
)
def test_a_moment_that_cannot_be_read_is_refused_with_the_accepted_forms(typed: str) -> None:
    with pytest.raises(UserError) as err:
        parse_when(typed, CHICAGO, NOW)
    assert err.value.example or "2026-06-01" in err.value.message


MOMENT_WORDS = st.sampled_from(
    [
        "today",
        "tomorrow",
        "in",
        "+",
        "+3d",
        "2026-06-01",
        "2026-06-01T17:00",
        "17:00",
        "25:00",
        "T",
        "Z",
        "+02:00",
        "-05:00",
        "9999",
        "0001",
        "12-31",
        "1w",
        "9999w",
        " ",
        ":",
        "-",
        "٣",
        "é",
        "next",
        "friday",
        "dec",
        "20",
        "20th",
        "5pm",
        "12am",
        "13pm",
        "noon",
        "midnight",
        "3/4",
        "at",
        "a",
        "week",
        "weeks",
    ]
)


@FUZZ
@given(
    st.one_of(
        st.text(),
        st.lists(MOMENT_WORDS, max_size=8).map("".join),
        st.lists(MOMENT_WORDS, max_size=6).map(" ".join),
    )
)
@example("tomorrow 25:00")
@example("9999-12-31")
def test_any_typed_moment_is_either_explained_or_read_as_a_utc_time(typed: str) -> None:
    try:
        moment = parse_when(typed, CHICAGO, NOW)
    except UserError as err:
        assert err.message
        return
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


def test_times_are_shown_on_the_readers_clock() -> None:
    assert format_time(datetime(2026, 6, 1, 22, 0), CHICAGO) == "Mon 1 Jun 2026, 17:00 CDT"


@pytest.mark.parametrize(
    ("left", "said"),
    [
        (timedelta(0), "closed"),
        (timedelta(minutes=-5), "closed"),
        (timedelta(seconds=20), "1 minute left"),
        (timedelta(minutes=30), "30 minutes left"),
        (timedelta(hours=1), "1 hour left"),
        (timedelta(minutes=59, seconds=40), "1 hour left"),
        (timedelta(hours=35), "35 hours left"),
        (timedelta(hours=35, minutes=40), "2 days left"),  # rounds to 36 hours: a day and a half
        (timedelta(hours=47), "2 days left"),
        (timedelta(days=2, hours=11), "2 days left"),
        (timedelta(days=2, hours=12), "3 days left"),  # a half rounds up (round() gives 2)
        (timedelta(days=2, hours=23), "3 days left"),
        (timedelta(days=3, hours=12), "4 days left"),
        (timedelta(days=7), "7 days left"),
    ],
)
def test_time_left_is_rounded_the_way_people_say_it(left: timedelta, said: str) -> None:
    assert format_left(left) == said


# --------------------------------------------------------------------------- windows

CLOSES = datetime(2026, 3, 20, 22, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("policy", "after_close", "accepted"),
    [
        ("deny", timedelta(minutes=1), False),
        ("allow", timedelta(days=30), True),
        ("2d", timedelta(hours=47), True),
        ("2d", timedelta(days=2), False),
    ],
)
def test_late_work_is_accepted_only_as_the_late_policy_says(
    policy: str, after_close: timedelta, accepted: bool
) -> None:
    assert LatePolicy.parse(policy).accepts(CLOSES, CLOSES + after_close) is accepted


def test_a_grace_period_is_shown_as_its_duration_and_nonsense_is_refused() -> None:
    assert str(LatePolicy.parse("36h")) == "1d12h"
    assert str(LatePolicy.parse("no")) == "deny"
    with pytest.raises(UserError, match="'maybe' is not a late policy"):
        LatePolicy.parse("maybe")


OPENS = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "closed_at", "phase"),
    [
        (OPENS - timedelta(minutes=1), None, Phase.UPCOMING),
        (OPENS, None, Phase.OPEN),
        (CLOSES - timedelta(seconds=1), None, Phase.OPEN),
        (CLOSES, None, Phase.CLOSED),
        (OPENS + timedelta(days=2), OPENS + timedelta(days=1), Phase.CLOSED),  # closed early
        (OPENS + timedelta(days=2), OPENS + timedelta(days=3), Phase.OPEN),
    ],
)
def test_a_window_is_upcoming_open_or_closed(now: datetime, closed_at: datetime | None, phase: Phase) -> None:
    assert window_phase(OPENS, CLOSES, now, closed_at) == phase


def test_window_times_read_back_without_a_zone_are_taken_as_utc() -> None:
    naive_close = CLOSES.replace(tzinfo=None)
    assert window_phase(OPENS.replace(tzinfo=None), naive_close, CLOSES - timedelta(hours=1)) == Phase.OPEN


def test_a_window_must_close_in_the_future_and_after_it_opens() -> None:
    with pytest.raises(UserError, match="in the past"):
        check_window_times(OPENS, NOW - timedelta(hours=1), NOW)
    with pytest.raises(UserError, match="close after it opens"):
        check_window_times(CLOSES, CLOSES - timedelta(days=1), NOW)
    check_window_times(OPENS, CLOSES, NOW)


# --------------------------------------------------------------------------- submissions


@pytest.mark.parametrize(
    ("state", "event", "after"),
    [
        (S.SUBMITTED, "new version", S.SUBMITTED),
        (S.REVISION_REQUESTED, "new version", S.RESUBMITTED),
        (S.WITHDRAWN, "new version", S.SUBMITTED),
        (S.SUBMITTED, "claim", S.IN_REVIEW),
        (S.RESUBMITTED, "claim", S.IN_REVIEW),
        (S.IN_REVIEW, "approve", S.APPROVED),
        (S.IN_REVIEW, "revise", S.REVISION_REQUESTED),
        (S.REVISION_REQUESTED, "withdraw", S.WITHDRAWN),
    ],
)
def test_a_submission_moves_through_review_as_expected(state: S, event: str, after: S) -> None:
    assert advance(state, event) == after


@pytest.mark.parametrize(
    ("state", "event", "reason"),
    [
        (S.IN_REVIEW, "new version", "reviewing it right now"),
        (S.APPROVED, "new version", "already approved"),
        (S.IN_REVIEW, "withdraw", "can't be withdrawn"),
        (S.APPROVED, "withdraw", "already approved"),
        (S.SUBMITTED, "approve", "submitted can't approve"),
        (S.IN_REVIEW, "claim", "in review can't claim"),
        (S.WITHDRAWN, "withdraw", "withdrawn can't withdraw"),
    ],
)
def test_a_refused_submission_move_says_why(state: S, event: str, reason: str) -> None:
    with pytest.raises(UserError, match=reason):
        advance(state, event)


def test_a_released_claim_returns_the_submission_to_the_queue_as_it_was() -> None:
    assert release_state(1) == S.SUBMITTED
    assert release_state(2) == S.RESUBMITTED


# --------------------------------------------------------------------------- rubrics and decisions

RUBRIC = rubric_from_data(
    [
        {
            "key": "artifacts",
            "name": "Student creation artifacts",
            "levels": [
                {"key": "not-yet", "name": "Not yet"},
                {"name": "Met", "passing": True},
                {"name": "Exceeds", "passing": True},
            ],
        },
        {"key": "self-direction", "name": "Student self-direction"},
        {"name": "Reflection"},
    ]
)


def test_a_rubric_without_levels_gets_not_yet_and_met() -> None:
    assert [c.key for c in RUBRIC] == ["artifacts", "self-direction", "reflection"]
    assert [(lv.key, lv.passing) for lv in RUBRIC[2].levels] == [("not-yet", False), ("met", True)]
    with pytest.raises(ValueError, match="passing and non-passing"):
        rubric_from_data([{"name": "Only good news", "levels": [{"name": "Great", "passing": True}]}])


def score(body: str, decision: str, criterion: str) -> tuple[str, bool, str]:
    s = next(s for s in assess(body, RUBRIC, decision).scores if s.criterion == criterion)
    return s.level, s.passing, s.comment


@pytest.mark.parametrize("named", ["reflection", "REFLECTION", "Reflection"])
def test_a_criterion_is_found_by_its_key_in_any_case(named: str) -> None:
    assert score(f"{named}: not yet, say what students learned", "revise", "reflection") == (
        "not-yet",
        False,
        "say what students learned",
    )


def test_a_criterion_is_found_by_its_full_name_and_a_level_by_its_name() -> None:
    assert score("student SELF-DIRECTION: Not Yet — let students pick tools", "revise", "self-direction") == (
        "not-yet",
        False,
        "let students pick tools",
    )
    assert score("artifacts: exceeds, lovely work", "approve", "artifacts") == (
        "exceeds",
        True,
        "lovely work",
    )


def test_criteria_the_assessor_does_not_name_are_not_judged_never_met() -> None:
    result = assess("reflection: not yet, add what you would change", RUBRIC, "revise")
    assert [(s.criterion, s.level, s.passing, s.mentioned) for s in result.scores] == [
        ("artifacts", "not-judged", None, False),
        ("self-direction", "not-judged", None, False),
        ("reflection", "not-yet", False, True),
    ]
    assert [s.criterion for s in result.unmet] == ["reflection"]  # not judged is nothing to work on


def test_a_credential_may_count_unmentioned_criteria_as_met() -> None:
    rubric = rubric_from_data([{"name": "Plan"}, {"name": "Evaluation"}], unmentioned="met")
    result = assess("evaluation: not yet, use circulation data", rubric, "revise")
    assert [(s.criterion, s.level, s.passing, s.mentioned) for s in result.scores] == [
        ("plan", "met", True, False),
        ("evaluation", "not-yet", False, True),
    ]
    assert rubric_from_data(rubric_to_data(rubric)) == rubric  # kept with the stored rubric
    with pytest.raises(ValueError, match="not 'sometimes'"):
        rubric_from_data([{"name": "Plan"}], unmentioned="sometimes")


@pytest.mark.parametrize("typed", ["excellent", "good, lovely work", "not met", "add what you would change"])
def test_a_level_the_criterion_does_not_have_is_refused_with_its_levels(typed: str) -> None:
    for decision in ("approve", "revise"):
        with pytest.raises(UserError) as err:
            assess(f"artifacts: {typed}", RUBRIC, decision)
        assert (
            f"'{typed.split(',')[0]}' is not a level of Student creation artifacts; its levels "
            "are Not yet, Met or Exceeds" in err.value.message
        )


@pytest.mark.parametrize("typed", ["Not yet", "not-yet", "NOT YET", "not_yet", "notyet"])
def test_not_yet_is_read_however_it_is_typed(typed: str) -> None:
    assert score(f"reflection: {typed}, say more", "revise", "reflection") == ("not-yet", False, "say more")


def test_a_criterion_named_without_a_level_is_refused() -> None:
    with pytest.raises(UserError, match="Say the level of Reflection: Not yet or Met"):
        assess("reflection:", RUBRIC, "revise")


def test_a_criterion_that_does_not_exist_is_refused_with_the_criteria() -> None:
    with pytest.raises(UserError) as err:
        assess("artefacts: exceeds", RUBRIC, "approve", ref="R-3")
    assert err.value.message.startswith(
        "'artefacts' is not a criterion of this credential; its criteria are artifacts (Student "
        "creation artifacts), self-direction (Student self-direction), reflection. Did you mean "
        "artifacts?"
    )
    assert err.value.example == "/review approve R-3 artifacts: exceeds"
    with pytest.raises(UserError, match="'Overall' is not a criterion"):
        assess("Overall: a lovely unit", RUBRIC, "approve")


def test_a_criterion_judged_twice_is_refused() -> None:
    with pytest.raises(UserError, match="You judged Reflection twice"):
        assess("reflection: met; reflection: not yet", RUBRIC, "revise")


def test_a_form_naming_a_criterion_the_rubric_no_longer_has_is_refused() -> None:
    from bot.domain import score as score_levels

    with pytest.raises(UserError, match="'voice' is not a criterion"):
        score_levels(RUBRIC, {"voice": ("met", "")}, "", "approve")


def test_overall_feedback_and_unmatched_remarks_reach_the_learner() -> None:
    result = assess("Lovely unit; reflection: not yet, thin -- Strong artifacts!", RUBRIC, "revise")
    assert result.feedback == "Lovely unit; Strong artifacts!"
    assert [s.criterion for s in result.unmet] == ["reflection"]


def test_revise_without_naming_an_unmet_criterion_is_refused_listing_the_criteria() -> None:
    with pytest.raises(UserError) as err:
        assess("Great work overall -- but fix things", RUBRIC, "revise")
    assert "artifacts, self-direction, reflection" in err.value.message
    assert err.value.example and err.value.example.startswith("/review revise R-7 artifacts: not yet")


def test_approve_with_a_criterion_scored_below_passing_is_refused() -> None:
    with pytest.raises(UserError, match="You scored reflection below passing; use /review revise"):
        assess("artifacts: met; reflection: not yet", RUBRIC, "approve")


def test_approve_with_nothing_typed_judges_no_criterion_and_is_allowed() -> None:
    result = assess("", RUBRIC, "approve")
    assert result.unmet == [] and result.feedback == ""
    assert {s.passing for s in result.scores} == {None}


def test_colons_in_loose_remarks_that_are_no_label_stay_feedback() -> None:
    result = assess("see https://x.org/unit, meet at 10:30; reflection: not yet", RUBRIC, "revise")
    assert result.feedback == "see https://x.org/unit, meet at 10:30"


# --------------------------------------------------------------------------- corrections


def correct(**changes: object) -> None:
    facts: dict[str, object] = {
        "label": "R-7",
        "decision": "approved",
        "decided_at": OPENS,
        "now": OPENS + timedelta(minutes=14),
        "own": True,
        "settled": None,
    }
    check_correction(**{**facts, **changes})  # type: ignore[arg-type]


def test_an_assessor_may_correct_their_decision_within_fifteen_minutes() -> None:
    correct()


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"now": OPENS + timedelta(minutes=15)}, "corrected only within 15 minutes of it, and a coordinator"),
        (
            {"decision": "sent back for revision", "now": OPENS + timedelta(hours=2)},
            "the learner's resubmission comes back for review",
        ),
        ({"own": False}, "R-7 was already decided \\(approved\\) by another assessor"),
        (
            {"settled": "its badge B-2 is issued"},
            "and its badge B-2 is issued, so it can no longer be corrected",
        ),
    ],
)
def test_a_decision_that_has_become_final_is_not_corrected(changes: dict[str, object], reason: str) -> None:
    with pytest.raises(UserError, match=reason):
        correct(**changes)


@pytest.mark.parametrize(
    ("typed", "ref"),
    [("S-12", ("S", 12)), ("s12", ("S", 12)), ("R-7", ("R", 7)), ("r7", ("R", 7)), ("7", ("R", 7))],
)
def test_a_review_command_takes_a_review_or_a_submission_id(typed: str, ref: tuple[str, int]) -> None:
    assert parse_ref(typed, "R", "S") == ref


@pytest.mark.parametrize("typed", ["B-3", "S-", "seven", "R-7x"])
def test_another_kind_of_id_is_refused_saying_what_ids_look_like(typed: str) -> None:
    with pytest.raises(
        UserError, match=f"'{typed}' is not a review or submission id; they look like R-7 or S-12"
    ):
        parse_ref(typed, "R", "S")


# --------------------------------------------------------------------------- claims


def claim(**changes: object) -> None:
    facts: dict[str, object] = {
        "assessor_id": 1,
        "learner_id": 2,
        "is_assessor": True,
        "claimed_by": None,
        "open_claims": 0,
        "cap": 3,
        "review_label": "R-7",
    }
    check_claim(**{**facts, **changes})  # type: ignore[arg-type]


def test_an_assessor_with_room_can_claim_someone_elses_review() -> None:
    claim(open_claims=2)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"is_assessor": False, "learner_id": 1}, "Only assessors"),
        ({"learner_id": 1}, "can't review your own submission"),
        ({"claimed_by": 1}, "already claimed R-7"),
        ({"claimed_by": 9}, "R-7 is already claimed by another assessor"),
        ({"open_claims": 3}, "already hold 3 open claims"),
    ],
)
def test_a_claim_that_is_not_allowed_is_refused_with_the_reason(
    changes: dict[str, object], reason: str
) -> None:
    with pytest.raises(UserError, match=reason):
        claim(**changes)


# --------------------------------------------------------------------------- nudges

WINDOW = WindowPlan(1, OPENS, CLOSES, tuple(parse_offsets("7d,2d,1d,2h")))
LEARNERS = [
    LearnerProgress(10, submitted=True),
    LearnerProgress(11, submitted=False),
    LearnerProgress(12, submitted=True, revision_pending=True),
]


def test_nothing_is_sent_before_the_first_reminder_is_due() -> None:
    assert plan_nudges(WINDOW, LEARNERS, CLOSES - timedelta(days=7, minutes=1), set()).nudges == []


def test_a_due_reminder_goes_to_the_channel_and_only_to_learners_who_owe_work() -> None:
    plan = plan_nudges(WINDOW, LEARNERS, CLOSES - timedelta(days=1, hours=23), set())
    assert plan.channel is not None and plan.channel.offset == timedelta(days=2)
    assert [n.member_id for n in plan.direct] == [11, 12]
    assert {n.target for n in plan.direct} == {"member:11", "member:12"}
    assert len({n.key for n in plan.nudges}) == 1


def test_a_bot_that_was_down_sends_one_timely_nudge_not_a_backlog() -> None:
    plan = plan_nudges(WINDOW, LEARNERS, CLOSES - timedelta(hours=1), set())
    assert {n.offset for n in plan.nudges} == {timedelta(hours=2)}
    assert len(plan.nudges) == 3


def test_reminders_whose_moment_passed_before_the_window_opened_are_skipped() -> None:
    late = WindowPlan(2, CLOSES - timedelta(days=1, hours=12), CLOSES, WINDOW.offsets)
    assert plan_nudges(late, LEARNERS, late.opens_at + timedelta(hours=1), set()).nudges == []
    plan = plan_nudges(late, LEARNERS, CLOSES - timedelta(hours=23), set())
    assert plan.channel is not None and plan.channel.offset == timedelta(days=1)


def test_a_nudge_already_planned_is_not_planned_again() -> None:
    now = CLOSES - timedelta(hours=20)
    first = plan_nudges(WINDOW, LEARNERS, now, set())
    assert len(first.nudges) == 3
    partly = {f"{n.target}|{n.key}" for n in first.nudges if n.member_id != 12}
    assert [n.target for n in plan_nudges(WINDOW, LEARNERS, now, partly).nudges] == ["member:12"]
    done = {f"{n.target}|{n.key}" for n in first.nudges}
    assert plan_nudges(WINDOW, LEARNERS, now + timedelta(hours=1), done).nudges == []


def test_a_moved_deadline_plans_its_reminders_afresh() -> None:
    now = CLOSES - timedelta(days=1, hours=23)
    before = plan_nudges(WINDOW, LEARNERS, now, set())
    planned = {f"{n.target}|{n.key}" for n in before.nudges}
    moved = WindowPlan(1, OPENS, CLOSES + timedelta(hours=1), WINDOW.offsets)
    after = plan_nudges(moved, LEARNERS, now + timedelta(minutes=30), planned)
    assert len(after.nudges) == 3 and after.nudges[0].offset == timedelta(days=2)
    assert after.nudges[0].key != before.nudges[0].key


@pytest.mark.parametrize("after_close", [timedelta(0), timedelta(hours=3)])
def test_nothing_is_sent_once_the_window_has_closed(after_close: timedelta) -> None:
    assert plan_nudges(WINDOW, LEARNERS, CLOSES + after_close, set()).nudges == []


def test_a_double_hyphen_inside_a_link_in_feedback_is_not_the_feedback_separator() -> None:
    from bot.catalogue import BUNDLED, read_catalogue

    rubric = rubric_from_data(read_catalogue(BUNDLED)[0]["rubric"])
    result = assess("reflection: not yet, see https://x.org/my--page -- overall good", rubric, "revise")
    assert result.unmet[0].comment == "see https://x.org/my--page"
    assert result.feedback == "overall good"


def test_just_under_an_hour_reads_as_an_hour() -> None:
    assert format_left(timedelta(minutes=59, seconds=45)) == "1 hour left"
