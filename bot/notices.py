"""Messages about windows and progress, shared by handlers and scheduled jobs.

Each builder takes rows and returns a neutral Message; the queries that feed
them live here too so that `/cohort status`, nudges and the closing summary
count the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import markup
from bot.domain import (
    ExtensionState,
    LatePolicy,
    Phase,
    Role,
    SubmissionState,
    format_left,
    short_id,
    window_phase,
    zone,
)
from bot.messages import Button, Card, CardKind, Message
from bot.storage import Extension, Member, Submission, Window
from bot.storage.roster import enrolled


@dataclass(frozen=True)
class WindowCounts:
    """How a window stands, counted in the database (never by loading every learner)."""

    total: int
    submitted: int
    approved: int
    in_review: int
    revising: int

    @property
    def missing(self) -> int:
        return self.total - self.submitted


def learners_of(window: Window) -> Select[int]:
    return enrolled(window.cohort_id, Role.LEARNER)


async def window_counts(session: AsyncSession, window: Window) -> WindowCounts:
    total = await session.scalar(select(func.count()).select_from(learners_of(window).subquery()))
    by_state = dict(
        (
            await session.execute(
                select(Submission.state, func.count())
                .where(Submission.window_id == window.id, Submission.member_id.in_(learners_of(window)))
                .group_by(Submission.state)
            )
        ).all()
    )
    submitted = sum(n for state, n in by_state.items() if state != SubmissionState.WITHDRAWN)
    return WindowCounts(
        total or 0,
        submitted,
        by_state.get(SubmissionState.APPROVED, 0),
        by_state.get(SubmissionState.IN_REVIEW, 0),
        by_state.get(SubmissionState.REVISION_REQUESTED, 0),
    )


@dataclass(frozen=True)
class OwnDeadline:
    """A learner who may still hand in after the window stopped taking work from everyone."""

    user_id: str
    closes_at: datetime
    extension_id: int
    revising: bool  # a revision is pending; else nothing is handed in yet


@dataclass(frozen=True)
class Owing:
    """Who still owes work in a window: learners with nothing handed in and no deadline of
    their own (the first few named, all counted), and those working to a deadline of their own."""

    missing: list[str]
    missing_total: int
    own: list[OwnDeadline]


def running_extensions(window: Window, now: datetime) -> Select[Extension]:
    """Own deadlines in `window` (granted, or given by a revision request) still to come after
    it stopped taking work from everyone."""
    return select(Extension).where(
        Extension.window_id == window.id,
        Extension.state == ExtensionState.APPROVED,
        Extension.closes_at > max(window.ends_at, now),
    )


async def who_owes(session: AsyncSession, window: Window, now: datetime, limit: int = 20) -> Owing:
    """Counted the same way for `/cohort status` and the closing announcement."""
    handed_in = select(Submission.member_id).where(
        Submission.window_id == window.id, Submission.state != SubmissionState.WITHDRAWN
    )
    running = running_extensions(window, now).subquery()
    missing = (
        select(Member.user_id)
        .where(
            Member.id.in_(learners_of(window)),
            Member.id.not_in(handed_in),
            Member.id.not_in(select(running.c.member_id)),
        )
        .order_by(Member.display_name, Member.id)
    )
    named = list(await session.scalars(missing.limit(limit)))
    total = await session.scalar(select(func.count()).select_from(missing.subquery()))
    rows = await session.execute(
        select(running.c.id, running.c.member_id, running.c.closes_at, Member.user_id, Submission.state)
        .join(Member, Member.id == running.c.member_id)
        .outerjoin(
            Submission, (Submission.window_id == window.id) & (Submission.member_id == running.c.member_id)
        )
        .where(running.c.member_id.in_(learners_of(window)))
        .order_by(running.c.closes_at)
    )
    latest = {
        member: OwnDeadline(user_id, closes_at, ext_id, state == SubmissionState.REVISION_REQUESTED)
        for ext_id, member, closes_at, user_id, state in rows.all()
        if state in (None, SubmissionState.WITHDRAWN, SubmissionState.REVISION_REQUESTED)
    }
    return Owing(named, total or 0, sorted(latest.values(), key=lambda o: (o.closes_at, o.user_id)))


def mentions(user_ids: list[str], total: int) -> str:
    more = f" and {total - len(user_ids)} more" if total > len(user_ids) else ""
    return ", ".join(markup.mention(u) for u in user_ids) + more


def window_tz(window: Window) -> ZoneInfo:
    return zone(window.tz)


def deadline_line(window: Window, tz: ZoneInfo, now: datetime) -> str:
    return f"closes {markup.time(window.closes_at, tz)} ({format_left(window.closes_at - now)})"


def window_card(kind: CardKind, window: Window) -> Card:
    """A card about a window: its credential, in its cohort (a learner may be in several)."""
    return Card(kind, f"{window.credential.name} · {window.cohort.name}")


def window_when(window: Window, tz: ZoneInfo, now: datetime) -> str:
    """Where a window stands, in one phrase whose verb says it: `opens …, closes …`,
    `closes … (7 days left)` or `closed …`."""
    phase = window_phase(window.opens_at, window.closes_at, now, window.closed_at)
    if phase == Phase.UPCOMING:
        return f"opens {markup.time(window.opens_at, tz)}, closes {markup.time(window.closes_at, tz)}"
    if phase == Phase.CLOSED:
        return f"closed {markup.time(window.closed_at or window.closes_at, tz)}"
    return deadline_line(window, tz, now)


def progress_line(counts: WindowCounts) -> str:
    bar_len = 10
    filled = round(bar_len * counts.submitted / counts.total) if counts.total else 0
    bar = "▓" * filled + "░" * (bar_len - filled)
    return f"{bar} {counts.submitted} of {counts.total} submitted, {counts.approved} approved"


SUBMIT_BUTTON = Button("Submit evidence", command="/submit", style="primary")
EXTEND_BUTTON = Button("Ask for more time", command="/submit extend")


def window_opened(window: Window, now: datetime) -> Message:
    tz = window_tz(window)
    cred = window.credential
    offsets = ", ".join(window.nudge_offsets)
    return Message(
        f"📬 {markup.bold(cred.name)} is open for submissions in {markup.bold(window.cohort.name)} until "
        f"{markup.time(window.closes_at, tz)} ({format_left(window.closes_at - now)}).\n"
        f"Hand in your artifact links and a reflection: "
        f"`/submit <link> [<link>…] -- <reflection>`",
        buttons=(SUBMIT_BUTTON,),
        context=f"{short_id('W', window.id)} · reminders {offsets} before the deadline",
        card=window_card(CardKind.NEWS, window),
    )


def channel_nudge(window: Window, counts: WindowCounts, now: datetime) -> Message:
    tz = window_tz(window)
    return Message(
        f"⏰ {markup.bold(window.credential.name)} {deadline_line(window, tz, now)}.\n"
        f"{progress_line(counts)}. Not in yet? `/submit <link> -- <reflection>`",
        buttons=(SUBMIT_BUTTON,),
        context=short_id("W", window.id),
        card=window_card(CardKind.NUDGE, window),
    )


def learner_nudge(
    window: Window,
    tz: ZoneInfo,
    deadline: datetime,
    revising: int | None,
    unmet: list[str],
    now: datetime,
    *,
    extended: bool = False,
) -> Message:
    """A DM to one learner: their own deadline in their own time zone. `revising` is the
    submission id when a revision is pending (naming only the criteria not yet met)."""
    left = format_left(deadline - now)
    when = markup.time(deadline, tz)
    closes = f"your extended deadline is {when}" if extended else f"the window closes {when}"
    if revising is not None:
        closes = f"resubmit by {when}" if extended else closes
        todo = f" Still to work on: {', '.join(unmet)}." if unmet else ""
        return Message(
            f"⏰ {left} for your revision of {short_id('S', revising)} "
            f"({markup.bold(window.credential.name)}, {window.cohort.name}): {closes}.{todo}\n"
            "Resubmit with `/submit <links> -- what changed`.",
            context=short_id("W", window.id),
            card=window_card(CardKind.NUDGE, window),
        )
    return Message(
        f"⏰ {left} to submit for {markup.bold(window.credential.name)} ({window.cohort.name}): "
        f"{closes}.\n`/submit <link> [<link>…] -- <reflection>`",
        buttons=(SUBMIT_BUTTON, EXTEND_BUTTON),
        context=short_id("W", window.id),
        card=window_card(CardKind.NUDGE, window),
    )


def own_deadlines_line(own: list[OwnDeadline], tz: ZoneInfo, *, detail: bool = False, limit: int = 20) -> str:
    """`@bob until Fri 27 Mar 2026, 17:00 CDT, …`: who may still hand in, and until when; with
    `detail` (for coordinators), whether it is a revision and the E-id that moves it."""
    more = f" and {len(own) - limit} more" if len(own) > limit else ""
    return (
        ", ".join(
            f"{markup.mention(o.user_id)} until {markup.time(o.closes_at, tz)}"
            + (f"{' to resubmit' if o.revising else ''} ({short_id('E', o.extension_id)})" if detail else "")
            for o in own[:limit]
        )
        + more
    )


def window_closed(window: Window, counts: WindowCounts, owing: Owing, now: datetime) -> Message:
    tz = window_tz(window)
    late = LatePolicy.parse(window.late_policy)
    after = (
        "Late submissions are still accepted."
        if late.kind == "allow"
        else f"Late submissions are accepted for {late} more."
        if late.kind == "grace"
        else "No other submissions are accepted."
        if owing.own
        else "No more submissions are accepted."
    )
    lines = [
        f"🔒 {markup.bold(window.credential.name)} closed {markup.time(now, tz)} in "
        f"{markup.bold(window.cohort.name)}: {progress_line(counts)}."
    ]
    if owing.missing:
        lines.append(f"Not submitted: {mentions(owing.missing, owing.missing_total)}.")
    if owing.own:
        lines.append(f"Still may hand in, on deadlines of their own: {own_deadlines_line(owing.own, tz)}.")
    lines.append(f"{after} Assessors are reviewing what came in; learners hear back by DM.")
    return Message(
        "\n".join(lines), context=short_id("W", window.id), card=window_card(CardKind.NEWS, window)
    )
