"""Baselines: versioned configurations and the launches that changed them.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "baselines",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("author", sa.String(200), nullable=False),
        sa.Column("why", sa.Text, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("study", sa.String(300), nullable=True),
        sa.Column("evidence", sa.JSON, nullable=True),
        sa.Column("forced", sa.Boolean, nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_baselines_name_version"),
    )


def downgrade() -> None:
    op.drop_table("baselines")
