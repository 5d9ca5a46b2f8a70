"""What Discord sends an app when a person acts: INTERACTION_CREATE payloads for a slash command,
an autocomplete, a button click and a modal submit, and MESSAGE_CREATE for a typed message, in
Discord's documented shapes (ids as snowflake strings, the member with its user and permissions
string, guild_id, channel, app_permissions, locale, token, version 1)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from . import objects
from .commands import Referenced
from .interactions import InteractionType
from .limits import ACTION_ROW, LABEL, TEXT_DISPLAY, TEXT_INPUT
from .world import Channel, ChannelType, Guild, Member, Message, Role, User, World

ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
GUILD_CONTEXT, BOT_DM_CONTEXT = 0, 1


def interaction(
    world: World,
    *,
    interaction_id: int,
    token: str,
    kind: InteractionType,
    user: User,
    channel: Channel,
    guild: Guild | None,
    data: dict[str, Any],
    message: Message | None = None,
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(interaction_id),
        "application_id": str(world.application_id),
        "type": int(kind),
        "data": data,
        "channel_id": str(channel.id),
        "token": token,
        "version": 1,
        "locale": user.locale,
        "entitlements": [],
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }
    if guild is not None:
        member = guild.member(user)
        bot = world.bot_member(guild)
        payload.update(
            guild_id=str(guild.id),
            guild={"id": str(guild.id), "locale": guild.locale, "features": []},
            guild_locale=guild.locale,
            member=objects.member(member, with_permissions=True),
            app_permissions=str(bot.permissions),
            channel=objects.partial_channel(channel, world),
            authorizing_integration_owners={"0": str(guild.id)},
            context=GUILD_CONTEXT,
        )
    else:
        payload.update(
            user=objects.user(user),
            app_permissions=str(world.bot_permissions),
            channel=objects.partial_channel(channel, world),
            authorizing_integration_owners={"0": "0"},
            context=BOT_DM_CONTEXT,
        )
    if message is not None:
        payload["message"] = objects.message(message, world)
    return payload


def command_data(
    command_data: Mapping[str, Any],
    options: list[dict[str, Any]],
    referenced: Sequence[Referenced],
    world: World,
    guild: Guild | None,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": command_data["id"],
        "name": command_data["name"],
        "type": command_data.get("type", 1),
        "options": options,
    }
    if "guild_id" in command_data:
        data["guild_id"] = command_data["guild_id"]
    if referenced:
        data["resolved"] = resolved(referenced, world, guild)
    return data


def resolved(referenced: Sequence[Referenced], world: World, guild: Guild | None) -> dict[str, Any]:
    """`data.resolved`: each user (and, in a guild, their member with permissions), channel and
    role the options name, keyed by id."""
    found: dict[str, dict[str, Any]] = {}
    for item in referenced:
        if isinstance(item, Role):
            found.setdefault("roles", {})[str(item.id)] = objects.role(item)
        elif isinstance(item, Channel):
            found.setdefault("channels", {})[str(item.id)] = objects.partial_channel(
                item, world, permissions=world.bot_permissions
            )
        else:
            user = item.user if isinstance(item, Member) else item
            found.setdefault("users", {})[str(user.id)] = objects.user(user)
            member = guild.members.get(user.id) if guild is not None else None
            if member is not None:
                found.setdefault("members", {})[str(user.id)] = objects.member(
                    member, with_user=False, with_permissions=True
                )
    return found


def component_data(custom_id: str, component_type: int, values: Sequence[str] | None) -> dict[str, Any]:
    data: dict[str, Any] = {"custom_id": custom_id, "component_type": component_type}
    if values is not None:
        data["values"] = list(values)
    return data


def modal_submit_data(modal: Mapping[str, Any], values: Mapping[str, str]) -> dict[str, Any]:
    """What a person's filled-in modal sends back, mirroring the modal's own layout (a text input
    in an action row, or in a label). `values` names each input by its label, as the person reads
    it, or by its custom id. Discord's client refuses to submit a required input left empty or a
    value outside its lengths, and has no field the modal did not show: so does this."""
    used: set[str] = set()
    component_ids = iter(range(1, 1000))
    components: list[dict[str, Any]] = []
    for item in modal.get("components") or []:
        if item.get("type") == ACTION_ROW:
            children = [
                _submitted(child, child.get("label"), values, used, component_ids)
                for child in item.get("components") or []
            ]
            components.append({"type": ACTION_ROW, "id": next(component_ids), "components": children})
        elif item.get("type") == LABEL:
            child = _submitted(item["component"], item.get("label"), values, used, component_ids)
            components.append({"type": LABEL, "id": next(component_ids), "component": child})
        elif item.get("type") == TEXT_DISPLAY:
            components.append({"type": TEXT_DISPLAY, "id": next(component_ids)})
    unknown = set(values) - used
    if unknown:
        raise ValueError(f"the modal has no input {', '.join(sorted(unknown))}")
    return {"custom_id": modal["custom_id"], "components": components}


def _submitted(
    item: Mapping[str, Any], label: str | None, values: Mapping[str, str], used: set[str], ids: Iterator[int]
) -> dict[str, Any]:
    custom_id = item["custom_id"]
    if item.get("type") != TEXT_INPUT:
        raise ValueError(f"the fake fills in text inputs only, not component type {item.get('type')}")
    key = custom_id if custom_id in values else label
    value = item.get("value") or ""
    if key is not None and key in values:
        value = values[key]
        used.add(key)
    required = item.get("required", True)
    low, high = item.get("min_length") or 0, item.get("max_length") or 4000
    if (required and not value) or (value and not low <= len(value) <= high):
        raise ValueError(
            f"Discord's client would not submit {label or custom_id!r} = {value!r} ({low} to {high} chars)"
        )
    return {"type": TEXT_INPUT, "id": next(ids), "custom_id": custom_id, "value": value}


MENTION = re.compile(r"<@!?(\d+)>")


def typed_message(
    world: World, message_id: int, author: User, channel: Channel, content: str
) -> dict[str, Any]:
    """A message a person typed, as REST stores it (MESSAGE_CREATE adds guild_id and member)."""
    mentioned = [world.users[int(i)] for i in MENTION.findall(content) if int(i) in world.users]
    return {
        "id": str(message_id),
        "channel_id": str(channel.id),
        "author": objects.user(author),
        "content": content,
        "timestamp": objects.timestamp(world.clock.wall()),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [objects.user(u) for u in mentioned],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
        "components": [],
    }


def visible_content(
    data: dict[str, Any], *, bot: User, channel: Channel, content_intent: bool
) -> dict[str, Any]:
    """Without the MESSAGE_CONTENT intent a bot gets a person's message without its content,
    embeds and components, unless it is a DM or mentions the bot."""
    if content_intent or channel.type is ChannelType.DM or data["author"]["id"] == str(bot.id):
        return data
    if any(u["id"] == str(bot.id) for u in data.get("mentions", [])):
        return data
    return {**data, "content": "", "embeds": [], "components": [], "attachments": []}
