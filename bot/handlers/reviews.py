"""The review queue: tasks, claims, decisions."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import markup
from bot.domain import (
    Assessment,
    Criterion,
    Role,
    SubmissionState,
    UserError,
    advance,
    assess,
    check_claim,
    format_age,
    format_time,
    release_state,
    rubric_from_data,
    score,
    short_id,
    stamp,
    what_changed,
    zone,
)
from bot.handlers.badges import issue_badge
from bot.handlers.base import (
    Context,
    handles,
    is_coordinator,
    review_by_id,
    roles_in,
)
from bot.handlers.extensions import give_revision_time
from bot.messages import Button, Destination, Message, Reply
from bot.notices import window_tz
from bot.outbox import enqueue
from bot.storage import Cohort, Enrolment, Member, Review, Submission, Version, Window


def who(submission: Submission) -> str:
    """The learner as assessors may see them: a code under blind review."""
    if submission.window.credential.blind_review:
        return f"the learner with blind code {submission.code}"
    return markup.mention(submission.member.user_id)


def task_message(review: Review, version: Version, submission: Submission) -> Message:
    window = submission.window
    again = f" (version {version.number}, a resubmission)" if version.number > 1 else ""
    late = " · late" if version.late else ""
    return Message(
        f"📝 Review task {short_id('R', review.id)}: {short_id('S', submission.id)} by "
        f"{who(submission)}{again} for *{window.credential.name}* ({window.cohort.name}), "
        f"{len(version.links)} link{'s' * (len(version.links) != 1)}{late}.",
        buttons=(Button("Claim", command=f"/review claim {short_id('R', review.id)}",
                        style="primary"),),
        context=f"submitted {format_time(version.submitted_at, window_tz(window))}")


async def post_task(session: AsyncSession, now: datetime, review: Review, version: Version,
                    submission: Submission, *, again: str = "", note: str = "") -> None:
    """Announce a review task to the assessors' channel, or to each assessor by DM.

    Takes a session rather than a Context so scheduled sweeps re-announce the same way.
    """
    cohort = submission.window.cohort
    message = task_message(review, version, submission)
    if note:
        message = replace(message, text=f"{note}\n{message.text}")
    key = f"review:{review.id}:task{again}"
    if cohort.reviews_channel_id:
        await enqueue(session, review.workspace_id, Destination.channel(cohort.reviews_channel_id),
                      message, key, now, cohort_id=cohort.id)
        return
    assessors = await session.scalars(
        select(Member).join(Enrolment, Enrolment.member_id == Member.id)
        .where(Enrolment.cohort_id == cohort.id, Enrolment.role == Role.ASSESSOR))
    for assessor in assessors:
        if assessor.id != submission.member_id:
            await enqueue(session, review.workspace_id, Destination.dm(assessor.user_id), message,
                          f"{key}:{assessor.id}", now, cohort_id=cohort.id)


async def new_review(ctx: Context, submission: Submission, version: Version, *,
                     post: bool = True) -> Review:
    """A review task for `version`, queued now (and announced unless someone takes it at once)."""
    review = Review(workspace_id=ctx.workspace.id, submission=submission, version_id=version.id,
                    state="open", created_at=ctx.now, queued_at=ctx.now)
    ctx.session.add(review)
    await ctx.session.flush()
    if post:
        await post_task(ctx.session, ctx.now, review, version, submission)
    return review


def evidence(review: Review, submission: Submission, version: Version,
             previous: Version | None) -> Message:
    """Everything an assessor needs to decide, in one DM."""
    window = submission.window
    cred = window.credential
    rid = short_id("R", review.id)
    lines = [f"🔍 You claimed {rid}: {short_id('S', submission.id)} by {who(submission)} "
             f"(version {version.number}) for *{cred.name}* ({window.cohort.name})."]
    if version.overview:
        lines.append(f"*Overview:* {version.overview}")
    lines.append("*Artifacts:*")
    lines.extend(f"• {link}" for link in version.links)
    if version.reflection:
        lines.append(f"*Reflection:* {version.reflection}")
    if previous is not None:
        added, removed = what_changed(previous.links, version.links)
        lines.append(f"*What changed since version {previous.number}:* "
                     f"{version.change_note or '(no note)'}")
        if added:
            lines.append("  added: " + ", ".join(added))
        if removed:
            lines.append("  removed: " + ", ".join(removed))
        if version.reflection != previous.reflection:
            lines.append("  the reflection was rewritten")
    rubric = rubric_from_data(cred.rubric)
    if rubric:
        lines.append("*Rubric:*")
        lines.extend(f"• `{c.key}` {c.name} — {' / '.join(lv.name for lv in c.levels)}"
                     for c in rubric)
    example = rubric[0].key if rubric else "reflection"
    lines.append(f"Decide with `/review approve {rid} -- feedback` or "
                 f"`/review revise {rid} {example}: not yet, what to add -- feedback`.")
    return Message("\n".join(lines), buttons=(
        Button("Approve", command=f"/review approve {rid}", style="primary"),
        Button("Request revision", command=f"/review revise {rid}", style="danger")))


async def version_of(ctx: Context, review: Review) -> tuple[Version, Version | None]:
    version = await ctx.session.get_one(Version, review.version_id)
    previous = await ctx.session.scalar(select(Version).where(
        Version.submission_id == review.submission_id, Version.number == version.number - 1))
    return version, previous


async def open_claims(ctx: Context, member: Member) -> int:
    return await ctx.session.scalar(select(func.count()).select_from(Review).where(
        Review.assessor_id == member.id, Review.state == "claimed")) or 0


async def claim_for(ctx: Context, review: Review, assessor: Member) -> None:
    """Give `review` to `assessor` and send them the evidence."""
    submission = review.submission
    cohort = submission.window.cohort
    check_claim(assessor_id=assessor.id, learner_id=submission.member_id,
                is_assessor=Role.ASSESSOR in await roles_in(ctx, cohort, assessor),
                claimed_by=review.assessor_id if review.state == "claimed" else None,
                open_claims=await open_claims(ctx, assessor), cap=ctx.settings.max_open_claims,
                review_label=short_id("R", review.id))
    result = await ctx.session.execute(
        update(Review).where(Review.id == review.id, Review.state == "open")
        .values(state="claimed", assessor_id=assessor.id, claimed_at=ctx.now)
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise UserError(f"{short_id('R', review.id)} was just claimed by another assessor.",
                        "/review queue")
    await ctx.session.refresh(review)
    submission.state = advance(SubmissionState(submission.state), "claim")
    submission.updated_at = ctx.now
    version, previous = await version_of(ctx, review)
    await ctx.send(Destination.dm(assessor.user_id), evidence(review, submission, version, previous),
                   f"review:{review.id}:evidence:{assessor.id}:{stamp(review.claimed_at)}",
                   cohort=cohort)
    if cohort.reviews_channel_id:
        await ctx.send(Destination.channel(cohort.reviews_channel_id), Message(
            f"📝 {short_id('R', review.id)}: {short_id('S', submission.id)} for "
            f"*{submission.window.credential.name}* — claimed by {markup.mention(assessor.user_id)}.",
            edit_of=f"review:{review.id}:task"),
            f"review:{review.id}:claimed:{assessor.id}:{stamp(review.claimed_at)}", cohort=cohort)


@handles("review", "queue")
async def queue(ctx: Context, args: dict[str, Any]) -> Reply:
    cohorts = select(Enrolment.cohort_id).where(Enrolment.member_id == ctx.actor.id,
                                                Enrolment.role == Role.ASSESSOR)
    base = select(Review).join(Submission).join(Window).where(
        Review.workspace_id == ctx.workspace.id, Window.cohort_id.in_(cohorts))
    waiting = list(await ctx.session.scalars(
        base.where(Review.state == "open", Submission.member_id != ctx.actor.id)
        .order_by(Review.created_at, Review.id).limit(16)))
    mine = list(await ctx.session.scalars(
        base.where(Review.state == "claimed", Review.assessor_id == ctx.actor.id)
        .order_by(Review.claimed_at)))
    if not await ctx.session.scalar(select(func.count()).select_from(Enrolment).where(
            Enrolment.member_id == ctx.actor.id, Enrolment.role == Role.ASSESSOR)):
        raise UserError("You are not an assessor in any cohort; a coordinator adds you as one.",
                        "/cohort add spring @you as assessor")
    lines = []
    if mine:
        lines.append(f"*Your claims* ({len(mine)} of {ctx.settings.max_open_claims}):")
        lines.extend(f"• {short_id('R', r.id)} {short_id('S', r.submission_id)} by "
                     f"{who(r.submission)} — {r.submission.window.credential.slug}, claimed "
                     f"{format_age(ctx.now - r.claimed_at)} ago"
                     for r in mine if r.claimed_at)
    if waiting:
        lines.append("*Waiting for an assessor* (oldest first):")
        lines.extend(f"• {short_id('R', r.id)} {short_id('S', r.submission_id)} by "
                     f"{who(r.submission)} — {r.submission.window.credential.slug} "
                     f"({r.submission.window.cohort.name}), waiting "
                     f"{format_age(ctx.now - r.created_at)}"
                     for r in waiting[:15])
        if len(waiting) > 15:
            lines.append("…and more; claim these first.")
        lines.append(f"Claim one with `/review claim {short_id('R', waiting[0].id)}`.")
    if not lines:
        lines.append("Nothing to review right now. 🎉")
    return Reply.text("\n".join(lines))


@handles("review", "claim")
async def claim(ctx: Context, args: dict[str, Any]) -> Reply:
    review = await review_by_id(ctx, args["review"])
    if review.state in ("decided", "cancelled"):
        raise UserError(f"{short_id('R', review.id)} is no longer open "
                        f"({review.decision or 'withdrawn'}).", "/review queue")
    await claim_for(ctx, review, ctx.actor)
    ctx.audit("review.claim", short_id("R", review.id))
    return Reply.text(f"You claimed {short_id('R', review.id)}; the evidence and rubric are in "
                      "your DMs.")


async def my_claim(ctx: Context, review_id: int) -> Review:
    review = await review_by_id(ctx, review_id)
    rid = short_id("R", review.id)
    if review.state == "decided":
        raise UserError(f"{rid} was already decided ({review.decision}).")
    if review.state != "claimed" or review.assessor_id is None:
        raise UserError(f"Claim {rid} before deciding it.", f"/review claim {rid}")
    if review.assessor_id != ctx.actor.id:
        raise UserError(f"{rid} is claimed by another assessor; only they can decide it.")
    if Role.ASSESSOR not in await roles_in(ctx, review.submission.window.cohort):
        raise UserError(f"You are no longer an assessor of {review.submission.window.cohort.name}.")
    return review


def decide(ctx: Context, review: Review, decision: str, assessment: Assessment) -> None:
    review.state, review.decision, review.decided_at = "decided", decision, ctx.now
    review.scores = [{"criterion": s.criterion, "level": s.level, "passing": s.passing,
                      "comment": s.comment} for s in assessment.scores]
    review.feedback = assessment.feedback
    submission = review.submission
    submission.state = advance(SubmissionState(submission.state),
                               "approve" if decision == "approved" else "revise")
    submission.updated_at = ctx.now


def scores_lines(review: Review, cohort_rubric: list[dict]) -> list[str]:
    names = {c["key"]: c["name"] for c in cohort_rubric}
    return [f"{'✅' if s['passing'] else '❌'} {names.get(s['criterion'], s['criterion'])} — "
            f"{'met' if s['passing'] else 'not yet'}" + (f": {s['comment']}" if s["comment"] else "")
            for s in review.scores or []]


def assessment_of(args: dict[str, Any], rubric: tuple[Criterion, ...], decision: str) -> Assessment:
    """Typed text (`body`) or a form's chosen levels (`levels`, `feedback`)."""
    if "levels" in args:
        return score(rubric, args["levels"], args.get("feedback", ""), decision)
    return assess(args["body"], rubric, decision)


