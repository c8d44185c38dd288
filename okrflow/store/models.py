"""ORM classes of the history store, mapped onto the Core tables of ``okrflow.store.tables`` (one ``MetaData``).

The run path (``Store``, its queries, the alert repository) uses the tables and Core statements and never imports
the ORM; these classes serve what prefers ORM attributes (retention, the report's history reads, Alembic's
``env.py``, tests and benchmarks). Each class takes its columns, their types and defaults from its table
(``__table__``), so nothing about a column is said twice. The names the tables module defines are re-exported
here, where they lived before it.
"""

from __future__ import annotations

from sqlalchemy.orm import DeclarativeBase

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


class MeasurementRow(Base):
    __table__ = tables.measurements
    __tablename__ = __table__.name


class KRScoreRow(Base):
    __table__ = tables.kr_scores
    __tablename__ = __table__.name


class ObjectiveScoreRow(Base):
    __table__ = tables.objective_scores
    __tablename__ = __table__.name


class Annotation(Base):
    """A person's input on a KR: a check-in value, a score override, or an abandon, with author and reason."""

    __table__ = tables.annotations
    __tablename__ = __table__.name


class AlertStateRow(Base):
    """One alert's state machine (see ``okrflow.alerts.state``), keyed by its fingerprint."""

    __table__ = tables.alert_states
    __tablename__ = __table__.name


class AlertGroupRow(Base):
    """An alert group's judging clock: runs of older slots are stored but not judged (they send nothing)."""

    __table__ = tables.alert_groups
    __tablename__ = __table__.name


class OutboxRow(Base):
    """A notification waiting for (or done with) delivery: retried with backoff until sent."""

    __table__ = tables.outbox
    __tablename__ = __table__.name
