"""intake: commands acknowledged before they run

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 08:00:00
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('inbound', schema=None) as batch_op:
        batch_op.add_column(sa.Column('pending', sa.JSON(), nullable=True))
    op.create_index('ix_inbound_pending', 'inbound', ['at'], unique=False,
                    sqlite_where=sa.text('pending IS NOT NULL'),
                    postgresql_where=sa.text('pending IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('ix_inbound_pending', table_name='inbound')
    with op.batch_alter_table('inbound', schema=None) as batch_op:
        batch_op.drop_column('pending')
