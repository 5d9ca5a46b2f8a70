"""SQLAlchemy 2 models. Times are stored in UTC; every row that people see belongs
to a workspace, and every query filters on it."""

from __future__ import annotations

from datetime import UTC as TZ_UTC
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from bot.domain import BadgeState, ExtensionState, ReviewState, SubmissionState

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Id = BigInteger().with_variant(Integer(), "sqlite")  # SQLite autoincrements INTEGER only


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on every database (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; use aware UTC datetimes")
        value = value.astimezone(TZ_UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=TZ_UTC) if value.tzinfo is None else value.astimezone(TZ_UTC)


UTC = UTCDateTime()

E = TypeVar("E", bound=StrEnum)


class EnumWord(TypeDecorator[E]):
    """A `StrEnum` kept as its word and read back as the enum: the column holds the same
    strings a plain one would (no migration to adopt it), and a word outside the enum fails
    where it is written, not where it is read."""

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Any) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Any) -> E | None:
        return None if value is None else self.enum(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTC, dict[str, Any]: JSON, list[Any]: JSON}


class Workspace(Base):
    __tablename__ = "workspaces"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))  # console, slack, discord
    external_id: Mapped[str] = mapped_column(String(64))  # Slack team id, Discord guild id
    name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("workspace_id", "user_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(64))  # the platform's user id
    display_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(254))
    badge_email: Mapped[str | None] = mapped_column(String(254))  # set with /badges email
    # The person's zone: the one they chose (`/badges timezone`), else their platform profile's;
    # None where neither is known (Discord tells none): `workflows.members.zone_name` falls back.
    tz: Mapped[str | None] = mapped_column(String(64))
    tz_chosen: Mapped[bool] = mapped_column(Boolean, default=False)  # set with /badges timezone
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    autoshare: Mapped[bool] = mapped_column(Boolean, default=False)
    badge_email_confirmed: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]


class Credential(Base):
    """A badge class, from the installation's catalogue."""

    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    workspace_id: Mapped[int | None] = mapped_column(ForeignKey("workspaces.id"))  # restricted to
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    criteria: Mapped[str] = mapped_column(Text, default="")
    rubric: Mapped[list[Any]] = mapped_column(JSON, default=list)
    image: Mapped[str | None] = mapped_column(String(2000))
    issuer_name: Mapped[str] = mapped_column(String(200))
    issuer_url: Mapped[str] = mapped_column(String(2000))
    issuer_email: Mapped[str | None] = mapped_column(String(254))
    blind_review: Mapped[bool] = mapped_column(Boolean, default=False)
    credly_template_id: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime]


class Cohort(Base):
    __tablename__ = "cohorts"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    channel_id: Mapped[str | None] = mapped_column(String(64))
    channel_name: Mapped[str | None] = mapped_column(String(100))
    reviews_channel_id: Mapped[str | None] = mapped_column(String(64))
    reviews_channel_name: Mapped[str | None] = mapped_column(String(100))
    tz: Mapped[str] = mapped_column(String(64))
    quiet_days: Mapped[list[Any]] = mapped_column(JSON, default=list)  # ISO dates without nudges
    created_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime]


class Enrolment(Base):
    """One role of one member in one cohort."""

    __tablename__ = "enrolments"
    __table_args__ = (UniqueConstraint("cohort_id", "member_id", "role"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    added_at: Mapped[datetime]


class Window(Base):
    __tablename__ = "windows"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), index=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), index=True)
    credential_id: Mapped[int] = mapped_column(ForeignKey("credentials.id"))
    opens_at: Mapped[datetime]
    closes_at: Mapped[datetime] = mapped_column(UTC, index=True)
    closed_at: Mapped[datetime | None]  # closed by hand before closes_at
    tz: Mapped[str] = mapped_column(String(64))
    nudge_offsets: Mapped[list[Any]] = mapped_column(JSON)  # ["7d", "2d", ...]
    late_policy: Mapped[str] = mapped_column(String(16), default="deny")
    # how long a learner has to resubmit after a revision request ("14d"), when that ends after
    # the window's close: their own deadline (an Extension with review_id)
    revise_within: Mapped[str] = mapped_column(String(16), default="14d", server_default="14d")
    open_announced_at: Mapped[datetime | None]
    close_announced_at: Mapped[datetime | None]
    created_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime]

    cohort: Mapped[Cohort] = relationship(lazy="joined")
    credential: Mapped[Credential] = relationship(lazy="joined")

    @property
    def ends_at(self) -> datetime:
        """When the window stops (or stopped) taking work from everyone: its close, or the
        moment a coordinator closed it by hand. Learners' own deadlines count after it."""
        return self.closed_at or self.closes_at


