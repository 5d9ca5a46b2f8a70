"""Who holds a role in a cohort: the one query handlers, scheduled jobs, progress notices and
delivery (a dead letter's coordinators) all ask, so they never disagree on who is in."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import Role
from bot.storage.models import Enrolment, Member


def enrolled(cohort_id: int, role: Role) -> Select[int]:
    """The ids of the cohort's members with `role`, to count or to filter by in SQL (a
    cohort's learners are never all loaded to be counted)."""
    return select(Enrolment.member_id).where(Enrolment.cohort_id == cohort_id, Enrolment.role == role)


async def members_with_role(session: AsyncSession, cohort_id: int, role: Role) -> list[Member]:
    """The cohort's members with `role`, in the order they joined the workspace."""
    rows = await session.scalars(
        select(Member).where(Member.id.in_(enrolled(cohort_id, role))).order_by(Member.id)
    )
    return list(rows)
