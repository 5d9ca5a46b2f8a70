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


def zone_name(tz: str | None, settings: Settings) -> str:
    """A person's zone, or the installation's (`DEFAULT_TIMEZONE`) where their platform tells
    none: the one fallback, for zones stored and times shown alike."""
    return tz or settings.default_timezone


def tz_of(tz: str | None, settings: Settings) -> ZoneInfo:
    """The zone to show a person's times in, from their stored zone (`member.tz`); UTC when
    not even the fallback names a zone, so a bad setting never stops a message."""
    try:
        return zone(zone_name(tz, settings))
    except UserError:
        return zone("UTC")


def new_member(workspace_id: int, profile: Profile, now: datetime, settings: Settings) -> Member:
    """A member as the platform first describes them (not yet added to the session)."""
    return Member(
        workspace_id=workspace_id,
        user_id=profile.user_id,
        display_name=profile.display_name,
        email=profile.email,
        tz=zone_name(profile.tz, settings),
        is_admin=profile.is_admin,
        created_at=now,
    )


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
    member = new_member(ctx.workspace.id, profile, ctx.now, ctx.settings)
    ctx.session.add(member)
    await ctx.session.flush()
    return member
