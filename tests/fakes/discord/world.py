"""What the fake Discord knows: users, guilds with their roles, channels and members, DM channels
and the messages in each channel. Tests build the world before (or while) the client runs;
REST answers and gateway events are rendered from it (`objects.py`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum, IntFlag
from typing import Any

from .clock import Clock, Snowflakes


class ChannelType(IntEnum):
    GUILD_TEXT = 0
    DM = 1


class Permission(IntFlag):
    """The permission bits the fake checks or that tests commonly give (Discord's values)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    CHANGE_NICKNAME = 1 << 26
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    SEND_MESSAGES_IN_THREADS = 1 << 38


ALL_PERMISSIONS = (1 << 51) - 1
# What a new server's @everyone may do, near enough: see, talk, react, use apps.
EVERYONE_DEFAULT = (
    Permission.CREATE_INSTANT_INVITE
    | Permission.ADD_REACTIONS
    | Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.ATTACH_FILES
    | Permission.READ_MESSAGE_HISTORY
    | Permission.MENTION_EVERYONE
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.CHANGE_NICKNAME
    | Permission.USE_APPLICATION_COMMANDS
    | Permission.SEND_MESSAGES_IN_THREADS
)
# What the invite URL grants the bot's own managed role unless a test says otherwise.
BOT_DEFAULT = (
    Permission.VIEW_CHANNEL
    | Permission.SEND_MESSAGES
    | Permission.EMBED_LINKS
    | Permission.READ_MESSAGE_HISTORY
    | Permission.USE_EXTERNAL_EMOJIS
    | Permission.SEND_MESSAGES_IN_THREADS
)


@dataclass(eq=False)
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    locale: str = "en-US"
    # A person who blocked the bot or closed DMs from server members: Discord refuses with 50007.
    accepts_dms: bool = True


@dataclass(eq=False)
class Role:
    id: int
    guild_id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False
    mentionable: bool = False
    bot_id: int | None = None


@dataclass(eq=False)
class Channel:
    id: int
    type: ChannelType
    name: str | None = None
    guild_id: int | None = None
    recipient: User | None = None  # a DM's other party
    position: int = 0
    topic: str | None = None
    last_message_id: int | None = None

    @property
    def mention(self) -> str:
        return f"<#{self.id}>"


@dataclass(eq=False)
class Member:
    user: User
    guild: Guild = field(repr=False)
    roles: list[Role] = field(default_factory=list)
    nick: str | None = None
    joined_at: float = 0.0

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def permissions(self) -> int:
        """Base permissions from @everyone and the member's roles (the fake has no overwrites)."""
        if self.user.id == self.guild.owner_id:
            return ALL_PERMISSIONS
        value = self.guild.everyone.permissions
        for role in self.roles:
            value |= role.permissions
        return ALL_PERMISSIONS if value & Permission.ADMINISTRATOR else value


@dataclass(eq=False)
class Guild:
    id: int
    name: str
    owner_id: int
    world: World = field(repr=False)
    roles: dict[int, Role] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    locale: str = "en-US"

    @property
    def everyone(self) -> Role:
        return self.roles[self.id]  # Discord gives @everyone the guild's own id

    @property
    def text_channels(self) -> list[Channel]:
        return [c for c in self.channels.values() if c.type is ChannelType.GUILD_TEXT]

    def add_role(self, name: str, *, permissions: int = 0, mentionable: bool = False) -> Role:
        role = Role(
            self.world.ids.next(),
            self.id,
            name,
            int(permissions),
            position=len(self.roles),
            mentionable=mentionable,
        )
        self.roles[role.id] = role
        return role

    def add_text_channel(self, name: str, *, topic: str | None = None) -> Channel:
        channel = Channel(
            self.world.ids.next(),
            ChannelType.GUILD_TEXT,
            name=name,
            guild_id=self.id,
            position=len(self.channels),
            topic=topic,
        )
        self.channels[channel.id] = channel
        self.world.channels[channel.id] = channel
        return channel

    def add_member(self, user: User, *, roles: Iterable[Role] = (), nick: str | None = None) -> Member:
        member = Member(user, self, list(roles), nick=nick, joined_at=self.world.clock.wall())
        self.members[user.id] = member
        return member

    def member(self, user: User | Member | int) -> Member:
        user_id = user if isinstance(user, int) else user.id
        return self.members[user_id]


@dataclass
class Message:
    """A message as stored: Discord's JSON for it, and what the request asked for besides."""

    id: int
    channel: Channel
    author: User
    data: dict[str, Any]
    allowed_mentions: dict[str, Any] | None = None
    nonce: str | int | None = None
    created_at: float = 0.0
    ephemeral_to: User | None = None  # only this user sees it (an interaction's ephemeral answer)

    @property
    def content(self) -> str:
        return str(self.data.get("content", ""))

    @property
    def components(self) -> list[dict[str, Any]]:
        return list(self.data.get("components", []))

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return list(self.data.get("embeds", []))

    def custom_ids(self) -> list[str]:
        found: list[str] = []

        def walk(items: Iterable[dict[str, Any]]) -> None:
            for item in items:
                if "custom_id" in item:
                    found.append(item["custom_id"])
                walk(item.get("components", []))
                if isinstance(item.get("component"), dict):
                    walk([item["component"]])
                if isinstance(item.get("accessory"), dict):
                    walk([item["accessory"]])

        walk(self.components)
        return found


class World:
    def __init__(self, clock: Clock, *, bot_name: str, bot_permissions: int = BOT_DEFAULT) -> None:
        self.clock = clock
        self.ids = Snowflakes(clock)
        self.users: dict[int, User] = {}
        self.guilds: dict[int, Guild] = {}
        self.channels: dict[int, Channel] = {}
        self.messages: dict[int, list[Message]] = {}  # channel id -> its history, oldest first
        self.by_id: dict[int, Message] = {}  # every message, ephemeral answers too
        self.bot = self.add_user(bot_name, bot=True)
        self.bot_permissions = int(bot_permissions)
        self.application_id = self.ids.next()
        self._dm_channels: dict[int, Channel] = {}

    def add_user(self, username: str, *, global_name: str | None = None, **traits: Any) -> User:
        user = User(self.ids.next(), username, global_name=global_name, **traits)
        self.users[user.id] = user
        return user

    def add_guild(self, name: str, *, owner: User | None = None, channel: str = "general") -> Guild:
        """A server the bot is in: @everyone, the bot's managed role and member, and one text
        channel (`channel`), as after inviting the bot with its invite URL."""
        owner = owner or self.add_user(f"{name.lower().replace(' ', '-')}-owner")
        guild = Guild(self.ids.next(), name, owner.id, self)
        guild.roles[guild.id] = Role(guild.id, guild.id, "@everyone", int(EVERYONE_DEFAULT))
        bot_role = guild.add_role(self.bot.username, permissions=self.bot_permissions)
        bot_role.managed, bot_role.bot_id = True, self.bot.id
        guild.add_member(owner)
        guild.add_member(self.bot, roles=[bot_role])
        guild.add_text_channel(channel)
        self.guilds[guild.id] = guild
        return guild

    def dm_channel(self, user: User) -> Channel:
        """The bot's DM channel with a user: one per user, made on first ask."""
        channel = self._dm_channels.get(user.id)
        if channel is None:
            channel = Channel(self.ids.next(), ChannelType.DM, recipient=user)
            self._dm_channels[user.id] = channel
            self.channels[channel.id] = channel
        return channel

    def history(self, channel: Channel) -> list[Message]:
        return self.messages.setdefault(channel.id, [])

    def store(self, message: Message) -> None:
        """Keep a message; an ephemeral one is never in the channel's history."""
        self.by_id[message.id] = message
        if message.ephemeral_to is None:
            self.history(message.channel).append(message)
            message.channel.last_message_id = message.id

    def shares_guild(self, user: User) -> bool:
        return any(user.id in guild.members for guild in self.guilds.values())

    def bot_member(self, guild: Guild) -> Member:
        return guild.members[self.bot.id]
