"""What every handler shares: the registry `@handles` fills, and the role checks whose
refusals say what the person may do instead. Everything else a handler needs (its context,
lookups, the steps it shares with others) is in `bot.workflows`, never in another handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select

from bot.domain import Role, UserError
from bot.messages import Reply
from bot.storage import Cohort, Enrolment
from bot.workflows.context import Context
from bot.workflows.members import roles_in

Handler = Callable[[Context, dict[str, Any]], Awaitable[Reply]]
HANDLERS: dict[tuple[str, str], Handler] = {}


def handles(verb: str, action: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[(verb, action)] = fn
        return fn

    return register


# ------------------------------------------------------------------- roles


async def is_coordinator(ctx: Context, cohort: Cohort) -> bool:
    return ctx.actor.is_admin or Role.COORDINATOR in await roles_in(ctx, cohort)


async def require_coordinator(ctx: Context, cohort: Cohort) -> None:
    if not await is_coordinator(ctx, cohort):
        raise await refusal(
            ctx, f"Only coordinators of {cohort.name} (or {ctx.directory.place} admins) can do that."
        )


async def refusal(ctx: Context, message: str) -> UserError:
    """`message` refusing what the actor may not do, with what they may: the example is a
    command their own roles allow (a learner trying `/window open` is shown `/submit status`)."""
    rows = (
        await ctx.session.execute(
            select(Enrolment.role, Cohort.name)
            .join(Cohort)
            .where(Cohort.workspace_id == ctx.workspace.id, Enrolment.member_id == ctx.actor.id)
            .order_by(Cohort.name)
        )
    ).all()
    cohorts = {Role(role): name for role, name in reversed(rows)}  # the first cohort by name
    if Role.COORDINATOR in cohorts:
        name = cohorts[Role.COORDINATOR]
        return UserError(f"{message} You coordinate {name}.", f"/cohort status {name}")
    if Role.ASSESSOR in cohorts:
        return UserError(f"{message} As an assessor, you can see the review tasks waiting.", "/review queue")
    if Role.LEARNER in cohorts:
        return UserError(
            f"{message} As a learner, you can hand in work with /submit and see where it stands.",
            "/submit status",
        )
    return UserError(f"{message} You are in no cohort yet; a coordinator adds you to one.", "/cohort list")


async def coordinates_anything(ctx: Context) -> bool:
    if ctx.actor.is_admin:
        return True
    count = await ctx.session.scalar(
        select(func.count())
        .select_from(Enrolment)
        .join(Cohort)
        .where(
            Cohort.workspace_id == ctx.workspace.id,
            Enrolment.member_id == ctx.actor.id,
            Enrolment.role == Role.COORDINATOR,
        )
    )
    return bool(count)
