"""The review queue: tasks, claims, decisions."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import String, cast, func, or_, select, update

from bot import markup
from bot.domain import (
    CORRECTION_GRACE,
    NOT_ASSESSOR,
    Assessment,
    BadgeState,
    Criterion,
    ReviewState,
    Role,
    Score,
    SubmissionState,
    UserError,
    advance,
    as_utc,
    assess,
    format_age,
    rubric_from_data,
    score,
    short_id,
    unmet_criteria,
)
from bot.handlers.base import handles, is_coordinator, refusal
from bot.messages import Destination, Message, Reply
from bot.storage import Badge, Cohort, Enrolment, Extension, Outbox, OutboxState, Review, Submission, Window
from bot.workflows.badges import ask_for_address, issue_badge
from bot.workflows.context import Context
from bot.workflows.deadlines import give_revision_time
from bot.workflows.lookups import by_id, review_by_id
from bot.workflows.members import roles_in, tz_of
from bot.workflows.reviews import (
    DECIDED,
    badge_of,
    claim_for,
    decidable,
    release_claim,
    who,
)
from bot.workflows.scores import level_name, scores_lines


@handles("review", "queue")
async def queue(ctx: Context, args: dict[str, Any]) -> Reply:
    cohorts = select(Enrolment.cohort_id).where(
        Enrolment.member_id == ctx.actor.id, Enrolment.role == Role.ASSESSOR
    )
    base = (
        select(Review)
        .join(Submission)
        .join(Window)
        .where(Review.workspace_id == ctx.workspace.id, Window.cohort_id.in_(cohorts))
    )
    waiting = list(
        await ctx.session.scalars(
            base.where(Review.state == ReviewState.OPEN, Submission.member_id != ctx.actor.id)
            .order_by(Review.created_at, Review.id)
            .limit(16)
        )
    )
    mine = list(
        await ctx.session.scalars(
            base.where(Review.state == ReviewState.CLAIMED, Review.assessor_id == ctx.actor.id).order_by(
                Review.claimed_at
            )
        )
    )
    if not await ctx.session.scalar(
        select(func.count())
        .select_from(Enrolment)
        .where(Enrolment.member_id == ctx.actor.id, Enrolment.role == Role.ASSESSOR)
    ):
        raise await refusal(ctx, "You are not an assessor in any cohort; a coordinator adds you as one.")
    lines = []
    if mine:
        lines.append(f"{markup.bold('Your claims')} ({len(mine)} of {ctx.settings.max_open_claims}):")
        lines.extend(
            f"• {short_id('R', r.id)} {short_id('S', r.submission_id)} by "
            f"{who(r.submission)} — {r.submission.window.credential.slug}, claimed "
            f"{format_age(ctx.now - r.claimed_at)} ago"
            for r in mine
            if r.claimed_at
        )
    if waiting:
        lines.append(f"{markup.bold('Waiting for an assessor')} (oldest first):")
        lines.extend(
            f"• {short_id('R', r.id)} {short_id('S', r.submission_id)} by "
            f"{who(r.submission)} — {r.submission.window.credential.slug} "
            f"({r.submission.window.cohort.name}), waiting "
            f"{format_age(ctx.now - r.created_at)}"
            for r in waiting[:15]
        )
        if len(waiting) > 15:
            lines.append("…and more; claim these first.")
        lines.append(f"Claim one with `/review claim {short_id('R', waiting[0].id)}`.")
    if not lines:
        lines.append("Nothing to review right now. 🎉")
    return Reply.text("\n".join(lines))


NO_OPEN_REVIEW = {
    SubmissionState.APPROVED: "it was approved",
    SubmissionState.REVISION_REQUESTED: "it waits for the learner's revision",
    SubmissionState.WITHDRAWN: "it was withdrawn",
}


async def review_for(ctx: Context, args: dict[str, Any], action: str) -> Review:
    """The review a command names: by its `R-7`, or by the submission's `S-12` when that has
    one review still open (not yet decided). With none open, a decision (`approve`, `revise`)
    takes the submission's last decided review, which only its assessor may correct, shortly
    after; anything else is refused with what became of the submission."""
    if args.get("review") is not None:
        return await review_by_id(ctx, args["review"])
    submission = await by_id(ctx, Submission, args["submission"], "S", "/review queue")
    sid = short_id("S", submission.id)
    reviews = list(
        await ctx.session.scalars(
            select(Review).where(Review.submission_id == submission.id).order_by(Review.id)
        )
    )
    live = [r for r in reviews if r.state in (ReviewState.OPEN, ReviewState.CLAIMED)]
    if len(live) > 1:
        ids = ", ".join(short_id("R", r.id) for r in live)
        raise UserError(
            f"{sid} has {len(live)} open reviews ({ids}); say which one you mean.",
            f"/review {action} {short_id('R', live[0].id)}",
        )
    decided = [r for r in reviews if r.state == ReviewState.DECIDED]
    if live or (decided and action in ("approve", "revise")):
        return (live or decided)[-1]
    why = NO_OPEN_REVIEW.get(SubmissionState(submission.state), "nobody has been asked to review it")
    raise UserError(f"{sid} has no open review: {why}.", "/review queue")


def took(review: Review) -> str:
    """Which review a command took, as its answer says it: `R-7 (S-12 by @alice)`."""
    return f"{short_id('R', review.id)} ({short_id('S', review.submission_id)} by {who(review.submission)})"


@handles("review", "claim")
async def claim(ctx: Context, args: dict[str, Any]) -> Reply:
    review = await review_for(ctx, args, "claim")
    if review.state in (ReviewState.DECIDED, ReviewState.CANCELLED):
        raise UserError(
            f"{short_id('R', review.id)} is no longer open ({review.decision or 'withdrawn'}).",
            "/review queue",
        )
    if Role.ASSESSOR not in await roles_in(ctx, review.submission.window.cohort):
        raise await refusal(ctx, NOT_ASSESSOR)  # with what they may do instead
    await claim_for(ctx, review, ctx.actor)
    ctx.audit("review.claim", short_id("R", review.id))
    return Reply.text(
        f"You claimed {took(review)} for {markup.bold(review.submission.window.credential.name)}; "
        "the evidence and rubric are in your DMs."
    )


@dataclass(frozen=True)
class Earlier:
    """The decision a correction replaces, and whether the learner was told of it already (a
    message about it went out, or may have): then the new one comes as a correction of it."""

    decision: str
    scores: list[dict]
    feedback: str
    told: bool = False


def decide(ctx: Context, review: Review, decision: str, assessment: Assessment) -> Earlier | None:
    """Record a decision, or (the review already decided) the one correcting it; returns the
    one corrected."""
    earlier = (
        Earlier(review.decision or "", list(review.scores or []), review.feedback)
        if review.state == ReviewState.DECIDED
        else None
    )
    if earlier is None:
        review.state, review.decided_at = ReviewState.DECIDED, ctx.now  # a correction keeps the grace's start
    review.decision, review.feedback = decision, assessment.feedback
    review.scores = [s.to_data() for s in assessment.scores]
    submission = review.submission
    event = "approve" if decision == "approved" else "revise"
    submission.state = advance(SubmissionState(submission.state), f"{event} instead" if earlier else event)
    submission.updated_at = ctx.now
    return earlier


def not_yet_met(review: Review, cohort_rubric: list[dict]) -> str:
    """The criteria a revision request asks to work on, by name: `Reflection, Student self-direction`."""
    names = {c.key: c.name for c in rubric_from_data(cohort_rubric)}
    return ", ".join(names.get(key, key) for key in unmet_criteria(review.scores))


def assessment_of(
    args: dict[str, Any], rubric: tuple[Criterion, ...], decision: str, ref: str = "R-7"
) -> Assessment:
    """Typed text (`body`) or a form's chosen levels (`levels`, `feedback`)."""
    if "levels" in args:
        return score(rubric, args["levels"], args.get("feedback", ""), decision, ref)
    return assess(args["body"], rubric, decision, ref=ref)


