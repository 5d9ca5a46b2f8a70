"""Slack's Socket Mode, served by the fake: ``apps.connections.open`` (app-level ``xapp-``
token only, as a Bearer header; a bot token there, or the app token anywhere else, is
``not_allowed_token_type``) hands out ``ws://127.0.0.1:<port>/socket-mode/<ticket>``. A
client that connects gets Slack's ``hello``; the test then pushes envelopes with
``socket_send`` (``slash_commands``, ``interactive``, ``events_api``) and reads the app's
acknowledgements with ``socket_ack``; ``socket_disconnect`` sends Slack's ``disconnect``
message (the client must reconnect)::

    await slack.socket_connected()
    eid = await slack.socket_send("slash_commands", slash_command_body("/cohort", "help"))
    ack = await slack.socket_ack(eid)   # {"envelope_id": eid, "payload": {"text": ...}}

``socket_send`` takes what the builders in ``slack_payloads`` return, as it is.
"""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import json
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from starlette.websockets import WebSocket

SOCKET_TYPES = frozenset({"slash_commands", "interactive", "events_api"})
# Interactive payloads whose acknowledgement may carry a payload (errors, options, a view).
_INTERACTIVE_WITH_RESPONSE = frozenset({"view_submission", "block_suggestion"})


def _websockets_served() -> bool:
    """uvicorn speaks WebSocket only with the `websockets` or `wsproto` package installed."""
    return any(importlib.util.find_spec(name) for name in ("websockets", "wsproto"))


def _socket_payload(payload: Mapping[str, Any] | bytes | str) -> dict[str, Any]:
    """A Socket Mode envelope's payload from a dict or an HTTP body: JSON (Events API), a form
    with one ``payload`` field of JSON (interactivity) or a form of fields (slash commands)."""
    if isinstance(payload, Mapping):
        return copy.deepcopy(dict(payload))
    text = payload.decode() if isinstance(payload, bytes) else payload
    if text.lstrip().startswith("{"):
        return dict(json.loads(text))
    fields = dict(parse_qsl(text, keep_blank_values=True))
    if set(fields) == {"payload"}:
        return dict(json.loads(fields["payload"]))
    return fields


