"""Discord's JSON for the world's objects (users, roles, channels, members, guilds, messages), as
REST answers and gateway events carry them: ids as snowflake strings, permissions as strings,
ISO 8601 timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .world import Channel, ChannelType, Guild, Member, Message, Role, User, World


def timestamp(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat()


def user(u: User) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(u.id),
        "username": u.username,
        "global_name": u.global_name,
        "discriminator": "0",
        "avatar": None,
        "public_flags": 0,
        "flags": 0,
        "banner": None,
        "accent_color": None,
        "avatar_decoration_data": None,
    }
    if u.bot:
        data["bot"] = True
    return data


def current_user(u: User) -> dict[str, Any]:
    """`GET /users/@me` and READY's user: the bot's own account."""
    return {**user(u), "verified": True, "mfa_enabled": False, "email": None, "locale": u.locale}


def role(r: Role) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(r.id),
        "name": r.name,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "icon": None,
        "unicode_emoji": None,
        "position": r.position,
        "permissions": str(r.permissions),
        "managed": r.managed,
        "mentionable": r.mentionable,
        "flags": 0,
    }
    if r.bot_id is not None:
        data["tags"] = {"bot_id": str(r.bot_id)}
    return data


def channel(c: Channel, world: World) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(c.id),
        "type": int(c.type),
        "flags": 0,
        "last_message_id": None if c.last_message_id is None else str(c.last_message_id),
    }
    if c.type is ChannelType.DM:
        assert c.recipient is not None
        data["recipients"] = [user(c.recipient)]
        return data
    data.update(
        guild_id=str(c.guild_id),
        name=c.name,
        position=c.position,
        permission_overwrites=[],
        parent_id=None,
        topic=c.topic,
        nsfw=False,
        rate_limit_per_user=0,
    )
    return data


def member(m: Member, *, with_user: bool = True, with_permissions: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "roles": [str(r.id) for r in m.roles],
        "nick": m.nick,
        "avatar": None,
        "banner": None,
        "joined_at": timestamp(m.joined_at),
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "communication_disabled_until": None,
    }
    if with_user:
        data["user"] = user(m.user)
    if with_permissions:
        data["permissions"] = str(m.permissions)
    return data


def guild(g: Guild) -> dict[str, Any]:
    """`GET /guilds/{id}`: the guild without the gateway's extra fields."""
    return {
        "id": str(g.id),
        "name": g.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "owner_id": str(g.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "roles": [role(r) for r in g.roles.values()],
        "emojis": [],
        "stickers": [],
        "features": [],
        "mfa_level": 0,
        "application_id": None,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "max_members": 500000,
        "vanity_url_code": None,
        "description": None,
        "banner": None,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "preferred_locale": g.locale,
        "public_updates_channel_id": None,
        "nsfw_level": 0,
        "premium_progress_bar_enabled": False,
    }


def guild_create(g: Guild, world: World, *, all_members: bool) -> dict[str, Any]:
    """GUILD_CREATE's payload. Without the GUILD_PRESENCES intent Discord lists only the bot
    itself among the members (and people in voice, of whom the fake has none)."""
    members = list(g.members.values()) if all_members else [world.bot_member(g)]
    return {
        **guild(g),
        "joined_at": timestamp(world.bot_member(g).joined_at),
        "large": False,
        "unavailable": False,
        "member_count": len(g.members),
        "voice_states": [],
        "members": [member(m) for m in members],
        "channels": [channel(c, world) for c in g.channels.values()],
        "threads": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def partial_channel(c: Channel, world: World, *, permissions: int | None = None) -> dict[str, Any]:
    """A channel as `resolved.channels` and an interaction's `channel` carry it."""
    data = channel(c, world)
    if permissions is not None:
        data["permissions"] = str(permissions)
    return data


def message(
    m: Message, world: World, *, for_gateway: bool = False, with_nonce: bool = False
) -> dict[str, Any]:
    """A message as Discord returns it. Its nonce only where Discord shows one: the create's
    answer (`with_nonce`) and the MESSAGE_CREATE event; never in history or a fetch."""
    data = dict(m.data)
    if (for_gateway or with_nonce) and m.nonce is not None:
        data["nonce"] = m.nonce
    if for_gateway and m.channel.guild_id is not None:
        guild = world.guilds[m.channel.guild_id]
        data["guild_id"] = str(guild.id)
        if m.author.id in guild.members:
            data["member"] = member(guild.members[m.author.id], with_user=False)
    return data
