"""The history store's tables (SQLAlchemy 2.x). Alembic migrations in ``migrations/`` mirror them.

A run is keyed by (deployment, slot): evaluating a slot again replaces that run's rows. Measurements
(what a source said) and scores (what the rules made of it) are separate tables with one row per
(run, KR); overrides, check-ins and abandons are annotations that never replace a computed score.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = ["SCHEMA_HEAD", "Annotation", "Base", "KRScoreRow", "MeasurementRow", "ObjectiveScoreRow", "Run"]

SCHEMA_HEAD = "0002"
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
    __table_args__ = (
        UniqueConstraint("run_id", "kr_id", name="uq_measurements_run_kr"),
        Index("ix_measurements_kr_slot", "kr_id", "slot"),
    )

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
    __table_args__ = (
        UniqueConstraint("run_id", "kr_id", name="uq_kr_scores_run_kr"),
        Index("ix_kr_scores_kr_slot", "kr_id", "slot"),
    )

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
    """One alert's state machine (see ``okrflow.alerts.state``), keyed by its fingerprint."""

    __tablename__ = "alert_states"

    fingerprint: Mapped[str] = mapped_column(String(64), primary_key=True)
    deployment: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(160))  # a KR id, an objective id or a source name
    phase: Mapped[str] = mapped_column(String(16))
    consecutive: Mapped[int] = mapped_column(Integer, default=0)
    last_slot: Mapped[datetime | None]
    fired_at: Mapped[datetime | None]
    last_notified_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    last_seen: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # value/score/status at the last notification


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
