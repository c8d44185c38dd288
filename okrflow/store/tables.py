"""The history store's tables as SQLAlchemy Core ``Table``s on one ``MetaData``; Alembic migrations mirror them.

A run is keyed by (deployment, slot): evaluating a slot again replaces that run's rows. Measurements
(what a source said) and scores (what the rules made of it) are separate tables with one row per
(run, KR); overrides, check-ins and abandons are annotations that never replace a computed score.

Plain Core, so ``okrflow run`` and ``okrflow status`` (Core statements on a ``Connection``) never import
SQLAlchemy's ORM (~0.14 s of CPU and 7.5 MiB, issue 18); ``okrflow.store.models`` maps ORM classes onto these
same tables for whatever else prefers them (Alembic's model comparison among them).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    cast,
    func,
)
from sqlalchemy.types import TypeDecorator

__all__ = [
    "HISTORY_KR_SCORE_COLUMNS",
    "HISTORY_MEASUREMENT_COLUMNS",
    "KR_SCORE_FITS_INDEX",
    "MEASUREMENT_FITS_INDEX",
    "SCHEMA_HEAD",
    "UTCDateTime",
    "add_postgresql_indexes",
    "alert_groups",
    "alert_states",
    "annotations",
    "index_filter",
    "kr_scores",
    "measurements",
    "metadata",
    "objective_scores",
    "outbox",
    "runs",
]

SCHEMA_HEAD = "0006"
"""The newest Alembic revision; ``Store`` upgrades only when the database is behind it."""


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC so SQLite and PostgreSQL agree."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


metadata = MetaData()


def _id() -> Column[int]:
    return Column("id", Integer, primary_key=True, autoincrement=True)


def _run_id() -> Column[int]:
    return Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False)


def _time(name: str, nullable: bool = False) -> Column[datetime]:
    return Column(name, UTCDateTime(), nullable=nullable)


def _of_run(key: str) -> tuple[Column[Any], ...]:
    """The first columns of a run's row about one KR or objective: its id, run, slot and ``key``."""
    return _id(), _run_id(), _time("slot"), Column(key, String(128), nullable=False)


runs = Table(
    "runs",
    metadata,
    _id(),
    Column("deployment", String(128), nullable=False),
    Column("slot", UTCDateTime(), nullable=False, index=True),
    _time("started_at"),
    _time("finished_at", nullable=True),
    Column("status", String(16), nullable=False),
    Column("config_hash", String(64), nullable=False),
    Column("cycle", String(64), nullable=False),
    Column("kr_count", Integer, nullable=False, default=0),
    Column("error_count", Integer, nullable=False, default=0),
    Column("backfilled", Boolean, nullable=False, default=False),
    Column("detail", Text, nullable=False, default=""),
    UniqueConstraint("deployment", "slot", name="uq_runs_deployment_slot"),
)

measurements = Table(
    "measurements",
    metadata,
    *_of_run("kr_id"),
    Column("value", Float, nullable=True),
    _time("observed_at", nullable=True),
    Column("status", String(16), nullable=False),
    Column("detail", Text, nullable=False, default=""),
    Column("lineage", JSON, nullable=False, default=dict),
    UniqueConstraint("run_id", "kr_id", name="uq_measurements_run_kr"),
)

kr_scores = Table(
    "kr_scores",
    metadata,
    *_of_run("kr_id"),
    Column("objective_id", String(128), nullable=False),
    Column("score", Float, nullable=True),
    Column("computed_score", Float, nullable=True),
    Column("progress", Float, nullable=True),
    Column("status", String(16), nullable=False),
    Column("gates", JSON, nullable=False, default=list),
    Column("held", Boolean, nullable=False, default=False),
    Column("trusted", Boolean, nullable=False, default=True),
    Column("overridden", Boolean, nullable=False, default=False),
    Column("expected", Float, nullable=True),
    Column("forecast", JSON, nullable=True),
    Column("reason", Text, nullable=False, default="", server_default=""),  # why the status (migration 0006)
    UniqueConstraint("run_id", "kr_id", name="uq_kr_scores_run_kr"),
)

HISTORY_MEASUREMENT_COLUMNS = ("run_id", "value", "observed_at", "status", "detail", "lineage")
HISTORY_KR_SCORE_COLUMNS = (
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
)
"""What one KR's history reads besides (kr_id, slot): the covering indexes below hold these columns."""

MEASUREMENT_FITS_INDEX: ColumnElement[bool] = (
    func.octet_length(measurements.c.detail) + func.octet_length(cast(measurements.c.lineage, Text)) <= 1800
)
KR_SCORE_FITS_INDEX: ColumnElement[bool] = (
    func.octet_length(cast(kr_scores.c.gates, Text))
    + func.coalesce(func.octet_length(cast(kr_scores.c.forecast, Text)), 0)
    <= 1200
)
"""PostgreSQL rows whose free-form texts fit a B-tree entry (at most 2,704 bytes with 128-character ids).

A row above the bound is left out of the covering index (a partial index), so writing it can never fail with
"index row size exceeds btree maximum"; ``ix_*_kr_slot_large`` indexes those rows and history reads them from
the table. SQLite has no entry-size limit, so there every row is in one index of all the columns.
"""


def _only(dialect: str, index: Index) -> Index:
    index.info["dialect"] = dialect
    return index.ddl_if(dialect=dialect)


