"""Bad input and missing roles, as the person who typed the command sees them.

The product rule: every bad input gets one clear sentence and an example of the right
form — never a traceback, never a silent drop — and changes nothing. `refused()` checks
all of that for one command: exactly one reply, shown only to the sender, marked as an
error, no crash, no message to any channel or DM, and not one database row different.

A refusal changes nothing, so the tables of bad input below run one after another on one
conversation (a set-up per case would make the suite slow on PostgreSQL); a failure names
every case that was not refused cleanly.
"""

from __future__ import annotations

import re
from typing import Any

from counting import count
from sqlalchemy import select

from bot.clock import FakeClock
from bot.config import Settings
from bot.platforms.console import ConsoleChat, render
from bot.service import Origin
from bot.storage import Base, Enrolment, Review, Submission, Version
from bot.storage.db import Database

EXAMPLE_RE = re.compile(r"(Example|Usage): `[^`]+`")
LINK = "https://example.org/unit"

Case = tuple[str, str, str]  # who types it, what they type, a phrase the refusal must contain

# ------------------------------------------------------------------ helpers


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table: a refused command must leave all of them as they were."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    async with db.transaction() as session:
        for table in Base.metadata.sorted_tables:
            result = await session.execute(select(table).order_by(*table.primary_key.columns))
            rows[table.name] = [tuple(row) for row in result.all()]
    return rows


async def say(chat: ConsoleChat, user: str, command: str, workspace: str = "console") -> str:
    """Run one command as `user` (in another workspace when asked) and return the reply."""
    if workspace == "console":
        await chat.run(f"@{user} {command}")
        return chat.last(f"only @{user}")
    reply = await chat.bot.handle(Origin("console", workspace, user), command, chat.directory)
    chat.reply(user, reply)
    await chat.bot.run_followups(reply)
    await chat.deliver()
    return render(reply.message)


def shorten(command: str) -> str:
    return command if len(command) <= 80 else f"{command[:60]}…({len(command):,} characters)"


async def refused(
    chat: ConsoleChat, user: str, command: str, *, workspace: str = "console", example: bool = True
) -> str:
    """Run a command that must be refused; check the refusal is clean and return its text."""
    shown = shorten(command)
    before = await snapshot(chat.db)
    seen, errors, crashes = len(chat.transcript), chat.errors, chat.crashes
    await say(chat, user, command, workspace)
    new = chat.transcript[seen:]
    assert [s.where for s in new] == [f"only @{user}"], (
        f"{shown!r} should answer only @{user} and post nothing else: {new}"
    )
    reply = new[0].text
    assert chat.crashes == crashes, f"{shown!r} crashed: {reply}"
    assert chat.errors == errors + 1, f"{shown!r} was accepted: {reply}"
    assert "Traceback" not in reply and "\n" not in reply, f"not one clear sentence: {reply!r}"
    if example:
        assert EXAMPLE_RE.search(reply), f"{shown!r} gave no example of the right form: {reply}"
    after = await snapshot(chat.db)
    changed = sorted(name for name in before if before[name] != after[name])
    assert not changed, f"{shown!r} was refused ({reply}) but changed {changed}"
    return reply


async def all_refused(chat: ConsoleChat, cases: list[Case], *, example: bool = True) -> None:
    """Each case refused cleanly with its phrase; one report naming every case that was not."""
    failures = []
    for user, command, phrase in cases:
        try:
            reply = await refused(chat, user, command, example=example)
            assert phrase in reply, f"expected {phrase!r} in {reply!r}"
        except AssertionError as exc:
            failures.append(f"@{user} {shorten(command)}\n    {str(exc).splitlines()[0]}")
    assert not failures, f"{len(failures)} of {len(cases)} were not refused cleanly:\n" + "\n".join(failures)


async def submitted(chat: ConsoleChat, *learners: str) -> None:
    """Each learner hands in evidence; the reviews are R-1, R-2, … in that order."""
    for learner in learners:
        await chat.run(f"@{learner} /submit https://example.org/{learner} -- reflection of {learner}")
    assert chat.errors == 0 and chat.crashes == 0, chat.transcript


