"""People: the time zone a person's times are read and written in, a member made from a
platform's profile (one a mention names, or everyone in a mentioned group), and their roles in
a cohort."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.config import Settings
from bot.directory import Group, Profile
from bot.domain import Role, UserError, zone
from bot.grammar import GroupRef, Mention
from bot.storage import Cohort, Enrolment, Member

if TYPE_CHECKING:  # the context reads its actor's zone here
    from bot.workflows.context import Context

CHUNK = 500  # user ids a query names at once: well within SQLite's and asyncpg's bound parameters


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
            f"I can't find @{mention.label or mention.user_id} in this {ctx.directory.place}; "
            "mention people who are members here, picking each from the list that appears as you "
            "type @.",
            "/cohort add spring @alice",
        )
    member = new_member(ctx.workspace.id, profile, ctx.now)
    ctx.session.add(member)
    await ctx.session.flush()
    return member


async def members_of(ctx: Context, profiles: Sequence[Profile]) -> list[Member]:
    """The workspace's members for these profiles (a group's people), in their order: the
    known ones in one query, the others created in one flush, however many."""
    known: dict[str, Member] = {}
    user_ids = list(dict.fromkeys(p.user_id for p in profiles))
    for start in range(0, len(user_ids), CHUNK):
        rows = await ctx.session.scalars(
            select(Member).where(
                Member.workspace_id == ctx.workspace.id, Member.user_id.in_(user_ids[start : start + CHUNK])
            )
        )
        known.update((m.user_id, m) for m in rows)
    fresh = [new_member(ctx.workspace.id, p, ctx.now) for p in profiles if p.user_id not in known]
    if fresh:
        ctx.session.add_all(fresh)
        await ctx.session.flush()
        known.update((m.user_id, m) for m in fresh)
    return [known[u] for u in user_ids]


async def people_named(ctx: Context, named: Sequence[Mention | GroupRef]) -> tuple[list[Member], list[Group]]:
    """The members a command's mentions name, each once in the order named (a group's
    people where the group is), and the groups named. A group nobody but bots is in is
    refused: nobody would be added, which is rarely what was meant."""
    members: list[Member] = []
    groups: list[Group] = []
    for item in named:
        if isinstance(item, Mention):
            members.append(await member_for(ctx, item))
            continue
        group = await ctx.directory.group(item.group_id)
        if not group.people:
            raise UserError(
                f"Nobody has @{group.name} (bots aside), so nobody was added; mention the people instead.",
                "/cohort add spring @alice @bob",
            )
        groups.append(group)
        members += await members_of(ctx, group.people)
    return list({m.id: m for m in members}.values()), groups
