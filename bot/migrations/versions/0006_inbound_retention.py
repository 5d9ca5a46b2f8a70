"""inbound retention: an index to forget old requests by age

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 11:30:00
"""

from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_inbound_at', 'inbound', ['at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_inbound_at', table_name='inbound')
