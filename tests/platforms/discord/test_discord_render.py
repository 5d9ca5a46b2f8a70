"""What a Discord reader sees of the bot's messages: Discord's own markdown, mentions and
timestamps, nothing of another platform's syntax, and never a message Discord would refuse."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from bot import markup
from bot.messages import Button, Message
from bot.platforms.discord.render import payload_for


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


def test_a_long_message_is_cut_to_discords_2000_characters_with_its_footer_kept() -> None:
    text = "\n".join(f"line {i} " + "x" * 60 for i in range(100))
    body = payload_for(Message(text, context="R-1 · S-2"))
    assert len(body["content"]) <= 2000
    assert body["content"].endswith("…(the rest is too long for one message)\n-# R-1 · S-2")


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