# ------------------------------------------------------------------ bad input

COMMANDS: list[Case] = [
    ("bob", "/frobnicate", "I don't know the command '/frobnicate'"),
    ("bob", "frobnicate now", "I don't know the command 'frobnicate'"),
    ("coord", "/cohort frob spring", "'frob' is not a /cohort subcommand"),
    ("coord", "/window reopen W-1", "'reopen' is not a /window subcommand"),
    ("dana", "/review", "Missing a /review subcommand"),
    ("bob", "/badges frob", "I don't understand 'frob' here"),
    ("bob", "/help frob", "There is no /frob command"),
    ("bob", "/submit", "Add at least one evidence link"),
    ("bob", "/submit -- just a reflection", "Add at least one evidence link"),
    ("bob", "/submit status please", "I don't understand 'please' here"),
    ("coord", "/cohort create", "Missing cohort name"),
    (
        "coord",
        "/cohort create autumn term #fall",
        'A cohort name is one word: for "autumn term" type `autumn-term` (or quote the name)',
    ),
    ("coord", "/cohort create Autumn!! #fall", "'Autumn!!' is not a cohort name"),
    ("coord", "/cohort create spring #frl", "There is already a cohort called 'spring'"),
    ("coord", "/cohort add spring", "Mention at least one person"),
    ("coord", "/cohort add spring frank", "Mention at least one person"),
    ("coord", "/cohort add spring @frank as wizard", "'wizard' is not a role"),
    ("coord", "/cohort status", "Missing cohort name"),
    ("coord", "/cohort remind spring tomorrow", "Add the reminder text"),
    ("coord", "/window open spring", "Missing credential"),
    ("coord", "/window open spring collection-dev", "Say when the window closes"),
    (
        "coord",
        "/window open spring collection-dev closes 2026-04-01 late forever",
        "'forever' is not a late policy",
    ),
    ("coord", "/window open spring collection-dev closes 2026-04-01 remind 7x", "'7x' is not a duration"),
    ("coord", "/window open spring creators closes 2026-04-01", "spring already has a window for creators"),
    ("coord", "/window extend W-1", "Missing the new close time"),
    ("coord", "/window close", "Missing a window"),
    ("dana", "/review claim", "Missing a review or submission id"),
    ("dana", "/review revise R-1", "Say what needs to change"),
    ("dana", "/review approve R-1 reflection: not yet, say more", "You scored reflection below passing"),
    ("bob", "/badges email", "Missing an e-mail address"),
    ("bob", "/badges email not-an-address", "'not-an-address' is not an e-mail address"),
    ("bob", "/badges autoshare maybe", "Say on or off"),
    ("bob", "/badges timezone Mars/Olympus", "'Mars/Olympus' is not a time zone I know"),
    ("bob", "/badges timezone berln", "'berln' is not a time zone I know (did you mean Europe/Berlin?)"),
    ("bob", "/badges timezone IST", "IST names several time zones"),
    ("bob", "/badges timezone auto please", "I don't understand 'please' here"),
]


async def test_unknown_or_incomplete_command_is_answered_with_usage_and_changes_nothing(
    spring: ConsoleChat,
) -> None:
    await submitted(spring, "alice")
    await spring.run("@dana /review claim R-1")
    await all_refused(spring, COMMANDS)


LONG = "https://example.org/" + "a" * 2000
LINKS: list[Case] = [
    ("bob", "/submit javascript:alert(1)", "'javascript:alert(1)' is not a web link"),
    ("bob", "/submit <javascript:alert(1)|click>", "is not a web link"),
    ("bob", "/submit file:///etc/passwd", "'file:///etc/passwd' is not a web link"),
    ("bob", "/submit <mailto:bob@school.org|mail>", "'mailto:bob@school.org' is not a web link"),
    ("bob", "/submit notalink", "'notalink' is not a web link"),
    ("bob", "/submit my lesson plan", "is not a web link"),
    ("bob", "/submit www.example.org/unit", "'www.example.org/unit' is not a web link"),
    ("bob", "/submit https://", "'https://' is not a web link"),
    ("bob", "/submit http://:80/unit", "is not a complete web link"),
    ("bob", f"/submit {LINK} javascript:alert(1) -- mixed", "'javascript:alert(1)' is not a web link"),
    ("bob", "/submit @alice", "'@alice' is not a link"),
    ("bob", f"/submit {LONG}", "links can be at most 2,000"),
    (
        "bob",
        "/submit " + " ".join(f"{LINK}/{i}" for i in range(11)),
        "That is 11 links; a submission can have at most 10",
    ),
    ("bob", f"/submit {LONG}{'b' * 2500}", "too long"),  # the whole command is over 4,000 characters
]


