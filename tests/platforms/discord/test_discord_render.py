"""What a Discord reader sees of the bot's messages: Discord's own markdown, mentions and
timestamps, nothing of another platform's syntax, and never a message Discord would refuse."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fakes.discord.limits import embed_size, message_errors

from bot import markup
from bot.messages import Button, Card, CardKind, Message
from bot.platforms.discord.render import payload_for


def valid(message: Message) -> dict[str, Any]:
    """The payload, after checking it as Discord would: never one it refuses."""
    body = payload_for(message)
    assert not list(message_errors(body)), list(message_errors(body))
    return body


def test_the_bots_pieces_become_discords_own() -> None:
    deadline = datetime(2026, 3, 27, 22, 0, tzinfo=UTC)
    text = (
        f"{markup.mention('123')} in {markup.channel('456')}: {markup.bold('spring')} closes "
        f"{markup.time(deadline, ZoneInfo('America/Chicago'))}; "
        f"{markup.link('https://x.org/b/1', 'your badge')}"
    )
    body = payload_for(Message(text))
    assert body["content"] == (
        "<@123> in <#456>: **spring** closes <t:1774648800:f>; [your badge](<https://x.org/b/1>)"
    )
    assert body["allowed_mentions"] == {"parse": [], "users": ["123"]}


def test_what_a_person_typed_is_shown_never_a_mention_or_a_disguised_link() -> None:
    typed = "see [docs](https://evil.example) <@999> @everyone"
    body = payload_for(Message(f"Feedback: {typed}"))
    assert body["content"] == r"Feedback: see \[docs\](https://evil.example) \<@999\> @everyone"
    assert body["allowed_mentions"] == {"parse": [], "users": []}  # @everyone pings nobody


def test_code_spans_are_shown_as_written() -> None:
    assert (
        payload_for(Message("Type `/submit <url> [<url>…]`."))["content"] == "Type `/submit <url> [<url>…]`."
    )


def test_a_long_message_is_cut_to_discords_2000_characters_saying_what_was_cut() -> None:
    text = "\n".join(f"line {i} " + "x" * 60 for i in range(100))
    body = valid(Message(text, context="R-1 · S-2"))
    assert len(body["content"]) <= 2000
    assert body["content"].endswith("line 27 " + "x" * 60 + "\n… and 72 more lines\n-# R-1 · S-2")


def test_buttons_are_rows_of_five_with_the_command_as_custom_id() -> None:
    buttons = tuple(Button(f"Claim {i} " + "y" * 100, command=f"/review claim R-{i}") for i in range(30))
    rows = payload_for(Message("tasks", buttons=buttons))["components"]
    assert len(rows) == 5 and all(len(row["components"]) == 5 for row in rows)
    first = rows[0]["components"][0]
    assert first["custom_id"] == "/review claim R-0" and len(first["label"]) == 80
    link = payload_for(Message("b", buttons=(Button("View", url="https://x.org/b"),)))["components"][0]
    assert link["components"][0] == {"type": 2, "style": 5, "label": "View", "url": "https://x.org/b"}


def test_fields_fit_one_embed() -> None:
    fields = tuple((f"criterion {i}", "z" * 2000) for i in range(40))
    embed = payload_for(Message("rubric", fields=fields))["embeds"][0]
    assert len(embed["fields"]) <= 25
    assert sum(len(f["name"]) + len(f["value"]) for f in embed["fields"]) <= 6000
    assert all(len(f["value"]) <= 1024 for f in embed["fields"])


def test_a_link_too_long_for_a_button_is_shown_as_a_link_in_the_text() -> None:
    long_url = "https://www.linkedin.com/profile/add?" + "a=1&" * 200
    body = payload_for(Message("🎉 Your badge", buttons=(Button("Add to LinkedIn profile", url=long_url),)))
    assert body["components"] == []
    assert body["content"] == f"🎉 Your badge\n[Add to LinkedIn profile](<{long_url}>)"


# ------------------------------------------------------------------ cards

ABOUT = "Empowering Students as Creators · spring"
PAGE, IMAGE = "https://badges.example.org/badges/u1", "https://badges.example.org/badges/u1/image.png"


def card(kind: CardKind, text: str = "📝 Review task R-1", **kw: Any) -> Message:
    fields, context = kw.pop("fields", ()), kw.pop("context", "")
    return Message(text, fields=fields, context=context, card=Card(kind, ABOUT, **kw))


@pytest.mark.parametrize(
    ("kind", "colour"),
    [(CardKind.NUDGE, 0xFEE75C), (CardKind.TASK, 0x5865F2), (CardKind.CELEBRATION, 0x57F287)],
)
def test_a_card_is_an_embed_coloured_by_its_kind(kind: CardKind, colour: int) -> None:
    deadline = datetime(2026, 3, 20, 22, 0, tzinfo=UTC)
    text = f"⏰ 2 days left for {markup.bold('Creators')}: closes {markup.time(deadline, ZoneInfo('UTC'))}"
    body = valid(card(kind, text, context="W-1"))
    assert body["content"] == ""
    assert body["embeds"] == [
        {
            "color": colour,
            "title": ABOUT,
            "description": "⏰ 2 days left for **Creators**: closes <t:1774044000:f>",
            "footer": {"text": "W-1"},
        }
    ]


def test_a_review_tasks_claim_state_is_a_field_beside_its_text() -> None:
    claimed = card(CardKind.TASK, fields=(("Status", f"claimed by {markup.mention('42')}"),))
    (embed,) = valid(claimed)["embeds"]
    assert embed["fields"] == [{"name": "Status", "value": "claimed by <@42>", "inline": False}]


def test_a_celebration_shows_the_badge_beside_its_title_linked_to_its_page() -> None:
    (embed,) = valid(card(CardKind.CELEBRATION, "🎉 earned", url=PAGE, image=IMAGE))["embeds"]
    assert embed["url"] == PAGE and embed["thumbnail"] == {"url": IMAGE}
    (local,) = valid(card(CardKind.CELEBRATION, url="file:///b", image="/b/image.png"))["embeds"]
    assert "url" not in local and "thumbnail" not in local  # Discord takes http(s) only


def test_a_cards_title_holds_plain_words_only() -> None:
    with pytest.raises(ValueError, match="plain words"):
        Card(CardKind.NUDGE, f"Hello {markup.mention('42')}")


def test_a_list_of_60_learners_is_cut_to_one_message_saying_how_many_more() -> None:
    learners = "\n".join(
        f"• {markup.mention(str(1000 + i))} " + "has not handed in yet. " * 4 for i in range(60)
    )
    body = valid(card(CardKind.NUDGE, f"Not submitted:\n{learners}", context="W-1"))
    assert sum(embed_size(e) for e in body["embeds"]) <= 6000
    last = body["embeds"][-1]
    assert last["description"].endswith("more lines") and last["footer"] == {"text": "W-1"}
    shown = sum(d.count("• <@") for d in (e["description"] for e in body["embeds"]))
    assert last["description"].endswith(f"… and {60 - shown} more lines") and 40 < shown < 60


def test_60_fields_are_25_at_most_the_last_counting_the_rest() -> None:
    fields = tuple((f"@learner{i}", "not handed in") for i in range(60))
    for message in (Message("progress", fields=fields), card(CardKind.TASK, fields=fields)):
        embed = valid(message)["embeds"][-1]
        assert len(embed["fields"]) == 25
        assert embed["fields"][-1] == {"name": "…", "value": "and 36 more", "inline": False}


def test_a_5000_character_reflection_is_whole_in_a_card_and_cut_saying_so_elsewhere() -> None:
    reflection = ("Students designed their own tools. " * 150)[:5000]
    text = (
        f"🔍 You claimed R-1.\n{markup.bold('Reflection:')} {reflection}\nDecide with `/review approve R-1`"
    )
    embeds = valid(card(CardKind.TASK, text))["embeds"]
    assert len(embeds) == 2 and [e.get("title") for e in embeds] == [ABOUT, None]
    assert reflection in " ".join(e["description"] for e in embeds)  # split between two words
    assert embeds[-1]["description"].endswith("Decide with `/review approve R-1`")

    content = valid(Message(text))["content"]
    assert len(content) <= 2000 and content.endswith("… and 2 more lines")
    alone = valid(Message(reflection))["content"]
    shown = alone.split("\n")[0]
    assert len(alone) <= 2000 and reflection.startswith(shown)
    assert alone.endswith(f"\n… and {5000 - len(shown):,} more characters")
    (field,) = valid(Message("r", fields=(("Reflection", reflection),)))["embeds"][0]["fields"]
    assert len(field["value"]) <= 1024 and field["value"].endswith("more characters")


def test_a_card_past_every_limit_at_once_is_still_one_message_discord_takes() -> None:
    huge = Message(
        "\n".join("y" * 3000 for _ in range(10)),
        fields=tuple(("n" * 300, "v" * 2000) for _ in range(40)),
        context="c" * 3000,
        card=Card(CardKind.CELEBRATION, "t" * 300, url=PAGE, image=IMAGE),
    )
    body = valid(huge)
    assert 1 <= len(body["embeds"]) <= 10 and body["embeds"][0]["title"].endswith("…")
