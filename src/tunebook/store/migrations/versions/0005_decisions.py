"""Autopilot decisions: the timeline of what it did, why, and what it cost.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("pilot", sa.String(300), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("phase", sa.String(40), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("why", sa.Text, nullable=False),
        sa.Column("stats", sa.JSON, nullable=False),
        sa.Column("study", sa.String(300), nullable=True),
        sa.Column("spent", sa.Float, nullable=False),
        sa.Column("budget", sa.Float, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("pilot", "seq", name="uq_decisions_pilot_seq"),
    )


def downgrade() -> None:
    op.drop_table("decisions")
