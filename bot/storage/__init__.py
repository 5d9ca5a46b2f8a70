"""Persistence: models, the engine and the unit of work."""

from bot.storage.db import Database
from bot.storage.models import (
    Audit,
    Badge,
    Base,
    Cohort,
    Credential,
    Enrolment,
    Extension,
    Inbound,
    Member,
    NudgeLedger,
    Outbox,
    PublishedKey,
    RateLimitRow,
    RateShare,
    Reminder,
    Review,
    SigningKey,
    Submission,
    Version,
    Window,
    Workspace,
)

__all__ = [
    "Audit", "Badge", "Base", "Cohort", "Credential", "Database", "Enrolment", "Extension", "Inbound",
    "Member", "NudgeLedger", "Outbox", "PublishedKey", "RateLimitRow", "RateShare", "Reminder", "Review",
    "SigningKey", "Submission", "Version", "Window", "Workspace",
]
