"""Messages about windows and progress, shared by handlers and scheduled jobs.

Each builder takes rows and returns a neutral Message; the queries that feed
them live here too so that `/cohort status`, nudges and the closing summary
count the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import (
    LatePolicy,
    LearnerProgress,
    Role,
    SubmissionState,
    format_left,
    format_time,
    short_id,
    zone,
)
from bot.messages import Button, Message
from bot.storage import Enrolment, Member, Submission, Window


@dataclass
class WindowProgress:
    learners: list[tuple[Member, Submission | None]]

    @property
    def total(self) -> int:
        return len(self.learners)

    def count(self, *states: SubmissionState) -> int:
        return sum(1 for _, s in self.learners if s is not None and s.state in states)

    @property
    def submitted(self) -> int:
        return sum(1 for _, s in self.learners
                   if s is not None and s.state != SubmissionState.WITHDRAWN)

    @property
    def missing(self) -> list[Member]:
        return [m for m, s in self.learners if s is None or s.state == SubmissionState.WITHDRAWN]

    def as_plan_input(self) -> list[LearnerProgress]:
        return [LearnerProgress(m.id, s is not None and s.state != SubmissionState.WITHDRAWN,
                                s is not None and s.state == SubmissionState.REVISION_REQUESTED)
                for m, s in self.learners]


async def window_progress(session: AsyncSession, window: Window) -> WindowProgress:
    rows = await session.execute(
        select(Member, Submission)
        .join(Enrolment, Enrolment.member_id == Member.id)
        .outerjoin(Submission, (Submission.member_id == Member.id)
                   & (Submission.window_id == window.id))
        .where(Enrolment.cohort_id == window.cohort_id, Enrolment.role == Role.LEARNER)
        .order_by(Member.display_name, Member.id))
    return WindowProgress([(m, s) for m, s in rows.all()])


def window_tz(window: Window) -> ZoneInfo:
    return zone(window.tz)


def deadline_line(window: Window, tz: ZoneInfo, now: datetime) -> str:
    return f"closes {format_time(window.closes_at, tz)} ({format_left(window.closes_at - now)})"


def progress_line(progress: WindowProgress) -> str:
    done = progress.submitted
    approved = progress.count(SubmissionState.APPROVED)
    bar_len = 10
    filled = round(bar_len * done / progress.total) if progress.total else 0
    bar = "▓" * filled + "░" * (bar_len - filled)
    return f"{bar} {done} of {progress.total} submitted, {approved} approved"


SUBMIT_BUTTON = Button("Submit evidence", command="/submit", style="primary")


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


def channel_nudge(window: Window, progress: WindowProgress, now: datetime) -> Message:
    tz = window_tz(window)
    return Message(
        f"⏰ *{window.credential.name}* {deadline_line(window, tz, now)}.\n"
        f"{progress_line(progress)}. Not in yet? `/submit <link> -- <reflection>`",
        buttons=(SUBMIT_BUTTON,),
        context=short_id("W", window.id),
    )


def learner_nudge(window: Window, member: Member, submission: Submission | None,
                  unmet: list[str], now: datetime, settings_tz: str) -> Message:
    tz = zone(member.tz or settings_tz)
    left = format_left(window.closes_at - now)
    when = format_time(window.closes_at, tz)
    if submission is not None and submission.state == SubmissionState.REVISION_REQUESTED:
        todo = f" Still to work on: {', '.join(unmet)}." if unmet else ""
        return Message(
            f"⏰ {left} for your revision of {short_id('S', submission.id)} "
            f"(*{window.credential.name}*, {window.cohort.name}): the window closes {when}.{todo}\n"
            "Resubmit with `/submit <links> -- what changed`.",
            context=short_id("W", window.id))
    return Message(
        f"⏰ {left} to submit for *{window.credential.name}* ({window.cohort.name}): "
        f"the window closes {when}.\n`/submit <link> [<link>…] -- <reflection>`",
        buttons=(SUBMIT_BUTTON,), context=short_id("W", window.id))


def window_closed(window: Window, progress: WindowProgress, now: datetime) -> Message:
    tz = window_tz(window)
    missing = progress.missing
    names = ", ".join(f"<@{m.user_id}>" for m in missing[:20])
    more = f" and {len(missing) - 20} more" if len(missing) > 20 else ""
    late = LatePolicy.parse(window.late_policy)
    after = ("Late submissions are still accepted." if late.kind == "allow" else
             f"Late submissions are accepted for {late} more." if late.kind == "grace" else
             "No more submissions are accepted.")
    lines = [f"🔒 *{window.credential.name}* closed {format_time(now, tz)} in "
             f"*{window.cohort.name}*: {progress_line(progress)}."]
    if missing:
        lines.append(f"Not submitted: {names}{more}.")
    lines.append(f"{after} Assessors are reviewing what came in; learners hear back by DM.")
    return Message("\n".join(lines), context=short_id("W", window.id))
