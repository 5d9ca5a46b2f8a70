"""The conversation harness itself: one script reads the same over the console and over
Slack's wire, so an assertion written against the console's transcript means the same on
Slack (tests/harness.py)."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path

from conftest import SPRING
from harness import Conversation, slack_chat

from bot.catalogue import BUNDLED, load_catalogue
from bot.clock import FakeClock
from bot.config import Settings
from bot.platforms.console import ConsoleChat
from bot.storage.db import Database

PROGRAMME = (
    SPRING
    + """
    @alice /submit https://example.org/unit?a=1&b=2 -- Tools & <materials> -- thanks @bob in #frl
    @dana /review claim R-1
    @dana /review revise R-1 reflection: not yet, say what students learned -- Lovely unit
    @alice /submit https://example.org/unit https://example.org/v2 -- Added interviews
    @dana /review approve R-2 -- Now it sings
    @alice /badges email alice.ng@school.org
    @alice /badges share B-1 #frl
    @bob /submit extend Our testing week moved
    @coord /window grant E-1
    @coord /cohort remind spring 2026-03-05T09:00 Office hours at 4pm
    :clock 2026-03-18T23:00Z
    @coord /cohort status spring
    :clock 2026-03-21T01:00Z
"""
)
SAVING = "📥 Got it. Saving your submission"  # Slack's ack of a /submit; its answer follows
BADGE_SLUG = re.compile(r"(badges\.example\.org/badges/|badges%2F)[\w-]+")


def seen(chat: Conversation) -> dict[str, list[str]]:
    """Who saw what where, in order; a badge's random address made comparable."""
    where: dict[str, list[str]] = {}
    for said in chat.transcript:
        where.setdefault(said.where, []).append(BADGE_SLUG.sub(r"\1<badge>", said.text))
    return where


async def test_a_programme_reads_the_same_over_the_console_and_over_slack(
    db: Database, settings: Settings, sqlite_template: Path, tmp_path: Path
) -> None:
    start = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    async with slack_chat(settings, FakeClock(start)) as slack:
        await slack.run(PROGRAMME)
    shutil.copy(sqlite_template, tmp_path / "console.db")
    console_db = Database(f"sqlite+aiosqlite:///{tmp_path / 'console.db'}")
    try:
        async with console_db.transaction() as session:
            await load_catalogue(session, BUNDLED, start)
        console = ConsoleChat(console_db, settings, clock=FakeClock(start), out=None)
        await console.run(PROGRAMME)
    finally:
        await console_db.dispose()
    assert console.errors == console.crashes == 0, console.transcript
    assert (slack.errors, slack.crashes) == (0, 0), slack.transcript

    on_slack = seen(slack)
    acks = [t for t in on_slack["only @alice"] if t.startswith(SAVING)]
    assert len(acks) == 2  # each /submit of Alice's: acknowledged, then answered
    on_slack["only @alice"] = [t for t in on_slack["only @alice"] if not t.startswith(SAVING)]
    on_console = seen(console)
    assert set(on_slack) == set(on_console)
    for where, texts in on_console.items():
        assert on_slack[where] == texts, where
    frl = "\n".join(on_console["#frl"])  # the script reached each part of a programme
    assert "@alice earned" in frl and "Office hours" in frl and "1 of 3 submitted" in frl