# One KR's history comes from the index alone: its rows are ~1,000 rows apart in the tables (written run by run),
# so reading them from the tables is a random page per row and per table (see benchmarks/README.md, section 3).
_HISTORY_INDEXED = (
    (measurements, "measurements", HISTORY_MEASUREMENT_COLUMNS, MEASUREMENT_FITS_INDEX),
    (kr_scores, "kr_scores", HISTORY_KR_SCORE_COLUMNS, KR_SCORE_FITS_INDEX),
)
for _table, _name, _columns, _ in _HISTORY_INDEXED:
    _only("sqlite", Index(f"ix_{_name}_kr_slot_all", _table.c.kr_id, _table.c.slot, *(_table.c[c] for c in _columns)))
    _only("postgresql", Index(f"ix_{_name}_kr_slot", _table.c.kr_id, _table.c.slot))

_postgresql_lock = threading.Lock()


def add_postgresql_indexes() -> None:
    """Put PostgreSQL's partial covering indexes on the tables (once; later calls do nothing).

    Their ``postgresql_include``/``postgresql_where`` options make SQLAlchemy import its whole PostgreSQL dialect
    to check them (every driver module: ~55 ms of CPU and 2 MiB), which a run on SQLite never needs: only what
    compares or builds PostgreSQL's schema from these tables adds them (``index_filter("postgresql")``, so
    Alembic's ``env.py`` and the model/migration comparison; the benchmarks' bulk load). The migrations create
    the indexes themselves (0003), so a PostgreSQL store works the same without them here.
    """
    with _postgresql_lock:
        if any(index.name == "ix_measurements_kr_slot_incl" for index in measurements.indexes):
            return
        for table, name, columns, fits in _HISTORY_INDEXED:
            _only(
                "postgresql",
                Index(
                    f"ix_{name}_kr_slot_incl",
                    table.c.kr_id,
                    table.c.slot,
                    postgresql_include=list(columns),
                    postgresql_where=fits,
                ),
            )
            _only("postgresql", Index(f"ix_{name}_kr_slot_large", table.c.kr_id, table.c.slot, postgresql_where=~fits))


def index_filter(dialect: str) -> Callable[..., bool]:
    """Alembic's ``include_object`` for comparing a database with these tables: skips the other dialect's indexes
    (for PostgreSQL, after adding its partial indexes to the tables: ``add_postgresql_indexes``)."""
    if dialect == "postgresql":
        add_postgresql_indexes()

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return not (type_ == "index" and obj.info.get("dialect", dialect) != dialect)

    return include


objective_scores = Table(
    "objective_scores",
    metadata,
    *_of_run("objective_id"),
    Column("score", Float, nullable=True),
    Column("status", String(16), nullable=False),
    Column("reason", Text, nullable=False, default="", server_default=""),  # why the status (migration 0006)
    Column("scored_krs", Integer, nullable=True),  # KRs under it with a score in the run
    Column("total_krs", Integer, nullable=True),  # all KRs under it
    UniqueConstraint("run_id", "objective_id", name="uq_objective_scores_run_objective"),
    Index("ix_objective_scores_objective_slot", "objective_id", "slot"),
)

annotations = Table(  # a person's input on a KR: a check-in value, a score override, or an abandon
    "annotations",
    metadata,
    _id(),
    Column("kr_id", String(128), nullable=False),
    Column("kind", String(16), nullable=False),  # checkin | override | abandon | clear_override
    Column("value", Float, nullable=True),
    Column("reason", Text, nullable=False, default=""),
    Column("author", String(128), nullable=False),
    _time("created_at"),
    _time("effective_at"),
    Index("ix_annotations_kr_effective", "kr_id", "effective_at"),
)

alert_states = Table(  # one alert's state machine (``okrflow.alerts.state``), keyed by its fingerprint
    "alert_states",
    metadata,
    Column("fingerprint", String(64), primary_key=True),
    Column("alert_group", String(160), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("subject", String(160), nullable=False),  # a KR id, an objective id or a source name
    Column("phase", String(16), nullable=False),
    Column("consecutive", Integer, nullable=False, default=0),
    _time("last_slot", nullable=True),
    _time("fired_at", nullable=True),
    _time("last_notified_at", nullable=True),
    _time("resolved_at", nullable=True),
    Column("last_seen", JSON, nullable=True),  # value/score/status at the last notification
    _time("active_since", nullable=True),  # when the condition began (for: counts from it), migration 0004
    Column("notified", Boolean, nullable=False, default=False),  # its firing was told: a resolve is owed
    Index("ix_alert_states_group", "alert_group"),
)
"""Alerts belong to an alert group (the config's ``defaults.alerts.group``, else ``default``), not to the
deployment that ran: a manual ``okrflow run`` and ``okrflow serve`` of one config share each alert."""

alert_groups = Table(  # an alert group's judging clock: runs of older slots are stored but not judged
    "alert_groups",
    metadata,
    Column("name", String(160), primary_key=True),
    _time("last_judged_slot"),
    _time("judged_at"),
)

outbox = Table(  # a notification waiting for (or done with) delivery: retried with backoff until sent
    "outbox",
    metadata,
    _id(),
    Column("message_id", String(64), nullable=False),
    Column("channel", String(128), nullable=False),
    Column("owner", String(128), nullable=False),
    _time("slot"),
    Column("payload", Text, nullable=False),  # Message.to_json()
    Column("status", String(16), nullable=False),  # queued | sent | failed
    Column("attempts", Integer, nullable=False, default=0),
    _time("created_at"),
    _time("next_attempt_at"),
    _time("sent_at", nullable=True),
    Column("last_error", Text, nullable=False, default=""),
    Column("claimed_by", String(64), nullable=True),  # the deliverer sending it now
    _time("claimed_until", nullable=True),  # its lease: after it, another deliverer may retry the message
    UniqueConstraint("message_id", "channel", name="uq_outbox_message_channel"),
    Index("ix_outbox_status_next", "status", "next_attempt_at"),
)
