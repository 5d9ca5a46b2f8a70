"""What a command names, found in the context's workspace: a cohort, a credential, a window,
a row by its short id. Each answers a clear UserError when there is no such thing, so the
steps that use them read like the domain."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import select

from bot.domain import ID_PREFIXES, UserError, short_id
from bot.storage import Badge, Cohort, Credential, Extension, Review, Submission, Window
from bot.workflows.context import Context

T = TypeVar("T", Review, Submission, Badge, Extension)  # the rows people name by a short id


async def cohort_named(ctx: Context, name: str) -> Cohort:
    cohort = await ctx.session.scalar(
        select(Cohort).where(Cohort.workspace_id == ctx.workspace.id, Cohort.name == name)
    )
    if cohort is None:
        names = list(
            await ctx.session.scalars(
                select(Cohort.name)
                .where(Cohort.workspace_id == ctx.workspace.id)
                .order_by(Cohort.name)
                .limit(10)
            )
        )
        known = f" Cohorts here: {', '.join(names)}." if names else " There are no cohorts yet."
        raise UserError(f"There is no cohort called '{name}'.{known}", "/cohort list")
    return cohort


async def credential_named(ctx: Context, slug: str) -> Credential:
    cred = await ctx.session.scalar(select(Credential).where(Credential.slug == slug))
    if cred is None or cred.workspace_id not in (None, ctx.workspace.id):
        slugs = list(
            await ctx.session.scalars(
                select(Credential.slug)
                .where((Credential.workspace_id.is_(None)) | (Credential.workspace_id == ctx.workspace.id))
                .order_by(Credential.slug)
                .limit(10)
            )
        )
        known = (
            f" Credentials: {', '.join(slugs)}."
            if slugs
            else " The catalogue is empty; load one with `cohortbot credentials load FILE`."
        )
        raise UserError(
            f"There is no credential called '{slug}'.{known}",
            f"/window open spring {slugs[0]} closes next friday 5pm" if slugs else None,
        )
    return cred


async def window_by_ref(ctx: Context, args: dict[str, Any]) -> Window:
    """`W-3`, or a cohort and a credential: its newest window."""
    if args.get("window") is not None:
        window = await ctx.session.scalar(
            select(Window).where(Window.workspace_id == ctx.workspace.id, Window.id == args["window"])
        )
        if window is None:
            raise UserError(f"There is no window {short_id('W', args['window'])}.", "/window list")
        return window
    cohort = await cohort_named(ctx, args["cohort"])
    cred = await credential_named(ctx, args["credential"])
    window = await ctx.session.scalar(
        select(Window)
        .where(Window.cohort_id == cohort.id, Window.credential_id == cred.id)
        .order_by(Window.id.desc())
        .limit(1)
    )
    if window is None:
        raise UserError(
            f"{cohort.name} has no window for {cred.slug}.",
            f"/window open {cohort.name} {cred.slug} closes next friday 5pm",
        )
    return window


async def by_id(ctx: Context, model: type[T], number: int, prefix: str, example: str) -> T:
    """A row of this workspace by its short id, or a clear "there is no R-7"."""
    row = await ctx.session.scalar(
        select(model).where(model.workspace_id == ctx.workspace.id, model.id == number)
    )
    if row is None:
        raise UserError(f"There is no {ID_PREFIXES[prefix]} {short_id(prefix, number)}.", example)
    return row


async def review_by_id(ctx: Context, review_id: int) -> Review:
    return await by_id(ctx, Review, review_id, "R", "/review queue")
