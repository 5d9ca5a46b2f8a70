"""Discord's application commands come from the grammar, fit Discord's rules, and an
invocation reads exactly as the same command typed."""

from __future__ import annotations

import re

import pytest

from bot.grammar import SPECS, parse
from bot.platforms.discord.commands import command_tree, find

NAME = re.compile(r"^[-_a-z0-9]{1,32}$")  # Discord's CHAT_INPUT name rule, lower case


def test_every_command_of_the_grammar_is_a_discord_command_within_discords_rules() -> None:
    tree = command_tree()
    assert [c["name"] for c in tree] == ["submit", "cohort", "window", "review", "badges", "help"]
    subcommands = {(c["name"], o["name"]) for c in tree for o in c["options"] if o["type"] == 1}
    assert len(subcommands) == len([s for s in SPECS if s.verb != "help"])
    for command in tree:
        assert NAME.match(str(command["name"])) and 1 <= len(str(command["description"])) <= 100
        options = command["options"]
        assert isinstance(options, list) and len(options) <= 25
        for sub in options:
            inner = sub.get("options", []) if sub["type"] == 1 else [sub]
            assert len(inner) <= 25
            names = [o["name"] for o in inner]
            assert len(names) == len(set(names)), (command["name"], sub["name"], names)
            required = [o["required"] for o in inner]
            assert required == sorted(required, reverse=True), "Discord wants required options first"
            for option in inner:
                assert NAME.match(option["name"]), option
                assert 1 <= len(option["description"]) <= 100, option
                assert len(option.get("choices", [])) <= 25


def test_every_description_reads_as_words_whole_not_as_grammar_or_cut_mid_word() -> None:
    """What Discord shows under each command and option as it is typed: no usage syntax
    (`<when>`, `after --:`, `a|b`), and none cut: a long summary is shown to its last whole clause."""
    for command in command_tree():
        for sub in command["options"]:
            inner = sub.get("options", []) if sub["type"] == 1 else [sub]
            for said in [sub["description"], *(o["description"] for o in inner)]:
                assert not re.search(r"<[a-z]|after --|\w\|\w", said), (command["name"], sub["name"], said)
                assert not said.endswith("…"), f"cut: {said!r}"


@pytest.mark.parametrize(
    ("verb", "sub", "values", "typed"),
    [
        (
            "cohort",
            "create",
            {
                "name": "spring",
                "channel": "<#111|frl>",
                "reviews": "<#222|assessors>",
                "tz": "America/Chicago",
            },
            "/cohort create spring <#111|frl> reviews <#222|assessors> tz America/Chicago",
        ),
        (
            "cohort",
            "create",
            {"name": "Spring 2026", "channel": "<#111|frl>"},
            '/cohort create "Spring 2026" <#111|frl>',
        ),
        (
            "cohort",
            "add",
            {"name": "spring", "people": "<@1> <@2>", "as": "assessor"},
            "/cohort add spring <@1> <@2> as assessor",
        ),
        (
            "window",
            "open",
            {"cohort": "spring", "credential": "creators", "closes": "next friday 5pm", "remind": "7d,1d"},
            "/window open spring creators closes next friday 5pm remind 7d,1d",
        ),
        (
            "submit",
            "evidence",
            {"links": "https://example.org/unit", "reflection": "what I learned"},
            "/submit https://example.org/unit -- what I learned",
        ),
        (
            "review",
            "revise",
            {"review": "R-3", "scores": "evidence: not yet, add a photo", "feedback": "close!"},
            "/review revise R-3 evidence: not yet, add a photo -- close!",
        ),
        ("badges", "list", {}, "/badges"),
        ("badges", "reflection", {"badge": "B-2", "setting": "show"}, "/badges reflection B-2 show"),
        ("help", None, {"command": "review"}, "/help review"),
    ],
)
def test_an_invocation_reads_as_the_command_typed(
    verb: str, sub: str | None, values: dict[str, str], typed: str
) -> None:
    found = find(verb, sub)
    assert found is not None
    assert found.typed(values) == typed
    assert parse(found.typed(values)) == parse(typed)
