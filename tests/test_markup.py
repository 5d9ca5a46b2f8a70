"""Neutral markup: what the bot writes as mentions and links reaches each platform as its own,
and what people typed reaches every platform as text."""

from __future__ import annotations

from bot import markup
from bot.grammar import free_text
from bot.messages import Message
from bot.platforms.console import render_text
from bot.platforms.slack.blocks import blocks_for, escape


def test_the_bots_mentions_channels_and_links_become_slacks_and_the_rest_is_escaped() -> None:
    text = (
        f"{markup.mention('U1')} in {markup.channel('C9')}: "
        f"{markup.link('https://badges.example.org/b/1?a=1&b=2', 'your <badge>')} & <@U2>"
    )
    assert escape(text) == (
        "<@U1> in <#C9>: <https://badges.example.org/b/1?a=1&b=2|your &lt;badge&gt;> &amp; &lt;@U2&gt;"
    )


def test_the_console_shows_handles_channels_and_links_as_words() -> None:
    text = f"{markup.mention('alice')} in {markup.channel('frl')}: {markup.link('https://x.org/b', 'badge')}"
    assert render_text(text) == "@alice in #frl: badge (https://x.org/b)"
    assert render_text(markup.link("https://x.org/b")) == "https://x.org/b"


def test_a_token_cut_in_half_by_a_length_limit_shows_nothing_strange() -> None:
    cut = f"see {markup.mention('U1')}"[:-3]
    assert escape(cut) == "see @"  # the open half and what it held are shown as text, the sentinel gone
    assert markup.OPEN not in blocks_for(Message(cut))[0]["text"]["text"]


def test_a_message_stored_before_the_markup_is_read_as_the_bots_own() -> None:
    """An outbox row written by an earlier version spelled the bot's pieces Slack's way."""
    old = {
        "text": "🎉 <@U1> earned it! <https://x.org/b|See it> in <#C2|frl>",
        "buttons": [],
        "context": "for <@U3>",
        "fields": [["who", "<@U4>"]],
        "edit_of": None,
    }
    message = Message.from_dict(old)
    assert escape(message.text) == old["text"].replace("|frl", "")
    assert escape(message.context) == "for <@U3>" and escape(message.fields[0][1]) == "<@U4>"
    again = Message.from_dict(Message("<@U5> typed this").to_dict())
    assert escape(again.text) == "&lt;@U5&gt; typed this"  # new rows are never re-read as Slack's


def test_free_text_shows_typed_markup_as_the_words_it_showed() -> None:
    assert (
        free_text("thanks <@U1|ann>, <@123> and <#C1|frl> <!here> <!subteam^S1|@helpers>")
        == "thanks @ann, @123 and #frl @here @helpers"
    )
    assert (
        free_text("see <https://evil.example.net|https://docs.google.com/x>")
        == "see https://evil.example.net"
    )
    assert markup.OPEN not in free_text(f"forged {markup.mention('U1')}")


def test_bold_words_and_times_are_each_platforms_own() -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    deadline = datetime(2026, 3, 27, 22, 0, tzinfo=UTC)
    text = f"{markup.bold('spring <cohort>')} closes {markup.time(deadline, ZoneInfo('America/Los_Angeles'))}"
    assert render_text(text) == "*spring <cohort>* closes Fri 27 Mar 2026, 15:00 PDT"
    assert escape(text) == (
        "*spring &lt;cohort&gt;* closes "
        "<!date^1774648800^{date_short_pretty} at {time}|Fri 27 Mar 2026, 15:00 PDT>"
    )
    assert markup.plain(markup.bold("a|b")) == "*a|b*"  # a bar in a name stays part of it
