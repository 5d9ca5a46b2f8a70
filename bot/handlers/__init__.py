"""Handlers, written once for every platform: `(Context, args) -> Reply`.

Importing this package registers every handler in `HANDLERS`, keyed by the
grammar's (verb, action).
"""

from bot.handlers import (  # noqa: F401
    badges,
    cohorts,
    extensions,
    help,
    reminders,
    reviews,
    submit,
    windows,
)
from bot.handlers.base import HANDLERS

__all__ = ["HANDLERS"]
