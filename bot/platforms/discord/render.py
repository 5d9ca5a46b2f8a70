"""Neutral messages as Discord's: markdown content, an embed for fields, buttons as components,
always within Discord's limits (a message over one is refused whole, so everything is cut or
summarised here, never left for Discord to reject).

The bot's own pieces (`bot.markup`) become Discord's: `<@id>`, `<#id>`, `[label](url)`,
`**bold**` and `<t:unix:f>` (each reader sees the time in their own zone). Anything a person
typed is shown as text: `[`, `]`, `<`, `>` and `\\` are escaped so a typed `[docs](https://evil)`
or `<@123>` is not a masked link or a mention, and `allowed_mentions` lets only the people the
bot itself mentions be pinged (never @everyone, @here or a role).
"""

from __future__ import annotations

import re
from typing import Any

from bot import markup
from bot.markup import TOKEN_RE, Renderer, render
from bot.messages import COMMAND_MAX, Button, Message

CONTENT_MAX = 2000
EMBED_TOTAL_MAX = 6000
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FIELDS_MAX = 25
LABEL_MAX = 80

BUTTONS_PER_ROW = 5
ROWS_MAX = 5
URL_MAX = 512

STYLES = {"primary": 1, None: 2, "secondary": 2, "success": 3, "danger": 4}
LINK_STYLE = 5

_ESCAPE = re.compile(r"([\\\[\]<>])")


def escape(text: str) -> str:
    """Outside code spans only: inside one Discord shows a backslash as typed, and parses
    no mention or link anyway (the help's `/submit <url>` stays as written)."""
    parts = text.split("`")
    return "`".join(part if i % 2 else _ESCAPE.sub(r"\\\1", part) for i, part in enumerate(parts))


DISCORD = Renderer(
    text=escape,
    mention=lambda user: f"<@{user}>",
    channel=lambda chan: f"<#{chan}>",
    link=lambda url, label: f"[{label}](<{url.replace('>', '%3E').replace(')', '%29')}>)",
    bold=lambda words: f"**{words}**",
    time=lambda unix, words: f"<t:{unix}:f>",
)


def markdown(text: str) -> str:
    return render(text, DISCORD)


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mentioned(message: Message) -> list[str]:
    """The people the bot itself mentions: the only ones Discord may ping."""
    texts = (message.text, message.context, *(v for pair in message.fields for v in pair))
    ids = [m.group(2) for t in texts for m in TOKEN_RE.finditer(t) if m.group(1) == "@"]
    return list(dict.fromkeys(ids))[:100]


def content_for(message: Message) -> str:
    """The text, then links too long for a button (LinkedIn's add-to-profile can be), then
    the footer line as Discord's small print (`-# …`), within 2,000 characters: a longer
    text is cut at a line break and says so."""
    long_links = [markup.link(b.url, b.label) for b in message.buttons if b.url and len(b.url) > URL_MAX]
    body = markdown("\n".join([message.text, *long_links]))
    footer = f"\n-# {markdown(message.context)}" if message.context.strip() else ""
    room = CONTENT_MAX - len(footer)
    if len(body) > room:
        note = "\n…(the rest is too long for one message)"
        head = body[: room - len(note)]
        body = (head[: head.rfind("\n")] if "\n" in head else head) + note
    return body + footer


def embed_for(message: Message) -> dict[str, Any] | None:
    """Fields as one embed's fields, at most 25 and 6,000 characters in all."""
    if not message.fields:
        return None
    fields, total = [], 0
    for name, value in message.fields[:FIELDS_MAX]:
        label = cut(markdown(name), FIELD_NAME_MAX) or "\u200b"
        text = cut(markdown(value), FIELD_VALUE_MAX) or "\u200b"
        size = len(label) + len(text)
        if total + size > EMBED_TOTAL_MAX:
            break
        fields.append({"name": label, "value": text, "inline": False})
        total += size
    return {"fields": fields}


def button(b: Button) -> dict[str, Any] | None:
    label = cut(b.label, LABEL_MAX)
    if b.url:
        return (
            {"type": 2, "style": LINK_STYLE, "label": label, "url": b.url} if len(b.url) <= URL_MAX else None
        )
    command = b.command or ""
    if not command or len(command) > COMMAND_MAX:
        return None  # `Button` refuses these; an older stored row is shown without it
    return {"type": 2, "style": STYLES.get(b.style, 2), "label": label, "custom_id": command}


def components_for(message: Message) -> list[dict[str, Any]]:
    """Buttons in rows of five, at most five rows; a custom_id is the command itself."""
    fits = [b for b in message.buttons if not (b.url and len(b.url) > URL_MAX)]
    buttons = [c for c in map(button, fits) if c is not None][: BUTTONS_PER_ROW * ROWS_MAX]
    return [
        {"type": 1, "components": buttons[start : start + BUTTONS_PER_ROW]}
        for start in range(0, len(buttons), BUTTONS_PER_ROW)
    ]


def payload_for(message: Message) -> dict[str, Any]:
    """The JSON body of a message create (or edit, or interaction answer)."""
    body: dict[str, Any] = {
        "content": content_for(message),
        "components": components_for(message),
        "allowed_mentions": {"parse": [], "users": mentioned(message)},
    }
    embed = embed_for(message)
    body["embeds"] = [embed] if embed else []
    return body