class Extension(Base):
    """A learner's request for their own, later deadline in one window."""

    __tablename__ = "extensions"
    __table_args__ = (Index("ix_extensions_window_member", "window_id", "member_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), index=True)
    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[ExtensionState] = mapped_column(
        EnumWord(ExtensionState, 16), default=ExtensionState.PENDING
    )
    requested_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    closes_at: Mapped[datetime | None]  # the learner's own deadline once approved
    # set when a revision request gave the deadline (approved at once); a coordinator may move it
    review_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id"))

    window: Mapped[Window] = relationship(lazy="joined")
    member: Mapped[Member] = relationship(lazy="joined", foreign_keys=[member_id])


class Submission(Base):
    __tablename__ = "submissions"
    __table_args__ = (UniqueConstraint("window_id", "member_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), index=True)
    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    state: Mapped[SubmissionState] = mapped_column(EnumWord(SubmissionState, 24))
    code: Mapped[str] = mapped_column(String(16))  # what assessors see under blind review
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    window: Mapped[Window] = relationship(lazy="joined")
    member: Mapped[Member] = relationship(lazy="joined")


class Version(Base):
    __tablename__ = "versions"
    __table_args__ = (UniqueConstraint("submission_id", "number"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    links: Mapped[list[Any]] = mapped_column(JSON)
    overview: Mapped[str] = mapped_column(Text, default="")
    reflection: Mapped[str] = mapped_column(Text, default="")
    change_note: Mapped[str] = mapped_column(Text, default="")
    submitted_at: Mapped[datetime]
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    link_report: Mapped[list[Any] | None] = mapped_column(JSON)


class Review(Base):
    """An assessor's task on one version of a submission."""

    __tablename__ = "reviews"
    __table_args__ = (Index("ix_reviews_open", "workspace_id", "state"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"))
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("versions.id"))
    state: Mapped[ReviewState] = mapped_column(EnumWord(ReviewState, 16))
    assessor_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    claimed_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    decision: Mapped[str | None] = mapped_column(String(16))  # approved, revise
    scores: Mapped[list[Any] | None] = mapped_column(JSON)
    feedback: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    queued_at: Mapped[datetime]  # when it (last) entered the queue: review SLAs count from here

    submission: Mapped[Submission] = relationship(lazy="joined")


class Badge(Base):
    """An issued credential (an Open Badges assertion)."""

    __tablename__ = "badges"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    uid: Mapped[str] = mapped_column(String(40), unique=True)  # public, unguessable
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    credential_id: Mapped[int] = mapped_column(ForeignKey("credentials.id"))
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id"), index=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"))
    recipient_email: Mapped[str | None] = mapped_column(String(254))
    # "awaiting address" until the learner confirms where their first badge goes; then "issued".
    # "cancelled": never issued, its approval corrected to a revision request (reviews.correct)
    state: Mapped[BadgeState] = mapped_column(EnumWord(BadgeState, 20), default=BadgeState.ISSUED)
    salt: Mapped[str] = mapped_column(String(64))
    status_index: Mapped[int] = mapped_column(Integer, unique=True)  # in the revocation list
    issued_at: Mapped[datetime]
    shared_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    revoked_reason: Mapped[str | None] = mapped_column(Text)  # public: on the page and in the assertion
    replaced_by: Mapped[int | None] = mapped_column(ForeignKey("badges.id"))
    # The learner's consent to publish their reflection on the page and in the documents; the
    # evidence links are public either way.
    reflection_public: Mapped[bool] = mapped_column(Boolean, default=False)

    credential: Mapped[Credential] = relationship(lazy="joined")


class NudgeLedger(Base):
    """Nudges already planned: the unique key makes planning idempotent."""

    __tablename__ = "nudge_ledger"
    __table_args__ = (UniqueConstraint("window_id", "target", "nudge_key"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id"))
    target: Mapped[str] = mapped_column(String(40))  # channel | member:<id>
    nudge_key: Mapped[str] = mapped_column(String(40))
    planned_at: Mapped[datetime]


class OutboxState(StrEnum):
    """pending -> sending (claimed, with a lease) -> sent | pending (retry) | dead; or cancelled
    (a moved deadline, a corrected decision) before it went."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"  # a dead letter: coordinators see it, `cohortbot outbox retry` sends it again
    CANCELLED = "cancelled"


class Outbox(Base):
    """A message the bot owes someone, committed with the change that caused it."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), index=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)  # idempotency key
    dest_kind: Mapped[str] = mapped_column(String(16))  # channel | dm
    dest_id: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[OutboxState] = mapped_column(EnumWord(OutboxState, 16), default=OutboxState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    ref: Mapped[str | None] = mapped_column(String(100))  # platform message id once sent
    lease_until: Mapped[datetime | None]  # while state is "sending": the claim expires then
    # handed to the platform then, and not known to have arrived: looked up before a resend
    attempted_at: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    window_id: Mapped[int | None] = mapped_column(ForeignKey("windows.id"), index=True)
    cohort_id: Mapped[int | None] = mapped_column(ForeignKey("cohorts.id"), index=True)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class Reminder(Base):
    __tablename__ = "reminders"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), index=True)
    cohort_id: Mapped[int] = mapped_column(ForeignKey("cohorts.id"), index=True)
    run_at: Mapped[datetime | None]  # one-off
    cron: Mapped[str | None] = mapped_column(String(100))  # or recurring, in tz
    tz: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int] = mapped_column(ForeignKey("members.id"))
    created_at: Mapped[datetime]
    last_run_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]

    cohort: Mapped[Cohort] = relationship(lazy="joined")


class Audit(Base):
    __tablename__ = "audit"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspaces.id"), index=True)
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    action: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(40), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime]


class Inbound(Base):
    """Requests already taken (a Slack trigger id, an event id): a platform's retry of the
    same request finds its key here and changes nothing.

    A command taken in by intake (see `CohortBot.accept`) keeps what is needed to run it
    in `pending` until it has run: acknowledged, so it must never be lost. Run requests
    are forgotten after a week (`forget_requests`): platforms retry within minutes."""

    __tablename__ = "inbound"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    at: Mapped[datetime]
    pending: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))  # SQL NULL once run

    __table_args__ = (
        Index(
            "ix_inbound_pending", "at", sqlite_where=pending.isnot(None), postgresql_where=pending.isnot(None)
        ),
        Index("ix_inbound_at", "at"),
    )  # forgetting old requests (`forget_requests`)


class SigningKey(Base):
    """The badge signing key, generated once when settings don't provide one; `cohortbot badges
    rotate-key` replaces it (its public part stays in `PublishedKey`)."""

    __tablename__ = "signing_keys"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    pem: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]