class SocketMode:
    """FakeSlack's Socket Mode side (a part of FakeSlack, not used alone)."""

    port: int
    app_id: str

    def _init_socket_mode(self) -> None:
        self.socket_connections = 0  # WebSocket connections accepted so far
        self.socket_envelopes: list[dict[str, Any]] = []  # what socket_send pushed, in order
        self.socket_acks: list[dict[str, Any]] = []  # acknowledgements the app sent back, in order
        self.socket_received: list[Any] = []  # every message the app sent on a socket
        self._socket_tickets: set[str] = set()
        self._sockets: list[WebSocket] = []  # open connections, oldest first
        self._socket_sent_at: dict[str, float] = {}
        self._socket_acked_at: dict[str, float] = {}
        self._socket_changed = asyncio.Condition()

    # -- Socket Mode ----------------------------------------------------------------------

    @property
    def socket_open(self) -> int:
        """WebSocket connections open now."""
        return len(self._sockets)

    async def socket_connected(self, connections: int = 1, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - a bounded wait is the point
        """Wait until ``connections`` WebSocket connections have been accepted in all (counting
        closed ones) and one is open now; TimeoutError after ``timeout`` seconds."""
        try:
            async with asyncio.timeout(timeout), self._socket_changed:
                await self._socket_changed.wait_for(
                    lambda: self.socket_connections >= connections and bool(self._sockets)
                )
        except TimeoutError:
            hint = (
                ""
                if _websockets_served()
                else ("; uvicorn serves no WebSockets here: install the `websockets` package")
            )
            raise TimeoutError(
                f"no Socket Mode connection #{connections} within {timeout} s "
                f"({self.socket_connections} so far, {self.socket_open} open){hint}"
            ) from None

    async def socket_send(
        self,
        type: str,
        payload: Mapping[str, Any] | bytes | str,
        *,
        accepts_response_payload: bool | None = None,
        retry_attempt: int | None = None,
        retry_reason: str | None = None,
        envelope_id: str | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - a bounded wait is the point
    ) -> str:
        """Push one envelope to the app over its newest open connection; returns its envelope_id.

        ``type``: ``slash_commands`` (payload: the command's fields, as in the HTTP form),
        ``interactive`` (a block_actions / view_submission / ... payload) or ``events_api`` (an
        event_callback body). ``payload`` may be a dict or what the builders in slack_payloads return
        (a form body, ``payload=<json>``, or JSON), converted as Slack does. Like Slack:
        ``accepts_response_payload`` is true for slash commands and view submissions, false
        otherwise unless given; ``events_api`` envelopes always carry ``retry_attempt`` (0) and
        ``retry_reason`` (""), others only when given. Waits up to ``timeout`` for a connection.
        """
        if type not in SOCKET_TYPES:
            raise ValueError(f"unknown Socket Mode envelope type {type!r}")
        body = _socket_payload(payload)
        if accepts_response_payload is None:
            accepts_response_payload = type == "slash_commands" or (
                type == "interactive" and body.get("type") in _INTERACTIVE_WITH_RESPONSE
            )
        envelope_id = envelope_id or str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "payload": body,
            "type": type,
            "accepts_response_payload": accepts_response_payload,
        }
        if type == "events_api" or retry_attempt is not None or retry_reason is not None:
            envelope["retry_attempt"] = retry_attempt or 0
            envelope["retry_reason"] = retry_reason or ""
        websocket = await self._socket_for(within=timeout)
        self.socket_envelopes.append(envelope)
        self._socket_sent_at[envelope_id] = time.monotonic()
        await websocket.send_text(json.dumps(envelope))
        return envelope_id

    async def socket_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:  # noqa: ASYNC109 - a bounded wait is the point
        """The app's acknowledgement of ``envelope_id`` (``{"envelope_id": ..., "payload": ...}``,
        payload only when the app sent one), waiting up to ``timeout`` seconds for it."""

        def find() -> dict[str, Any] | None:
            return next((a for a in self.socket_acks if a.get("envelope_id") == envelope_id), None)

        try:
            async with asyncio.timeout(timeout), self._socket_changed:
                await self._socket_changed.wait_for(lambda: find() is not None)
        except TimeoutError:
            raise TimeoutError(f"no acknowledgement of envelope {envelope_id} within {timeout} s") from None
        ack = find()
        assert ack is not None
        return ack

    def socket_ack_seconds(self, envelope_id: str) -> float:
        """How long the app took to acknowledge ``envelope_id`` (Slack allows 3 s)."""
        return self._socket_acked_at[envelope_id] - self._socket_sent_at[envelope_id]

    async def socket_disconnect(self, reason: str = "refresh_requested", *, timeout: float = 5.0) -> None:  # noqa: ASYNC109 - a bounded wait is the point
        """Send Slack's ``disconnect`` message (reason ``warning``, ``refresh_requested`` or
        ``link_disabled``) on the newest open connection; a client should then open a new one."""
        websocket = await self._socket_for(within=timeout)
        await websocket.send_text(
            json.dumps(
                {"type": "disconnect", "reason": reason, "debug_info": {"host": f"applink-fake-{self.port}"}}
            )
        )

    async def _socket_for(self, within: float) -> WebSocket:
        await self.socket_connected(timeout=within)
        return self._sockets[-1]

    async def _socket_event(self) -> None:
        async with self._socket_changed:
            self._socket_changed.notify_all()

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        ticket = uuid.uuid4().hex
        self._socket_tickets.add(ticket)
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket-mode/{ticket}"}

    async def _handle_socket(self, websocket: WebSocket) -> None:
        if websocket.path_params["ticket"] not in self._socket_tickets:
            await websocket.close(code=1008)  # before accept: the handshake is refused (HTTP 403)
            return
        await websocket.accept()
        self._sockets.append(websocket)
        self.socket_connections += 1
        try:
            await websocket.send_text(
                json.dumps(
                    {
                        "type": "hello",
                        "num_connections": len(self._sockets),
                        "debug_info": {
                            "host": f"applink-fake-{self.port}",
                            "build_number": 1,
                            "approximate_connection_time": 18060,
                        },
                        "connection_info": {"app_id": self.app_id},
                    }
                )
            )
            await self._socket_event()
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                raw = message.get("text") or (message.get("bytes") or b"").decode()
                try:
                    data: Any = json.loads(raw)
                except ValueError:
                    data = raw
                self.socket_received.append(data)
                if isinstance(data, dict) and isinstance(data.get("envelope_id"), str):
                    self._socket_acked_at.setdefault(data["envelope_id"], time.monotonic())
                    self.socket_acks.append(data)
                await self._socket_event()
        finally:
            self._sockets.remove(websocket)
            await self._socket_event()
