"""What every handler shares: the context it runs in, role checks and lookups.

Lookups are scoped to the context's workspace and answer a clear UserError
when something does not exist, so handlers read like the domain.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import markup, outbox
from bot.config import Settings
from bot.directory import Directory
from bot.domain import ID_PREFIXES, Phase, Role, UserError, short_id, window_phase, zone
from bot.grammar import Mention
from bot.messages import Destination, Followup, Message, Reply
from bot.storage import (
    Audit,
    Badge,
    Cohort,
    Credential,
    Enrolment,
    Extension,
    Member,
    Review,
    Submission,
    Window,
    Workspace,
)
from bot.storage.db import Database

T = TypeVar("T", Review, Submission, Badge, Extension)  # the rows people name by a short id
Handler = Callable[["Context", dict[str, Any]], Awaitable[Reply]]
HANDLERS: dict[tuple[str, str], Handler] = {}


def handles(verb: str, action: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[(verb, action)] = fn
        return fn

    return register


@dataclass
class Context:
    """Who is asking, where, and when; plus the open unit of work."""

    session: AsyncSession
    db: Database
    workspace: Workspace
    actor: Member
    channel: str | None
    now: datetime
    settings: Settings
    directory: Directory
    followups: list[Followup] = field(default_factory=list)

    @property
    def tz(self) -> ZoneInfo:
        return tz_of(self.actor, self.settings)

    async def send(
        self,
        dest: Destination,
        message: Message,
        key: str,
        *,
        cohort: Cohort | None = None,
        window_id: int | None = None,
    ) -> None:
        """Queue a message in this transaction: it goes out only if the change commits."""
        await outbox.enqueue(
            self.session,
            self.workspace.id,
            dest,
            message,
            key,
            self.now,
            window_id=window_id,
            cohort_id=cohort.id if cohort else None,
        )

    def audit(self, action: str, subject: str = "", **detail: Any) -> None:
        self.session.add(
            Audit(
                workspace_id=self.workspace.id,
                member_id=self.actor.id,
                action=action,
                subject=subject,
                detail=detail,
                at=self.now,
            )
        )


def tz_of(member: Member, settings: Settings) -> ZoneInfo:
    try:
        return zone(member.tz or settings.default_timezone)
    except UserError:
        return zone("UTC")


def mention_of(member: Member) -> str:
    return markup.mention(member.user_id)


# ------------------------------------------------------------------- members


async def member_for(ctx: Context, mention: Mention) -> Member:
    """The workspace member a mention names, created on first sight from the directory."""
    found = await ctx.session.scalar(
        select(Member).where(Member.workspace_id == ctx.workspace.id, Member.user_id == mention.user_id)
    )
    if found is not None:
        return found
    profile = await ctx.directory.profile(mention.user_id)
    if profile is None:
        raise UserError(
            f"I can't find @{mention.label or mention.user_id} in this workspace; "
            "mention people who are members here.",
            "/cohort add spring @alice",
        )
    member = Member(
        workspace_id=ctx.workspace.id,
        user_id=profile.user_id,
        display_name=profile.display_name,
        email=profile.email,
        tz=profile.tz or ctx.settings.default_timezone,
        is_admin=profile.is_admin,
        created_at=ctx.now,
    )
    ctx.session.add(member)
    await ctx.session.flush()
    return member


# ------------------------------------------------------------------- roles


async def roles_in(ctx: Context, cohort: Cohort, member: Member | None = None) -> set[Role]:
    member = member or ctx.actor
    rows = await ctx.session.scalars(
        select(Enrolment.role).where(Enrolment.cohort_id == cohort.id, Enrolment.member_id == member.id)
    )
    return {Role(r) for r in rows}


async def is_coordinator(ctx: Context, cohort: Cohort) -> bool:
    return ctx.actor.is_admin or Role.COORDINATOR in await roles_in(ctx, cohort)


async def require_coordinator(ctx: Context, cohort: Cohort) -> None:
    if not await is_coordinator(ctx, cohort):
        raise await refusal(ctx, f"Only coordinators of {cohort.name} (or workspace admins) can do that.")


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


async def members_with_role(ctx: Context, cohort: Cohort, role: Role) -> list[Member]:
    rows = await ctx.session.scalars(
        select(Member)
        .join(Enrolment, Enrolment.member_id == Member.id)
        .where(Enrolment.cohort_id == cohort.id, Enrolment.role == role)
        .order_by(Member.id)
    )
    return list(rows)


# ------------------------------------------------------------------- lookups


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


# A learner's own deadline in a window: the latest of their approved extensions. One rule for
# /submit (a column of LEARNER_WINDOWS) and /submit status (extensions.OWN_DEADLINES).
GRANTED = (Extension.member_id == bindparam("member"), Extension.state == "approved")
OWN_DEADLINE = (
    select(func.max(Extension.closes_at))
    .where(Extension.window_id == Window.id, *GRANTED)
    .correlate(Window)
    .scalar_subquery()
)
LEARNER_WINDOWS = (  # built once: /submit runs this on every call
    select(Window, OWN_DEADLINE)
    .join(Enrolment, Enrolment.cohort_id == Window.cohort_id)
    .where(
        Window.workspace_id == bindparam("workspace"),
        Enrolment.member_id == bindparam("member"),
        Enrolment.role == Role.LEARNER,
    )
    .order_by(Window.closes_at)
)


async def learner_windows(ctx: Context) -> dict[Window, datetime | None]:
    """Windows of the cohorts where the actor is a learner, soonest deadline first, each with
    the actor's own deadline if a coordinator granted one (read in the same statement: on
    the /submit path each round trip to the database counts)."""
    rows = await ctx.session.execute(LEARNER_WINDOWS, {"workspace": ctx.workspace.id, "member": ctx.actor.id})
    return dict(rows.all())


def phase_of(window: Window, now: datetime) -> Phase:
    return window_phase(window.opens_at, window.closes_at, now, window.closed_at)


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