async def test_link_that_cannot_be_evidence_is_refused_and_nothing_is_submitted(spring: ConsoleChat) -> None:
    await all_refused(spring, LINKS)
    assert await count(spring.db, Submission) == 0


async def test_ten_links_of_up_to_2000_characters_are_accepted(spring: ConsoleChat) -> None:
    longest = "https://example.org/" + "a" * (2000 - len("https://example.org/"))
    links = [longest, *(f"{LINK}/{i}" for i in range(9))]
    await spring.run(f"@bob /submit {' '.join(links)} -- all my evidence")
    assert spring.errors == 0 and spring.crashes == 0, spring.last("only @bob")
    async with spring.db.transaction() as session:
        stored = await session.scalar(select(Version.links))
    assert stored == links


MISSING: list[Case] = [
    ("coord", "/cohort status nosuch", "There is no cohort called 'nosuch'"),
    ("coord", "/cohort add nosuch @alice", "There is no cohort called 'nosuch'"),
    ("coord", "/window open nosuch creators closes 2026-04-01", "There is no cohort called 'nosuch'"),
    ("coord", "/window close W-99", "There is no window W-99"),
    ("coord", "/window extend W-99 2026-04-01", "There is no window W-99"),
    ("coord", "/window close spring collection-dev", "spring has no window for collection-dev"),
    ("bob", f"/submit W-99 {LINK}", "You have no window called 'w-99'"),
    ("bob", f"/submit collection-dev {LINK}", "You have no window called 'collection-dev'"),
    ("coord", "/window open spring nosuch closes 2026-04-01", "There is no credential called 'nosuch'"),
    ("coord", "/window close spring nosuch", "There is no credential called 'nosuch'"),
    ("coord", "/cohort remove spring @zed", "@zed"),  # a person who is not in the cohort
    ("dana", "/review claim R-99", "There is no review R-99"),
    ("dana", "/review approve R-99", "There is no review R-99"),
    ("dana", "/review revise R-99 reflection: not yet, more", "There is no review R-99"),
    ("dana", "/review release R-99", "There is no review R-99"),
    ("bob", "/badges share B-99", "You have no badge B-99"),
    ("bob", "/submit withdraw S-99", "You have no submission S-99"),
    ("coord", "/cohort unremind M-99", "There is no active reminder M-99"),
]


async def test_reference_to_something_that_does_not_exist_is_refused_with_an_example(
    spring: ConsoleChat,
) -> None:
    await all_refused(spring, MISSING)


