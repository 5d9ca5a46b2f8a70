"""`/help` and `<command> help`."""

from __future__ import annotations

from typing import Any

from bot.grammar import help_text
from bot.handlers.base import handles
from bot.messages import Reply
from bot.workflows.context import Context


@handles("help", "help")
async def help_(ctx: Context, args: dict[str, Any]) -> Reply:
    return Reply.text(help_text(args["topic"]))
