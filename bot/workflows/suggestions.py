"""What to suggest while someone types an id or a name they would otherwise have to remember:
their cohorts, credentials, windows, the reviews they can take or have taken, their submissions
and badges, requests for more time waiting for an answer, reminders, time zones, commands.

Read-only and neutral: a platform with autocomplete (Discord's) asks here with what the person
has typed so far, and offers the answers; each value is what the typed command takes (`R-7`,
`spring`), so the command reads the same whichever way it was written. Suggestions only help:
the command's own checks (roles, states) decide when it runs.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import (
    BadgeState,
    ExtensionState,
    ReviewState,
    Role,
    UserError,
    folded,
    short_id,
    zone,
    zone_names,
)
from bot.grammar import APP_COMMANDS
from bot.storage import (
    Badge,
    Cohort,
    Credential,
    Enrolment,
    Extension,
    Member,
    Reminder,
    Review,
    Submission,
    Window,
    Workspace,
)
from bot.storage.db import Database

CHOICES_MAX = 25
TEXT_MAX = 100


@dataclass(frozen=True)
class Suggestion:
    label: str  # what the person reads in the list
    value: str  # what goes into the command

    def fitted(self) -> Suggestion:
        return Suggestion(_cut(self.label), _cut(self.value))


def _cut(text: str) -> str:
    return text if len(text) <= TEXT_MAX else text[: TEXT_MAX - 1] + "…"


@dataclass(frozen=True)
class Asking:
    """Who is typing, where, into which command."""

    platform: str
    workspace: str  # the platform's id of it
    user_id: str
    verb: str  # the command typed into: a window is a credential to `/submit`, a W-id elsewhere


async def suggest(db: Database, asking: Asking, kind: str, typed: str) -> list[Suggestion]:
    """At most 25 suggestions of `kind` ("cohort", "review", …) matching what is typed."""
    typed = typed.strip().lower()
    if kind == "zone":  # matched as the command reads a zone: `cet` is Europe/Paris
        return [Suggestion(z, z) for z in zones_like(typed)[:CHOICES_MAX]]
    if kind == "command":
        found = [Suggestion(f"{verb}: {about}", verb) for verb, about in APP_COMMANDS.items()]
    else:
        async with db.transaction() as session:
            found = await _from_rows(session, asking, kind)
    matching = [s for s in found if typed in s.label.lower() or typed in s.value.lower()]
    return [s.fitted() for s in matching[:CHOICES_MAX]]


def zones_like(typed: str) -> list[str]:
    """Zones whose name holds what is typed (`berl`, `new y`); first, the one the words name
    when typed whole as a command reads them (`cet`, `est`, `são paulo`)."""
    try:
        named = [zone(typed).key] if typed else []
    except UserError:
        named = []
    wanted = folded(typed)
    return named + [z for z in zone_names() if wanted in folded(z) and z not in named]


async def _from_rows(session: AsyncSession, asking: Asking, kind: str) -> list[Suggestion]:
    workspace = await session.scalar(
        select(Workspace.id).where(
            Workspace.platform == asking.platform, Workspace.external_id == asking.workspace
        )
    )
    if kind == "credential":
        rows = await session.execute(
            select(Credential.slug, Credential.name)
            .where(or_(Credential.workspace_id.is_(None), Credential.workspace_id == workspace))
            .order_by(Credential.slug)
        )
        return [Suggestion(f"{slug} — {name}", slug) for slug, name in rows]
    if workspace is None:
        return []
    me = await session.scalar(
        select(Member.id).where(Member.workspace_id == workspace, Member.user_id == asking.user_id)
    )
    if kind == "cohort":
        names = await session.scalars(
            select(Cohort.name).where(Cohort.workspace_id == workspace).order_by(Cohort.name)
        )
        return [Suggestion(name, name) for name in names]
    if kind == "window":
        return await _windows(session, workspace, me, asking.verb)
    if kind == "extension":
        pending = await session.scalars(
            select(Extension)
            .where(Extension.workspace_id == workspace, Extension.state == ExtensionState.PENDING)
            .order_by(Extension.id)
        )
        return [
            Suggestion(f"{short_id('E', e.id)} {e.member.display_name}: {e.reason}", short_id("E", e.id))
            for e in pending
        ]
    if kind == "reminder":
        reminders = await session.scalars(
            select(Reminder).where(Reminder.workspace_id == workspace).order_by(Reminder.id)
        )
        return [Suggestion(f"{short_id('M', r.id)} {r.text}", short_id("M", r.id)) for r in reminders]
    if me is None:
        return []
    if kind == "review":
        return await _reviews(session, workspace, me)
    if kind == "submission":
        mine = await session.scalars(
            select(Submission).where(Submission.member_id == me).order_by(Submission.id.desc())
        )
        return [
            Suggestion(f"{short_id('S', s.id)} {s.window.credential.slug} ({s.state})", short_id("S", s.id))
            for s in mine
        ]
    if kind == "badge":
        badges = await session.scalars(
            select(Badge)
            .where(Badge.member_id == me, Badge.state != BadgeState.CANCELLED, Badge.replaced_by.is_(None))
            .order_by(Badge.id.desc())
        )
        return [Suggestion(f"{short_id('B', b.id)} {b.credential.name}", short_id("B", b.id)) for b in badges]
    return []


async def _windows(session: AsyncSession, workspace: int, me: int | None, verb: str) -> list[Suggestion]:
    """Open windows; to `/submit`, those of the learner's cohorts, by credential (what it takes)."""
    query = select(Window).where(Window.workspace_id == workspace, Window.closed_at.is_(None))
    if verb == "submit":
        mine = select(Enrolment.cohort_id).where(Enrolment.member_id == me, Enrolment.role == Role.LEARNER)
        windows = await session.scalars(query.where(Window.cohort_id.in_(mine)).order_by(Window.id))
        return [Suggestion(f"{w.credential.slug} — {w.cohort.name}", w.credential.slug) for w in windows]
    windows = await session.scalars(query.order_by(Window.id))
    return [
        Suggestion(f"{short_id('W', w.id)} {w.cohort.name} {w.credential.slug}", short_id("W", w.id))
        for w in windows
    ]


async def _reviews(session: AsyncSession, workspace: int, me: int) -> list[Suggestion]:
    """The reviews an assessor has claimed, then those waiting in their cohorts' queues."""
    assessing = select(Enrolment.cohort_id).where(Enrolment.member_id == me, Enrolment.role == Role.ASSESSOR)
    reviews = await session.scalars(
        select(Review)
        .join(Submission, Review.submission_id == Submission.id)
        .join(Window, Submission.window_id == Window.id)
        .where(
            Review.workspace_id == workspace,
            or_(
                (Review.state == ReviewState.CLAIMED) & (Review.assessor_id == me),
                (Review.state == ReviewState.OPEN) & Window.cohort_id.in_(assessing),
            ),
        )
        .order_by(Review.state, Review.id)
    )
    return [
        Suggestion(
            f"{short_id('R', r.id)} ({short_id('S', r.submission_id)}, {r.state})", short_id("R", r.id)
        )
        for r in reviews
    ]
