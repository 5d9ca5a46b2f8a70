"""Interactions the fake sent and what became of each: Discord's rules for answering one (a first
answer within 3 s, once; an answer type that fits the interaction; followups with the token for
15 minutes after it was made), checked here, so the server only carries answers out."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, IntEnum, auto
from typing import Any

from .errors import DiscordError, ErrorCode, FormErrors
from .limits import EPHEMERAL, LOADING, choices_errors, is_empty, message_errors, modal_errors
from .world import Channel, Guild, Message, User

ACK_WINDOW = 3.0
TOKEN_LIFETIME = 15 * 60.0


class InteractionType(IntEnum):
    PING = 1
    APPLICATION_COMMAND = 2
    MESSAGE_COMPONENT = 3
    AUTOCOMPLETE = 4
    MODAL_SUBMIT = 5


class CallbackType(IntEnum):
    PONG = 1
    CHANNEL_MESSAGE = 4
    DEFERRED_CHANNEL_MESSAGE = 5
    DEFERRED_UPDATE_MESSAGE = 6
    UPDATE_MESSAGE = 7
    AUTOCOMPLETE_RESULT = 8
    MODAL = 9
    LAUNCH_ACTIVITY = 12


class InteractionState(Enum):
    PENDING = auto()  # sent, not answered yet
    ACKNOWLEDGED = auto()  # answered in time; the token serves followups until it expires
    FAILED = auto()  # not answered in time: the person saw "This interaction failed"


# Which answers Discord takes for which interaction.
ANSWERS: dict[InteractionType, frozenset[CallbackType]] = {
    InteractionType.APPLICATION_COMMAND: frozenset(
        {CallbackType.CHANNEL_MESSAGE, CallbackType.DEFERRED_CHANNEL_MESSAGE, CallbackType.MODAL}
    ),
    InteractionType.MESSAGE_COMPONENT: frozenset(
        {
            CallbackType.CHANNEL_MESSAGE,
            CallbackType.DEFERRED_CHANNEL_MESSAGE,
            CallbackType.DEFERRED_UPDATE_MESSAGE,
            CallbackType.UPDATE_MESSAGE,
            CallbackType.MODAL,
        }
    ),
    InteractionType.AUTOCOMPLETE: frozenset({CallbackType.AUTOCOMPLETE_RESULT}),
    InteractionType.MODAL_SUBMIT: frozenset(
        {
            CallbackType.CHANNEL_MESSAGE,
            CallbackType.DEFERRED_CHANNEL_MESSAGE,
            CallbackType.DEFERRED_UPDATE_MESSAGE,
            CallbackType.UPDATE_MESSAGE,
        }
    ),
}
# These two edit the message a component was on: a modal opened from a slash command has none.
NEEDS_MESSAGE = frozenset({CallbackType.DEFERRED_UPDATE_MESSAGE, CallbackType.UPDATE_MESSAGE})


@dataclass
class Callback:
    type: CallbackType
    data: dict[str, Any]
    after: float  # seconds between the interaction and this answer

    @property
    def ephemeral(self) -> bool:
        return bool(int(self.data.get("flags") or 0) & EPHEMERAL)

    @property
    def content(self) -> str:
        return str(self.data.get("content") or "")


@dataclass(eq=False)
class Interaction:
    id: int
    token: str
    type: InteractionType
    payload: dict[str, Any]
    user: User
    channel: Channel
    guild: Guild | None
    created_at: float
    message: Message | None = None  # the message a clicked component is on
    state: InteractionState = InteractionState.PENDING
    callback: Callback | None = None
    original: Message | None = None  # what @original names once answered
    followups: list[Message] = field(default_factory=list)
    refused: list[DiscordError] = field(default_factory=list)  # answers Discord turned down

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal this interaction answered with, for a test to fill in and submit."""
        if self.callback and self.callback.type is CallbackType.MODAL:
            return self.callback.data
        return None

    @property
    def loading(self) -> bool:
        """Deferred with a "thinking…" message not yet replaced by a real answer."""
        return self.original is not None and bool(int(self.original.data.get("flags") or 0) & LOADING)


