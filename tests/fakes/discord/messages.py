"""How a message the bot sends becomes Discord's message: mentions resolved as `allowed_mentions`
permits (absent, everything in the text pings; `@everyone` also needs the permission), only the
flags an app may set, the nonce kept, and edits applied as Discord applies them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from . import objects
from .limits import EPHEMERAL, IS_COMPONENTS_V2, LOADING
from .world import Channel, Message, Permission, User, World

USER_MENTION = re.compile(r"<@!?(\d+)>")
ROLE_MENTION = re.compile(r"<@&(\d+)>")
EVERYONE = re.compile(r"@(everyone|here)\b")
SUPPRESS_EMBEDS, SUPPRESS_NOTIFICATIONS = 1 << 2, 1 << 12
SETTABLE_FLAGS = SUPPRESS_EMBEDS | EPHEMERAL | SUPPRESS_NOTIFICATIONS | IS_COMPONENTS_V2

# Message types
DEFAULT, CHAT_INPUT_COMMAND = 0, 20


def mentions(
    world: World, channel: Channel, content: str, allowed: Mapping[str, Any] | None
) -> dict[str, Any]:
    """`mentions`, `mention_roles` and `mention_everyone` of a message the bot sends."""
    parse = {"users", "roles", "everyone"} if allowed is None else set(allowed.get("parse") or [])
    users_allowed = {str(i) for i in (allowed or {}).get("users") or []}
    roles_allowed = {str(i) for i in (allowed or {}).get("roles") or []}
    guild = world.guilds.get(channel.guild_id) if channel.guild_id is not None else None

    users = []
    for user_id in dict.fromkeys(USER_MENTION.findall(content)):
        if ("users" in parse or user_id in users_allowed) and int(user_id) in world.users:
            users.append(objects.user(world.users[int(user_id)]))
    roles = []
    for role_id in dict.fromkeys(ROLE_MENTION.findall(content)):
        if (
            guild is not None
            and int(role_id) in guild.roles
            and ("roles" in parse or role_id in roles_allowed)
        ):
            roles.append(role_id)
    can_ping_everyone = guild is None or bool(
        world.bot_member(guild).permissions & Permission.MENTION_EVERYONE
    )
    everyone = bool(EVERYONE.search(content)) and "everyone" in parse and can_ping_everyone
    return {"mentions": users, "mention_roles": roles, "mention_everyone": everyone}


def compose(
    world: World,
    channel: Channel,
    body: Mapping[str, Any],
    *,
    kind: int = DEFAULT,
    extra: Mapping[str, Any] | None = None,
    ephemeral_to: User | None = None,
    flags: int | None = None,
) -> Message:
    """A new message from the bot, from a request body (create, followup, interaction answer)."""
    message_id = world.ids.next()
    content = str(body.get("content") or "")
    allowed = body.get("allowed_mentions")
    data: dict[str, Any] = {
        "id": str(message_id),
        "channel_id": str(channel.id),
        "author": objects.user(world.bot),
        "content": content,
        "timestamp": objects.timestamp(world.clock.wall()),
        "edited_timestamp": None,
        "tts": bool(body.get("tts", False)),
        **mentions(world, channel, content, allowed),
        "attachments": [],
        "embeds": [_embed(e) for e in body.get("embeds") or []],
        "pinned": False,
        "type": kind,
        "flags": int(body.get("flags") or 0) & SETTABLE_FLAGS if flags is None else flags,
        "components": list(body.get("components") or []),
        **(extra or {}),
    }
    return Message(
        message_id,
        channel,
        world.bot,
        data,
        allowed_mentions=allowed,
        nonce=body.get("nonce"),
        created_at=world.clock.now(),
        ephemeral_to=ephemeral_to,
    )


def edit(world: World, message: Message, body: Mapping[str, Any]) -> None:
    """Apply an edit: the fields given replace the old ones; mentions are parsed again from the
    new content with this edit's `allowed_mentions` (or the defaults), as Discord does."""
    data = message.data
    if "content" in body:
        data["content"] = str(body["content"] or "")
    if "embeds" in body:
        data["embeds"] = [_embed(e) for e in body["embeds"] or []]
    if "components" in body:
        data["components"] = list(body["components"] or [])
    if "flags" in body and body["flags"] is not None:
        data["flags"] = (int(data.get("flags") or 0) & EPHEMERAL) | (int(body["flags"]) & SETTABLE_FLAGS)
    data["flags"] = int(data.get("flags") or 0) & ~LOADING
    data.update(mentions(world, message.channel, data["content"], body.get("allowed_mentions")))
    data["edited_timestamp"] = objects.timestamp(world.clock.wall())
    if "allowed_mentions" in body:
        message.allowed_mentions = body["allowed_mentions"]


def _embed(embed: Mapping[str, Any]) -> dict[str, Any]:
    return {"type": "rich", **embed}