FAR = "+" + "9999w" * 42  # about 8,000 years from now
TIMES: list[Case] = [
    (
        "coord",
        "/window open spring collection-dev closes someday",
        "I can't read 'someday' as the close time; type it like `next friday 5pm`",
    ),
    ("coord", "/window open spring collection-dev closes 2026-02-30", "I can't read '2026-02-30'"),
    (
        "coord",
        "/window open spring collection-dev closes 2026-03-20T25:00",
        "I can't read '2026-03-20T25:00'",
    ),
    (
        "coord",
        "/window open spring collection-dev closes 2026-03-01",
        "'2026-03-01' is Sun 1 Mar 2026, 23:59 CST, which has passed; pick a time still to come.",
    ),
    (
        "coord",
        "/window open spring collection-dev closes today 09:00",  # it is 09:00 in Chicago
        "'today 09:00' is Mon 2 Mar 2026, 09:00 CST, which has passed; did you mean Tue 3 Mar 2026, "
        "09:00 CST? Type `Mar 3 09:00`.",
    ),
    (
        "coord",
        "/window open spring collection-dev opens 2026-03-10 closes 2026-03-05",
        "A window must close after it opens",
    ),
    ("coord", "/window extend W-1 2026-03-01", "'2026-03-01' is Sun 1 Mar 2026, 23:59 CST, which has passed"),
    ("coord", "/window extend W-1 yesterday", "I can't read 'yesterday'"),
    ("coord", "/cohort remind spring 2026-03-01T09:00 Office hours", "which has passed"),
    ("coord", '/cohort remind spring "61 9 * * mon" Office hours', "is not a cron schedule"),
    (
        "coord",
        "/window open spring collection-dev closes 2026-04-01 Mars/Olympus",
        "'Mars/Olympus' is not a time zone I know",
    ),
    (
        "coord",
        "/window open spring collection-dev closes 2026-04-01 tz Gotham",
        "'Gotham' is not a time zone I know",
    ),
    ("coord", "/cohort create autumn #fall tz Nowhere/Land", "'Nowhere/Land' is not a time zone I know"),
    (
        "coord",
        '/cohort remind spring "0 9 * * mon" Mars/Base Office hours',
        "'Mars/Base' is not a time zone I know",
    ),
    # moments a calendar can't hold must be refused like any other bad date, not crash
    ("coord", f"/window open spring collection-dev closes {FAR}", "9999w"),
    ("coord", "/window open spring collection-dev closes 9999-12-31T23:59 America/Chicago", "9999-12-31"),
    (
        "coord",
        "/window open spring collection-dev opens 0001-01-01T00:00 closes 2026-04-01 Asia/Tokyo",
        "0001-01-01",
    ),
    ("coord", "/cohort remind spring 9999-12-31T23:59 America/Chicago Office hours", "9999-12-31"),
]


async def test_time_that_cannot_be_read_or_used_is_refused_with_an_example(spring: ConsoleChat) -> None:
    await all_refused(spring, TIMES)


WITHOUT_ROLE: list[Case] = [
    ("bob", "/window open spring collection-dev closes 2026-04-01", "Only coordinators of spring"),
    ("bob", "/review claim R-1", "Only assessors of this cohort"),
    ("zoe", "/review claim R-1", "Only assessors of this cohort"),  # assessor of autumn only
    ("bob", "/cohort create winter #winter", "Only workspace admins and coordinators can create cohorts"),
    ("bob", "/cohort status spring", "Only coordinators of spring"),
    ("dana", "/window close W-1", "Only coordinators of spring"),
    ("bob", "/review queue", "You are not an assessor in any cohort"),
    ("dana", f"/submit {LINK}", "Only learners of a cohort can hand in work"),
]


async def test_command_without_the_needed_role_is_refused_with_an_example(spring: ConsoleChat) -> None:
    await spring.run("""
        @coord /cohort create autumn #fall
        @coord /cohort add autumn @zoe as assessor
    """)
    await submitted(spring, "alice")
    await all_refused(spring, WITHOUT_ROLE)


async def test_someone_in_no_cohort_who_submits_is_told_once_what_to_do(spring: ConsoleChat) -> None:
    await spring.run(f"@zed /submit {LINK} -- my reflection")
    assert spring.last("only @zed") == (
        "Only learners of a cohort can hand in work. You are in no cohort yet; a coordinator adds you "
        "to one. Example: `/cohort list`"
    )


# ------------------------------------------------------------------ people outside the workspace


async def test_mention_of_someone_outside_the_workspace_is_refused_and_nobody_is_added(
    spring: ConsoleChat,
) -> None:
    spring.directory.update("frank")
    spring.directory.closed = True
    await all_refused(
        spring,
        [
            ("coord", "/cohort add spring @stranger", "I can't find @stranger in this workspace"),
            ("coord", "/cohort add spring @frank @stranger", "I can't find @stranger in this workspace"),
            (
                "coord",
                "/cohort add spring <@U0STRANGER|stranger> as assessor",
                "I can't find @stranger in this workspace",
            ),
            ("coord", "/cohort remove spring @stranger", "I can't find @stranger in this workspace"),
            ("coord", "/cohort remove spring @bob @stranger", "I can't find @stranger in this workspace"),
        ],
    )
    assert not spring.saw("DM @frank")
    assert await count(spring.db, Enrolment) == 6  # coord, three learners, two assessors


