"""badge reflection consent: a learner's reflection is published only when they say so

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 12:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Badges issued before were never asked: their reflections become private until the learner
    # says `/badges reflection B-n show`.
    op.add_column("badges", sa.Column("reflection_public", sa.Boolean(), nullable=False,
                                      server_default=sa.false()))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite's own DROP COLUMN (3.35+): a batch copy would drop the table, which the badges'
        # foreign key to themselves (replaced_by) refuses once a badge was corrected.
        op.execute("ALTER TABLE badges DROP COLUMN reflection_public")
    else:
        op.drop_column("badges", "reflection_public")
