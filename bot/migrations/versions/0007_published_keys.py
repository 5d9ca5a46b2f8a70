"""published keys: the public part of every badge signing key, so the JWKS keeps old kids

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 10:00:00
"""

from alembic import op
import sqlalchemy as sa
from joserfc.jwk import RSAKey


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    published = op.create_table(
        "published_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("thumbprint", sa.String(length=64), nullable=False),
        sa.Column("jwk", sa.JSON(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_keys")),
        sa.UniqueConstraint("thumbprint", name=op.f("uq_published_keys_thumbprint")),
    )
    # The generated key that signed before this change is published now, not at its next use:
    # an operator who sets BADGE_SIGNING_KEY right after upgrading keeps old badges verifying.
    stored = sa.table(
        "signing_keys", sa.column("pem", sa.Text()), sa.column("created_at", sa.DateTime(timezone=True))
    )
    bind = op.get_bind()
    for pem, created_at in bind.execute(sa.select(stored.c.pem, stored.c.created_at)).all():
        key = RSAKey.import_key(pem)
        bind.execute(
            published.insert().values(
                thumbprint=key.thumbprint(),
                jwk={"kty": "RSA", "n": key["n"], "e": key["e"]},
                published_at=created_at,
            )
        )


def downgrade() -> None:
    op.drop_table("published_keys")
