"""Trials created when a slot asks for work: a study budget, params chosen after reservation.

A leaf study now carries its trial budget (how many trials it may create); a trial row is
reserved first and its params are written when the sampler has chosen them, so ``params``
may be NULL for a reserved trial. Studies written before this revision had every trial
queued up front: their budget is the number of trials they hold.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("studies") as batch:
        batch.add_column(sa.Column("budget", sa.Integer, nullable=True))
    with op.batch_alter_table("trials") as batch:
        batch.alter_column("params", existing_type=sa.JSON, nullable=True)
    op.execute("UPDATE studies SET budget = (SELECT COUNT(*) FROM trials "
               "WHERE trials.study_id = studies.id) "
               "WHERE EXISTS (SELECT 1 FROM trials WHERE trials.study_id = studies.id)")


def downgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.alter_column("params", existing_type=sa.JSON, nullable=False)
    with op.batch_alter_table("studies") as batch:
        batch.drop_column("budget")