class PublishedKey(Base):
    """The public part of every key that has signed badges, kept for good: the JWKS serves them
    all, so a credential signed before a key rotation keeps verifying. Never a private member."""

    __tablename__ = "published_keys"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    thumbprint: Mapped[str] = mapped_column(String(64), unique=True)  # RFC 7638; ends the key's kid URL
    jwk: Mapped[dict[str, Any]] = mapped_column(JSON)  # kty, n, e
    published_at: Mapped[datetime]


class RateLimitRow(Base):
    """A platform rate limit as the outbox learned it (a workspace's messages a second), so a
    restarted or second worker starts from it (bot/ratelimit.py)."""

    __tablename__ = "rate_limits"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # e.g. slack:T1:messages
    rate: Mapped[float] = mapped_column(Float)  # the whole workspace's, whatever the number of workers
    peak: Mapped[float | None] = mapped_column(Float)  # the rate the last 429 came at: regained fast
    learned_at: Mapped[datetime]  # last changed: long unchanged, it is probed afresh
    cut_at: Mapped[datetime | None]  # last cut after a 429: a worker that cut too cuts no further


class RateShare(Base):
    """A worker sending under a learned rate lately: the workers seen share its budget."""

    __tablename__ = "rate_shares"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    worker: Mapped[str] = mapped_column(String(100), primary_key=True)
    seen_at: Mapped[datetime]