async def test_known_people_can_still_be_added_when_the_workspace_is_closed(spring: ConsoleChat) -> None:
    spring.directory.update("frank")
    spring.directory.closed = True
    await spring.run("@coord /cohort add spring @frank")
    assert spring.errors == 0, spring.last("only @coord")
    assert spring.saw("DM @frank", "Welcome to cohort *spring* as learner")


# ------------------------------------------------------------------ roles, command by command

ROLES_SETUP = """
    @coord /cohort remind spring tomorrow 09:00 Office hours at 4pm
    @coord /cohort create autumn #fall
    @coord /cohort add autumn @otto as coordinator
    @coord /cohort add autumn @zoe as assessor
    @alice /submit https://example.org/alice -- reflection
    @bob /submit https://example.org/bob -- reflection
    @dana /review claim R-1
"""

NOT_YOURS: list[Case] = [
    # learners run nothing that needs a coordinator or an assessor
    ("bob", "/cohort create autumn2 #fall2", "Only workspace admins and coordinators"),
    ("bob", "/cohort add spring @frank", "Only coordinators of spring"),
    ("bob", "/cohort add spring @bob as assessor", "Only coordinators of spring"),
    ("bob", "/cohort remove spring @carol", "Only coordinators of spring"),
    ("bob", "/cohort status spring", "Only coordinators of spring"),
    ("bob", "/cohort remind spring tomorrow 10:00 Free pizza", "Only coordinators of spring"),
    ("bob", "/cohort reminders spring", "Only coordinators of spring"),
    ("bob", "/cohort unremind M-1", "Only coordinators of spring"),
    ("bob", "/window open spring collection-dev closes 2026-04-01", "Only coordinators of spring"),
    ("bob", "/window extend W-1 2026-04-01", "Only coordinators of spring"),
    ("bob", "/window close W-1", "Only coordinators of spring"),
    ("bob", "/window close spring creators", "Only coordinators of spring"),
    ("bob", "/review queue", "You are not an assessor in any cohort"),
    ("bob", "/review claim R-2", "Only assessors of this cohort"),
    ("carol", "/review claim R-2", "Only assessors of this cohort"),
    ("bob", "/review approve R-1", "claimed by another assessor"),
    ("bob", "/review approve R-2", "Claim R-2 before deciding it"),
    ("bob", "/review revise R-1 reflection: not yet, more", "claimed by another assessor"),
    ("bob", "/review release R-1", "claimed by another assessor"),
    ("bob", "/submit withdraw S-1", "You have no submission S-1"),  # alice's
    # assessors decide only what they claimed, and run no coordinator command
    ("erin", "/review approve R-1 -- looks good", "R-1 is claimed by another assessor"),
    ("erin", "/review revise R-1 reflection: not yet, more", "R-1 is claimed by another assessor"),
    ("erin", "/review release R-1", "R-1 is claimed by another assessor"),
    ("erin", "/review claim R-1", "R-1 is already claimed by another assessor"),
    ("dana", "/review claim R-1", "You have already claimed R-1"),
    ("dana", "/review approve R-2", "Claim R-2 before deciding it"),
    ("dana", "/window open spring collection-dev closes 2026-04-01", "Only coordinators of spring"),
    ("dana", "/window extend W-1 2026-04-01", "Only coordinators of spring"),
    ("dana", "/window close W-1", "Only coordinators of spring"),
    ("dana", "/cohort add spring @frank", "Only coordinators of spring"),
    ("dana", "/cohort status spring", "Only coordinators of spring"),
    ("dana", f"/submit {LINK}", "Only learners of a cohort can hand in work"),
    # an assessor or a coordinator of another cohort has no say in this one
    ("zoe", "/review claim R-2", "Only assessors of this cohort"),
    ("zoe", "/review approve R-1", "claimed by another assessor"),
    ("otto", "/window close W-1", "Only coordinators of spring"),
    ("otto", "/window extend W-1 2026-04-01", "Only coordinators of spring"),
    ("otto", "/cohort add spring @otto as coordinator", "Only coordinators of spring"),
    ("otto", "/cohort status spring", "Only coordinators of spring"),
    ("otto", "/cohort unremind M-1", "Only coordinators of spring"),
]


