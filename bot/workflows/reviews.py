"""Review tasks: a new one and its post, a claim, a release back to the queue, a resubmission
reopened for its assessor, and whether a decision may still be made or corrected."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import markup
from bot.domain import (
    BadgeState,
    Criterion,
    ReviewState,
    Role,
    SubmissionState,
    UserError,
    advance,
    check_claim,
    check_correction,
    release_state,
    rubric_from_data,
    short_id,
    stamp,
    what_changed,
)
from bot.messages import Button, CardKind, Destination, Message
from bot.notices import window_card, window_tz
from bot.storage import Badge, Member, Review, Submission, Version
from bot.storage.roster import members_with_role
from bot.workflows.context import Context
from bot.workflows.lookups import review_by_id
from bot.workflows.members import roles_in
from bot.workflows.sending import Outgoing, send


def who(submission: Submission) -> str:
    """The learner as assessors may see them: a code under blind review."""
    if submission.window.credential.blind_review:
        return f"the learner with blind code {submission.code}"
    return markup.mention(submission.member.user_id)


def task_message(
    review: Review, version: Version, submission: Submission, claimed_by: str | None = None
) -> Message:
    """The task as the assessors' channel shows it: open with its Claim button, or, edited in
    place once claimed, saying by whom (`claimed_by`, a platform user id)."""
    window = submission.window
    rid = short_id("R", review.id)
    again = f" (version {version.number}, a resubmission)" if version.number > 1 else ""
    late = " · late" if version.late else ""
    status = "waiting for an assessor" if claimed_by is None else f"claimed by {markup.mention(claimed_by)}"
    return Message(
        f"📝 Review task {rid}: {short_id('S', submission.id)} by "
        f"{who(submission)}{again} for {markup.bold(window.credential.name)} ({window.cohort.name}), "
        f"{len(version.links)} link{'s' * (len(version.links) != 1)}{late}.",
        buttons=() if claimed_by else (Button("Claim", command=f"/review claim {rid}", style="primary"),),
        fields=(("Status", status),),
        context=f"submitted {markup.time(version.submitted_at, window_tz(window))}",
        card=window_card(CardKind.TASK, window),
    )


async def post_task(
    session: AsyncSession,
    now: datetime,
    review: Review,
    version: Version,
    submission: Submission,
    *,
    again: str = "",
    note: str = "",
) -> None:
    """Announce a review task to the assessors' channel, or to each assessor by DM.

    Takes a session rather than a Context so scheduled sweeps re-announce the same way.
    """
    cohort = submission.window.cohort
    message = task_message(review, version, submission)
    if note:
        message = replace(message, text=f"{note}\n{message.text}")
    key = f"review:{review.id}:task{again}"
    if cohort.reviews_channel_id:
        posts = [Outgoing(Destination.channel(cohort.reviews_channel_id), message, key, cohort_id=cohort.id)]
    else:
        posts = [
            Outgoing(Destination.dm(assessor.user_id), message, f"{key}:{assessor.id}", cohort_id=cohort.id)
            for assessor in await members_with_role(session, cohort.id, Role.ASSESSOR)
            if assessor.id != submission.member_id
        ]
    await send(session, review.workspace_id, now, *posts)


async def new_review(ctx: Context, submission: Submission, version: Version, *, post: bool = True) -> Review:
    """A review task for `version`, queued now (and announced unless someone takes it at once)."""
    review = Review(
        workspace_id=ctx.workspace.id,
        submission=submission,
        version_id=version.id,
        state=ReviewState.OPEN,
        created_at=ctx.now,
        queued_at=ctx.now,
    )
    ctx.session.add(review)
    await ctx.session.flush()
    if post:
        await post_task(ctx.session, ctx.now, review, version, submission)
    return review


def evidence(review: Review, submission: Submission, version: Version, previous: Version | None) -> Message:
    """Everything an assessor needs to decide, in one DM."""
    window = submission.window
    cred = window.credential
    rid = short_id("R", review.id)
    lines = [
        f"🔍 You claimed {rid}: {short_id('S', submission.id)} by {who(submission)} "
        f"(version {version.number}) for {markup.bold(cred.name)} ({window.cohort.name})."
    ]
    if version.overview:
        lines.append(f"{markup.bold('Overview:')} {version.overview}")
    lines.append(markup.bold("Artifacts:"))
    lines.extend(f"• {link}" for link in version.links)
    if version.reflection:
        lines.append(f"{markup.bold('Reflection:')} {version.reflection}")
    if previous is not None:
        added, removed = what_changed(previous.links, version.links)
        lines.append(
            f"{markup.bold(f'What changed since version {previous.number}:')} "
            f"{version.change_note or '(no note)'}"
        )
        if added:
            lines.append("  added: " + ", ".join(added))
        if removed:
            lines.append("  removed: " + ", ".join(removed))
        if version.reflection != previous.reflection:
            lines.append("  the reflection was rewritten")
    rubric = rubric_from_data(cred.rubric)
    if rubric:
        lines.append(markup.bold("Rubric:"))
        lines.extend(f"• `{c.key}` {c.name} — {' / '.join(lv.name for lv in c.levels)}" for c in rubric)
    example = rubric[0].key if rubric else "reflection"
    lines.append(
        f"Decide with `/review approve {rid} -- feedback` or "
        f"`/review revise {rid} {example}: not yet, what to add -- feedback`."
    )
    return Message(
        "\n".join(lines),
        buttons=(
            Button("Approve", command=f"/review approve {rid}", style="primary"),
            Button("Request revision", command=f"/review revise {rid}", style="danger"),
        ),
        card=window_card(CardKind.TASK, window),
    )


async def version_of(ctx: Context, review: Review) -> tuple[Version, Version | None]:
    version = await ctx.session.get_one(Version, review.version_id)
    previous = await ctx.session.scalar(
        select(Version).where(
            Version.submission_id == review.submission_id, Version.number == version.number - 1
        )
    )
    return version, previous


async def open_claims(ctx: Context, member: Member) -> int:
    return (
        await ctx.session.scalar(
            select(func.count())
            .select_from(Review)
            .where(Review.assessor_id == member.id, Review.state == ReviewState.CLAIMED)
        )
        or 0
    )


async def claim_for(ctx: Context, review: Review, assessor: Member, *, posted: bool = True) -> None:
    """Give `review` to `assessor` and send them the evidence; its task, when it was `posted`
    to the assessors' channel, is edited there to say who claimed it."""
    submission = review.submission
    cohort = submission.window.cohort
    check_claim(
        assessor_id=assessor.id,
        learner_id=submission.member_id,
        is_assessor=Role.ASSESSOR in await roles_in(ctx, cohort, assessor),
        claimed_by=review.assessor_id if review.state == ReviewState.CLAIMED else None,
        open_claims=await open_claims(ctx, assessor),
        cap=ctx.settings.max_open_claims,
        review_label=short_id("R", review.id),
    )
    result = await ctx.session.execute(
        update(Review)
        .where(Review.id == review.id, Review.state == ReviewState.OPEN)
        .values(state=ReviewState.CLAIMED, assessor_id=assessor.id, claimed_at=ctx.now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise UserError(f"{short_id('R', review.id)} was just claimed by another assessor.", "/review queue")
    await ctx.session.refresh(review)
    submission.state = advance(SubmissionState(submission.state), "claim")
    submission.updated_at = ctx.now
    version, previous = await version_of(ctx, review)
    await ctx.send(
        Destination.dm(assessor.user_id),
        evidence(review, submission, version, previous),
        f"review:{review.id}:evidence:{assessor.id}:{stamp(ctx.now)}",
        cohort=cohort,
    )
    if posted and cohort.reviews_channel_id:
        await ctx.send(
            Destination.channel(cohort.reviews_channel_id),
            replace(
                task_message(review, version, submission, claimed_by=assessor.user_id),
                edit_of=f"review:{review.id}:task",
            ),
            f"review:{review.id}:claimed:{assessor.id}:{stamp(ctx.now)}",
            cohort=cohort,
        )


async def badge_of(ctx: Context, review: Review) -> Badge | None:
    """The badge an approval made (not one a correction cancelled)."""
    return await ctx.session.scalar(
        select(Badge)
        .where(Badge.review_id == review.id, Badge.state != BadgeState.CANCELLED)
        .order_by(Badge.id.desc())
        .limit(1)
    )


async def what_came_of(ctx: Context, review: Review) -> str | None:
    """What makes a decision final before its grace is over: its badge issued, or the learner
    acting on a revision request (resubmitting, withdrawing)."""
    if review.decision == "approved":
        badge = await badge_of(ctx, review)
        if badge is not None and badge.state != BadgeState.AWAITING_ADDRESS:
            bid = short_id("B", badge.id)
            return f"its badge {bid} is issued (a coordinator can revoke it: `/badges revoke {bid} <reason>`)"
        return None
    state = SubmissionState(review.submission.state)
    if state == SubmissionState.REVISION_REQUESTED:
        return None
    return (
        "the learner withdrew the submission"
        if state == SubmissionState.WITHDRAWN
        else "the learner has resubmitted"
    )


DECIDED = {"approved": "approved", "revise": "sent back for revision"}


async def decidable(ctx: Context, review: Review) -> Review:
    """A review the actor may decide now: their claim; or their own decision, deciding again to
    correct it, within CORRECTION_GRACE and while nothing has come of it (`what_came_of`)."""
    rid = short_id("R", review.id)
    if review.state == ReviewState.DECIDED:
        assert review.decision is not None and review.decided_at is not None
        check_correction(
            label=rid,
            decision=DECIDED[review.decision],
            decided_at=review.decided_at,
            now=ctx.now,
            own=review.assessor_id == ctx.actor.id,
            settled=await what_came_of(ctx, review),
        )
    elif review.state != ReviewState.CLAIMED or review.assessor_id is None:
        raise UserError(f"Claim {rid} before deciding it.", f"/review claim {rid}")
    elif review.assessor_id != ctx.actor.id:
        raise UserError(f"{rid} is claimed by another assessor; only they can decide it.")
    if Role.ASSESSOR not in await roles_in(ctx, review.submission.window.cohort):
        raise UserError(f"You are no longer an assessor of {review.submission.window.cohort.name}.")
    return review


async def revision_asked(ctx: Context) -> Version | None:
    """The latest version of the one submission of the actor's that awaits a revision (None when
    none does, or several: the form cannot tell which)."""
    rows = await ctx.session.scalars(
        select(Submission.id).where(
            Submission.member_id == ctx.actor.id, Submission.state == SubmissionState.REVISION_REQUESTED
        )
    )
    asked = list(rows)
    if len(asked) != 1:
        return None
    return await ctx.session.scalar(
        select(Version).where(Version.submission_id == asked[0]).order_by(Version.number.desc()).limit(1)
    )


async def decision_form(ctx: Context, review_id: int) -> tuple[Review, tuple[Criterion, ...]]:
    """What a decision form needs, after the same checks as a typed decision."""
    review = await decidable(ctx, await review_by_id(ctx, review_id))
    return review, rubric_from_data(review.submission.window.credential.rubric)


async def release_claim(session: AsyncSession, now: datetime, review: Review, note: str = "") -> None:
    """Put a claimed task back in the queue and announce it again."""
    claimed_at = review.claimed_at
    review.state, review.assessor_id, review.claimed_at, review.queued_at = ReviewState.OPEN, None, None, now
    version = await session.get_one(Version, review.version_id)
    submission = review.submission
    submission.state = release_state(version.number)
    submission.updated_at = now
    await post_task(
        session,
        now,
        review,
        version,
        submission,
        note=note,
        again=f":released:{stamp(claimed_at)}" if claimed_at else ":released",
    )


async def reopen_for_revision(ctx: Context, submission: Submission, version: Version) -> Review:
    """A resubmission goes back to the assessor who asked for it, when they still can take it."""
    last = await ctx.session.scalar(
        select(Review)
        .where(Review.submission_id == submission.id, Review.decision == "revise")
        .order_by(Review.id.desc())
        .limit(1)
    )
    review = await new_review(ctx, submission, version, post=False)
    if last is not None and last.assessor_id is not None:
        assessor = await ctx.session.get_one(Member, last.assessor_id)
        try:
            await claim_for(ctx, review, assessor, posted=False)
            return review
        except UserError:
            pass  # they left or are at their cap: the queue takes it
    await post_task(ctx.session, ctx.now, review, version, submission)
    return review
