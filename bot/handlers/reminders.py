"""Coordinators' own reminders to a cohort channel (Slack reserves /remind)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from bot import markup
from bot.domain import MORNING, UserError, parse_when, short_id, zone
from bot.handlers.base import handles, require_coordinator
from bot.messages import Reply
from bot.storage import Reminder
from bot.workflows.context import Context
from bot.workflows.lookups import cohort_named
from bot.workflows.reminders import check_interval, cron_trigger, next_run


def describe(reminder: Reminder, now: datetime) -> str:
    tz = zone(reminder.tz)
    upcoming = next_run(reminder, now)
    when = (
        f"cron `{reminder.cron}` ({reminder.tz})"
        if reminder.cron
        else f"once, {markup.time(reminder.run_at, tz)}"
        if reminder.run_at
        else "once"
    )
    nxt = f", next {markup.time(upcoming, tz)}" if upcoming and reminder.cron else ""
    return f"{short_id('M', reminder.id)} {when}{nxt}: {reminder.text}"


@handles("cohort", "remind")
async def remind(ctx: Context, args: dict[str, Any]) -> Reply:
    cohort = await cohort_named(ctx, args["name"])
    await require_coordinator(ctx, cohort)
    if not cohort.channel_id:
        raise UserError(f"{cohort.name} has no channel to post reminders in.")
    typed_tz = args["tz"] or cohort.tz  # as typed: parse_when holds EST and the like to their season
    tz = zone(typed_tz).key
    reminder = Reminder(
        workspace_id=ctx.workspace.id,
        cohort_id=cohort.id,
        tz=tz,
        text=args["text"],
        created_by=ctx.actor.id,
        created_at=ctx.now,
    )
    if args["cron"]:
        check_interval(args["cron"], cron_trigger(args["cron"], tz), ctx.now)
        reminder.cron = args["cron"]
    else:  # a day without a time: 09:00
        reminder.run_at = parse_when(args["when"], typed_tz, ctx.now, day_at=MORNING)
    ctx.session.add(reminder)
    await ctx.session.flush()
    ctx.audit("cohort.remind", short_id("M", reminder.id))
    return Reply.text(
        f"Reminder set for {markup.channel(cohort.channel_id)}: {describe(reminder, ctx.now)}. "
        f"Cancel it with `/cohort unremind {short_id('M', reminder.id)}`."
    )


@handles("cohort", "reminders")
async def reminders(ctx: Context, args: dict[str, Any]) -> Reply:
    cohort = await cohort_named(ctx, args["name"])
    await require_coordinator(ctx, cohort)
    rows = [
        r
        for r in await ctx.session.scalars(
            select(Reminder)
            .where(Reminder.cohort_id == cohort.id, Reminder.cancelled_at.is_(None))
            .order_by(Reminder.id)
        )
        if r.cron or r.last_run_at is None
    ]
    if not rows:
        return Reply.text(f"{cohort.name} has no upcoming custom reminders.")
    return Reply.text(
        "\n".join([markup.bold(f"Reminders for {cohort.name}"), *(f"• {describe(r, ctx.now)}" for r in rows)])
    )


@handles("cohort", "unremind")
async def unremind(ctx: Context, args: dict[str, Any]) -> Reply:
    reminder = await ctx.session.scalar(
        select(Reminder).where(Reminder.workspace_id == ctx.workspace.id, Reminder.id == args["reminder"])
    )
    if reminder is None or reminder.cancelled_at is not None:
        raise UserError(
            f"There is no active reminder {short_id('M', args['reminder'])}.", "/cohort reminders spring"
        )
    await require_coordinator(ctx, reminder.cohort)
    reminder.cancelled_at = ctx.now
    ctx.audit("cohort.unremind", short_id("M", reminder.id))
    return Reply.text(f"Cancelled {short_id('M', reminder.id)}.")
