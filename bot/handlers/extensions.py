"""Per-learner deadlines: a learner asks, a coordinator grants or denies."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from bot import markup
from bot.domain import (
    ExtensionState,
    Phase,
    Role,
    SubmissionState,
    UserError,
    parse_when,
    short_id,
    stamp,
)
from bot.handlers.base import handles, require_coordinator
from bot.messages import Button, Destination, Message, Reply
from bot.storage import Extension, Submission, Window
from bot.storage.roster import members_with_role
from bot.workflows.context import Context
from bot.workflows.deadlines import cancel_member_nudges, learner_windows, phase_of
from bot.workflows.lookups import by_id
from bot.workflows.members import tz_of

DEFAULT_EXTENSION = timedelta(days=7)


@handles("submit", "extend")
async def ask(ctx: Context, args: dict[str, Any]) -> Reply:
    windows = [
        w
        for w in await learner_windows(ctx)
        if phase_of(w, ctx.now) != Phase.UPCOMING and w.closed_at is None
    ]
    if args["window"]:
        wanted = args["window"]
        windows = [w for w in windows if wanted in (short_id("W", w.id).lower(), w.credential.slug)]
    approved = set(
        await ctx.session.scalars(
            select(Submission.window_id).where(
                Submission.member_id == ctx.actor.id, Submission.state == SubmissionState.APPROVED
            )
        )
    )
    windows = [w for w in windows if w.id not in approved]
    if not windows:
        raise UserError("You have no window to ask more time for.", "/submit status")
    if len(windows) > 1:
        ids = ", ".join(short_id("W", w.id) for w in windows)
        raise UserError(
            f"You have several windows ({ids}); say which one.",
            f"/submit extend {short_id('W', windows[0].id)} <reason>",
        )
    window = windows[0]
    earlier = await ctx.session.scalar(
        select(Extension)
        .where(  # a pending one first, else the latest
            Extension.window_id == window.id,
            Extension.member_id == ctx.actor.id,
            Extension.state.in_([ExtensionState.PENDING, ExtensionState.APPROVED]),
        )
        .order_by(Extension.closes_at.is_not(None), Extension.closes_at.desc())
        .limit(1)
    )
    if earlier is not None and earlier.state == ExtensionState.PENDING:
        raise UserError(
            f"Your request {short_id('E', earlier.id)} is waiting for a coordinator; you'll hear back by DM.",
            "/submit status",
        )
    if earlier is not None and earlier.closes_at is not None:
        raise UserError(
            f"You already have until {markup.time(earlier.closes_at, ctx.tz_in(window.cohort))} "
            f"({short_id('E', earlier.id)}); ask your coordinator directly if you "
            "need longer.",
            "/submit status",
        )
    request = Extension(
        workspace_id=ctx.workspace.id,
        window_id=window.id,
        member_id=ctx.actor.id,
        reason=args["reason"],
        state=ExtensionState.PENDING,
        requested_at=ctx.now,
    )
    ctx.session.add(request)
    await ctx.session.flush()
    eid = short_id("E", request.id)
    cohort = window.cohort
    for coordinator in await members_with_role(ctx.session, cohort.id, Role.COORDINATOR):
        closes = markup.time(window.closes_at, tz_of(coordinator.tz, ctx.settings, cohort.tz))
        await ctx.send(
            Destination.dm(coordinator.user_id),
            Message(
                f"🕒 {markup.mention(ctx.actor.user_id)} asks for more "
                f"time on {markup.bold(window.credential.name)} "
                f"({cohort.name}, closes {closes}): "
                f"{args['reason']}",
                buttons=(
                    Button("Grant a week", command=f"/window grant {eid}", style="primary"),
                    Button("Deny", command=f"/window deny {eid}", style="danger"),
                ),
                context=f"{eid} · or `/window grant {eid} until <when>`",
            ),
            f"extension:{request.id}:asked:{coordinator.id}",
            cohort=cohort,
        )
    ctx.audit("submit.extend", eid, window=short_id("W", window.id))
    return Reply.text(
        f"Asked your coordinators for more time on {markup.bold(window.credential.name)} ({eid}); "
        "you'll hear back by DM."
    )


async def pending_request(ctx: Context, extension_id: int) -> Extension:
    request = await by_id(ctx, Extension, extension_id, "E", "/window grant E-2")
    await require_coordinator(ctx, request.window.cohort)
    if request.state != ExtensionState.PENDING:
        raise UserError(f"{short_id('E', request.id)} was already {request.state}.")
    return request


@handles("window", "grant")
async def grant(ctx: Context, args: dict[str, Any]) -> Reply:
    """Answer a request for more time, or move a deadline a learner already has (granted
    before, or given by a revision request) to `until`."""
    request = await by_id(ctx, Extension, args["extension"], "E", "/window grant E-2")
    await require_coordinator(ctx, request.window.cohort)
    eid = short_id("E", request.id)
    window: Window = request.window
    learner = request.member
    granted = request.closes_at if request.state == ExtensionState.APPROVED else None
    moving = granted is not None
    if granted is not None and not args["until"]:  # a second press of "Grant a week" changes nothing
        raise UserError(
            f"{eid} was already granted: {markup.mention(learner.user_id)} has until "
            f"{markup.time(granted, ctx.tz_in(window.cohort))}. To move that deadline, say "
            "until when.",
            f"/window grant {eid} until next friday",
        )
    if request.state != ExtensionState.PENDING and not moving:
        raise UserError(f"{eid} was already {request.state}.")
    tz = args["tz"] or window.tz  # as typed: parse_when holds EST and the like to their season
    floor = max(window.ends_at, ctx.now)
    closes_at = parse_when(args["until"], tz, ctx.now) if args["until"] else floor + DEFAULT_EXTENSION
    if closes_at <= floor:
        raise UserError(
            "The new deadline must be later than the window's and still to come.",
            f"/window grant {eid} until next friday",
        )
    request.state, request.closes_at = ExtensionState.APPROVED, closes_at
    request.decided_at, request.decided_by = ctx.now, ctx.actor.id
    await cancel_member_nudges(ctx, window, request.member_id, "deadline extended")
    when = markup.time(closes_at, tz_of(learner.tz, ctx.settings, window.cohort.tz))
    revision = " to resubmit" if request.review_id is not None else ""
    if moving:
        text, key = (
            f"📅 Your deadline{revision} for {markup.bold(window.credential.name)} is now {when} ({eid}).",
            f"extension:{request.id}:moved:{stamp(closes_at)}",
        )
    else:
        text, key = (
            "✅ More time granted: your deadline for "
            f"{markup.bold(window.credential.name)} is now {when} ({eid}).",
            f"extension:{request.id}:granted",
        )
    await ctx.send(Destination.dm(learner.user_id), Message(text), key, cohort=window.cohort)
    ctx.audit("window.grant", eid, until=closes_at.isoformat())
    return Reply.text(
        f"{'Moved' if moving else 'Granted'} {eid}: {markup.mention(learner.user_id)} "
        f"has until {markup.time(closes_at, ctx.tz_in(window.cohort))}{revision}. Their reminders are "
        "planned for the new deadline."
    )


@handles("window", "deny")
async def deny(ctx: Context, args: dict[str, Any]) -> Reply:
    request = await pending_request(ctx, args["extension"])
    request.state, request.decided_at, request.decided_by = ExtensionState.DENIED, ctx.now, ctx.actor.id
    learner, window = request.member, request.window
    why = f" {args['reason']}" if args["reason"] else ""
    await ctx.send(
        Destination.dm(learner.user_id),
        Message(
            f"Your request for more time on {markup.bold(window.credential.name)} "
            f"({short_id('E', request.id)}) "
            f"was not granted.{why} The window closes "
            f"{markup.time(window.closes_at, tz_of(learner.tz, ctx.settings, window.cohort.tz))}."
        ),
        f"extension:{request.id}:denied",
        cohort=window.cohort,
    )
    ctx.audit("window.deny", short_id("E", request.id))
    return Reply.text(f"Denied {short_id('E', request.id)}; {markup.mention(learner.user_id)} was told.")
