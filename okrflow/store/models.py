"""ORM classes of the history store, mapped onto the Core tables of ``okrflow.store.tables`` (one ``MetaData``).

The run path (``Store``, its queries, the alert repository) uses the tables and Core statements and never imports
the ORM; these classes serve what prefers ORM attributes (retention, the report's history reads, Alembic's
``env.py``, tests and benchmarks). The names the tables module defines are re-exported here, where they lived
before it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import DeclarativeBase, Mapped

from okrflow.store import tables
from okrflow.store.tables import (
    HISTORY_KR_SCORE_COLUMNS,
    HISTORY_MEASUREMENT_COLUMNS,
    KR_SCORE_FITS_INDEX,
    MEASUREMENT_FITS_INDEX,
    SCHEMA_HEAD,
    UTCDateTime,
    add_postgresql_indexes,
    index_filter,
)

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
    "UTCDateTime",
    "add_postgresql_indexes",
    "index_filter",
]


class Base(DeclarativeBase):
    metadata = tables.metadata


class Run(Base):
    __table__ = tables.runs
    __tablename__ = __table__.name

    id: Mapped[int]
    deployment: Mapped[str]
    slot: Mapped[datetime]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    status: Mapped[str]
    config_hash: Mapped[str]
    cycle: Mapped[str]
    kr_count: Mapped[int]
    error_count: Mapped[int]
    backfilled: Mapped[bool]
    detail: Mapped[str]


class MeasurementRow(Base):
    __table__ = tables.measurements
    __tablename__ = __table__.name

    id: Mapped[int]
    run_id: Mapped[int]
    slot: Mapped[datetime]
    kr_id: Mapped[str]
    value: Mapped[float | None]
    observed_at: Mapped[datetime | None]
    status: Mapped[str]
    detail: Mapped[str]
    lineage: Mapped[dict[str, Any]]


class KRScoreRow(Base):
    __table__ = tables.kr_scores
    __tablename__ = __table__.name

    id: Mapped[int]
    run_id: Mapped[int]
    slot: Mapped[datetime]
    kr_id: Mapped[str]
    objective_id: Mapped[str]
    score: Mapped[float | None]
    computed_score: Mapped[float | None]
    progress: Mapped[float | None]
    status: Mapped[str]
    gates: Mapped[list[str]]
    held: Mapped[bool]
    trusted: Mapped[bool]
    overridden: Mapped[bool]
    expected: Mapped[float | None]
    forecast: Mapped[dict[str, Any] | None]
    reason: Mapped[str]


class ObjectiveScoreRow(Base):
    __table__ = tables.objective_scores
    __tablename__ = __table__.name

    id: Mapped[int]
    run_id: Mapped[int]
    slot: Mapped[datetime]
    objective_id: Mapped[str]
    score: Mapped[float | None]
    status: Mapped[str]
    reason: Mapped[str]
    scored_krs: Mapped[int | None]
    total_krs: Mapped[int | None]


class Annotation(Base):
    """A person's input on a KR: a check-in value, a score override, or an abandon, with author and reason."""

    __table__ = tables.annotations
    __tablename__ = __table__.name

    id: Mapped[int]
    kr_id: Mapped[str]
    kind: Mapped[str]
    value: Mapped[float | None]
    reason: Mapped[str]
    author: Mapped[str]
    created_at: Mapped[datetime]
    effective_at: Mapped[datetime]


class AlertStateRow(Base):
    """One alert's state machine (see ``okrflow.alerts.state``), keyed by its fingerprint."""

    __table__ = tables.alert_states
    __tablename__ = __table__.name

    fingerprint: Mapped[str]
    alert_group: Mapped[str]
    kind: Mapped[str]
    subject: Mapped[str]
    phase: Mapped[str]
    consecutive: Mapped[int]
    last_slot: Mapped[datetime | None]
    fired_at: Mapped[datetime | None]
    last_notified_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    last_seen: Mapped[dict[str, Any] | None]
    active_since: Mapped[datetime | None]
    notified: Mapped[bool]


class AlertGroupRow(Base):
    """An alert group's judging clock: runs of older slots are stored but not judged (they send nothing)."""

    __table__ = tables.alert_groups
    __tablename__ = __table__.name

    name: Mapped[str]
    last_judged_slot: Mapped[datetime]
    judged_at: Mapped[datetime]


class OutboxRow(Base):
    """A notification waiting for (or done with) delivery: retried with backoff until sent."""

    __table__ = tables.outbox
    __tablename__ = __table__.name

    id: Mapped[int]
    message_id: Mapped[str]
    channel: Mapped[str]
    owner: Mapped[str]
    slot: Mapped[datetime]
    payload: Mapped[str]
    status: Mapped[str]
    attempts: Mapped[int]
    created_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str]
    claimed_by: Mapped[str | None]
    claimed_until: Mapped[datetime | None]
