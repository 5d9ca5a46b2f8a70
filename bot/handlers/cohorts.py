"""Cohorts and their rosters."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select

from bot import markup
from bot.directory import Group
from bot.domain import ReviewState, Role, UserError, parse_days, short_id
from bot.handlers.base import coordinates_anything, handles, refusal, require_coordinator
from bot.messages import Destination, Message, Reply
from bot.notices import (
    mentions,
    own_deadlines_line,
    progress_line,
    who_owes,
    window_counts,
    window_when,
)
from bot.storage import Cohort, Enrolment, Member, Outbox, OutboxState, Review, Submission, Window
from bot.storage.roster import enrolled, members_with_role
from bot.workflows.context import Context
from bot.workflows.deadlines import phase_of
from bot.workflows.lookups import cohort_named
from bot.workflows.members import member_for, people_named, roles_in, zone_name
from bot.workflows.sending import Outgoing


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def where(cohort: Cohort) -> str:
    return markup.channel(cohort.channel_id) if cohort.channel_id else "no channel"


@handles("cohort", "create")
async def create(ctx: Context, args: dict[str, Any]) -> Reply:
    if not await coordinates_anything(ctx):
        raise await refusal(ctx, f"Only {ctx.directory.place} admins and coordinators can create cohorts.")
    channel = args["channel"]
    if channel is not None:
        channel_id, channel_name = channel.channel_id, channel.name
    elif here := ctx.channel or ctx.directory.channel_named(args["name"]):
        channel_id, channel_name = here, here  # where it was typed (the console: #<name>)
    else:
        raise UserError(
            "You typed this in a direct message: say which channel the cohort meets in, "
            "or type the command in that channel.",
            f"/cohort create {args['name']} #{args['name']}",
        )
    exists = await ctx.session.scalar(
        select(Cohort.id).where(Cohort.workspace_id == ctx.workspace.id, Cohort.name == args["name"])
    )
    if exists:
        raise UserError(
            f"There is already a cohort called '{args['name']}'.", f"/cohort status {args['name']}"
        )
    reviews = args["reviews"]
    cohort = Cohort(
        workspace_id=ctx.workspace.id,
        name=args["name"],
        channel_id=channel_id,
        channel_name=channel_name,
        reviews_channel_id=reviews.channel_id if reviews else None,
        reviews_channel_name=reviews.name if reviews else None,
        tz=args["tz"] or zone_name(ctx.actor.tz, ctx.settings),
        created_by=ctx.actor.id,
        created_at=ctx.now,
    )
    ctx.session.add(cohort)
    await ctx.session.flush()
    ctx.session.add(
        Enrolment(cohort_id=cohort.id, member_id=ctx.actor.id, role=Role.COORDINATOR, added_at=ctx.now)
    )
    ctx.audit("cohort.create", cohort.name)
    await ctx.send(
        Destination.channel(channel_id),
        Message(
            f"👋 This is the home of cohort {markup.bold(cohort.name)}. "
            f"Coordinator: {markup.mention(ctx.actor.user_id)}. "
            "Deadlines, reminders and badge celebrations will appear here."
        ),
        f"cohort:{cohort.id}:hello",
        cohort=cohort,
    )
    review_where = (
        f"review tasks go to {markup.channel(reviews.channel_id)}"
        if reviews
        else "review tasks go to each assessor by DM"
    )
    return Reply.text(
        f"Created cohort {markup.bold(cohort.name)} in "
        f"{markup.channel(channel_id)} ({cohort.tz}); {review_where}.\n"
        f"Next: `/cohort add {cohort.name} @learner…` and "
        f"`/cohort add {cohort.name} @assessor as assessor`."
    )


ROLE_PLURAL = {Role.LEARNER: "learners", Role.ASSESSOR: "assessors", Role.COORDINATOR: "coordinators"}


@handles("cohort", "add")
async def add(ctx: Context, args: dict[str, Any]) -> Reply:
    """Add the people mentioned, and everyone in a group mentioned, in a few statements however
    many (a role of hundreds): their members, the enrolments and the welcome DMs."""
    cohort = await cohort_named(ctx, args["name"])
    await require_coordinator(ctx, cohort)
    role: Role = args["role"] or Role.LEARNER
    people, groups = await people_named(ctx, args["people"])
    holding = set(await ctx.session.scalars(enrolled(cohort.id, role)))
    added = [m for m in people if m.id not in holding]
    already = [m for m in people if m.id in holding]
    enrolments = [Enrolment(cohort_id=cohort.id, member_id=m.id, role=role, added_at=ctx.now) for m in added]
    ctx.session.add_all(enrolments)
    await ctx.session.flush()
    await ctx.post(
        *(
            Outgoing(Destination.dm(m.user_id), welcome(cohort, role), f"enrol:{e.id}", cohort_id=cohort.id)
            for m, e in zip(added, enrolments, strict=True)
        )
    )
    ctx.audit(
        "cohort.add",
        cohort.name,
        role=role.value,
        members=[m.user_id for m in added],
        **({"groups": [g.name for g in groups]} if groups else {}),
    )
    return Reply.text(" ".join(added_lines(cohort, role, added, already, groups)))


HANDFUL = 5  # people an answer names; the rest are counted


def one(role: Role) -> str:
    return f"{'an' if role.value[0] in 'aeiou' else 'a'} {role.value}"


def added_lines(
    cohort: Cohort, role: Role, added: list[Member], already: list[Member], groups: list[Group]
) -> list[str]:
    """What `/cohort add` did, in sentences: who was added and who already held the role, each
    named up to a handful (a role of hundreds is counted, not listed), and that a group's
    people all hold it now."""

    def named(members: list[Member]) -> str:
        return mentions([m.user_id for m in members[:HANDFUL]], len(members))

    where, many = markup.bold(cohort.name), ROLE_PLURAL[role]
    parts = []
    if len(added) > HANDFUL:
        parts.append(f"Added {len(added)} {many} to {where}: {named(added)}.")
    elif added:
        parts.append(f"Added {named(added)} to {where} as {many if len(added) > 1 else role.value}.")
    if len(already) > HANDFUL:
        parts.append(f"{len(already)} were already {many}: {named(already)}.")
    elif already:
        parts.append(
            f"{named(already)} was already {one(role)}."
            if len(already) == 1
            else f"{named(already)} were already {many}."
        )
    for group in groups:
        n = len(group.people)
        who = f"@{group.name} ({n} {'person' if n == 1 else 'people'})"
        parts.append(f"Everyone with {who} is {one(role)} in {where} now.")
    return parts


def welcome(cohort: Cohort, role: Role) -> Message:
    what = {
        Role.LEARNER: "Hand in evidence with `/submit <links> -- <reflection>` while a window is "
        "open; `/submit status` shows where you stand.",
        Role.ASSESSOR: "Review tasks will reach you; `/review queue` lists them and "
        "`/review claim R-<id>` takes one.",
        Role.COORDINATOR: "`/window open` starts a submission window; `/cohort status "
        f"{cohort.name}` shows progress.",
    }[role]
    return Message(f"Welcome to cohort {markup.bold(cohort.name)} as {role.value}. {what}")


@handles("cohort", "remove")
async def remove(ctx: Context, args: dict[str, Any]) -> Reply:
    cohort = await cohort_named(ctx, args["name"])
    await require_coordinator(ctx, cohort)
    role: Role | None = args["role"]
    removed: list[Member] = []
    absent: list[Member] = []
    for mention in args["people"]:
        member = await member_for(ctx, mention)
        query = delete(Enrolment).where(Enrolment.cohort_id == cohort.id, Enrolment.member_id == member.id)
        if role is not None:
            query = query.where(Enrolment.role == role)
        result = await ctx.session.execute(query)
        (removed if result.rowcount else absent).append(member)  # type: ignore[attr-defined]
    if not removed:
        raise UserError(
            f"{', '.join(markup.mention(m.user_id) for m in absent)} had no such role in "
            f"{cohort.name}, so nobody was removed.",
            f"/cohort remove {cohort.name} @bob",
        )
    if (
        role in (None, Role.COORDINATOR)
        and not await members_with_role(ctx.session, cohort.id, Role.COORDINATOR)
        and not ctx.actor.is_admin
    ):
        raise UserError(
            f"{cohort.name} would be left without a coordinator; add another first.",
            f"/cohort add {cohort.name} @someone as coordinator",
        )
    ctx.audit(
        "cohort.remove", cohort.name, role=role.value if role else "all", members=[m.user_id for m in removed]
    )
    what = f"as {role.value}" if role else "from the cohort"
    parts = []
    if removed:
        parts.append(
            f"Removed {', '.join(markup.mention(m.user_id) for m in removed)} {what} "
            f"in {markup.bold(cohort.name)}. Their past submissions and badges are kept."
        )
    if absent:
        parts.append(f"{', '.join(markup.mention(m.user_id) for m in absent)} had no such role there.")
    return Reply.text(" ".join(parts))


@handles("cohort", "list")
async def list_cohorts(ctx: Context, args: dict[str, Any]) -> Reply:
    query = select(Cohort).where(Cohort.workspace_id == ctx.workspace.id).order_by(Cohort.name)
    if not ctx.actor.is_admin:
        # not a DISTINCT join: PostgreSQL cannot compare a cohort's JSON column (quiet days)
        query = query.where(
            Cohort.id.in_(select(Enrolment.cohort_id).where(Enrolment.member_id == ctx.actor.id))
        )
    cohorts = list(await ctx.session.scalars(query))
    if not cohorts:
        hint = (
            " Create one with `/cohort create spring #frl-spring`."
            if ctx.actor.is_admin
            else " A coordinator adds you to one."
        )
        return Reply.text("You are not in any cohort yet." + hint)
    lines = [
        markup.bold("Your cohorts")
        if not ctx.actor.is_admin
        else markup.bold(f"Cohorts in this {ctx.directory.place}")
    ]
    for cohort in cohorts:
        roles = sorted(r.value for r in await roles_in(ctx, cohort))
        size = await ctx.session.scalar(
            select(func.count()).select_from(enrolled(cohort.id, Role.LEARNER).subquery())
        )
        open_windows = [
            w
            for w in await ctx.session.scalars(select(Window).where(Window.cohort_id == cohort.id))
            if phase_of(w, ctx.now) == "open"
        ]
        lines.append(
            f"• {markup.bold(cohort.name)} in {where(cohort)} — {size} learners, "
            f"{len(open_windows)} open window{'s' * (len(open_windows) != 1)}"
            + (f" — you: {', '.join(roles)}" if roles else "")
        )
    return Reply.text("\n".join(lines))


@handles("cohort", "status")
async def status(ctx: Context, args: dict[str, Any]) -> Reply:
    cohort = await cohort_named(ctx, args["name"])
    await require_coordinator(ctx, cohort)
    headcount = {role: len(await members_with_role(ctx.session, cohort.id, role)) for role in Role}
    lines = [
        f"{markup.bold(cohort.name)} in {where(cohort)} — "
        + ", ".join(plural(headcount[r], r.value) for r in Role)
    ]
    windows = list(
        await ctx.session.scalars(
            select(Window).where(Window.cohort_id == cohort.id).order_by(Window.closes_at)
        )
    )
    if not windows:
        lines.append(f"No windows yet: `/window open {cohort.name} <credential> closes <when>`.")
    for window in windows:
        counts = await window_counts(ctx.session, window)
        phase = phase_of(window, ctx.now)
        lines.append(
            f"• {short_id('W', window.id)} {markup.bold(window.credential.slug)} "
            f"{window_when(window, ctx.tz_in(cohort), ctx.now)}: "
            f"{progress_line(counts)}, {counts.in_review} in review, "
            f"{counts.revising} revising"
        )
        if (counts.missing or counts.revising) and phase != "upcoming":
            owing = await who_owes(ctx.session, window, ctx.now, limit=15)
            if owing.missing:
                lines.append(f"    not submitted: {mentions(owing.missing, owing.missing_total)}")
            if owing.own:
                lines.append(
                    f"    own deadlines: {own_deadlines_line(owing.own, ctx.tz_in(cohort), detail=True)}"
                )
    waiting, claimed = [
        await ctx.session.scalar(
            select(func.count())
            .select_from(Review)
            .join(Submission)
            .join(Window)
            .where(Window.cohort_id == cohort.id, Review.state == state)
        )
        for state in (ReviewState.OPEN, ReviewState.CLAIMED)
    ]
    lines.append(f"Reviews: {waiting} waiting for an assessor, {claimed} claimed.")
    dead_total = (
        await ctx.session.scalar(
            select(func.count())
            .select_from(Outbox)
            .where(Outbox.cohort_id == cohort.id, Outbox.state == OutboxState.DEAD)
        )
        or 0
    )
    dead = list(
        await ctx.session.scalars(
            select(Outbox)
            .where(Outbox.cohort_id == cohort.id, Outbox.state == OutboxState.DEAD)
            .order_by(Outbox.id)
            .limit(5)
        )
    )
    if dead:
        more = f"; and {dead_total - len(dead)} more" if dead_total > len(dead) else ""
        lines.append(
            f"⚠️ {dead_total} message(s) could not be delivered: "
            + "; ".join(f"{d.key} ({(d.last_error or '')[:80]})" for d in dead)
            + f"{more}. Retry with `cohortbot outbox retry`."
        )
    return Reply.text("\n".join(lines))


@handles("cohort", "edit")
async def edit(ctx: Context, args: dict[str, Any]) -> Reply:
    """A cohort's channel, assessors' channel or zone, changed; windows keep the zone they were
    opened in (their deadlines stand), new dates typed for the cohort are read in the new one."""
    cohort = await cohort_named(ctx, args["name"])
    await require_coordinator(ctx, cohort)
    changed: list[str] = []
    if (channel := args["channel"]) is not None and channel.channel_id != cohort.channel_id:
        cohort.channel_id, cohort.channel_name = channel.channel_id, channel.name
        changed.append(f"it meets in {markup.channel(channel.channel_id)}")
        await ctx.send(
            Destination.channel(channel.channel_id),
            Message(
                f"👋 Cohort {markup.bold(cohort.name)} meets here now. Deadlines, reminders and "
                "badge celebrations will appear here."
            ),
            f"cohort:{cohort.id}:moved:{channel.channel_id}",
            cohort=cohort,
        )
    if (reviews := args["reviews"]) is not None and reviews.channel_id != cohort.reviews_channel_id:
        cohort.reviews_channel_id, cohort.reviews_channel_name = reviews.channel_id, reviews.name
        changed.append(f"review tasks go to {markup.channel(reviews.channel_id)}")
    if args["tz"] and args["tz"] != cohort.tz:
        changed.append(f"its time zone is {args['tz']} (was {cohort.tz}; open windows keep their deadlines)")
        cohort.tz = args["tz"]
    if not changed:
        return Reply.text(f"Nothing to change: {cohort.name} is already like that.", ok=False)
    ctx.audit("cohort.edit", cohort.name, changed=changed)
    return Reply.text(f"{markup.bold(cohort.name)}: " + "; ".join(changed) + ".")


@handles("cohort", "quiet")
async def quiet(ctx: Context, args: dict[str, Any]) -> Reply:
    """Days without nudges; nudges due then move to the next allowed day."""
    cohort = await cohort_named(ctx, args["name"])
    await require_coordinator(ctx, cohort)
    if args["clear"]:
        cohort.quiet_days = []
        ctx.audit("cohort.quiet", cohort.name, days=[])
        return Reply.text(f"{cohort.name} has no quiet days now.")
    if args["days"]:
        added = parse_days(args["days"], cohort.tz, ctx.now)
        cohort.quiet_days = sorted({*cohort.quiet_days, *(d.isoformat() for d in added)})
        ctx.audit("cohort.quiet", cohort.name, days=[d.isoformat() for d in added])
    upcoming = [d for d in cohort.quiet_days if d >= ctx.now.date().isoformat()]
    if not upcoming:
        return Reply.text(
            f"{cohort.name} has no quiet days coming up. Add some with "
            f"`/cohort quiet {cohort.name} next monday..friday`."
        )
    return Reply.text(
        f"Quiet days for {markup.bold(cohort.name)} (no nudges; what falls due moves to the next "
        f"day, unless the deadline comes first): {', '.join(upcoming)}."
    )
