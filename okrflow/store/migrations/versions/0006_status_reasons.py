"""Statuses carry their reason; objectives say how many KRs under them had data (issue 12).

``kr_scores.reason`` and ``objective_scores.reason``: why the status is what it is, in words.
``objective_scores.scored_krs`` / ``total_krs``: KRs under the objective with a score in the run, and all of them
(null in runs stored before they were counted). History reads (the covering indexes) do not need them.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("kr_scores") as batch:
        batch.add_column(sa.Column("reason", sa.Text(), nullable=False, server_default=""))
    with op.batch_alter_table("objective_scores") as batch:
        batch.add_column(sa.Column("reason", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("scored_krs", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("total_krs", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("objective_scores") as batch:
        batch.drop_column("total_krs")
        batch.drop_column("scored_krs")
        batch.drop_column("reason")
    with op.batch_alter_table("kr_scores") as batch:
        batch.drop_column("reason")
