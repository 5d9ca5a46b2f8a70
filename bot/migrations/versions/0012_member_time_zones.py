"""member time zones: a zone may be unknown (a platform that tells none) or chosen by the person
(`/badges timezone`), and a chosen one outlives their profile's

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-14 10:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def _tz_nullable(nullable: bool) -> None:
    if not _sqlite():
        op.alter_column("members", "tz", existing_type=sa.String(length=64), nullable=nullable)
        return
    # SQLite cannot change a column in place, and a batch copy would drop the table that most
    # others refer to: a new column takes the values, then SQLite's own DROP and RENAME (3.35+).
    default = None if nullable else "UTC"  # SQLite adds a NOT NULL column only with a default
    op.add_column("members", sa.Column("tz_new", sa.String(length=64), nullable=nullable, server_default=default))
    op.execute("UPDATE members SET tz_new = tz")
    op.execute("ALTER TABLE members DROP COLUMN tz")
    op.execute("ALTER TABLE members RENAME COLUMN tz_new TO tz")


def upgrade() -> None:
    op.add_column("members", sa.Column("tz_chosen", sa.Boolean(), nullable=False, server_default=sa.false()))
    _tz_nullable(True)
    # Discord tells a bot no one's zone: what its members hold is the fallback stored for them
    # (DEFAULT_TIMEZONE), not theirs. Unknown, their cohort's zone applies in its context.
    op.execute(
        "UPDATE members SET tz = NULL WHERE workspace_id IN "
        "(SELECT id FROM workspaces WHERE platform = 'discord')"
    )


def downgrade() -> None:
    op.execute("UPDATE members SET tz = 'UTC' WHERE tz IS NULL")
    _tz_nullable(False)
    if _sqlite():
        op.execute("ALTER TABLE members DROP COLUMN tz_chosen")
    else:
        op.drop_column("members", "tz_chosen")
