"""Submission windows: open, extend, close, list."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from bot import markup
from bot.domain import (
    DEFAULT_NUDGE_OFFSETS,
    DEFAULT_REVISE_WITHIN,
    START_OF_DAY,
    LatePolicy,
    Phase,
    UserError,
    check_window_times,
    format_duration,
    format_time,
    parse_duration,
    parse_when,
    short_id,
    zone,
)
from bot.handlers.base import handles, require_coordinator
from bot.messages import Message, Reply
from bot.notices import (
    deadline_line,
    who_owes,
    window_closed,
    window_counts,
    window_opened,
    window_when,
)
from bot.outbox import UNSENT
from bot.storage import Cohort, Enrolment, Outbox, OutboxState, Window
from bot.workflows.context import Context
from bot.workflows.deadlines import phase_of
from bot.workflows.lookups import cohort_named, credential_named, window_by_ref
from bot.workflows.sending import cohort_news


async def announce(ctx: Context, window: Window, message: Message, key: str) -> None:
    await ctx.post(*cohort_news(window, message, key))


async def cancel_planned_nudges(ctx: Context, window: Window) -> int:
    """Nudges queued for an old deadline must never go out after it moved."""
    result = await ctx.session.execute(
        update(Outbox)
        .where(Outbox.window_id == window.id, Outbox.state.in_(UNSENT), Outbox.key.like("nudge:%"))
        .values(state=OutboxState.CANCELLED, last_error="deadline changed")
    )
    return result.rowcount or 0  # type: ignore[attr-defined]


@handles("window", "open")
async def open_window(ctx: Context, args: dict[str, Any]) -> Reply:
    cohort = await cohort_named(ctx, args["cohort"])
    await require_coordinator(ctx, cohort)
    cred = await credential_named(ctx, args["credential"])
    typed_tz = args["tz"] or cohort.tz  # as typed: parse_when holds EST and the like to their season
    tz_name = zone(typed_tz).key
    opens_at = (
        parse_when(args["opens"], typed_tz, ctx.now, day_at=START_OF_DAY, future=False)
        if args["opens"]
        else ctx.now
    )
    closes_at = parse_when(args["closes"], typed_tz, ctx.now)
    check_window_times(opens_at, closes_at, ctx.now)
    for other in await ctx.session.scalars(
        select(Window).where(Window.cohort_id == cohort.id, Window.credential_id == cred.id)
    ):
        if phase_of(other, ctx.now) != Phase.CLOSED:
            raise UserError(
                f"{cohort.name} already has a window for {cred.slug} "
                f"({short_id('W', other.id)}, {deadline_line(other, ctx.tz_in(cohort), ctx.now)}).",
                f"/window extend {short_id('W', other.id)} next friday 5pm",
            )
    offsets = args["offsets"] or [parse_duration(o) for o in DEFAULT_NUDGE_OFFSETS]
    late: LatePolicy = args["late"] or LatePolicy()
    revise_within = format_duration(args["revise_within"] or DEFAULT_REVISE_WITHIN)
    window = Window(
        workspace_id=ctx.workspace.id,
        cohort_id=cohort.id,
        credential_id=cred.id,
        opens_at=opens_at,
        closes_at=closes_at,
        tz=tz_name,
        nudge_offsets=[format_duration(o) for o in offsets],
        late_policy=str(late),
        revise_within=revise_within,
        created_by=ctx.actor.id,
        created_at=ctx.now,
    )
    ctx.session.add(window)
    await ctx.session.flush()
    await ctx.session.refresh(window, ["cohort", "credential"])
    if opens_at <= ctx.now:
        window.open_announced_at = ctx.now
        await announce(ctx, window, window_opened(window, ctx.now), "opened")
    ctx.audit("window.open", short_id("W", window.id), closes=closes_at.isoformat())
    skipped = [format_duration(o) for o in offsets if closes_at - o < opens_at]
    note = (
        f" Reminders {', '.join(skipped)} before the deadline are skipped: that moment "
        "passes before the window opens."
        if skipped
        else ""
    )
    mine = ctx.tz_in(cohort)
    starts = "It is open now." if opens_at <= ctx.now else f"It opens {markup.time(opens_at, mine)}."
    yours = ctx.actor.tz is not None and mine.key != tz_name  # only a zone they or their profile named
    return Reply.text(
        f"Opened {short_id('W', window.id)}: {markup.bold(cred.name)} for {markup.bold(cohort.name)}, "
        f"closes {format_time(closes_at, zone(tz_name))}"
        + (f" ({format_time(closes_at, mine)} your time)" if yours else "")
        + f". {starts} Reminders {', '.join(window.nudge_offsets)} before the deadline; "
        f"late submissions: {late}; revisions: due within {revise_within} of the request, even "
        f"after the close.{note}"
    )


@handles("window", "extend")
async def extend(ctx: Context, args: dict[str, Any]) -> Reply:
    window = await window_by_ref(ctx, args)
    await require_coordinator(ctx, window.cohort)
    closes_at = parse_when(args["closes"], args["tz"] or window.tz, ctx.now)
    tz_name = zone(args["tz"] or window.tz).key
    check_window_times(window.opens_at, closes_at, ctx.now)
    before = window.closes_at
    window.closes_at, window.tz = closes_at, tz_name
    window.closed_at = None
    window.close_announced_at = None
    cancelled = await cancel_planned_nudges(ctx, window)
    ctx.audit("window.extend", short_id("W", window.id), closes=closes_at.isoformat(), was=before.isoformat())
    if window.open_announced_at is not None:
        await announce(
            ctx,
            window,
            Message(
                f"📅 New deadline for {markup.bold(window.credential.name)}: "
                f"{deadline_line(window, zone(tz_name), ctx.now)}.",
                context=short_id("W", window.id),
            ),
            f"extend:{closes_at:%Y%m%dT%H%M}",
        )
    dropped = f" {cancelled} queued reminder(s) for the old deadline were dropped." if cancelled else ""
    return Reply.text(
        f"{short_id('W', window.id)} now {deadline_line(window, ctx.tz_in(window.cohort), ctx.now)}. "
        f"Reminders are planned again for the new deadline.{dropped}"
    )


@handles("window", "close")
async def close(ctx: Context, args: dict[str, Any]) -> Reply:
    window = await window_by_ref(ctx, args)
    await require_coordinator(ctx, window.cohort)
    if phase_of(window, ctx.now) == Phase.CLOSED:
        raise UserError(
            f"{short_id('W', window.id)} is already closed "
            f"({markup.time(window.closed_at or window.closes_at, ctx.tz_in(window.cohort))})."
        )
    window.closed_at = ctx.now
    await cancel_planned_nudges(ctx, window)
    counts = await window_counts(ctx.session, window)
    window.close_announced_at = ctx.now
    await announce(
        ctx,
        window,
        window_closed(window, counts, await who_owes(ctx.session, window, ctx.now), ctx.now),
        "closed",
    )
    ctx.audit("window.close", short_id("W", window.id))
    return Reply.text(
        f"Closed {short_id('W', window.id)} ({window.credential.slug}, "
        f"{window.cohort.name}): {counts.submitted} of {counts.total} submitted."
    )


@handles("window", "list")
async def list_windows(ctx: Context, args: dict[str, Any]) -> Reply:
    query = select(Window).join(Cohort).where(Window.workspace_id == ctx.workspace.id)
    if args["cohort"]:
        query = query.where(Window.cohort_id == (await cohort_named(ctx, args["cohort"])).id)
    if not ctx.actor.is_admin:
        query = query.where(
            Window.cohort_id.in_(select(Enrolment.cohort_id).where(Enrolment.member_id == ctx.actor.id))
        )
    windows = list(await ctx.session.scalars(query.order_by(Window.closes_at).limit(50)))
    if not windows:
        return Reply.text(
            "No windows yet."
            + (
                " Open one with `/window open <cohort> <credential> closes <when>`."
                if ctx.actor.is_admin
                else ""
            )
        )
    lines = [markup.bold("Windows")]
    for w in windows:
        lines.append(
            f"• {short_id('W', w.id)} {markup.bold(w.credential.slug)} — {w.cohort.name}, "
            f"{window_when(w, ctx.tz_in(w.cohort), ctx.now)}"
        )
    return Reply.text("\n".join(lines))
