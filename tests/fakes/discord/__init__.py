"""A local fake Discord for wire-level tests: REST API v10 and the gateway websocket on 127.0.0.1,
which an unmodified discord.py client logs into (`fixtures.discord_py_at` points the library at
it, as the bot's DISCORD_API_URL and DISCORD_GATEWAY_URL settings will).

`server.FakeDiscord` is the test's handle: it builds the world (`world`: users, guilds, roles,
channels, members), acts as people (slash commands, autocomplete, button clicks, modal submits,
typed messages: `payloads` builds what Discord sends for each, from the commands the app
registered, `commands`), and records every call. Discord's rules are enforced as Discord enforces
them and each refusal is a recorded violation that fails the test unless it is claimed: the
3-second first answer and single acknowledgement (`interactions`), message, component, modal,
choice and embed limits (`limits`, usable without HTTP), rate limits with Discord's headers and
429s (`ratelimits`), and injectable faults (`faults`). `rest` serves the routes, `gateway` the
websocket (identify, heartbeats, resume), `objects` renders Discord's JSON, `errors` its error
bodies and close codes, `clock` its time. The pytest fixture `fake_discord` lives in `fixtures`.
"""

from .commands import OptionType
from .errors import CloseCode, DiscordError, ErrorCode, FormErrors
from .gateway import Intent
from .interactions import Callback, CallbackType, Interaction, InteractionState, InteractionType
from .ratelimits import RateLimit, Scope
from .rest import Call
from .server import FakeDiscord, Violation
from .world import Channel, ChannelType, Guild, Member, Message, Permission, Role, User

__all__ = [
    "Call",
    "Callback",
    "CallbackType",
    "Channel",
    "ChannelType",
    "CloseCode",
    "DiscordError",
    "ErrorCode",
    "FakeDiscord",
    "FormErrors",
    "Guild",
    "Intent",
    "Interaction",
    "InteractionState",
    "InteractionType",
    "Member",
    "Message",
    "OptionType",
    "Permission",
    "RateLimit",
    "Role",
    "Scope",
    "User",
    "Violation",
]
