"""People: the time zone a person's times are read and written in, a member made from a
platform's profile, and their roles in a cohort."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.config import Settings
from bot.directory import Profile
from bot.domain import Role, UserError, zone
from bot.grammar import Mention
from bot.storage import Cohort, Enrolment, Member

if TYPE_CHECKING:  # the context reads its actor's zone here
    from bot.workflows.context import Context


def zone_name(tz: str | None, settings: Settings, cohort_tz: str | None = None) -> str:
    """The zone a person's times are read and written in: their own (`member.tz`: chosen with
    `/badges timezone`, else their platform profile's); where neither is known (Discord tells
    none), their cohort's in that cohort's context (`cohort_tz`: its nudges, deadlines,
    receipts), else the installation's (`DEFAULT_TIMEZONE`). The one fallback, for zones stored
    and times shown alike; it always names a zone, so nothing waits for a person's."""
    return tz or cohort_tz or settings.default_timezone


def tz_of(tz: str | None, settings: Settings, cohort_tz: str | None = None) -> ZoneInfo:
    """The zone to show a person's times in (`zone_name`); UTC when not even the fallback names
    a zone, so a bad setting never stops a message."""
    try:
        return zone(zone_name(tz, settings, cohort_tz))
    except UserError:
        return zone("UTC")


def new_member(workspace_id: int, profile: Profile, now: datetime) -> Member:
    """A member as the platform first describes them (not yet added to the session); their
    zone unknown where the platform tells none."""
    return Member(
        workspace_id=workspace_id,
        user_id=profile.user_id,
        display_name=profile.display_name,
        email=profile.email,
        tz=profile.tz,
        tz_chosen=False,
        is_admin=profile.is_admin,
        created_at=now,
    )


def refresh(member: Member, profile: Profile) -> None:
    """A known member as their platform describes them now: a zone they chose stays theirs."""
    member.display_name = profile.display_name
    member.email = profile.email or member.email
    if not member.tz_chosen:
        member.tz = profile.tz or member.tz
    member.is_admin = profile.is_admin


async def roles_in(ctx: Context, cohort: Cohort, member: Member | None = None) -> set[Role]:
    """The roles of `member` (the actor, unless named) in `cohort`."""
    member = member or ctx.actor
    rows = await ctx.session.scalars(
        select(Enrolment.role).where(Enrolment.cohort_id == cohort.id, Enrolment.member_id == member.id)
    )
    return {Role(r) for r in rows}


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
    member = new_member(ctx.workspace.id, profile, ctx.now)
    ctx.session.add(member)
    await ctx.session.flush()
    return member
