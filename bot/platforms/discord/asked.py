"""An interaction as plain data: what the gateway hands on once it has acknowledged it, to the
handlers in its own process or, down a pipe, to a handler process (`processes`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import discord

from bot.domain import UserError
from bot.forms import form_for_button, form_for_typed
from bot.platforms.discord.commands import typed

Kind = discord.InteractionType


@dataclass(frozen=True)
class Asked:
    """What an interaction says, and (`deferred`) whether the gateway has acknowledged it
    ("thinking…"), so that its answer fills that in. `guilds`: in a DM, the servers the bot is
    in, where the person's home is looked for; a handler process has no gateway to ask."""

    id: str
    token: str
    application_id: str
    kind: Kind
    data: dict[str, Any]
    user_id: str
    name: str
    permissions: int
    guild_id: str | None
    guild_name: str
    channel_id: str | None
    guilds: tuple[str, ...]
    deferred: bool

    @classmethod
    def of(cls, interaction: discord.Interaction, guilds: tuple[str, ...]) -> Asked:
        kind, data = interaction.type, dict(interaction.data or {})
        return cls(
            id=str(interaction.id),
            token=interaction.token,
            application_id=str(interaction.application_id),
            kind=kind,
            data=data,
            user_id=str(interaction.user.id),
            name=interaction.user.display_name,
            permissions=interaction.permissions.value,
            guild_id=str(interaction.guild_id) if interaction.guild_id is not None else None,
            guild_name=interaction.guild.name if interaction.guild else "",
            channel_id=str(interaction.channel_id) if interaction.channel_id else None,
            guilds=guilds if interaction.guild_id is None else (),
            deferred=acknowledged_first(kind, data),
        )

    @property
    def custom_id(self) -> str:
        return str(self.data.get("custom_id") or "")

    def to_json(self) -> dict[str, Any]:
        """As JSON holds it (shallow: `asdict` would copy `data` deep, on the gateway's time)."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {**fields, "kind": self.kind.value, "guilds": list(self.guilds)}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Asked:
        return cls(**{**raw, "kind": Kind(raw["kind"]), "guilds": tuple(raw["guilds"])})


def acknowledged_first(kind: Kind, data: dict[str, Any]) -> bool:
    """Whether the gateway acknowledges at once ("thinking…", only to the person), so that no
    database work or slow query ever brings Discord's 3 s near. Not for what answers with a form
    (a modal is a first answer: it cannot follow a deferral) or with suggestions."""
    if kind is Kind.application_command:
        return form_for_typed(typed(data)) is None
    if kind is Kind.component:
        command = str(data.get("custom_id") or "")
        try:
            return not command.startswith("/") or form_for_button(command) is None
        except UserError:  # a decision button naming no review: refused, in one answer
            return False
    return kind is Kind.modal_submit
