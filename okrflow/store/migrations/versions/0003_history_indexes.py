"""Covering indexes for one KR's history: its points come from the index, not from scattered table rows.

SQLite: ``ix_{table}_kr_slot`` becomes ``ix_{table}_kr_slot_all``, an index of (kr_id, slot) and every column
history reads (it serves every query the narrower index served). PostgreSQL keeps ``ix_{table}_kr_slot`` and adds
``ix_{table}_kr_slot_incl``, (kr_id, slot) INCLUDE those columns, partial on rows whose free-form texts fit a
B-tree entry, and ``ix_{table}_kr_slot_large`` for the (rare) rows that do not.

Building them reads the whole tables once (a quarter of 15-minute runs for 1,000 KRs: ~2 min per backend on
2 cores); writes wait for it.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

_COLUMNS = {
    "measurements": ["run_id", "value", "observed_at", "status", "detail", "lineage"],
    "kr_scores": [
        "run_id",
        "objective_id",
        "score",
        "computed_score",
        "progress",
        "status",
        "gates",
        "held",
        "trusted",
        "overridden",
        "expected",
        "forecast",
    ],
}
_FITS = {  # must stay the expressions of MEASUREMENT_FITS_INDEX and KR_SCORE_FITS_INDEX in models.py
    "measurements": "octet_length(detail) + octet_length(CAST(lineage AS TEXT)) <= 1800",
    "kr_scores": "octet_length(CAST(gates AS TEXT)) + coalesce(octet_length(CAST(forecast AS TEXT)), 0) <= 1200",
}


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, columns in _COLUMNS.items():
        if sqlite:
            op.create_index(f"ix_{table}_kr_slot_all", table, ["kr_id", "slot", *columns])
            op.drop_index(f"ix_{table}_kr_slot", table_name=table)
        else:
            fits = _FITS[table]
            op.create_index(
                f"ix_{table}_kr_slot_incl",
                table,
                ["kr_id", "slot"],
                postgresql_include=columns,
                postgresql_where=sa.text(fits),
            )
            op.create_index(
                f"ix_{table}_kr_slot_large", table, ["kr_id", "slot"], postgresql_where=sa.text(fits.replace("<=", ">"))
            )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in _COLUMNS:
        if sqlite:
            op.create_index(f"ix_{table}_kr_slot", table, ["kr_id", "slot"])
            op.drop_index(f"ix_{table}_kr_slot_all", table_name=table)
        else:
            op.drop_index(f"ix_{table}_kr_slot_large", table_name=table)
            op.drop_index(f"ix_{table}_kr_slot_incl", table_name=table)
