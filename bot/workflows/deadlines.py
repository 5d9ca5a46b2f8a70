"""A learner's deadlines: where a window stands, and their own deadline in it (granted on
request or given by a revision request; see DESIGN's "own deadline"), read one way for
/submit, /submit status and a revision request."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, func, select, update

from bot.domain import ExtensionState, Phase, Role, parse_duration, short_id, window_phase
from bot.outbox import UNSENT
from bot.storage import Enrolment, Extension, Outbox, OutboxState, Review, Submission, Window
from bot.workflows.context import Context


def phase_of(window: Window, now: datetime) -> Phase:
    return window_phase(window.opens_at, window.closes_at, now, window.closed_at)


# A learner's own deadline in a window: the latest of their approved extensions. One rule for
# /submit (a column of LEARNER_WINDOWS) and /submit status (OWN_DEADLINES).
GRANTED = (Extension.member_id == bindparam("member"), Extension.state == ExtensionState.APPROVED)
OWN_DEADLINE = (
    select(func.max(Extension.closes_at))
    .where(Extension.window_id == Window.id, *GRANTED)
    .correlate(Window)
    .scalar_subquery()
)
LEARNER_WINDOWS = (  # built once: /submit runs this on every call
    select(Window, OWN_DEADLINE)
    .join(Enrolment, Enrolment.cohort_id == Window.cohort_id)
    .where(
        Window.workspace_id == bindparam("workspace"),
        Enrolment.member_id == bindparam("member"),
        Enrolment.role == Role.LEARNER,
    )
    .order_by(Window.closes_at)
)
OWN_DEADLINES = (
    select(Extension.window_id, func.max(Extension.closes_at))  # built once
    .where(Extension.window_id.in_(bindparam("windows", expanding=True)), *GRANTED)
    .group_by(Extension.window_id)
)


async def learner_windows(ctx: Context) -> dict[Window, datetime | None]:
    """Windows of the cohorts where the actor is a learner, soonest deadline first, each with
    the actor's own deadline if a coordinator granted one (read in the same statement: on
    the /submit path each round trip to the database counts)."""
    rows = await ctx.session.execute(LEARNER_WINDOWS, {"workspace": ctx.workspace.id, "member": ctx.actor.id})
    return dict(rows.all())


async def own_deadlines(
    ctx: Context, window_ids: list[int], member_id: int | None = None
) -> dict[int, datetime]:
    """A learner's (the actor's, unless named) own deadlines, granted or given by a revision
    request, by window."""
    rows = await ctx.session.execute(
        OWN_DEADLINES, {"member": member_id or ctx.actor.id, "windows": window_ids}
    )
    return {w: c for w, c in rows.all() if c is not None}


async def cancel_member_nudges(ctx: Context, window: Window, member_id: int, why: str) -> None:
    """Nudges queued for a learner's old deadline must not go out; new ones are planned."""
    await ctx.session.execute(
        update(Outbox)
        .where(
            Outbox.window_id == window.id,
            Outbox.state.in_(UNSENT),
            Outbox.key.like(f"nudge:{window.id}:member:{member_id}:%"),
        )
        .values(state=OutboxState.CANCELLED, last_error=why)
    )


async def give_revision_time(ctx: Context, submission: Submission, review: Review) -> datetime:
    """The deadline a revision request gives its learner, `revise within` (a window's setting)
    from now: assessors often review after the window closed, and a learner asked to revise
    then must still be able to. Returns the deadline that applies to them now, which is their
    window's or one of their own when that ends later."""
    window = submission.window
    own = (await own_deadlines(ctx, [window.id], submission.member_id)).get(window.id)
    current = max(window.ends_at, own or window.ends_at)
    due = ctx.now + parse_duration(window.revise_within)
    if due <= current:
        return current
    ctx.session.add(
        Extension(
            workspace_id=ctx.workspace.id,
            window_id=window.id,
            member_id=submission.member_id,
            reason=f"revision asked in {short_id('R', review.id)}",
            state=ExtensionState.APPROVED,
            requested_at=ctx.now,
            decided_at=ctx.now,
            decided_by=ctx.actor.id,
            closes_at=due,
            review_id=review.id,
        )
    )
    await cancel_member_nudges(ctx, window, submission.member_id, "revision deadline set")
    return due