def learner_sees_change(earlier: Earlier, review: Review) -> bool:
    """Would the learner read anything new? Another decision, other feedback, or other levels
    in a revision request (an approval's message shows no levels)."""
    return (
        earlier.decision != review.decision
        or earlier.feedback != review.feedback
        or (review.decision == "revise" and earlier.scores != review.scores)
    )


async def take_back_news(ctx: Context, review: Review, earlier: Earlier, badge: Badge | None) -> Earlier:
    """Withdraw the learner's messages about the earlier decision that have not gone out, so
    the one replacing them is the first they hear; their keys are freed for it. Dead letters
    are withdrawn too (a retry would send them), but may have arrived. Returns `earlier`,
    `told` when a message about it went out or may have."""
    keys = [f"review:{review.id}:revise", *([f"badge:{badge.id}:address"] if badge else [])]
    about = or_(Outbox.key.in_(keys), Outbox.key.like(f"review:{review.id}:corrected:%"))
    withdraw = (
        update(Outbox)
        .values(
            state=OutboxState.CANCELLED,
            last_error="replaced by a corrected decision",
            key=Outbox.key + ":replaced:" + cast(Outbox.id, String),
        )
        .execution_options(synchronize_session=False)
    )
    await ctx.session.execute(withdraw.where(about, Outbox.state == OutboxState.PENDING))
    told = await ctx.session.scalar(
        select(func.count())
        .select_from(Outbox)
        .where(about, Outbox.state.in_((OutboxState.SENDING, OutboxState.SENT, OutboxState.DEAD)))
    )
    await ctx.session.execute(withdraw.where(about, Outbox.state == OutboxState.DEAD))
    return replace(earlier, told=bool(told))


