"""The gateway websocket as Discord runs it: HELLO, IDENTIFY checked against the token and the
intents, heartbeats acknowledged, READY then a GUILD_CREATE per guild, dispatches numbered per
session and kept so a dropped client can RESUME and get what it missed, optional zlib-stream
transport compression, and Discord's close codes for each protocol error."""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum, IntEnum, IntFlag, auto
from typing import Any

from aiohttp import WSMsgType, web

from .clock import Clock
from .errors import CloseCode

API_VERSIONS = frozenset({"10"})
REPLAY_MAX = 1000  # dispatches a session keeps for a resume
SENDS_PER_MINUTE = 120  # Discord closes a connection sending more (4008)
HEARTBEAT_ACK_DELAY = 0.01  # seconds: a network's round trip


class Opcode(IntEnum):
    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    PRESENCE_UPDATE = 3
    VOICE_STATE_UPDATE = 4
    RESUME = 6
    RECONNECT = 7
    REQUEST_GUILD_MEMBERS = 8
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11


class Intent(IntFlag):
    GUILDS = 1 << 0
    GUILD_MEMBERS = 1 << 1
    GUILD_MODERATION = 1 << 2
    GUILD_EXPRESSIONS = 1 << 3
    GUILD_INTEGRATIONS = 1 << 4
    GUILD_WEBHOOKS = 1 << 5
    GUILD_INVITES = 1 << 6
    GUILD_VOICE_STATES = 1 << 7
    GUILD_PRESENCES = 1 << 8
    GUILD_MESSAGES = 1 << 9
    GUILD_MESSAGE_REACTIONS = 1 << 10
    GUILD_MESSAGE_TYPING = 1 << 11
    DIRECT_MESSAGES = 1 << 12
    DIRECT_MESSAGE_REACTIONS = 1 << 13
    DIRECT_MESSAGE_TYPING = 1 << 14
    MESSAGE_CONTENT = 1 << 15
    GUILD_SCHEDULED_EVENTS = 1 << 16
    AUTO_MODERATION_CONFIGURATION = 1 << 20
    AUTO_MODERATION_EXECUTION = 1 << 21
    GUILD_MESSAGE_POLLS = 1 << 24
    DIRECT_MESSAGE_POLLS = 1 << 25


ALL_INTENTS = sum(Intent)
PRIVILEGED = Intent.GUILD_MEMBERS | Intent.GUILD_PRESENCES | Intent.MESSAGE_CONTENT


class SessionState(Enum):
    CONNECTED = auto()
    DISCONNECTED = auto()  # the socket went away abnormally: resumable
    ENDED = auto()  # closed with 1000/1001, invalidated, or the fake stopped: never resumable


class _Compressor:
    """zlib-stream: one deflate context for the connection, each message ending in a sync flush."""

    def __init__(self) -> None:
        self._context = zlib.compressobj()

    def compress(self, text: str) -> bytes:
        return self._context.compress(text.encode()) + self._context.flush(zlib.Z_SYNC_FLUSH)


class _Connection:
    def __init__(self, socket: web.WebSocketResponse, compressor: _Compressor | None) -> None:
        self.socket, self.compressor = socket, compressor
        self._lock = asyncio.Lock()  # one frame at a time: a stream compressor's order is the wire's

    async def send(self, frame: dict[str, Any]) -> None:
        text = json.dumps(frame, separators=(",", ":"))
        async with self._lock:
            if self.socket.closed:
                return
            if self.compressor is None:
                await self.socket.send_str(text)
            else:
                await self.socket.send_bytes(self.compressor.compress(text))

    async def close(self, code: int, reason: str = "") -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.socket.close(code=code, message=reason.encode()[:120])


@dataclass(eq=False)
class Session:
    id: str
    intents: int
    state: SessionState = SessionState.CONNECTED
    seq: int = 0
    resumes: int = 0
    sent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REPLAY_MAX))
    connection: _Connection | None = None

    def wants(self, intent: Intent | None) -> bool:
        return intent is None or bool(self.intents & intent)

    @property
    def alive(self) -> bool:
        return self.state is not SessionState.ENDED


class GatewayError(Exception):
    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


Renderer = Callable[[Session], dict[str, Any] | None]


