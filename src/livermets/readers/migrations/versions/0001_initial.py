"""Initial reader-study schema: studies, users, cases, sessions, assignments, ratings, meta."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create every table."""
    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("scale", sa.String(20), nullable=False),
        sa.Column("washout_days", sa.Float(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("positive_label", sa.String(100), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(100), nullable=False, unique=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("studies.id"), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("studies.id"), nullable=False,
                  index=True),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("patient_id", sa.String(100), nullable=False),
        sa.Column("lesion_id", sa.String(50), nullable=False),
        sa.Column("truth", sa.Integer(), nullable=False),
        sa.Column("size_group", sa.String(30), nullable=False),
        sa.Column("diameter_mm", sa.Float(), nullable=False),
        sa.Column("ai_probability", sa.Float(), nullable=False),
        sa.Column("image_path", sa.Text(), nullable=False),
        sa.Column("mask_path", sa.Text(), nullable=False),
        sa.Column("source_label", sa.Integer(), nullable=False),
        *[sa.Column(c, sa.Integer(), nullable=False) for c in ("k0", "k1", "j0", "j1", "i0", "i1")],
        sa.UniqueConstraint("study_id", "key"),
    )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("study_id", sa.Integer(), sa.ForeignKey("studies.id"), nullable=False,
                  index=True),
        sa.Column("index", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("with_ai", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("study_id", "index"),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reader_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False,
                  index=True),
        sa.Column("session_id", sa.Integer(), sa.ForeignKey("sessions.id"), nullable=False,
                  index=True),
        sa.Column("case_id", sa.Integer(), sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("reader_id", "session_id", "position"),
        sa.UniqueConstraint("reader_id", "session_id", "case_id"),
    )
    op.create_table(
        "ratings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("assignment_id", sa.Integer(), sa.ForeignKey("assignments.id"),
                  nullable=False, unique=True),
        sa.Column("rating", sa.Float(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("time_spent_s", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    """Drop every table."""
    for table in ("ratings", "assignments", "sessions", "cases", "users", "studies", "meta"):
        op.drop_table(table)
