"""Alert states remember when their condition began (``for:`` is measured in slot time from it).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from okrflow.store.models import UTCDateTime

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    with op.batch_alter_table("alert_states") as batch:
        batch.add_column(sa.Column("active_since", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alert_states") as batch:
        batch.drop_column("active_since")
