"""Platform-neutral messages: what handlers say, before any adapter dresses it.

A button is a command the presser would type, so a click runs through the same
parser, role checks and handlers as typed text, on every platform.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from bot.markup import TOKEN_RE, from_legacy

MARKUP = 2  # stored with each message: rows from before `bot.markup` spelled mentions Slack's way

if TYPE_CHECKING:
    from bot.service import Intake


COMMAND_MAX = 100  # the longest command a button holds: the most any platform keeps with one

# slow work after the ack (a link check); what it returns is unused
Followup = Callable[[], Awaitable[object]]


@dataclass(frozen=True)
class Button:
    """A command its presser would type, or a link. A command longer than COMMAND_MAX is a
    mistake of the code that built the button (a platform would refuse the whole message):
    build it from ids, which are short, and names only where they fit."""

    label: str
    command: str | None = None  # run as the presser, e.g. "/review claim R-7"
    url: str | None = None  # or open a link
    style: str | None = None  # primary | danger

    def __post_init__(self) -> None:
        if self.command is not None and len(self.command) > COMMAND_MAX:
            raise ValueError(f"a button's command holds at most {COMMAND_MAX} characters: {self.command!r}")


class CardKind(StrEnum):
    """What a card is about, which a platform may show as its accent (Discord: the colour)."""

    NUDGE = "nudge"  # a deadline or a decision drawing near
    TASK = "task"  # work waiting for someone: a review to claim, evidence to decide
    CELEBRATION = "celebration"  # a badge earned
    NEWS = "news"  # the programme's news: a window opened or closed, a coordinator's reminder


@dataclass(frozen=True)
class Card:
    """A message drawn as a card where the platform has them (Discord: an embed): its kind, a
    title naming what it is about, the page the title links to, a small picture beside it.
    The message's text stays whole, so a platform without cards (the console, Slack) shows the
    text alone and loses nothing that matters. The title is plain words (bold at most):
    no platform shows a mention, link or time in one."""

    kind: CardKind
    title: str
    url: str | None = None  # e.g. the badge's public page
    image: str | None = None  # e.g. the badge's image, as a thumbnail

    def __post_init__(self) -> None:
        if any(m.group(1) != "*" for m in TOKEN_RE.finditer(self.title)):
            raise ValueError(f"a card's title holds plain words only: {self.title!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "title": self.title, "url": self.url, "image": self.image}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Card:
        return cls(CardKind(data["kind"]), data["title"], data.get("url"), data.get("image"))


@dataclass(frozen=True)
class Message:
    """Text with `code` spans, and the bot's bold words, mentions, channels, links and times in
    neutral markup (`bot.markup`: never a platform's own syntax), plus buttons; drawn as a card
    where the platform has them (nudges, review tasks, badge celebrations)."""

    text: str
    buttons: tuple[Button, ...] = ()
    context: str = ""  # a footer line, e.g. ids and times
    fields: tuple[tuple[str, str], ...] = ()  # (label, value) pairs shown as a list
    edit_of: str | None = None  # outbox key of an earlier message this one replaces in place
    card: Card | None = None

    def to_dict(self) -> dict[str, Any]:
        # by hand: dataclasses.asdict deep-copies recursively (~40 µs a message, 0.3 s a fan-out)
        return {
            **vars(self),
            "buttons": [dict(vars(b)) for b in self.buttons],
            "fields": [list(f) for f in self.fields],
            "card": self.card.to_dict() if self.card else None,
            "markup": MARKUP,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        read = (lambda t: t) if data.get("markup") == MARKUP else from_legacy
        return cls(
            text=read(data["text"]),
            # a button stored before commands were capped, and longer, is left out: no platform
            # could take the message with it, and its command can still be typed
            buttons=tuple(
                Button(**b) for b in data.get("buttons", ()) if len(b.get("command") or "") <= COMMAND_MAX
            ),
            context=read(data.get("context", "")),
            fields=tuple((read(k), read(v)) for k, v in data.get("fields", ())),
            edit_of=data.get("edit_of"),
            card=Card.from_dict(data["card"]) if data.get("card") else None,
        )


@dataclass(frozen=True)
class Destination:
    kind: str  # "channel" or "dm"
    target: str  # platform channel id, or platform user id for a DM

    @classmethod
    def channel(cls, channel_id: str) -> Destination:
        return cls("channel", channel_id)

    @classmethod
    def dm(cls, user_id: str) -> Destination:
        return cls("dm", user_id)


@dataclass
class Reply:
    """The answer shown only to the person who typed the command (ephemeral)."""

    message: Message
    ok: bool = True
    crashed: bool = False
    duplicate: bool = False  # a platform's retry of a request already handled
    intake: Intake | None = None  # taken in, not run yet: the answer follows (`CohortBot.finish`)
    followups: list[Followup] = field(default_factory=list)  # run after the ack

    @classmethod
    def text(cls, text: str, **kw: Any) -> Reply:
        return cls(Message(text), **kw)
