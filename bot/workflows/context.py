"""The context a command runs in, and the steps below it take: who, where, when, and the open
unit of work."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.directory import Directory
from bot.messages import Destination, Followup, Message
from bot.storage import Audit, Cohort, Member, Workspace
from bot.storage.db import Database
from bot.workflows.members import tz_of
from bot.workflows.sending import Outgoing, send


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
        """The actor's zone outside any cohort (`tz_in` within one)."""
        return tz_of(self.actor.tz, self.settings)

    def tz_in(self, cohort: Cohort) -> ZoneInfo:
        """The actor's zone in what concerns `cohort` (its windows, deadlines, receipts): the
        cohort's where theirs is unknown."""
        return tz_of(self.actor.tz, self.settings, cohort.tz)

    async def send(
        self,
        dest: Destination,
        message: Message,
        key: str,
        *,
        cohort: Cohort | None = None,
        window_id: int | None = None,
        send_at: datetime | None = None,
    ) -> None:
        """Queue a message in this transaction: it goes out only if the change commits."""
        await self.post(
            Outgoing(
                dest,
                message,
                key,
                cohort_id=cohort.id if cohort else None,
                window_id=window_id,
                send_at=send_at,
            ),
        )

    async def post(self, *outgoing: Outgoing) -> None:
        await send(self.session, self.workspace.id, self.now, *outgoing)

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
