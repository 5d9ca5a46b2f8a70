"""The application commands the app registered (global and per guild), and what a person's use of
one sends: Discord's client only lets a person send what the registered command allows, so a
test invoking a command that was never registered, or with options it does not have, is a bug
in the test and fails at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from .errors import DiscordError, ErrorCode
from .limits import commands_errors
from .world import Channel, Member, Role, User, World


class OptionType(IntEnum):
    SUB_COMMAND = 1
    SUB_COMMAND_GROUP = 2
    STRING = 3
    INTEGER = 4
    BOOLEAN = 5
    USER = 6
    CHANNEL = 7
    ROLE = 8
    MENTIONABLE = 9
    NUMBER = 10
    ATTACHMENT = 11


Referenced = User | Member | Channel | Role


@dataclass
class Command:
    id: int
    guild_id: int | None
    data: dict[str, Any]  # as Discord answers it

    @property
    def name(self) -> str:
        return str(self.data["name"])

    @property
    def type(self) -> int:
        return int(self.data.get("type", 1))


class Commands:
    def __init__(self, world: World) -> None:
        self.world = world
        self._registered: dict[int | None, list[Command]] = {}

    def overwrite(self, guild_id: int | None, body: Any) -> list[dict[str, Any]]:
        """PUT …/commands: the new list replaces the old; a command keeps its id across syncs."""
        errors = commands_errors(body)
        if errors:
            raise DiscordError.invalid_form(errors)
        old = {(c.type, c.name): c for c in self._registered.get(guild_id, [])}
        commands: list[Command] = []
        for item in body:
            kind = int(item.get("type", 1))
            previous = old.get((kind, item["name"]))
            command_id = previous.id if previous else self.world.ids.next()
            data = {
                "id": str(command_id),
                "application_id": str(self.world.application_id),
                "version": str(self.world.ids.next()),
                "type": kind,
                "name": item["name"],
                "description": item.get("description", ""),
                "options": item.get("options") or [],
                "default_member_permissions": item.get("default_member_permissions"),
                "nsfw": bool(item.get("nsfw", False)),
                "name_localizations": item.get("name_localizations"),
                "description_localizations": item.get("description_localizations"),
            }
            if guild_id is None:
                data["contexts"] = item.get("contexts")
                data["integration_types"] = item.get("integration_types") or [0]
                data["dm_permission"] = item.get("dm_permission", True)
            else:
                data["guild_id"] = str(guild_id)
            commands.append(Command(command_id, guild_id, data))
        self._registered[guild_id] = commands
        return [c.data for c in commands]

    def listing(self, guild_id: int | None) -> list[dict[str, Any]]:
        return [c.data for c in self._registered.get(guild_id, [])]

    def get(self, guild_id: int | None, command_id: int) -> dict[str, Any]:
        for command in self._registered.get(guild_id, []):
            if command.id == command_id:
                return command.data
        raise DiscordError(404, ErrorCode.UNKNOWN_APPLICATION_COMMAND)

    def find(self, name: str, guild_id: int | None) -> Command:
        """The command a person in this guild sees under this name: the guild's own first."""
        scopes = [guild_id, None] if guild_id is not None else [None]
        for scope in scopes:
            for command in self._registered.get(scope, []):
                if command.name == name and command.type == 1:
                    return command
        where = f"guild {guild_id}" if guild_id else "DMs"
        raise LookupError(f"no slash command /{name} is registered for {where}: sync the command tree first")


def invocation(
    command: Command,
    path: Sequence[str],
    values: Mapping[str, Any],
    *,
    focused: str | None = None,
) -> tuple[list[dict[str, Any]], list[Referenced]]:
    """`data.options` for using `command` (its subcommand `path`) with `values`, and the users,
    channels and roles they name (for `data.resolved`). With `focused`, an autocomplete: the
    options are partial and the focused one carries the text typed so far."""
    schema: list[dict[str, Any]] = list(command.data.get("options") or [])
    nesting: list[dict[str, Any]] = []
    for part in path:
        option = _option(schema, part, f"/{command.name}")
        if option["type"] not in (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP):
            raise ValueError(f"/{command.name}: {part!r} is an option, not a subcommand")
        nesting.append({"type": option["type"], "name": part})
        schema = list(option.get("options") or [])
    if any(o["type"] in (OptionType.SUB_COMMAND, OptionType.SUB_COMMAND_GROUP) for o in schema):
        names = ", ".join(o["name"] for o in schema)
        raise ValueError(f"/{command.name} needs a subcommand: one of {names}")

    label = " ".join(["/" + command.name, *path])
    options: list[dict[str, Any]] = []
    referenced: list[Referenced] = []
    for name, value in values.items():
        option = _option(schema, name, label)
        entry: dict[str, Any] = {"type": option["type"], "name": name}
        if name == focused:
            if not option.get("autocomplete"):
                raise ValueError(f"{label}: option {name!r} has no autocomplete")
            entry["value"], entry["focused"] = str(value), True
        else:
            entry["value"] = _value(option, value, label, referenced)
        options.append(entry)
    if focused is None:
        missing = [o["name"] for o in schema if o.get("required") and o["name"] not in values]
        if missing:
            raise ValueError(f"{label}: Discord's client would not send it without {', '.join(missing)}")
    elif focused not in values:
        raise ValueError(f"{label}: the focused option {focused!r} needs the text typed so far")

    for level in reversed(nesting):
        level["options"] = options
        options = [level]
    return options, referenced


def _option(schema: Sequence[dict[str, Any]], name: str, label: str) -> dict[str, Any]:
    for option in schema:
        if option["name"] == name:
            return option
    known = ", ".join(o["name"] for o in schema) or "none"
    raise ValueError(f"{label} has no option {name!r} (it has: {known})")


def _value(option: Mapping[str, Any], value: Any, label: str, referenced: list[Referenced]) -> Any:
    kind = OptionType(option["type"])
    where = f"{label} {option['name']}"
    if kind is OptionType.STRING:
        converted: Any = str(value)
        low, high = option.get("min_length", 0), option.get("max_length", 6000)
        if not low <= len(converted) <= high:
            raise ValueError(f"{where}: Discord's client takes {low} to {high} characters")
    elif kind is OptionType.INTEGER:
        converted = int(value)
    elif kind is OptionType.NUMBER:
        converted = float(value)
    elif kind is OptionType.BOOLEAN:
        converted = bool(value)
    elif kind in (OptionType.USER, OptionType.CHANNEL, OptionType.ROLE, OptionType.MENTIONABLE):
        allowed = {
            OptionType.USER: (User, Member),
            OptionType.CHANNEL: (Channel,),
            OptionType.ROLE: (Role,),
            OptionType.MENTIONABLE: (User, Member, Role),
        }[kind]
        if not isinstance(value, allowed):
            raise ValueError(
                f"{where}: a {kind.name.lower()} option takes {' or '.join(t.__name__ for t in allowed)}"
            )
        referenced.append(value)
        return str(value.id)
    else:
        raise ValueError(f"{where}: the fake does not send {kind.name.lower()} options")
    if kind in (OptionType.INTEGER, OptionType.NUMBER):
        low, high = option.get("min_value"), option.get("max_value")
        if (low is not None and converted < low) or (high is not None and converted > high):
            raise ValueError(f"{where}: Discord's client takes {low} to {high}")
    choices = option.get("choices")
    if choices and converted not in [c["value"] for c in choices]:
        raise ValueError(f"{where}: {converted!r} is not one of its choices")
    return converted
