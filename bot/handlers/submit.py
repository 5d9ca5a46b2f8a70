"""Learners hand in evidence, check where they stand, and withdraw."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select

from bot import markup
from bot.domain import (
    BadgeState,
    LatePolicy,
    Phase,
    ReviewState,
    Role,
    SubmissionState,
    UserError,
    advance,
    format_left,
    own_deadline,
    short_id,
)
from bot.handlers.base import handles, refusal
from bot.linkcheck import warn_about_links
from bot.messages import Reply
from bot.notices import window_when
from bot.storage import Badge, Cohort, Enrolment, Review, Submission, Version, Window
from bot.workflows.context import Context
from bot.workflows.deadlines import learner_windows, own_deadlines, phase_of
from bot.workflows.reviews import new_review, reopen_for_revision
from bot.workflows.scores import scores_lines

CODE_ALPHABET = "ABCDEFGHJKMNPQRSTVWXYZ23456789"


def accepts(window: Window, ctx: Context, own: datetime | None = None) -> tuple[bool, bool]:
    """(accepted, late) for a submission arriving now; `own` is the learner's own deadline
    (granted, or given by a revision request), which holds however the window closed."""
    phase = phase_of(window, ctx.now)
    mine = own_deadline(window.ends_at, own)
    if phase == Phase.OPEN or (phase == Phase.CLOSED and mine is not None and ctx.now < mine):
        return True, False
    if phase == Phase.UPCOMING or window.closed_at is not None:
        return False, False
    return LatePolicy.parse(window.late_policy).accepts(window.closes_at, ctx.now), True


async def choose_window(ctx: Context, name: str | None) -> tuple[Window, bool, datetime | None]:
    """The window a submission goes to: (window, late, the learner's own granted deadline)."""
    mine = await learner_windows(ctx)
    windows = list(mine)
    if not windows:
        if await ctx.session.scalar(
            select(Enrolment.id)
            .join(Cohort)
            .where(
                Cohort.workspace_id == ctx.workspace.id,
                Enrolment.member_id == ctx.actor.id,
                Enrolment.role == Role.LEARNER,
            )
            .limit(1)
        ):
            raise UserError(
                "Your cohort has no submission window yet; your coordinator opens one.", "/submit status"
            )
        raise await refusal(ctx, "Only learners of a cohort can hand in work.")  # `refusal` says what to do
    if name is not None:
        matches = [
            w for w in windows if name in (short_id("W", w.id).lower(), w.credential.slug, w.cohort.name)
        ]
        if not matches:
            names = ", ".join(sorted({w.credential.slug for w in windows}))
            raise UserError(
                f"You have no window called '{name}'. Yours: {names}.",
                f"/submit {windows[0].credential.slug} https://example.org/a",
            )
        windows = matches
    own = {w.id: deadline for w, deadline in mine.items() if deadline is not None}
    usable = [(w, late) for w in windows for ok, late in [accepts(w, ctx, own.get(w.id))] if ok]
    if not usable:
        last = max(windows, key=lambda w: w.closes_at)
        if phase_of(last, ctx.now) == Phase.UPCOMING:
            raise UserError(
                f"{markup.bold(last.credential.name)} opens "
                f"{markup.time(last.opens_at, ctx.tz_in(last.cohort))}; submit then."
            )
        if (passed := own_deadline(last.ends_at, own.get(last.id))) is not None:
            raise UserError(
                f"Your own deadline for {markup.bold(last.credential.name)} ({last.cohort.name}) "
                f"passed {markup.time(passed, ctx.tz_in(last.cohort))}. Ask your coordinator if you need "
                "more time.",
                "/submit status",
            )
        closed = last.closed_at or last.closes_at
        policy = LatePolicy.parse(last.late_policy)
        after = (
            f"and its {policy} for late work has passed"
            if policy.kind == "grace" and last.closed_at is None
            else "and does not take late submissions"
        )
        raise UserError(
            f"The window for {markup.bold(last.credential.name)} ({last.cohort.name}) closed "
            f"{markup.time(closed, ctx.tz_in(last.cohort))} {after}. Ask your coordinator if you need "
            "more time.",
            "/submit status",
        )
    on_time: list[tuple[Window, bool]] = [(w, late) for w, late in usable if not late]
    usable = on_time or usable
    if len(usable) > 1:
        names = ", ".join(w.credential.slug for w, _ in usable)
        raise UserError(
            f"You have {len(usable)} open windows ({names}); say which one.",
            f"/submit {usable[0][0].credential.slug} https://example.org/a -- reflection",
        )
    window, late = usable[0]
    return window, late, own.get(window.id)


SUBMISSION_OF = select(Submission).where(
    Submission.window_id == bindparam("window"),  # built once
    Submission.member_id == bindparam("member"),
)


@handles("submit", "submit")
async def submit(ctx: Context, args: dict[str, Any]) -> Reply:
    window, late, own = await choose_window(ctx, args["window"])
    links: list[str] = args["links"]
    parts: list[str] = args["parts"]
    submission = await ctx.session.scalar(SUBMISSION_OF, {"window": window.id, "member": ctx.actor.id})
    if submission is None:
        submission = Submission(
            workspace_id=ctx.workspace.id,
            window=window,
            member=ctx.actor,
            state=SubmissionState.SUBMITTED,
            code="".join(secrets.choice(CODE_ALPHABET) for _ in range(6)),
            created_at=ctx.now,
            updated_at=ctx.now,
        )
        ctx.session.add(submission)
        await ctx.session.flush()
        overview, reflection = (parts[0], parts[1]) if len(parts) > 1 else ("", parts[0] if parts else "")
        version = await add_version(ctx, submission, 1, links, overview, reflection, "", late)
        await new_review(ctx, submission, version)
        return receipt(ctx, submission, version, window, own)
    return await new_version(ctx, submission, window, links, parts, late, own)


async def add_version(
    ctx: Context,
    submission: Submission,
    number: int,
    links: list[str],
    overview: str,
    reflection: str,
    change_note: str,
    late: bool,
) -> Version:
    version = Version(
        submission_id=submission.id,
        number=number,
        links=links,
        overview=overview,
        reflection=reflection,
        change_note=change_note,
        submitted_at=ctx.now,
        late=late,
    )
    ctx.session.add(version)
    await ctx.session.flush()
    ctx.audit("submit", short_id("S", submission.id), version=number, links=len(links))
    if ctx.settings.link_check:
        ctx.followups.append(lambda: warn_about_links(ctx.db, ctx.settings, ctx.workspace.id, version.id))
    return version


async def new_version(
    ctx: Context,
    submission: Submission,
    window: Window,
    links: list[str],
    parts: list[str],
    late: bool,
    own: datetime | None,
) -> Reply:
    sid = short_id("S", submission.id)
    state = SubmissionState(submission.state)
    try:
        next_state = advance(state, "new version")
    except UserError as exc:
        raise UserError(f"You already submitted {sid}. {exc.message}", "/submit status") from None
    latest = await ctx.session.scalar(
        select(Version).where(Version.submission_id == submission.id).order_by(Version.number.desc()).limit(1)
    )
    assert latest is not None
    revising = state == SubmissionState.REVISION_REQUESTED
    if revising:
        if not parts:
            raise UserError(
                "Tell your assessor what changed after `--`.",
                "/submit https://example.org/v2 -- Added student interviews",
            )
        change_note, reflection = parts[0], parts[1] if len(parts) > 1 else latest.reflection
        overview = latest.overview
    else:
        change_note = ""
        overview, reflection = (
            (parts[0], parts[1])
            if len(parts) > 1
            else (latest.overview, parts[0] if parts else latest.reflection)
        )
    if (
        sorted(links) == sorted(latest.links)
        and reflection == latest.reflection
        and (overview == latest.overview)
    ):
        raise UserError(
            f"That is the same as version {latest.number} of {sid} (same links, same "
            "reflection), so it is not a new version.",
            "/submit status",
        )
    version = await add_version(
        ctx, submission, latest.number + 1, links, overview, reflection, change_note, late
    )
    submission.state = next_state
    submission.updated_at = ctx.now
    if revising:
        await reopen_for_revision(ctx, submission, version)
    else:
        review = await ctx.session.scalar(
            select(Review).where(Review.submission_id == submission.id, Review.state == ReviewState.OPEN)
        )
        if review is not None:  # still waiting: the assessor will see the newest version
            review.version_id = version.id
        else:  # withdrawn before: a fresh task
            await new_review(ctx, submission, version)
    return receipt(ctx, submission, version, window, own)


def receipt(
    ctx: Context, submission: Submission, version: Version, window: Window, own: datetime | None = None
) -> Reply:
    """What the learner sees: the links as stored and the deadline that applies to them
    (their own, when a coordinator granted more time)."""
    sid, tz = short_id("S", submission.id), ctx.tz_in(window.cohort)
    what = "Received" if version.number == 1 else "Received a new version of"
    lines = [
        f"✅ {what} {sid} (version {version.number}) for "
        f"{markup.bold(window.credential.name)} ({window.cohort.name}):"
    ]
    lines.extend(f"• {link}" for link in version.links)
    if version.late:
        lines.append("This is a late submission; your coordinator will see it marked late.")
    elif own is not None and own_deadline(window.ends_at, own) is not None:
        lines.append(f"Your extended deadline is {markup.time(own, tz)} ({format_left(own - ctx.now)}).")
    else:
        lines.append(
            f"The window closes {markup.time(window.closes_at, tz)} "
            f"({format_left(window.closes_at - ctx.now)})."
        )
    lines.append(
        "An assessor will review it; you'll get a DM with the decision. "
        "`/submit status` shows where it stands."
    )
    return Reply.text("\n".join(lines))


@handles("submit", "status")
async def status(ctx: Context, args: dict[str, Any]) -> Reply:
    windows = list(await learner_windows(ctx))
    subs = {
        s.window_id: s
        for s in await ctx.session.scalars(
            select(Submission).where(
                Submission.workspace_id == ctx.workspace.id, Submission.member_id == ctx.actor.id
            )
        )
    }
    if not windows and not subs:
        return Reply.text("You have no submissions and no open windows yet.")
    lines = [markup.bold("Your submissions")]
    shown = {w.id for w in windows} | set(subs)
    own = await own_deadlines(ctx, sorted(shown))
    for window_id in sorted(shown):
        window = next((w for w in windows if w.id == window_id), None) or subs[window_id].window
        sub = subs.get(window_id)
        phase = phase_of(window, ctx.now)
        mine = own_deadline(max(window.ends_at, ctx.now), own.get(window_id))
        tz = ctx.tz_in(window.cohort)
        when = (
            f"your extended deadline is {markup.time(mine, tz)} ({format_left(mine - ctx.now)})"
            if mine
            else f"the window {window_when(window, tz, ctx.now)}"
        )
        if sub is None:
            if phase != Phase.CLOSED or mine:
                lines.append(
                    f"• {markup.bold(window.credential.name)} "
                    f"({window.cohort.name}): not submitted yet — {when}."
                )
            else:
                lines.append(
                    f"• {markup.bold(window.credential.name)} ({window.cohort.name}): not submitted; "
                    "the window is closed."
                )
            continue
        count = len(
            list(await ctx.session.scalars(select(Version.id).where(Version.submission_id == sub.id)))
        )
        revising = sub.state == SubmissionState.REVISION_REQUESTED
        when = (
            f"resubmit by {markup.time(mine, tz)} ({format_left(mine - ctx.now)})"
            if revising and mine
            else when
        )
        lines.append(
            f"• {short_id('S', sub.id)} {markup.bold(window.credential.name)} ({window.cohort.name}): "
            f"{sub.state}, version {count} — {when}."
        )
        if revising:
            review = await ctx.session.scalar(
                select(Review)
                .where(Review.submission_id == sub.id, Review.decision == "revise")
                .order_by(Review.id.desc())
                .limit(1)
            )
            if review is not None:
                lines.extend("    " + line for line in scores_lines(review, window.credential.rubric))
                if review.feedback:
                    lines.append(f"    Feedback: {review.feedback}")
        if sub.state == SubmissionState.APPROVED:
            badge = await ctx.session.scalar(
                select(Badge).where(Badge.submission_id == sub.id, Badge.state != BadgeState.CANCELLED)
            )
            if badge is not None:
                lines.append(
                    f"    Badge {short_id('B', badge.id)}: `/badges share {short_id('B', badge.id)}`"
                )
    return Reply.text("\n".join(lines))


@handles("submit", "withdraw")
async def withdraw(ctx: Context, args: dict[str, Any]) -> Reply:
    query = select(Submission).where(
        Submission.workspace_id == ctx.workspace.id, Submission.member_id == ctx.actor.id
    )
    if args["submission"] is not None:
        query = query.where(Submission.id == args["submission"])
    else:
        query = query.where(
            Submission.state.in_(
                [SubmissionState.SUBMITTED, SubmissionState.RESUBMITTED, SubmissionState.REVISION_REQUESTED]
            )
        )
    subs = list(await ctx.session.scalars(query))
    if not subs:
        raise UserError(
            "You have no submission to withdraw."
            if args["submission"] is None
            else f"You have no submission {short_id('S', args['submission'])}.",
            "/submit status",
        )
    if len(subs) > 1:
        raise UserError(
            "You have several submissions; say which to withdraw: "
            + ", ".join(short_id("S", s.id) for s in subs)
            + ".",
            f"/submit withdraw {short_id('S', subs[0].id)}",
        )
    sub = subs[0]
    sub.state = advance(SubmissionState(sub.state), "withdraw")
    sub.updated_at = ctx.now
    for review in await ctx.session.scalars(
        select(Review).where(Review.submission_id == sub.id, Review.state == ReviewState.OPEN)
    ):
        review.state = ReviewState.CANCELLED
    ctx.audit("submit.withdraw", short_id("S", sub.id))
    return Reply.text(f"Withdrew {short_id('S', sub.id)}. You can submit again while the window is open.")
