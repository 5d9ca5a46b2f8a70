"""verifiable badges

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 02:59:50.983673
"""

import secrets

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('signing_keys',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('pem', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_signing_keys')),
    sa.UniqueConstraint('name', name=op.f('uq_signing_keys_name'))
    )
    with op.batch_alter_table('badges', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=20), nullable=False,
                                      server_default='issued'))
        batch_op.add_column(sa.Column('salt', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('status_index', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('replaced_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
    # Badges issued before this change get a salt of their own and a place in the status list.
    bind = op.get_bind()
    for (badge_id,) in bind.execute(sa.text("SELECT id FROM badges")).all():
        bind.execute(sa.text("UPDATE badges SET salt = :salt, status_index = :index WHERE id = :id"),
                     {"salt": secrets.token_hex(16), "index": badge_id, "id": badge_id})
    with op.batch_alter_table('badges', schema=None) as batch_op:
        batch_op.alter_column('salt', nullable=False)
        batch_op.alter_column('status_index', nullable=False)
        batch_op.drop_constraint(batch_op.f('uq_badges_submission_id'), type_='unique')
        batch_op.create_index(batch_op.f('ix_badges_submission_id'), ['submission_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_badges_status_index'), ['status_index'])
        batch_op.create_foreign_key(batch_op.f('fk_badges_replaced_by_badges'), 'badges', ['replaced_by'], ['id'])

    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.add_column(sa.Column('issuer_email', sa.String(length=254), nullable=True))

    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.add_column(sa.Column('badge_email_confirmed', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))



def downgrade() -> None:
    with op.batch_alter_table('members', schema=None) as batch_op:
        batch_op.drop_column('badge_email_confirmed')

    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.drop_column('issuer_email')

    with op.batch_alter_table('badges', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_badges_replaced_by_badges'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_badges_status_index'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_badges_submission_id'))
        batch_op.create_unique_constraint(batch_op.f('uq_badges_submission_id'), ['submission_id'])
        batch_op.drop_column('replaced_by')
        batch_op.drop_column('status_index')
        batch_op.drop_column('salt')
        batch_op.drop_column('state')

    op.drop_table('signing_keys')
