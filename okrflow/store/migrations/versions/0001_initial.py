"""Initial history schema: runs, measurements, kr_scores, objective_scores, annotations.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

from okrflow.store.models import UTCDateTime

revision = "0001"
down_revision = None


def _run_child(name: str, *columns: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer(), sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("slot", UTCDateTime(), nullable=False),
        *columns,
    )


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("deployment", sa.String(128), nullable=False),
        sa.Column("slot", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("cycle", sa.String(64), nullable=False),
        sa.Column("kr_count", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("backfilled", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.UniqueConstraint("deployment", "slot", name="uq_runs_deployment_slot"),
    )
    op.create_index("ix_runs_slot", "runs", ["slot"])
    _run_child(
        "measurements",
        sa.Column("kr_id", sa.String(128), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("observed_at", UTCDateTime(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("lineage", sa.JSON(), nullable=False),
        sa.UniqueConstraint("run_id", "kr_id", name="uq_measurements_run_kr"),
    )
    op.create_index("ix_measurements_kr_slot", "measurements", ["kr_id", "slot"])
    _run_child(
        "kr_scores",
        sa.Column("kr_id", sa.String(128), nullable=False),
        sa.Column("objective_id", sa.String(128), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("computed_score", sa.Float(), nullable=True),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("gates", sa.JSON(), nullable=False),
        sa.Column("held", sa.Boolean(), nullable=False),
        sa.Column("trusted", sa.Boolean(), nullable=False),
        sa.Column("overridden", sa.Boolean(), nullable=False),
        sa.Column("expected", sa.Float(), nullable=True),
        sa.Column("forecast", sa.JSON(), nullable=True),
        sa.UniqueConstraint("run_id", "kr_id", name="uq_kr_scores_run_kr"),
    )
    op.create_index("ix_kr_scores_kr_slot", "kr_scores", ["kr_id", "slot"])
    _run_child(
        "objective_scores",
        sa.Column("objective_id", sa.String(128), nullable=False),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.UniqueConstraint("run_id", "objective_id", name="uq_objective_scores_run_objective"),
    )
    op.create_index("ix_objective_scores_objective_slot", "objective_scores", ["objective_id", "slot"])
    op.create_table(
        "annotations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kr_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("effective_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_annotations_kr_effective", "annotations", ["kr_id", "effective_at"])


def downgrade() -> None:
    for table in ("annotations", "objective_scores", "kr_scores", "measurements", "runs"):
        op.drop_table(table)