class Gateway:
    """Sessions of the one bot token. The owner renders what the world holds: `ready(session)`
    gives READY's payload and the dispatches that follow it (a GUILD_CREATE per guild),
    `members_chunk(request)` answers op 8; `on_change` is told of every frame in or out."""

    def __init__(
        self,
        clock: Clock,
        *,
        token: str,
        enabled_intents: int,
        heartbeat_interval: float,
        ready: Callable[[Session], tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]],
        members_chunk: Callable[[dict[str, Any]], dict[str, Any]],
        on_change: Callable[[], None],
    ) -> None:
        self.clock, self.token = clock, token
        self.enabled_intents = enabled_intents
        self.heartbeat_interval = heartbeat_interval
        self._ready, self._chunk, self._changed = ready, members_chunk, on_change
        self.sessions: list[Session] = []
        self.received: list[tuple[str | None, dict[str, Any]]] = []  # (session id, frame) from clients
        self.heartbeats = 0
        self.url = ""  # set by the server once it has a port

    async def _ack_heartbeat(self, connection: _Connection) -> None:
        """The ACK, after a round trip's time as over a network: an ACK back sooner than discord.py's
        heartbeat thread notes the send would read as 41 s late ("Can't keep up … behind")."""
        await asyncio.sleep(HEARTBEAT_ACK_DELAY)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await connection.send({"op": Opcode.HEARTBEAT_ACK, "d": None, "s": None, "t": None})

    @property
    def live(self) -> list[Session]:
        return [s for s in self.sessions if s.alive]

    @property
    def connected(self) -> list[Session]:
        return [s for s in self.sessions if s.state is SessionState.CONNECTED]

    async def dispatch(
        self, event: str, data: dict[str, Any] | Renderer, *, intent: Intent | None = None
    ) -> int:
        """Send an event to every live session that asked for its intent (a disconnected one keeps
        it for its resume). `data` may be a function of the session (for content its intents
        hide). Returns the number of sessions it was sent or kept for."""
        count = 0
        for session in self.live:
            if not session.wants(intent):
                continue
            payload = data(session) if callable(data) else data
            if payload is None:
                continue
            await self._send_dispatch(session, event, payload)
            count += 1
        return count

    async def _send_dispatch(self, session: Session, event: str, data: dict[str, Any]) -> None:
        session.seq += 1
        frame = {"op": Opcode.DISPATCH, "t": event, "s": session.seq, "d": data}
        session.sent.append(frame)
        if session.connection is not None:
            await session.connection.send(frame)
        self._changed()

    async def drop(self, *, code: int = 4000) -> None:
        """Cut every connection as a network failure would: the sessions stay resumable."""
        for session in self.connected:
            connection = session.connection
            session.connection, session.state = None, SessionState.DISCONNECTED
            if connection is not None:
                await connection.close(code)
        self._changed()

    async def reconnect(self) -> None:
        """Op 7: ask every client to reconnect and resume, as Discord does before maintenance."""
        for session in self.connected:
            if session.connection is not None:
                await session.connection.send({"op": Opcode.RECONNECT, "d": None, "s": None, "t": None})

    async def invalidate(self) -> None:
        """Op 9 (not resumable): every client must identify again."""
        for session in self.connected:
            session.state = SessionState.ENDED
            if session.connection is not None:
                await session.connection.send(
                    {"op": Opcode.INVALID_SESSION, "d": False, "s": None, "t": None}
                )
        self._changed()

    async def close_all(self) -> None:
        for session in self.sessions:
            connection, session.connection = session.connection, None
            session.state = SessionState.ENDED
            if connection is not None:
                await connection.close(1001, "fake Discord stopping")

    async def handle(self, request: web.Request) -> web.StreamResponse:
        socket = web.WebSocketResponse(autoping=True, max_msg_size=4096 * 1024)
        await socket.prepare(request)
        compress = request.query.get("compress")
        compressor = _Compressor() if compress == "zlib-stream" else None
        connection = _Connection(socket, compressor)
        session: Session | None = None
        try:
            if request.query.get("v", "10") not in API_VERSIONS:
                raise GatewayError(CloseCode.INVALID_API_VERSION, "Invalid API version")
            if request.query.get("encoding", "json") != "json":
                raise GatewayError(CloseCode.DECODE_ERROR, "the fake speaks the json encoding only")
            if compress not in (None, "zlib-stream"):
                raise GatewayError(CloseCode.DECODE_ERROR, f"the fake does not compress with {compress}")
            interval_ms = int(self.heartbeat_interval * 1000)
            await connection.send(
                {"op": Opcode.HELLO, "d": {"heartbeat_interval": interval_ms}, "s": None, "t": None}
            )
            session = await self._serve(connection)
        except GatewayError as error:
            await connection.close(error.code, error.reason)
        finally:
            if session is not None and session.connection is connection:
                session.connection = None
                clean = socket.close_code in (1000, 1001)
                session.state = SessionState.ENDED if clean else SessionState.DISCONNECTED
            self._changed()
        return socket

    async def _serve(self, connection: _Connection) -> Session | None:
        session: Session | None = None
        window_start, sends = self.clock.now(), 0
        acking: list[asyncio.Task[None]] = []  # heartbeats' ACKs on their way
        try:
            async for message in connection.socket:
                if message.type is not WSMsgType.TEXT:
                    if message.type is WSMsgType.BINARY:
                        raise GatewayError(CloseCode.DECODE_ERROR, "Decode error")
                    continue
                try:
                    frame = json.loads(message.data)
                    number = frame["op"]
                except (ValueError, KeyError, TypeError) as exc:
                    raise GatewayError(CloseCode.DECODE_ERROR, "Decode error") from exc
                if number not in Opcode._value2member_map_:
                    raise GatewayError(CloseCode.UNKNOWN_OPCODE, "Unknown opcode.")
                op = Opcode(number)
                self.received.append((session.id if session else None, frame))
                now = self.clock.now()
                if now - window_start >= 60:
                    window_start, sends = now, 0
                sends += 1
                if sends > SENDS_PER_MINUTE:
                    raise GatewayError(CloseCode.RATE_LIMITED, "You are being rate limited.")
                if op is Opcode.HEARTBEAT:
                    self.heartbeats += 1
                    acking.append(asyncio.create_task(self._ack_heartbeat(connection)))
                elif op is Opcode.IDENTIFY:
                    if session is not None:
                        raise GatewayError(CloseCode.ALREADY_AUTHENTICATED, "Already authenticated.")
                    session = await self._identify(connection, frame.get("d") or {})
                elif op is Opcode.RESUME:
                    if session is not None:
                        raise GatewayError(CloseCode.ALREADY_AUTHENTICATED, "Already authenticated.")
                    session = await self._resume(connection, frame.get("d") or {})
                elif session is None:
                    raise GatewayError(CloseCode.NOT_AUTHENTICATED, "Not authenticated.")
                elif op is Opcode.REQUEST_GUILD_MEMBERS:
                    await self._members_chunk(session, frame.get("d") or {})
                elif op not in (Opcode.PRESENCE_UPDATE, Opcode.VOICE_STATE_UPDATE):
                    raise GatewayError(CloseCode.UNKNOWN_OPCODE, "Unknown opcode.")
                self._changed()
        finally:
            for ack in acking:
                ack.cancel()
        return session

    async def _identify(self, connection: _Connection, data: dict[str, Any]) -> Session:
        if data.get("token") != self.token:
            raise GatewayError(CloseCode.AUTHENTICATION_FAILED, "Authentication failed.")
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0 or intents & ~ALL_INTENTS:
            raise GatewayError(CloseCode.INVALID_INTENTS, "Invalid intent(s).")
        if intents & PRIVILEGED & ~self.enabled_intents:
            raise GatewayError(CloseCode.DISALLOWED_INTENTS, "Disallowed intent(s).")
        session = Session(secrets.token_hex(16), intents, connection=connection)
        self.sessions.append(session)
        ready, following = self._ready(session)
        await self._send_dispatch(session, "READY", ready)
        for event, payload in following:
            await self._send_dispatch(session, event, payload)
        return session

    async def _resume(self, connection: _Connection, data: dict[str, Any]) -> Session | None:
        if data.get("token") != self.token:
            raise GatewayError(CloseCode.AUTHENTICATION_FAILED, "Authentication failed.")
        session = next((s for s in self.sessions if s.id == data.get("session_id")), None)
        if session is None or not session.alive:
            await connection.send({"op": Opcode.INVALID_SESSION, "d": False, "s": None, "t": None})
            return None
        seq = data.get("seq")
        if not isinstance(seq, int) or seq > session.seq:
            raise GatewayError(CloseCode.INVALID_SEQ, "Invalid seq.")
        oldest = session.sent[0]["s"] if session.sent else session.seq + 1
        if seq + 1 < oldest:  # the events it missed are no longer kept
            await connection.send({"op": Opcode.INVALID_SESSION, "d": False, "s": None, "t": None})
            return None
        if session.connection is not None:  # a newer connection takes the session over
            await session.connection.close(4000)
        session.connection, session.state = connection, SessionState.CONNECTED
        session.resumes += 1
        for frame in [f for f in session.sent if f["s"] > seq]:
            await connection.send(frame)
        await self._send_dispatch(session, "RESUMED", {})
        return session

    async def _members_chunk(self, session: Session, data: dict[str, Any]) -> None:
        """Op 8 answered in one chunk; Discord refuses it without the GUILD_MEMBERS intent."""
        if not session.intents & Intent.GUILD_MEMBERS:
            raise GatewayError(CloseCode.DISALLOWED_INTENTS, "Disallowed intent(s).")
        await self._send_dispatch(session, "GUILD_MEMBERS_CHUNK", self._chunk(data))
