"""Neutral messages as Discord's: markdown content (or an embed, for a card), an embed for
fields, buttons as components, always within Discord's limits (a message over one is refused
whole, so everything is cut or summarised here, saying what was cut, never left for Discord to
reject).

A card (`messages.Card`: nudges, review tasks, badge celebrations) is an embed coloured by its
kind: the title (linked to the card's page), the text as the description (continued in further
embeds up to Discord's 6,000 characters a message), the fields, the picture as a thumbnail and
the small print as the footer. A message's mentions in an embed are shown but ping nobody.

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
from bot.markup import TOKEN_RE, Renderer, chunks, cut, fit, plain, render
from bot.messages import COMMAND_MAX, Button, CardKind, Message

CONTENT_MAX = 2000
EMBEDS_MAX = 10
EMBED_TOTAL_MAX = 6000
TITLE_MAX = 256
DESCRIPTION_MAX = 4096
FOOTER_MAX = 2048
FIELD_NAME_MAX = 256
FIELD_VALUE_MAX = 1024
FIELDS_MAX = 25
FIELDS_ROOM = 1000  # kept for a card's fields however long its text: the claim state is one
LABEL_MAX = 80

COLOURS = {  # Discord's own palette: yellow, blurple, green, greyple
    CardKind.NUDGE: 0xFEE75C,
    CardKind.TASK: 0x5865F2,
    CardKind.CELEBRATION: 0x57F287,
    CardKind.NEWS: 0x99AAB5,
}
BLANK = "\u200b"  # Discord refuses an empty field name or value

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


def mentioned(message: Message) -> list[str]:
    """The people the bot itself mentions: the only ones Discord may ping."""
    texts = (message.text, message.context, *(v for pair in message.fields for v in pair))
    ids = [m.group(2) for t in texts for m in TOKEN_RE.finditer(t) if m.group(1) == "@"]
    return list(dict.fromkeys(ids))[:100]


def body_of(message: Message) -> str:
    """The text, then links too long for a button (LinkedIn's add-to-profile can be)."""
    long_links = [markup.link(b.url, b.label) for b in message.buttons if b.url and len(b.url) > URL_MAX]
    return markdown("\n".join([message.text, *long_links]))


def content_for(message: Message) -> str:
    """The text and the footer line as Discord's small print (`-# …`), within 2,000 characters:
    a longer text is cut at a line break and says how much more there was."""
    footer = f"\n-# {markdown(message.context)}" if message.context.strip() else ""
    return fit(body_of(message), CONTENT_MAX - len(footer)) + footer


def web_url(url: str | None) -> str | None:
    """Discord takes only http(s) addresses for an embed's link and picture."""
    return url if url and url.startswith(("https://", "http://")) else None


def summary(left: int) -> dict[str, Any]:
    return {"name": "…", "value": f"and {left} more", "inline": False}


def size_of(fields: list[dict[str, Any]]) -> int:
    return sum(len(f["name"]) + len(f["value"]) for f in fields)


def fields_for(message: Message, room: int) -> list[dict[str, Any]]:
    """At most 25 fields, each within its limits, within `room` characters; those left out are
    counted in a last field (`… and 12 more`)."""
    pairs = [
        {
            "name": cut(markdown(name), FIELD_NAME_MAX) or BLANK,
            "value": fit(markdown(value), FIELD_VALUE_MAX) or BLANK,
            "inline": False,
        }
        for name, value in message.fields
    ]
    fields: list[dict[str, Any]] = []
    for i, field in enumerate(pairs):
        after = len(pairs) - i - 1
        rest = [summary(after)] if after else []
        if len(fields) + 1 + len(rest) <= FIELDS_MAX and size_of([*fields, field, *rest]) <= room:
            fields.append(field)
            continue
        while fields and size_of([*fields, summary(len(pairs) - len(fields))]) > room:
            fields.pop()
        if size_of([*fields, summary(len(pairs) - len(fields))]) <= room:
            fields.append(summary(len(pairs) - len(fields)))
        break
    return fields


def embed_for(message: Message) -> dict[str, Any] | None:
    """Fields of a message that is not a card as one embed's fields, within its limits."""
    if not message.fields:
        return None
    return {"fields": fields_for(message, EMBED_TOTAL_MAX)}


def embeds_for_card(message: Message) -> list[dict[str, Any]]:
    """A card as embeds: the first with the title, its link and the thumbnail, the text over as
    many as it takes (4,096 characters each), the last with the fields and the footer; within
    6,000 characters in all, the text cut (saying so) before the fields are."""
    card = message.card
    assert card is not None
    colour = COLOURS[card.kind]
    title = cut(markdown(card.title), TITLE_MAX)
    footer = cut(plain(message.context), FOOTER_MAX) if message.context.strip() else ""
    wanted = size_of(fields_for(message, EMBED_TOTAL_MAX))
    room = EMBED_TOTAL_MAX - len(title) - len(footer) - min(wanted, FIELDS_ROOM)
    text = fit(body_of(message), room)
    pages = chunks(text, DESCRIPTION_MAX)[:EMBEDS_MAX] if text.strip() else []
    embeds: list[dict[str, Any]] = [{"color": colour, "description": page} for page in pages] or [
        {"color": colour}
    ]
    first, last = embeds[0], embeds[-1]
    first["title"] = title
    if url := web_url(card.url):
        first["url"] = url
    if image := web_url(card.image):
        first["thumbnail"] = {"url": image}
    if message.fields:
        spent = len(title) + len(footer) + sum(len(e.get("description", "")) for e in embeds)
        last["fields"] = fields_for(message, EMBED_TOTAL_MAX - spent)
    if footer:
        last["footer"] = {"text": footer}
    return embeds


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
        "content": "" if message.card else content_for(message),
        "components": components_for(message),
        "allowed_mentions": {"parse": [], "users": mentioned(message)},
    }
    if message.card:
        body["embeds"] = embeds_for_card(message)
    else:
        embed = embed_for(message)
        body["embeds"] = [embed] if embed else []
    return body
