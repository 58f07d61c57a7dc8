"""Server-side login sessions; the cookie secret no longer lives in the database."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add auth_sessions and drop the stored cookie secret (it comes from env or a key file)."""
    op.create_table(
        "auth_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False,
                  index=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False, index=True),
    )
    op.execute(sa.text("DELETE FROM meta WHERE key = 'secret'"))


def downgrade() -> None:
    """Drop auth_sessions (a new secret is stored on the next start of the old version)."""
    op.drop_table("auth_sessions")
