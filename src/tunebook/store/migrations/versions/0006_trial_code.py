"""Trial code and devices: the digest of the trainer code a trial ran (its study folder's
modules) and the GPUs it was given (``CUDA_VISIBLE_DEVICES``).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.add_column(sa.Column("code", sa.String(64), nullable=True))
        batch.add_column(sa.Column("devices", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trials") as batch:
        batch.drop_column("devices")
        batch.drop_column("code")
