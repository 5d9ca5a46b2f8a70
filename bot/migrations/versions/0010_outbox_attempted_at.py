"""outbox attempted_at: a row is marked just before it is handed to the platform, so after a
crash only rows so marked are looked up in the platform's history

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 08:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=True))
    # Before this mark, any row left "sending" may have been handed over: it is looked up, as before.
    outbox = sa.table("outbox", sa.column("state", sa.String()),
                      sa.column("attempted_at", sa.DateTime(timezone=True)),
                      sa.column("created_at", sa.DateTime(timezone=True)))
    op.execute(outbox.update().where(outbox.c.state == "sending").values(attempted_at=outbox.c.created_at))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("attempted_at")