async def test_every_command_refuses_people_without_the_role_it_needs(spring: ConsoleChat) -> None:
    await spring.run(ROLES_SETUP)
    assert spring.errors == 0 and spring.crashes == 0, spring.transcript
    await all_refused(spring, NOT_YOURS, example=False)  # examples: see the test above


async def test_the_right_people_can_do_what_others_are_refused(spring: ConsoleChat) -> None:
    """The other half of the role checks, so they can't pass by refusing everyone."""
    await spring.run(ROLES_SETUP)
    await spring.run("""
        @otto /cohort status autumn
        @erin /review claim R-2
        @erin /review release R-2
        @coord /review release R-1
        @erin /review claim R-1
        @erin /review approve R-1 -- Strong work
    """)
    assert spring.errors == 0 and spring.crashes == 0, spring.transcript
    assert spring.saw("DM @alice", "You earned *Empowering Students as Creators*")


async def test_assessor_cannot_decide_a_review_claimed_by_someone_else(spring: ConsoleChat) -> None:
    await submitted(spring, "alice")
    await spring.run("@dana /review claim R-1")
    reply = await refused(spring, "erin", "/review approve R-1 -- looks fine to me", example=False)
    assert "R-1 is claimed by another assessor; only they can decide it" in reply
    await refused(spring, "erin", "/review revise R-1 reflection: not yet, add more", example=False)
    assert not spring.saw("DM @alice", "Approved")
    assert not spring.saw("DM @alice", "needs a revision")


async def test_claimed_review_cannot_be_claimed_by_another_assessor(spring: ConsoleChat) -> None:
    await submitted(spring, "alice")
    await spring.run("@dana /review claim R-1")
    reply = await refused(spring, "erin", "/review claim R-1")
    assert "R-1 is already claimed by another assessor" in reply
    assert not spring.saw("DM @erin", "You claimed R-1")


async def test_learner_cannot_claim_own_submission(spring: ConsoleChat) -> None:
    await spring.run("@coord /cohort add spring @dana")  # dana is now learner and assessor
    await submitted(spring, "dana")
    reply = await refused(spring, "dana", "/review claim R-1", example=False)
    assert "You can't review your own submission" in reply
    assert "R-1" not in await say(spring, "dana", "/review queue")
    await spring.run("@erin /review claim R-1")  # another assessor still can
    assert spring.saw("DM @erin", "You claimed R-1")


async def test_assessor_who_is_also_learner_is_not_sent_their_own_review_task(chat: ConsoleChat) -> None:
    await chat.run("""
        :admin @coord
        @coord /cohort create summer #sum
        @coord /cohort add summer @dana
        @coord /cohort add summer @dana @erin as assessor
        @coord /window open summer creators closes 2026-03-20T17:00
        @dana /submit https://example.org/dana -- reflection
    """)
    assert chat.errors == 0, chat.transcript
    assert chat.saw("DM @erin", "Review task R-1")
    assert not chat.saw("DM @dana", "Review task R-1")


async def test_open_claims_are_capped_by_the_setting(
    db: Database, settings: Settings, clock: FakeClock
) -> None:
    chat = ConsoleChat(db, settings.model_copy(update={"max_open_claims": 2}), clock=clock, out=None)
    await chat.run("""
        :admin @coord
        @coord /cohort create spring #frl reviews #assessors
        @coord /cohort add spring @alice @bob @carol
        @coord /cohort add spring @dana @erin as assessor
        @coord /window open spring creators closes 2026-03-20T17:00 America/Chicago
    """)
    await submitted(chat, "alice", "bob", "carol")
    await chat.run("@dana /review claim R-1\n@dana /review claim R-2")
    assert chat.errors == 0, chat.transcript
    reply = await refused(chat, "dana", "/review claim R-3")
    assert "You already hold 2 open claims" in reply
    assert "2 of 2" in await say(chat, "dana", "/review queue")
    await chat.run("@dana /review release R-1\n@dana /review claim R-3")  # a released slot is free again
    assert chat.errors == 1 and chat.saw("DM @dana", "You claimed R-3")


