"""Discord's refusals in Discord's own shapes: JSON error codes, Invalid Form Body trees and
gateway close codes, so the client under test parses exactly what it would get from Discord."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any


class ErrorCode(IntEnum):
    """The JSON error codes the fake answers with (Discord's numbers)."""

    GENERAL = 0
    UNKNOWN_CHANNEL = 10003
    UNKNOWN_GUILD = 10004
    UNKNOWN_MEMBER = 10007
    UNKNOWN_MESSAGE = 10008
    UNKNOWN_ROLE = 10011
    UNKNOWN_USER = 10013
    UNKNOWN_WEBHOOK = 10015
    UNKNOWN_INTERACTION = 10062
    UNKNOWN_APPLICATION_COMMAND = 10063
    UNAUTHORIZED = 40001
    INTERACTION_ALREADY_ACKNOWLEDGED = 40060
    MISSING_ACCESS = 50001
    CANNOT_EDIT_OTHERS_MESSAGE = 50005
    EMPTY_MESSAGE = 50006
    CANNOT_MESSAGE_USER = 50007
    MISSING_PERMISSIONS = 50013
    INVALID_WEBHOOK_TOKEN = 50027
    INVALID_RECIPIENTS = 50033
    INVALID_FORM_BODY = 50035
    INVALID_JSON = 50109


MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.UNKNOWN_CHANNEL: "Unknown Channel",
    ErrorCode.UNKNOWN_GUILD: "Unknown Guild",
    ErrorCode.UNKNOWN_MEMBER: "Unknown Member",
    ErrorCode.UNKNOWN_MESSAGE: "Unknown Message",
    ErrorCode.UNKNOWN_ROLE: "Unknown Role",
    ErrorCode.UNKNOWN_USER: "Unknown User",
    ErrorCode.UNKNOWN_WEBHOOK: "Unknown Webhook",
    ErrorCode.UNKNOWN_INTERACTION: "Unknown interaction",
    ErrorCode.UNKNOWN_APPLICATION_COMMAND: "Unknown application command",
    ErrorCode.UNAUTHORIZED: "401: Unauthorized",
    ErrorCode.INTERACTION_ALREADY_ACKNOWLEDGED: "Interaction has already been acknowledged.",
    ErrorCode.MISSING_ACCESS: "Missing Access",
    ErrorCode.CANNOT_EDIT_OTHERS_MESSAGE: "Cannot edit a message authored by another user",
    ErrorCode.EMPTY_MESSAGE: "Cannot send an empty message",
    ErrorCode.CANNOT_MESSAGE_USER: "Cannot send messages to this user",
    ErrorCode.MISSING_PERMISSIONS: "Missing Permissions",
    ErrorCode.INVALID_WEBHOOK_TOKEN: "Invalid Webhook Token",
    ErrorCode.INVALID_RECIPIENTS: "Invalid Recipient(s)",
    ErrorCode.INVALID_FORM_BODY: "Invalid Form Body",
    ErrorCode.INVALID_JSON: "The request body contains invalid JSON.",
}


class CloseCode(IntEnum):
    """Gateway close codes (Discord's numbers); 4004 and 4010-4014 end the client for good."""

    UNKNOWN_ERROR = 4000
    UNKNOWN_OPCODE = 4001
    DECODE_ERROR = 4002
    NOT_AUTHENTICATED = 4003
    AUTHENTICATION_FAILED = 4004
    ALREADY_AUTHENTICATED = 4005
    INVALID_SEQ = 4007
    RATE_LIMITED = 4008
    SESSION_TIMED_OUT = 4009
    INVALID_API_VERSION = 4012
    INVALID_INTENTS = 4013
    DISALLOWED_INTENTS = 4014


@dataclass(frozen=True)
class FieldError:
    path: tuple[str | int, ...]
    code: str
    message: str

    @property
    def pointer(self) -> str:
        """`data.components.0.custom_id`: how a test names the field that was refused."""
        return ".".join(str(part) for part in self.path) or "<body>"


@dataclass
class FormErrors:
    """Errors found in one request body, rendered as Discord's nested `errors` tree."""

    found: list[FieldError] = field(default_factory=list)

    def add(self, path: Sequence[str | int], code: str, message: str) -> None:
        self.found.append(FieldError(tuple(path), code, message))

    def max_length(self, path: Sequence[str | int], value: Any, limit: int) -> None:
        if value is not None and len(value) > limit:
            self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def between(self, path: Sequence[str | int], value: Any, low: int, high: int) -> None:
        if value is not None and not low <= len(value) <= high:
            self.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")

    def required(self, path: Sequence[str | int], value: Any) -> bool:
        if value is None:
            self.add(path, "BASE_TYPE_REQUIRED", "This field is required")
            return False
        return True

    def __bool__(self) -> bool:
        return bool(self.found)

    def __iter__(self) -> Iterator[FieldError]:
        return iter(self.found)

    def tree(self) -> dict[str, Any]:
        root: dict[str, Any] = {}
        for error in self.found:
            node = root
            for part in error.path:
                node = node.setdefault(str(part), {})
            node.setdefault("_errors", []).append({"code": error.code, "message": error.message})
        return root


class DiscordError(Exception):
    """A refusal the fake answers with: the HTTP status and Discord's JSON error body."""

    def __init__(
        self, status: int, code: ErrorCode, message: str | None = None, errors: FormErrors | None = None
    ) -> None:
        self.status, self.code = status, code
        self.message = message or MESSAGES.get(code, code.name.replace("_", " ").capitalize())
        self.errors = errors
        super().__init__(f"{status} {int(code)} {self.message}")

    @classmethod
    def invalid_form(cls, errors: FormErrors) -> DiscordError:
        return cls(400, ErrorCode.INVALID_FORM_BODY, errors=errors)

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message, "code": int(self.code)}
        if self.errors:
            body["errors"] = self.errors.tree()
        return body