def correction_note(review: Review, earlier: Earlier, cohort_rubric: list[dict]) -> str:
    """The first line of a corrected decision's message to a learner who had the earlier one:
    what changed."""
    ref = decision_ref(review)
    if earlier.decision != review.decision:
        now = (
            "it is approved after all, so there is nothing to revise"
            if review.decision == "approved"
            else "it needs a revision after all, and no badge is issued for it"
        )
        return f"✏️ {markup.bold('Correction:')} your assessor changed their decision on {ref}: {now}."
    rubric = {c.key: c for c in rubric_from_data(cohort_rubric)}
    before = {s.criterion: s for s in map(Score.from_data, earlier.scores)}
    changed = []
    for s in map(Score.from_data, review.scores or []) if review.decision == "revise" else ():
        old, criterion = before.get(s.criterion), rubric.get(s.criterion)
        if old != s:
            name = criterion.name if criterion else s.criterion
            changed.append(
                f"{name}: {level_name(old, criterion)} → {level_name(s, criterion)}"
                if old is not None and old.level != s.level
                else f"{name}: a new comment"
            )
    if earlier.feedback != review.feedback:
        changed.append("the feedback")
    what = "approval" if review.decision == "approved" else "revision request"
    return (
        f"✏️ {markup.bold('Correction:')} your assessor corrected their {what} for {ref}"
        + (f" ({'; '.join(changed)})" if changed else "")
        + "; this replaces their earlier message."
    )


async def correction_key(ctx: Context, review: Review) -> str:
    """The outbox key of the next correction's message (withdrawn ones keep theirs, renamed)."""
    earlier = await ctx.session.scalar(
        select(func.count()).select_from(Outbox).where(Outbox.key.like(f"review:{review.id}:corrected:%"))
    )
    return f"review:{review.id}:corrected:{(earlier or 0) + 1}"


async def tell_revision(ctx: Context, review: Review, earlier: Earlier | None) -> None:
    """The learner's revision request: what is not yet met, per criterion, and until when they
    may resubmit; a correction when they had the earlier decision."""
    submission = review.submission
    window = submission.window
    rubric = window.credential.rubric
    given = await ctx.session.scalar(select(Extension.closes_at).where(Extension.review_id == review.id))
    deadline = given or await give_revision_time(ctx, submission, review)  # once per review
    lines = [correction_note(review, earlier, rubric)] if earlier and earlier.told else []
    unjudged = any(s.passing is None for s in map(Score.from_data, review.scores or []))
    lines += [
        f"✏️ Your submission {short_id('S', submission.id)} for {markup.bold(window.credential.name)} "
        f"needs a revision ({short_id('R', review.id)}).",
        f"{markup.bold('Not yet met:')} {not_yet_met(review, rubric)}; work on these."
        + (" Criteria marked ➖ were not judged this time." if unjudged else ""),
        *scores_lines(review, rubric),
    ]
    if review.feedback:
        lines.append(f"{markup.bold('Feedback:')} {review.feedback}")
    lines.append(
        f"Resubmit with `/submit <links> -- what changed` before "
        f"{markup.time(deadline, tz_of(submission.member.tz, ctx.settings, window.cohort.tz))}."
    )
    key = f"review:{review.id}:revise" if earlier is None else await correction_key(ctx, review)
    await ctx.send(
        Destination.dm(submission.member.user_id), Message("\n".join(lines)), key, cohort=window.cohort
    )


def until_final(ctx: Context, review: Review, verb: str, unless: str) -> str:
    """How the assessor may still correct the decision they just made."""
    assert review.decided_at is not None
    until = markup.time(
        as_utc(review.decided_at) + CORRECTION_GRACE, ctx.tz_in(review.submission.window.cohort)
    )
    return (
        f"To correct it, decide again (e.g. `/review {verb} {short_id('R', review.id)} …`) before "
        f"{until}, unless {unless} first; the learner then hears the corrected result only."
    )