async def test_default_cap_is_three_open_claims(spring: ConsoleChat) -> None:
    await spring.run("@coord /cohort add spring @dave")
    await submitted(spring, "alice", "bob", "carol", "dave")
    await spring.run("@dana /review claim R-1\n@dana /review claim R-2\n@dana /review claim R-3")
    assert spring.errors == 0, spring.transcript
    reply = await refused(spring, "dana", "/review claim R-4")
    assert "You already hold 3 open claims" in reply
    await spring.run("@erin /review claim R-4")
    assert spring.saw("DM @erin", "You claimed R-4")


async def test_learner_cannot_share_someone_elses_badge(spring: ConsoleChat) -> None:
    await submitted(spring, "alice")
    await spring.run("@dana /review claim R-1\n@dana /review approve R-1 -- Well done")
    assert spring.saw("DM @alice", "(B-1)")
    reply = await refused(spring, "bob", "/badges share B-1")
    assert "You have no badge B-1" in reply
    assert not spring.saw("#frl", "earned")


# ------------------------------------------------------------------ workspaces


async def test_cohort_list_in_another_workspace_does_not_show_spring(spring: ConsoleChat) -> None:
    spring.directory.update("mallory", is_admin=True)
    listing = await say(spring, "mallory", "/cohort list", workspace="other-ws")
    assert "You are not in any cohort yet" in listing
    assert "*spring*" not in listing and "learners" not in listing
    windows = await say(spring, "mallory", "/window list", workspace="other-ws")
    assert "W-1" not in windows and "creators" not in windows


async def test_review_id_from_another_workspace_is_not_found(spring: ConsoleChat) -> None:
    await submitted(spring, "alice")
    spring.directory.update("mallory", is_admin=True)
    await say(spring, "mallory", "/cohort create fall #other-fall", workspace="other-ws")
    await say(spring, "mallory", "/cohort add fall @mallory as assessor", workspace="other-ws")
    assert spring.errors == 0, spring.transcript
    for command in ("/review claim R-1", "/review approve R-1 -- fine", "/review release R-1"):
        reply = await refused(spring, "mallory", command, workspace="other-ws")
        assert "There is no review R-1" in reply
    queue = await say(spring, "mallory", "/review queue", workspace="other-ws")
    assert "R-1" not in queue and "alice" not in queue
    # the same user id in another workspace is another person: dana there assesses nothing
    reply = await refused(spring, "dana", "/review claim R-1", workspace="other-ws")
    assert "There is no review R-1" in reply
    assert await count(spring.db, Review, Review.state == "open") == 1


async def test_same_cohort_name_in_another_workspace_finds_nothing_and_leaks_nothing(
    spring: ConsoleChat,
) -> None:
    spring.directory.update("mallory", is_admin=True)
    reply = await refused(spring, "mallory", "/cohort status spring", workspace="other-ws")
    assert "There is no cohort called 'spring'" in reply and "There are no cohorts yet" in reply
    reply = await refused(spring, "mallory", "/cohort add spring @alice", workspace="other-ws")
    assert "There is no cohort called 'spring'" in reply
    for command in ("/window close W-1", "/window extend W-1 2026-04-01"):
        reply = await refused(spring, "mallory", command, workspace="other-ws")
        assert "There is no window W-1" in reply
    await refused(spring, "alice", f"/submit {LINK}", workspace="other-ws", example=False)


async def test_cohort_of_the_same_name_in_another_workspace_is_a_different_cohort(
    spring: ConsoleChat,
) -> None:
    spring.directory.update("mallory", is_admin=True)
    before = await count(spring.db, Enrolment)
    await say(spring, "mallory", "/cohort create spring #other-spring", workspace="other-ws")
    await say(spring, "mallory", "/cohort add spring @zack", workspace="other-ws")
    assert spring.errors == 0, spring.transcript
    assert await count(spring.db, Enrolment) == before + 2  # mallory as coordinator, zack
    status = await say(spring, "coord", "/cohort status spring")
    assert "3 learners" in status and "zack" not in status
    other = await say(spring, "mallory", "/cohort status spring", workspace="other-ws")
    assert "1 learner," in other and "W-1" not in other
    await refused(spring, "zack", f"/submit {LINK}", workspace="other-ws", example=False)
    assert await count(spring.db, Submission) == 0


