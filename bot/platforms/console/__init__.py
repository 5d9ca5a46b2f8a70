"""The console: a chat in the terminal where you act as anyone and move the clock; also the
conversation harness of the tests."""

from bot.platforms.console.chat import ConsoleChat, ConsoleTransport, Said, interactive, render, render_text
from bot.platforms.console.directory import ConsoleDirectory

__all__ = [
    "ConsoleChat",
    "ConsoleDirectory",
    "ConsoleTransport",
    "Said",
    "interactive",
    "render",
    "render_text",
]
