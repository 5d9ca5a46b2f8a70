"""What a platform lacks is declared (`Capabilities`), and the core copes: the person still
hears everything, in the form the platform can give."""

from __future__ import annotations

from bot.clock import FakeClock
from bot.config import Settings
from bot.platforms.base import Capabilities
from bot.platforms.console import ConsoleChat
from bot.storage.db import Database
from tests.conftest import SPRING


class ConsoleThatCannotEdit(ConsoleChat):
    capabilities = Capabilities(edit_in_place=False, email=True, timezone=True)


async def test_where_messages_cannot_be_edited_a_claimed_task_is_posted_again(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    chat = ConsoleThatCannotEdit(db, settings, clock=clock, out=None)
    await chat.run(SPRING)
    await chat.run("""
        @alice /submit https://example.org/a -- what I learned
        @dana /review claim R-1
    """)
    tasks = chat.said("#assessors")
    assert any("claimed by @dana" in text for text in tasks), tasks
    assert not any(text.startswith("(edited)") for text in tasks)


async def test_where_messages_can_be_edited_the_claimed_task_is_edited(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    chat = ConsoleChat(db, settings, clock=clock, out=None)
    await chat.run(SPRING)
    await chat.run("""
        @alice /submit https://example.org/a -- what I learned
        @dana /review claim R-1
    """)
    assert any(text.startswith("(edited)") and "claimed by @dana" in text for text in chat.said("#assessors"))