class Interactions:
    def __init__(self, *, ack_window: float = ACK_WINDOW, token_lifetime: float = TOKEN_LIFETIME) -> None:
        self.ack_window, self.token_lifetime = ack_window, token_lifetime
        self.all: list[Interaction] = []
        self._by_id: dict[int, Interaction] = {}
        self._by_token: dict[str, Interaction] = {}

    def new(self, interaction_id: int, kind: InteractionType, **fields: Any) -> Interaction:
        interaction = Interaction(
            interaction_id, "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48), kind, **fields
        )
        self.all.append(interaction)
        self._by_id[interaction.id] = interaction
        self._by_token[interaction.token] = interaction
        return interaction

    def check_callback(
        self, interaction_id: int, token: str, body: Mapping[str, Any], now: float
    ) -> tuple[Interaction, CallbackType, dict[str, Any]]:
        """The interaction a callback answers, the answer's type and data, or Discord's refusal."""
        interaction = self._by_id.get(interaction_id)
        if interaction is None or interaction.token != token:
            raise DiscordError(404, ErrorCode.UNKNOWN_INTERACTION)
        if interaction.state is InteractionState.ACKNOWLEDGED:
            raise self._refuse(interaction, DiscordError(400, ErrorCode.INTERACTION_ALREADY_ACKNOWLEDGED))
        late = now - interaction.created_at > self.ack_window
        if interaction.state is InteractionState.FAILED or late:
            interaction.state = InteractionState.FAILED
            raise self._refuse(interaction, DiscordError(404, ErrorCode.UNKNOWN_INTERACTION))
        errors = FormErrors()
        try:
            kind = CallbackType(body.get("type", 0))
        except ValueError:
            errors.add(
                ("type",),
                "BASE_TYPE_CHOICES",
                f"Value must be one of {sorted(int(t) for t in CallbackType)}.",
            )
            raise self._refuse(interaction, DiscordError.invalid_form(errors)) from None
        allowed = ANSWERS.get(interaction.type, frozenset())
        if kind not in allowed or (kind in NEEDS_MESSAGE and interaction.message is None):
            errors.add(
                ("type",), "INTERACTION_RESPONSE_TYPE_INVALID", "Interaction response type is invalid."
            )
            raise self._refuse(interaction, DiscordError.invalid_form(errors))
        data = dict(body.get("data") or {})
        errors = _answer_errors(kind, data)
        if errors:
            raise self._refuse(interaction, DiscordError.invalid_form(errors))
        if kind is CallbackType.CHANNEL_MESSAGE and is_empty(data):
            raise self._refuse(interaction, DiscordError(400, ErrorCode.EMPTY_MESSAGE))
        return interaction, kind, data

    def acknowledge(
        self, interaction: Interaction, kind: CallbackType, data: dict[str, Any], now: float
    ) -> None:
        interaction.state = InteractionState.ACKNOWLEDGED
        interaction.callback = Callback(kind, data, now - interaction.created_at)

    def for_webhook(
        self, application_id: int, token: str, expected_application: int, now: float
    ) -> Interaction:
        """The interaction whose token a followup or an @original call carries."""
        interaction = self._by_token.get(token)
        if interaction is None or application_id != expected_application:
            raise DiscordError(404, ErrorCode.UNKNOWN_WEBHOOK)
        if interaction.state is InteractionState.FAILED or now - interaction.created_at > self.token_lifetime:
            raise self._refuse(interaction, DiscordError(401, ErrorCode.INVALID_WEBHOOK_TOKEN))
        if interaction.state is InteractionState.PENDING:  # no answer yet: nothing to follow up
            raise self._refuse(interaction, DiscordError(404, ErrorCode.UNKNOWN_WEBHOOK))
        return interaction

    def failures(self, now: float, *, ending: bool = False) -> list[Interaction]:
        """Interactions nobody answered in 3 s (or, when the test is `ending`, at all): each one
        a person would have seen fail. Each is reported once."""
        failed = []
        for interaction in self.all:
            overdue = now - interaction.created_at > self.ack_window
            if interaction.state is InteractionState.PENDING and (overdue or ending):
                interaction.state = InteractionState.FAILED
                failed.append(interaction)
        return failed

    @staticmethod
    def _refuse(interaction: Interaction, error: DiscordError) -> DiscordError:
        interaction.refused.append(error)
        return error


def _answer_errors(kind: CallbackType, data: dict[str, Any]) -> FormErrors:
    if kind in (CallbackType.CHANNEL_MESSAGE, CallbackType.UPDATE_MESSAGE):
        return message_errors(data, ("data",))
    if kind is CallbackType.DEFERRED_CHANNEL_MESSAGE:
        errors = FormErrors()
        if int(data.get("flags") or 0) & ~EPHEMERAL:
            errors.add(("data", "flags"), "INTERACTION_FLAGS_INVALID", "Only the EPHEMERAL flag may be set.")
        return errors
    if kind is CallbackType.AUTOCOMPLETE_RESULT:
        return choices_errors(data)
    if kind is CallbackType.MODAL:
        return modal_errors(data)
    return FormErrors()
