"""inbound ledger and review queue time

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 02:28:59.205151
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('inbound',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbound')),
    sa.UniqueConstraint('key', name=op.f('uq_inbound_key'))
    )
    # Existing reviews entered the queue when they were created.
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.add_column(sa.Column('queued_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE reviews SET queued_at = created_at")
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.alter_column('queued_at', nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.drop_column('queued_at')

    op.drop_table('inbound')
