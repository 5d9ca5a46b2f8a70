"""Neutral messages as Block Kit, always within Slack's limits.

Slack rejects a whole message for one oversized field, so everything here is
cut to fit: sections at 3,000 characters, at most 50 blocks (the rest is
summarised), buttons at 75 characters and 25 per actions block. Text is
escaped for mrkdwn except the mentions, channels and links the bot itself
writes (`bot.markup`), so a learner's `<!channel>` or `<@U…>` in a
reflection is shown, not broadcast.
"""

from __future__ import annotations

from typing import Any

from bot.markup import Renderer, chunks, cut, render
from bot.messages import Button, Message

SECTION_MAX = 3000
BLOCKS_MAX = 50
BUTTON_TEXT_MAX = 75
BUTTONS_PER_BLOCK = 25
VALUE_MAX = 2000
URL_MAX = 3000
FALLBACK_MAX = 3000
CONTEXT_MAX = 2000

SLACK = Renderer(
    text=lambda t: t.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
    mention=lambda user: f"<@{user}>",
    channel=lambda chan: f"<#{chan}>",
    link=lambda url, label: f"<{url.replace('>', '%3E')}|{label}>",
    bold=lambda words: f"*{words}*",
    # the reader's own zone and clock (Slack falls back to the words where it cannot)
    time=lambda unix, words: f"<!date^{unix}^{{date_short_pretty}} at {{time}}|{words}>",
)


def escape(text: str) -> str:
    """Neutral markup as mrkdwn: the bot's own mentions, channels and links as Slack's, and
    every other character as text (`&`, `<`, `>` escaped), so nothing a person typed pings
    anyone or disguises a link."""
    return render(text, SLACK)


def unescape(text: str) -> str:
    """What a person typed, from a slash command's text: Slack sends &, < and > as entities
    (its own markup, `<@U1|ann>` or `<https://…|…>`, keeps raw brackets), so a link's
    `?a=1&b=2` arrives as `&amp;` and would otherwise be stored wrong. The result reads
    as a Discord or console user would type it."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def button(b: Button, index: int) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": cut(b.label, BUTTON_TEXT_MAX), "emoji": True},
    }
    if b.url:
        element["action_id"] = f"url:{index}"
        element["url"] = b.url[:URL_MAX]
    else:
        element["action_id"] = f"cmd:{index}"
        element["value"] = (b.command or "")[:VALUE_MAX]
    if b.style in ("primary", "danger"):
        element["style"] = b.style
    return element


def blocks_for(message: Message) -> list[dict[str, Any]]:
    text = escape(message.text)
    sections: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": c}} for c in chunks(text, SECTION_MAX)
    ]
    if message.fields:
        fields = [
            {"type": "mrkdwn", "text": cut(f"*{escape(k)}*\n{escape(v)}", 2000)}
            for k, v in message.fields[:10]
        ]
        sections.append({"type": "section", "fields": fields})
    tail: list[dict[str, Any]] = []
    buttons = [button(b, i) for i, b in enumerate(message.buttons[: BUTTONS_PER_BLOCK * 2])]
    for start in range(0, len(buttons), BUTTONS_PER_BLOCK):
        tail.append({"type": "actions", "elements": buttons[start : start + BUTTONS_PER_BLOCK]})
    if message.context:
        tail.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": cut(escape(message.context), CONTEXT_MAX)}],
            }
        )
    room = BLOCKS_MAX - len(tail)
    if len(sections) > room:
        dropped = len(sections) - room + 1
        more = f"…and {dropped} more part(s), too long for one message."
        sections = [*sections[: room - 1], {"type": "section", "text": {"type": "mrkdwn", "text": more}}]
    return sections + tail


def fallback_text(message: Message) -> str:
    """The notification text Slack shows where blocks can't be (push, screen readers): the text
    and the fields (a review task's claim state is one)."""
    fields = [f"{k}: {v}" for k, v in message.fields]
    return cut(escape("\n".join([message.text, *fields])), FALLBACK_MAX)
