"""The history store's tables (SQLAlchemy 2.x). Alembic migrations in ``migrations/`` mirror them.

A run is keyed by (deployment, slot): evaluating a slot again replaces that run's rows. Measurements
(what a source said) and scores (what the rules made of it) are separate tables with one row per
(run, KR); overrides, check-ins and abandons are annotations that never replace a computed score.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    cast,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "HISTORY_KR_SCORE_COLUMNS",
    "HISTORY_MEASUREMENT_COLUMNS",
    "KR_SCORE_FITS_INDEX",
    "MEASUREMENT_FITS_INDEX",
    "SCHEMA_HEAD",
    "AlertGroupRow",
    "AlertStateRow",
    "Annotation",
    "Base",
    "KRScoreRow",
    "MeasurementRow",
    "ObjectiveScoreRow",
    "OutboxRow",
    "Run",
    "add_postgresql_indexes",
    "index_filter",
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


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


class Run(Base):
    __tablename__ = "runs"
    __table_args__ = (UniqueConstraint("deployment", "slot", name="uq_runs_deployment_slot"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deployment: Mapped[str] = mapped_column(String(128))
    slot: Mapped[datetime] = mapped_column(index=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    config_hash: Mapped[str] = mapped_column(String(64))
    cycle: Mapped[str] = mapped_column(String(64))
    kr_count: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    backfilled: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[str] = mapped_column(Text, default="")


class MeasurementRow(Base):
    __tablename__ = "measurements"
    __table_args__ = (UniqueConstraint("run_id", "kr_id", name="uq_measurements_run_kr"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    slot: Mapped[datetime]
    kr_id: Mapped[str] = mapped_column(String(128))
    value: Mapped[float | None] = mapped_column(Float)
    observed_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    lineage: Mapped[dict[str, Any]] = mapped_column(default=dict)


class KRScoreRow(Base):
    __tablename__ = "kr_scores"
    __table_args__ = (UniqueConstraint("run_id", "kr_id", name="uq_kr_scores_run_kr"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    slot: Mapped[datetime]
    kr_id: Mapped[str] = mapped_column(String(128))
    objective_id: Mapped[str] = mapped_column(String(128))
    score: Mapped[float | None] = mapped_column(Float)
    computed_score: Mapped[float | None] = mapped_column(Float)
    progress: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    gates: Mapped[list[str]] = mapped_column(default=list)
    held: Mapped[bool] = mapped_column(Boolean, default=False)
    trusted: Mapped[bool] = mapped_column(Boolean, default=True)
    overridden: Mapped[bool] = mapped_column(Boolean, default=False)
    expected: Mapped[float | None] = mapped_column(Float)
    forecast: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")  # why the status (migration 0006)


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

_measurements, _kr_scores = MeasurementRow.__table__, KRScoreRow.__table__
MEASUREMENT_FITS_INDEX: ColumnElement[bool] = (
    func.octet_length(_measurements.c.detail) + func.octet_length(cast(_measurements.c.lineage, Text)) <= 1800
)
KR_SCORE_FITS_INDEX: ColumnElement[bool] = (
    func.octet_length(cast(_kr_scores.c.gates, Text))
    + func.coalesce(func.octet_length(cast(_kr_scores.c.forecast, Text)), 0)
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
    (_measurements, "measurements", HISTORY_MEASUREMENT_COLUMNS, MEASUREMENT_FITS_INDEX),
    (_kr_scores, "kr_scores", HISTORY_KR_SCORE_COLUMNS, KR_SCORE_FITS_INDEX),
)
for _table, _name, _columns, _ in _HISTORY_INDEXED:
    _only("sqlite", Index(f"ix_{_name}_kr_slot_all", _table.c.kr_id, _table.c.slot, *(_table.c[c] for c in _columns)))
    _only("postgresql", Index(f"ix_{_name}_kr_slot", _table.c.kr_id, _table.c.slot))

_postgresql_lock = threading.Lock()


def add_postgresql_indexes() -> None:
    """Put PostgreSQL's partial covering indexes on the tables (once; later calls do nothing).

    Their ``postgresql_include``/``postgresql_where`` options make SQLAlchemy import its whole PostgreSQL dialect
    to check them (every driver module: ~55 ms of CPU and 2 MiB), which a run on SQLite never needs: only what
    compares or builds PostgreSQL's schema from these models adds them (``index_filter("postgresql")``, so
    Alembic's ``env.py`` and the model/migration comparison; the benchmarks' bulk load). The migrations create
    the indexes themselves (0003), so a PostgreSQL store works the same without them here.
    """
    with _postgresql_lock:
        if any(index.name == "ix_measurements_kr_slot_incl" for index in _measurements.indexes):
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
    """Alembic's ``include_object`` for comparing a database with these models: skips the other dialect's indexes
    (for PostgreSQL, after adding its partial indexes to the models: ``add_postgresql_indexes``)."""
    if dialect == "postgresql":
        add_postgresql_indexes()

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return not (type_ == "index" and obj.info.get("dialect", dialect) != dialect)

    return include


class ObjectiveScoreRow(Base):
    __tablename__ = "objective_scores"
    __table_args__ = (
        UniqueConstraint("run_id", "objective_id", name="uq_objective_scores_run_objective"),
        Index("ix_objective_scores_objective_slot", "objective_id", "slot"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    slot: Mapped[datetime]
    objective_id: Mapped[str] = mapped_column(String(128))
    score: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")  # why the status (migration 0006)
    scored_krs: Mapped[int | None] = mapped_column(Integer)  # KRs under it with a score in the run
    total_krs: Mapped[int | None] = mapped_column(Integer)  # all KRs under it


class Annotation(Base):
    """A person's input on a KR: a check-in value, a score override, or an abandon, with author and reason."""

    __tablename__ = "annotations"
    __table_args__ = (Index("ix_annotations_kr_effective", "kr_id", "effective_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kr_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # checkin | override | abandon | clear_override
    value: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime]
    effective_at: Mapped[datetime]


class AlertStateRow(Base):
    """One alert's state machine (see ``okrflow.alerts.state``), keyed by its fingerprint.

    Alerts belong to an alert group (the config's ``defaults.alerts.group``, else ``default``), not to the
    deployment that ran: a manual ``okrflow run`` and ``okrflow serve`` of one config share each alert.
    """

    __tablename__ = "alert_states"
    __table_args__ = (Index("ix_alert_states_group", "alert_group"),)

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    alert_group: Mapped[str] = mapped_column(String(160))
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(160))  # a KR id, an objective id or a source name
    phase: Mapped[str] = mapped_column(String(16))
    consecutive: Mapped[int] = mapped_column(Integer, default=0)
    last_slot: Mapped[datetime | None]
    fired_at: Mapped[datetime | None]
    last_notified_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    last_seen: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # value/score/status at the last notification
    active_since: Mapped[datetime | None]  # when the condition began (for: counts from it), migration 0004
    notified: Mapped[bool] = mapped_column(Boolean, default=False)  # its firing was told: a resolve is owed


class AlertGroupRow(Base):
    """An alert group's judging clock: runs of older slots are stored but not judged (they send nothing)."""

    __tablename__ = "alert_groups"

    name: Mapped[str] = mapped_column(String(160), primary_key=True)
    last_judged_slot: Mapped[datetime]
    judged_at: Mapped[datetime]


class OutboxRow(Base):
    """A notification waiting for (or done with) delivery: retried with backoff until sent."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("message_id", "channel", name="uq_outbox_message_channel"),
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(128))
    owner: Mapped[str] = mapped_column(String(128))
    slot: Mapped[datetime]
    payload: Mapped[str] = mapped_column(Text)  # Message.to_json()
    status: Mapped[str] = mapped_column(String(16))  # queued | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    claimed_by: Mapped[str | None] = mapped_column(String(64))  # the deliverer sending it now
    claimed_until: Mapped[datetime | None]  # its lease: after it, another deliverer may retry the message