@handles("review", "approve")
async def approve(ctx: Context, args: dict[str, Any]) -> Reply:
    review = await decidable(ctx, await review_for(ctx, args, "approve"))
    submission = review.submission
    cred = submission.window.credential
    assessment = assessment_of(args, rubric_from_data(cred.rubric), "approve", short_id("R", review.id))
    earlier = decide(ctx, review, "approved", assessment)
    if earlier and earlier.decision == "approved" and not learner_sees_change(earlier, review):
        ctx.audit("review.correct", short_id("R", review.id), was=earlier.decision)
        return Reply.text(
            "\n".join(
                [
                    f"{decision_ref(review)} stays approved, with these levels now; the "
                    "learner's message is unchanged.",
                    *scores_lines(review, cred.rubric),
                ]
            )
        )
    badge = await badge_of(ctx, review)
    if earlier:
        earlier = await take_back_news(ctx, review, earlier, badge)
    if badge is None:
        badge = await issue_badge(
            ctx,
            submission,
            review,
            correction=correction_note(review, earlier, cred.rubric) if earlier and earlier.told else "",
        )
    elif earlier and earlier.told:  # its address question went out: one note of what changed
        await ctx.send(
            Destination.dm(submission.member.user_id),
            Message(
                "\n".join(
                    filter(
                        None,
                        [
                            correction_note(review, earlier, cred.rubric),
                            f"{markup.bold('Feedback:')} {review.feedback}" if review.feedback else "",
                            f"{short_id('B', badge.id)} still waits for you to confirm its address: "
                            "`/badges confirm`.",
                        ],
                    )
                )
            ),
            await correction_key(ctx, review),
            cohort=submission.window.cohort,
        )
    else:  # its address question had not gone out: it goes now, as it stands
        await ask_for_address(ctx, badge, submission.member, badge.recipient_email, review)
    bid = short_id("B", badge.id)
    ctx.audit(
        "review.correct" if earlier else "review.approve",
        short_id("R", review.id),
        badge=bid,
        **({"was": earlier.decision} if earlier else {}),
    )
    head = corrected(review, earlier, "approved") if earlier else f"Approved {decision_ref(review)}"
    final = (
        f"{bid} is issued once they confirm their address. "
        + until_final(ctx, review, "revise", "they confirm it")
        if badge.state == BadgeState.AWAITING_ADDRESS
        else f"{bid} is issued, so this decision is final."
    )
    return Reply.text(
        "\n".join(
            [
                f"{head}; {who(submission)} earned {markup.bold(cred.name)} ({bid}).",
                *scores_lines(review, cred.rubric),
                *([told_how(earlier)] if earlier else []),
                final,
            ]
        )
    )


def decision_ref(review: Review) -> str:
    """How a decision's answer names what was decided: `S-12 (R-7)`."""
    return f"{short_id('S', review.submission_id)} ({short_id('R', review.id)})"


def corrected(review: Review, earlier: Earlier, now: str) -> str:
    if earlier.decision == review.decision:
        return f"Corrected {decision_ref(review)}: still {now}"
    return f"Corrected {decision_ref(review)}: {now} (was {DECIDED[earlier.decision]})"


def told_how(earlier: Earlier) -> str:
    return (
        "The learner had the earlier decision, so they get one message saying what changed."
        if earlier.told
        else "The earlier decision had not reached the learner yet; this one replaces it."
    )


@handles("review", "revise")
async def revise(ctx: Context, args: dict[str, Any]) -> Reply:
    review = await decidable(ctx, await review_for(ctx, args, "revise"))
    submission = review.submission
    rubric = submission.window.credential.rubric
    assessment = assessment_of(args, rubric_from_data(rubric), "revise", short_id("R", review.id))
    earlier = decide(ctx, review, "revise", assessment)
    if earlier and not learner_sees_change(earlier, review):
        return Reply.text(f"{decision_ref(review)} is sent back as before; nothing changed.")
    if earlier:
        badge = await badge_of(ctx, review)
        earlier = await take_back_news(ctx, review, earlier, badge)
        if badge is not None:  # an approval corrected: its badge is never issued
            badge.state = BadgeState.CANCELLED
    await tell_revision(ctx, review, earlier)
    ctx.audit(
        "review.correct" if earlier else "review.revise",
        short_id("R", review.id),
        **({"was": earlier.decision} if earlier else {}),
    )
    head = (
        corrected(review, earlier, "sent back for revision")
        if earlier
        else f"Sent {decision_ref(review)} back for revision"
    )
    return Reply.text(
        "\n".join(
            [
                f"{head}. Not yet met: {not_yet_met(review, rubric)}.",
                *scores_lines(review, rubric),
                *([told_how(earlier)] if earlier else []),
                f"It comes back to you when {who(submission)} resubmits. "
                + until_final(ctx, review, "approve", "they resubmit"),
            ]
        )
    )


@handles("review", "release")
async def release(ctx: Context, args: dict[str, Any]) -> Reply:
    review = await review_for(ctx, args, "release")
    rid = short_id("R", review.id)
    submission = review.submission
    cohort: Cohort = submission.window.cohort
    if review.state != ReviewState.CLAIMED:
        raise UserError(f"{rid} is not claimed, so there is nothing to release.")
    if review.assessor_id != ctx.actor.id and not await is_coordinator(ctx, cohort):
        raise UserError(f"{rid} is claimed by another assessor; only they or a coordinator can release it.")
    await release_claim(ctx.session, ctx.now, review)
    ctx.audit("review.release", rid)
    return Reply.text(f"Released {took(review)}; it is back in the queue for another assessor.")
