"""Handlers, written once for every platform: `(Context, args) -> Reply`.

Importing this package registers every handler in `HANDLERS`, keyed by the
grammar's (verb, action).
"""

from bot.handlers import badges, cohorts, help, reminders, reviews, submit, windows  # noqa: F401
from bot.handlers.base import HANDLERS, Context

__all__ = ["HANDLERS", "Context"]
