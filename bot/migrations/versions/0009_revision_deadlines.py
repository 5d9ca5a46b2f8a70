"""revision deadlines: a window says how long a revision may take; a revision request gives the
learner a deadline of their own (an approved extension naming the review)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 14:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("windows", sa.Column("revise_within", sa.String(length=16), nullable=False,
                                       server_default="14d"))
    with op.batch_alter_table("extensions") as batch:
        batch.add_column(sa.Column("review_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True))
        batch.create_foreign_key(batch.f("fk_extensions_review_id_reviews"), "reviews", ["review_id"], ["id"])


def downgrade() -> None:
    with op.batch_alter_table("extensions") as batch:
        batch.drop_constraint(batch.f("fk_extensions_review_id_reviews"), type_="foreignkey")
        batch.drop_column("review_id")
    op.drop_column("windows", "revise_within")  # not a batch: SQLite would drop the table others refer to