async def decision_form(ctx: Context, review_id: int) -> tuple[Review, tuple[Criterion, ...]]:
    """What a decision form needs, after the same checks as a typed decision."""
    review = await my_claim(ctx, review_id)
    return review, rubric_from_data(review.submission.window.credential.rubric)


@handles("review", "approve")
async def approve(ctx: Context, args: dict[str, Any]) -> Reply:
    review = await my_claim(ctx, args["review"])
    submission = review.submission
    cred = submission.window.credential
    assessment = assessment_of(args, rubric_from_data(cred.rubric), "approve")
    decide(ctx, review, "approved", assessment)
    badge = await issue_badge(ctx, submission, review)
    ctx.audit("review.approve", short_id("R", review.id), badge=short_id("B", badge.id))
    return Reply.text(f"Approved {short_id('S', submission.id)} ({short_id('R', review.id)}); "
                      f"{who(submission)} earned *{cred.name}* ({short_id('B', badge.id)}).")


@handles("review", "revise")
async def revise(ctx: Context, args: dict[str, Any]) -> Reply:
    review = await my_claim(ctx, args["review"])
    submission = review.submission
    window = submission.window
    assessment = assessment_of(args, rubric_from_data(window.credential.rubric), "revise")
    decide(ctx, review, "revise", assessment)
    learner = submission.member
    tz_name = learner.tz or ctx.settings.default_timezone
    lines = [f"✏️ Your submission {short_id('S', submission.id)} for *{window.credential.name}* "
             f"needs a revision ({short_id('R', review.id)}).",
             *scores_lines(review, window.credential.rubric)]
    if assessment.feedback:
        lines.append(f"*Feedback:* {assessment.feedback}")
    deadline = await give_revision_time(ctx, submission, review)
    lines.append(f"Resubmit with `/submit <links> -- what changed` before "
                 f"{format_time(deadline, zone(tz_name))}.")
    await ctx.send(Destination.dm(learner.user_id), Message("\n".join(lines)),
                   f"review:{review.id}:revise", cohort=window.cohort)
    ctx.audit("review.revise", short_id("R", review.id))
    unmet = ", ".join(s.criterion for s in assessment.unmet)
    return Reply.text(f"Sent {short_id('S', submission.id)} back for revision ({unmet} not yet "
                      f"met). It comes back to you when {who(submission)} resubmits.")