# ------------------------------------------------------------------ windows in time


async def test_learner_of_a_cohort_without_a_window_is_not_told_they_are_no_learner(
    chat: ConsoleChat,
) -> None:
    await chat.run("""
        :admin @coord
        @coord /cohort create summer #sum
        @coord /cohort add summer @bob
    """)
    reply = await refused(chat, "bob", f"/submit {LINK}", example=False)
    assert "not a learner" not in reply, "bob is a learner of summer; it just has no window yet"
    assert "window" in reply


async def test_closed_window_refuses_a_submission_and_says_when_it_closed(spring: ConsoleChat) -> None:
    await spring.run(":user @bob tz=America/Chicago\n:clock 2026-03-21T00:00Z")
    reply = await refused(spring, "bob", f"/submit {LINK} -- too late", example=False)
    assert "closed Fri 20 Mar 2026, 17:00 CDT" in reply
    assert "does not take late submissions" in reply
    assert await count(spring.db, Submission) == 0


async def test_window_closed_by_hand_refuses_even_late_submissions(chat: ConsoleChat) -> None:
    await chat.run("""
        :admin @coord
        @coord /cohort create summer #sum
        @coord /cohort add summer @bob
        @coord /window open summer creators closes 2026-03-20T17:00 late allow
        :clock 2026-03-05T12:00Z
        @coord /window close W-1
    """)
    assert chat.errors == 0, chat.transcript
    reply = await refused(chat, "bob", f"/submit {LINK}", example=False)
    assert "closed Thu 5 Mar 2026, 12:00 UTC" in reply


async def test_late_policy_accepts_within_grace_and_marks_the_submission_late(chat: ConsoleChat) -> None:
    await chat.run("""
        :admin @coord
        @coord /cohort create summer #sum reviews #sum-assessors
        @coord /cohort add summer @alice @bob @carol
        @coord /cohort add summer @dana as assessor
        @coord /window open summer creators closes 2026-03-20T17:00 America/Chicago late 2d
        @alice /submit https://example.org/alice -- on time
        :clock 2026-03-21T00:00Z
        @bob /submit https://example.org/bob -- two hours late
    """)
    assert chat.errors == 0, chat.transcript
    assert "This is a late submission" in chat.last("only @bob")
    assert "This is a late submission" not in chat.last("only @alice")
    assert chat.saw("#sum-assessors", "Review task R-2: S-2 by @bob")
    assert "· late" in chat.said("#sum-assessors")[-1]
    async with chat.db.transaction() as session:
        late = dict((await session.execute(select(Version.submission_id, Version.late))).all())
    assert late == {1: False, 2: True}
    await chat.run(":clock 2026-03-23T00:00Z")  # the grace ended at 22:00 UTC on the 22nd
    reply = await refused(chat, "carol", "/submit https://example.org/carol -- too late", example=False)
    assert "closed" in reply
    assert await count(chat.db, Submission) == 2


async def test_resubmitting_the_same_links_is_not_a_new_version(spring: ConsoleChat) -> None:
    await spring.run(f"@alice /submit {LINK}/a {LINK}/b -- my reflection")
    tasks = len(spring.said("#assessors"))
    reply = await refused(spring, "alice", f"/submit {LINK}/b {LINK}/a -- my reflection")
    assert "That is the same as version 1 of S-1" in reply
    reply = await refused(spring, "alice", f"/submit {LINK}/a {LINK}/b {LINK}/a")
    assert "not a new version" in reply
    assert await count(spring.db, Version) == 1 and len(spring.said("#assessors")) == tasks
    await spring.run(f"@alice /submit {LINK}/a {LINK}/b -- a better reflection")  # a real change is
    assert "version 2" in spring.last("only @alice")
