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
    LatePolicy,
    Role,
    SubmissionState,
    format_left,
    format_time,
    short_id,
    zone,
)
from bot.messages import Button, Message
from bot.storage import Enrolment, Member, Submission, Window


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


def learners_of(window: Window) -> Select[tuple[int]]:
    return select(Enrolment.member_id).where(Enrolment.cohort_id == window.cohort_id,
                                             Enrolment.role == Role.LEARNER)


async def window_counts(session: AsyncSession, window: Window) -> WindowCounts:
    total = await session.scalar(select(func.count()).select_from(learners_of(window).subquery()))
    by_state = dict((await session.execute(
        select(Submission.state, func.count()).where(
            Submission.window_id == window.id, Submission.member_id.in_(learners_of(window)))
        .group_by(Submission.state))).all())
    submitted = sum(n for state, n in by_state.items() if state != SubmissionState.WITHDRAWN)
    return WindowCounts(total or 0, submitted, by_state.get(SubmissionState.APPROVED, 0),
                        by_state.get(SubmissionState.IN_REVIEW, 0),
                        by_state.get(SubmissionState.REVISION_REQUESTED, 0))


async def missing_learners(session: AsyncSession, window: Window, limit: int = 20) -> list[str]:
    """Platform ids of (the first `limit`) learners with nothing submitted, by name."""
    handed_in = select(Submission.member_id).where(
        Submission.window_id == window.id, Submission.state != SubmissionState.WITHDRAWN)
    return list(await session.scalars(
        select(Member.user_id).where(Member.id.in_(learners_of(window)), Member.id.not_in(handed_in))
        .order_by(Member.display_name, Member.id).limit(limit)))


def mentions(user_ids: list[str], total: int) -> str:
    more = f" and {total - len(user_ids)} more" if total > len(user_ids) else ""
    return ", ".join(markup.mention(u) for u in user_ids) + more


def window_tz(window: Window) -> ZoneInfo:
    return zone(window.tz)


def deadline_line(window: Window, tz: ZoneInfo, now: datetime) -> str:
    return f"closes {format_time(window.closes_at, tz)} ({format_left(window.closes_at - now)})"


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
        f"📬 *{cred.name}* is open for submissions in *{window.cohort.name}* until "
        f"{format_time(window.closes_at, tz)} ({format_left(window.closes_at - now)}).\n"
        f"Hand in your artifact links and a reflection: "
        f"`/submit <link> [<link>…] -- <reflection>`",
        buttons=(SUBMIT_BUTTON,),
        context=f"{short_id('W', window.id)} · reminders {offsets} before the deadline",
    )


def channel_nudge(window: Window, counts: WindowCounts, now: datetime) -> Message:
    tz = window_tz(window)
    return Message(
        f"⏰ *{window.credential.name}* {deadline_line(window, tz, now)}.\n"
        f"{progress_line(counts)}. Not in yet? `/submit <link> -- <reflection>`",
        buttons=(SUBMIT_BUTTON,),
        context=short_id("W", window.id),
    )


def learner_nudge(window: Window, tz: ZoneInfo, deadline: datetime, revising: int | None,
                  unmet: list[str], now: datetime, *, extended: bool = False) -> Message:
    """A DM to one learner: their own deadline in their own time zone. `revising` is the
    submission id when a revision is pending (naming only the criteria not yet met)."""
    left = format_left(deadline - now)
    when = format_time(deadline, tz)
    closes = f"your extended deadline is {when}" if extended else f"the window closes {when}"
    if revising is not None:
        todo = f" Still to work on: {', '.join(unmet)}." if unmet else ""
        return Message(
            f"⏰ {left} for your revision of {short_id('S', revising)} "
            f"(*{window.credential.name}*, {window.cohort.name}): {closes}.{todo}\n"
            "Resubmit with `/submit <links> -- what changed`.",
            context=short_id("W", window.id))
    return Message(
        f"⏰ {left} to submit for *{window.credential.name}* ({window.cohort.name}): "
        f"{closes}.\n`/submit <link> [<link>…] -- <reflection>`",
        buttons=(SUBMIT_BUTTON, EXTEND_BUTTON), context=short_id("W", window.id))


def window_closed(window: Window, counts: WindowCounts, missing: list[str], now: datetime) -> Message:
    tz = window_tz(window)
    late = LatePolicy.parse(window.late_policy)
    after = ("Late submissions are still accepted." if late.kind == "allow" else
             f"Late submissions are accepted for {late} more." if late.kind == "grace" else
             "No more submissions are accepted.")
    lines = [f"🔒 *{window.credential.name}* closed {format_time(now, tz)} in "
             f"*{window.cohort.name}*: {progress_line(counts)}."]
    if missing:
        lines.append(f"Not submitted: {mentions(missing, counts.missing)}.")
    lines.append(f"{after} Assessors are reviewing what came in; learners hear back by DM.")
    return Message("\n".join(lines), context=short_id("W", window.id))
