"""`/help` and `<command> help`."""

from __future__ import annotations

from typing import Any

from bot.grammar import help_text
from bot.handlers.base import Context, handles
from bot.messages import Reply


@handles("help", "help")
async def help_(ctx: Context, args: dict[str, Any]) -> Reply:
    return Reply.text(help_text(args["topic"]))