@handles("review", "release")
async def release(ctx: Context, args: dict[str, Any]) -> Reply:
    review = await review_by_id(ctx, args["review"])
    rid = short_id("R", review.id)
    submission = review.submission
    cohort: Cohort = submission.window.cohort
    if review.state != "claimed":
        raise UserError(f"{rid} is not claimed, so there is nothing to release.")
    if review.assessor_id != ctx.actor.id and not await is_coordinator(ctx, cohort):
        raise UserError(f"{rid} is claimed by another assessor; only they or a coordinator "
                        "can release it.")
    await release_claim(ctx.session, ctx.now, review)
    ctx.audit("review.release", rid)
    return Reply.text(f"Released {rid}; it is back in the queue for another assessor.")


async def release_claim(session: AsyncSession, now: datetime, review: Review,
                        note: str = "") -> None:
    """Put a claimed task back in the queue and announce it again."""
    claimed_at = review.claimed_at
    review.state, review.assessor_id, review.claimed_at, review.queued_at = "open", None, None, now
    version = await session.get_one(Version, review.version_id)
    submission = review.submission
    submission.state = release_state(version.number)
    submission.updated_at = now
    await post_task(session, now, review, version, submission, note=note,
                    again=f":released:{stamp(claimed_at)}" if claimed_at else ":released")


async def reopen_for_revision(ctx: Context, submission: Submission, version: Version) -> Review:
    """A resubmission goes back to the assessor who asked for it, when they still can take it."""
    last = await ctx.session.scalar(select(Review).where(
        Review.submission_id == submission.id, Review.decision == "revise")
        .order_by(Review.id.desc()).limit(1))
    review = await new_review(ctx, submission, version, post=False)
    if last is not None and last.assessor_id is not None:
        assessor = await ctx.session.get_one(Member, last.assessor_id)
        try:
            await claim_for(ctx, review, assessor)
            return review
        except UserError:
            pass  # they left or are at their cap: the queue takes it
    await post_task(ctx.session, ctx.now, review, version, submission)
    return review
