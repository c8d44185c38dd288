"""The history store: writes one run per (deployment, slot) in one transaction and answers queries.

SQLite is the embedded default, PostgreSQL the production store. The schema is migrated with Alembic
on open, and only when the database is behind (a quick version read on every other open).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    DateTime,
    Engine,
    Float,
    Integer,
    Select,
    String,
    Text,
    and_,
    case,
    cast,
    column,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    type_coerce,
    union_all,
    update,
    values,
)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from okrflow.okr_model.secrets import database_url
from okrflow.store.guard import StoreError, guarded, store_error
from okrflow.store.locks import advisory_lock, write_session
from okrflow.store.locks import slot_lock_key as _slot_lock_key
from okrflow.store.locks import sqlite_begin as _sqlite_begin
from okrflow.store.models import (
    HISTORY_KR_SCORE_COLUMNS,
    HISTORY_MEASUREMENT_COLUMNS,
    KR_SCORE_FITS_INDEX,
    MEASUREMENT_FITS_INDEX,
    SCHEMA_HEAD,
    Annotation,
    KRScoreRow,
    MeasurementRow,
    ObjectiveScoreRow,
    Run,
)
from okrflow.store.records import (
    AnnotationRecord,
    HistoryPoint,
    KRResult,
    ObjectiveResult,
    RunRecord,
    RunSummary,
    StatusSnapshot,
)

__all__ = ["Store", "StoreError"]

_MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x6F6B72666C6F77  # "okrflow"
_VALUES_CHUNK = 2000
"""KRs per VALUES list (three binds each; under SQLite's and PostgreSQL's bind limits)."""


@guarded
class Store:
    """Access to the history database. Use ``Store.open(url)``; close it (or use ``with``).

    Failures raise ``StoreError`` (one line, no password; a dropped connection is retried once: ``guard``).
    """

    def __init__(self, engine: Engine):
        self.engine = engine

    @classmethod
    def open(cls, url: str, migrate: bool = True) -> Store:
        """Connect, and bring the schema to the newest revision if it is behind."""
        try:
            parsed = database_url(url)  # a password may hold any character, '@' included
            if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(parsed, pool_pre_ping=True)
            if engine.dialect.name == "sqlite":
                event.listen(engine, "connect", _sqlite_pragmas)
                event.listen(engine, "begin", _sqlite_begin)
            store = cls(engine)
            if migrate:
                store.migrate()
            return store
        except StoreError as exc:
            raise StoreError(f"cannot open the {exc}") from None
        except (SQLAlchemyError, ValueError) as exc:
            raise StoreError(f"cannot open the {store_error(None, url, 'connect', exc)}") from None

    @property
    def alerts(self):  # -> AlertRepository
        """Alert states and the notification outbox."""
        from okrflow.store.alerts import AlertRepository

        return AlertRepository(self.engine)

    def migrate(self) -> None:
        """Upgrade the schema with Alembic when the database is not at ``SCHEMA_HEAD``.

        Two processes opening a new store at once (two workers, two cron'd runs) must not both migrate it: the
        upgrade holds a PostgreSQL advisory lock, or SQLite's write lock from its first statement (a deferred
        transaction that read the version first could not wait for the other and failed "database is locked").
        A store already at the head is checked with a plain read, so opening it never waits for a writer.
        """
        with self.engine.connect() as conn:
            if _schema_version(conn) == SCHEMA_HEAD:
                return
        with write_session(self.engine) as session:
            conn = session.connection()
            advisory_lock(session, _MIGRATION_LOCK)
            if _schema_version(conn) == SCHEMA_HEAD:
                return  # another process migrated it while this one waited
            from alembic import command
            from alembic.config import Config as AlembicConfig

            cfg = AlembicConfig()
            cfg.set_main_option("script_location", str(_MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------

    def write_run(self, run: RunRecord, then: Callable[[Session, int], None] | None = None) -> int:
        """Write a run and all its rows in one transaction; an existing run of the same slot is replaced.

        Writers of the same slot are serialised (a PostgreSQL advisory lock on the slot, SQLite's
        ``BEGIN IMMEDIATE``), so two concurrent runs of one slot leave one complete set of rows. ``then``
        (session, run id) runs in the same transaction under the same lock: the alert step judges the run
        there, so its judgment and the run it judged commit together.
        """
        with write_session(self.engine) as session:
            run_id = self._write_locked(session, run)
            if then is not None:
                then(session, run_id)
            return run_id

    def _write_locked(self, session: Session, run: RunRecord) -> int:
        advisory_lock(session, _slot_lock_key(run.deployment, run.slot))
        run_id = session.execute(select(Run.id).where(Run.deployment == run.deployment, Run.slot == run.slot)).scalar()
        values = {
            "deployment": run.deployment,
            "slot": run.slot,
            "started_at": run.started_at,
            "finished_at": run.finished_at,
            "status": run.status,
            "config_hash": run.config_hash,
            "cycle": run.cycle,
            "kr_count": len(run.key_results),
            "error_count": run.error_count,
            "backfilled": run.backfilled,
            "detail": run.detail,
        }
        if run_id is None:
            run_id = session.execute(insert(Run).values(**values).returning(Run.id)).scalar_one()
        else:
            for table in (MeasurementRow, KRScoreRow, ObjectiveScoreRow):
                session.execute(delete(table).where(table.run_id == run_id))
            session.execute(update(Run).where(Run.id == run_id).values(**values))
        self._insert_rows(session, run_id, run)
        return run_id

    @staticmethod
    def _insert_rows(session: Session, run_id: int, run: RunRecord) -> None:
        if run.key_results:
            session.execute(
                insert(MeasurementRow),
                [
                    {
                        "run_id": run_id,
                        "slot": run.slot,
                        "kr_id": kr.kr_id,
                        "value": kr.value,
                        "observed_at": kr.observed_at,
                        "status": kr.measurement,
                        "detail": kr.detail,
                        "lineage": dict(kr.lineage),
                    }
                    for kr in run.key_results
                ],
            )
            session.execute(
                insert(KRScoreRow),
                [
                    {
                        "run_id": run_id,
                        "slot": run.slot,
                        "kr_id": kr.kr_id,
                        "objective_id": kr.objective_id,
                        "score": kr.score,
                        "computed_score": kr.computed_score,
                        "progress": kr.progress,
                        "status": kr.status,
                        "gates": list(kr.gates),
                        "held": kr.held,
                        "trusted": kr.trusted,
                        "overridden": kr.overridden,
                        "expected": kr.expected,
                        "forecast": dict(kr.forecast) if kr.forecast else None,
                        "reason": kr.reason,
                    }
                    for kr in run.key_results
                ],
            )
        if run.objectives:
            session.execute(
                insert(ObjectiveScoreRow),
                [
                    {
                        "run_id": run_id,
                        "slot": run.slot,
                        "objective_id": o.objective_id,
                        "score": o.score,
                        "status": o.status,
                        "reason": o.reason,
                        "scored_krs": o.scored,
                        "total_krs": o.of,
                    }
                    for o in run.objectives
                ],
            )

    def add_annotation(self, record: AnnotationRecord) -> int:
        with Session(self.engine) as session, session.begin():
            return session.execute(
                insert(Annotation)
                .values(
                    kr_id=record.kr_id,
                    kind=record.kind,
                    value=record.value,
                    reason=record.reason,
                    author=record.author,
                    created_at=record.created_at,
                    effective_at=record.effective_at,
                )
                .returning(Annotation.id)
            ).scalar_one()

    # -- reading -------------------------------------------------------------------------------

    def latest_run(
        self, deployment: str | None = None, before: datetime | None = None, status: str | None = None
    ) -> RunSummary | None:
        """The newest run by slot (of a deployment, before a time, with a status)."""
        query = select(Run).order_by(Run.slot.desc()).limit(1)
        if status is not None:
            query = query.where(Run.status == status)
        if deployment is not None:
            query = query.where(Run.deployment == deployment)
        if before is not None:
            query = query.where(Run.slot < before)
        with Session(self.engine) as session:
            row = session.execute(query).scalar()
            return _run_summary(row) if row else None

    def runs_between(self, deployment: str, since: datetime, until: datetime) -> dict[datetime, RunSummary]:
        """A deployment's runs with slots in [since, until), by slot."""
        query = select(Run).where(Run.deployment == deployment, Run.slot >= since, Run.slot < until).order_by(Run.slot)
        with Session(self.engine) as session:
            return {row.slot: _run_summary(row) for row in session.execute(query).scalars()}

    def runs(self, limit: int = 50) -> list[RunSummary]:
        with Session(self.engine) as session:
            rows = session.execute(select(Run).order_by(Run.slot.desc()).limit(limit)).scalars()
            return [_run_summary(r) for r in rows]

    def status(self, deployment: str | None = None) -> StatusSnapshot | None:
        """The latest run with its KR and objective results, or None for an empty store."""
        run = self.latest_run(deployment)
        if run is None:
            return None
        scores = KRScoreRow.__table__
        query = _result_select(scores.c.reason).where(scores.c.run_id == run.id).order_by(scores.c.id)
        objectives = ObjectiveScoreRow.__table__
        with self.engine.connect() as conn:  # Core rows: the ORM's per-object cost was most of status at 1,000 KRs
            rows = conn.execute(query).all()
            objective_rows = conn.execute(
                select(
                    objectives.c.objective_id,
                    objectives.c.score,
                    objectives.c.status,
                    objectives.c.reason,
                    objectives.c.scored_krs,
                    objectives.c.total_krs,
                )
                .where(objectives.c.run_id == run.id)
                .order_by(objectives.c.id)
            ).all()
        results = _Results()
        return StatusSnapshot(
            run=run,
            key_results=[results.result(row) for row in rows],
            objectives=[ObjectiveResult(*o) for o in objective_rows],
        )

    def history(self, kr_id: str, since: datetime | None = None, limit: int | None = None) -> list[HistoryPoint]:
        """One KR's results over time, oldest first, read from the (kr_id, slot) covering indexes alone.

        Its scores and its measurements are read in one query each (each an ordered index range) and paired
        by run in Python: cheaper than the database's join of two 8,800-row inputs.
        """
        with _gc_paused():  # the rows read are freed before collection resumes: only the points stay
            return self._history_points(kr_id, since, limit)

    def _history_points(self, kr_id: str, since: datetime | None, limit: int | None) -> list[HistoryPoint]:
        dialect = self.engine.dialect.name
        aware = _aware_text if dialect == "sqlite" else _aware
        with self.engine.connect() as conn:
            if dialect == "postgresql":
                # Two index ranges: parallel workers only add their start-up (20-45 ms measured after VACUUM FULL,
                # when the planner overestimates the rare too-large rows). SET LOCAL ends with this transaction.
                conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
            scores = conn.execute(_history_select(dialect, KRScoreRow, kr_id, since, limit=limit)).all()
            if not scores:
                return []
            until = aware(scores[-1][0]) if limit is not None else None
            measurements = conn.execute(_history_select(dialect, MeasurementRow, kr_id, since, until=until))
            return _Results().points(kr_id, scores, measurements, aware)

    def series(
        self, kr_ids: Iterable[str], start: datetime, before: datetime
    ) -> dict[str, list[tuple[datetime, float]]]:
        """Valid (ok) values of each KR with their slots in [start, before), oldest first."""
        ok = MeasurementRow.status == "ok"
        return self._by_kr(MeasurementRow, MeasurementRow.value, ok, kr_ids, start, before)

    def score_series(
        self, kr_ids: Iterable[str], start: datetime, before: datetime, max_points: int | None = None
    ) -> dict[str, list[tuple[datetime, float]]]:
        """Each KR's scores with their slots in [start, before), oldest first (the forecast's input).

        With ``max_points``, a long cycle of frequent runs is thinned to the last run of each of that many equal
        time buckets, so a run's cost does not grow with the history behind it.
        """
        scored = KRScoreRow.score.is_not(None)
        if max_points is None:
            return self._by_kr(KRScoreRow, KRScoreRow.score, scored, kr_ids, start, before)
        ids = list(kr_ids)
        with self.engine.connect() as conn:
            slots = conn.execute(
                select(Run.id, type_coerce(Run.slot, DateTime()))
                .where(Run.slot >= start, Run.slot < before)
                .order_by(Run.slot, Run.id)
            ).all()
        if len(slots) <= max_points:
            return self._by_kr(KRScoreRow, KRScoreRow.score, scored, ids, start, before)
        chosen = _thin(slots, start, before, max_points)
        wanted = set(ids)
        result: dict[str, list[tuple[datetime, float]]] = {kr_id: [] for kr_id in ids}
        query = select(KRScoreRow.run_id, KRScoreRow.kr_id, KRScoreRow.score).where(
            KRScoreRow.run_id.in_(list(chosen)), scored
        )
        with self.engine.connect() as conn:
            for run_id, kr_id, score in conn.execute(query):
                if kr_id in wanted:
                    result[kr_id].append((chosen[run_id], score))
        for points in result.values():
            points.sort(key=lambda point: point[0])
        return result

    def _by_kr(
        self, table: Any, column: Any, keep: Any, kr_ids: Iterable[str], start: datetime, before: datetime
    ) -> dict[str, list[tuple[datetime, float]]]:
        ids = list(kr_ids)
        result: dict[str, list[tuple[datetime, float]]] = {kr_id: [] for kr_id in ids}
        if not ids:
            return result
        # Ordered like the (kr_id, slot) index, so no sort; slots are read as plain (naive UTC) datetimes and
        # made aware here: a cycle of 15-minute runs is millions of rows, where per-row type hooks show.
        query = (
            select(table.kr_id, type_coerce(table.slot, DateTime()), column)
            .where(table.kr_id.in_(ids), keep, table.slot >= start, table.slot < before)
            .order_by(table.kr_id, table.slot)
        )
        with self.engine.connect() as conn:
            for kr_id, slot, value in conn.execute(query):
                result[kr_id].append((slot.replace(tzinfo=UTC), value))
        return result

    def held_counts(
        self, thresholds: Mapping[str, tuple[float, bool]], start: datetime, before: datetime
    ) -> dict[str, tuple[int, int]]:
        """(held, valid) counts of each KR's ok values in [start, before): what a maintain KR scores from.

        ``thresholds`` maps a KR id to (threshold, below); a value holds when it is >= the threshold, or <=
        with ``below``. Counted by the database, so the cost does not grow with rows read into Python.
        """
        counts = {kr_id: (0, 0) for kr_id in thresholds}
        items = list(thresholds.items())
        for chunk in range(0, len(items), _VALUES_CHUNK):
            rows = [
                (kr_id, threshold, int(below)) for kr_id, (threshold, below) in items[chunk : chunk + _VALUES_CHUNK]
            ]
            columns = column("kr_id", String), column("threshold", Float), column("below", Integer)
            limits = values(*columns, name="limits").data(rows).cte("limits")  # SQLite: no aliases on VALUES
            # Two correlated counts per KR, each a range of the (kr_id, slot, ...) index: a join here lets
            # SQLite 3.40 put a Bloom filter on measurements and then read every table row.
            in_cycle = and_(
                MeasurementRow.kr_id == limits.c.kr_id,
                MeasurementRow.status == "ok",
                MeasurementRow.slot >= start,
                MeasurementRow.slot < before,
            )
            holds = case(
                (limits.c.below == 1, MeasurementRow.value <= limits.c.threshold),
                else_=MeasurementRow.value >= limits.c.threshold,
            )
            count = select(func.count()).select_from(MeasurementRow).correlate(limits)
            query = select(
                limits.c.kr_id,
                count.where(in_cycle, holds).scalar_subquery(),
                count.where(in_cycle).scalar_subquery(),
            )
            with self.engine.connect() as conn:
                for kr_id, held_count, total in conn.execute(query):
                    counts[kr_id] = (int(held_count or 0), int(total or 0))
        return counts

    def held_durations(
        self, limits: Mapping[str, tuple[float, bool, float]], start: datetime, before: datetime
    ) -> dict[str, tuple[float, float]]:
        """(held, valid) seconds of each maintain KR's measurements in [start, before); see ``held_time``."""
        from okrflow.store.held_time import held_durations

        return held_durations(self.engine, limits, start, before)

    def previous_scores(
        self, kr_ids: Sequence[str], before: datetime, since: datetime | None = None
    ) -> dict[str, float]:
        """Each KR's latest computed score in [since, before) (what a held quality gate keeps: never one of an
        earlier cycle)."""
        if not kr_ids:
            return {}
        known = KRScoreRow.computed_score.is_not(None)
        window = [KRScoreRow.slot < before] + ([KRScoreRow.slot >= since] if since is not None else [])
        latest = (
            select(KRScoreRow.kr_id, func.max(KRScoreRow.slot).label("slot"))
            .where(KRScoreRow.kr_id.in_(list(kr_ids)), *window, known)
            .group_by(KRScoreRow.kr_id)
            .subquery()
        )
        query = (
            select(KRScoreRow.kr_id, KRScoreRow.computed_score)
            .join(latest, and_(KRScoreRow.kr_id == latest.c.kr_id, KRScoreRow.slot == latest.c.slot))
            .where(known)
            .order_by(KRScoreRow.id)
        )
        with self.engine.connect() as conn:
            return {kr_id: score for kr_id, score in conn.execute(query)}

    def annotations(self, kr_ids: Sequence[str] | None = None, until: datetime | None = None) -> list[AnnotationRecord]:
        """Check-ins, overrides and abandons, oldest first."""
        query = select(Annotation).order_by(Annotation.effective_at, Annotation.id)
        if kr_ids is not None:
            query = query.where(Annotation.kr_id.in_(list(kr_ids)))
        if until is not None:
            query = query.where(Annotation.effective_at <= until)
        with Session(self.engine) as session:
            return [
                AnnotationRecord(a.kr_id, a.kind, a.value, a.reason, a.author, a.created_at, a.effective_at)
                for a in session.execute(query).scalars()
            ]


def _schema_version(conn: Any) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _thin(slots: Sequence[Any], start: datetime, before: datetime, max_points: int) -> dict[int, datetime]:
    """Run id -> aware slot of the last run in each of ``max_points`` equal time buckets of [start, before)."""
    width = (before - start) / max_points
    naive_start = start.astimezone(UTC).replace(tzinfo=None)
    last_in_bucket: dict[int, tuple[int, datetime]] = {}
    for run_id, slot in slots:
        last_in_bucket[min(max_points - 1, int((slot - naive_start) / width))] = (run_id, slot)
    return {run_id: slot.replace(tzinfo=UTC) for run_id, slot in last_in_bucket.values()}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event emits BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _run_summary(row: Run) -> RunSummary:
    return RunSummary(
        id=row.id,
        slot=row.slot,
        status=row.status,
        started_at=row.started_at,
        finished_at=row.finished_at,
        kr_count=row.kr_count,
        error_count=row.error_count,
        deployment=row.deployment,
        backfilled=row.backfilled,
        detail=row.detail,
    )


def _result_select(*extra: Any) -> Select[Any]:
    """A KR's score joined with its measurement (plus ``extra`` columns): plain Core rows for ``_Results``.

    Datetimes come as naive UTC and JSON as text: ``_Results`` converts them, decoding each distinct JSON text
    once (a KR's lineage and its gates repeat run after run; a quarter of 15-minute runs is 8,800 rows).
    """
    scores, measurements = KRScoreRow.__table__, MeasurementRow.__table__
    return select(
        scores.c.kr_id,
        scores.c.objective_id,
        measurements.c.value,
        measurements.c.status,
        measurements.c.detail,
        type_coerce(measurements.c.observed_at, DateTime()),
        cast(measurements.c.lineage, Text),
        scores.c.score,
        scores.c.computed_score,
        scores.c.progress,
        scores.c.status,
        cast(scores.c.gates, Text),
        scores.c.held,
        scores.c.trusted,
        scores.c.overridden,
        scores.c.expected,
        cast(scores.c.forecast, Text),
        *extra,
    ).select_from(
        scores.join(measurements, (measurements.c.run_id == scores.c.run_id) & (measurements.c.kr_id == scores.c.kr_id))
    )


_HISTORY_COLUMNS = {  # what history reads after (kr_id, slot, run_id): the covering indexes' columns, in order
    "kr_scores": tuple(name for name in HISTORY_KR_SCORE_COLUMNS if name != "run_id"),
    "measurements": tuple(name for name in HISTORY_MEASUREMENT_COLUMNS if name != "run_id"),
}
_JSON_COLUMNS = {"gates", "forecast", "lineage"}
_FITS_INDEX = {"kr_scores": KR_SCORE_FITS_INDEX, "measurements": MEASUREMENT_FITS_INDEX}


def _history_select(
    dialect: str,
    model: Any,
    kr_id: str,
    since: datetime | None,
    limit: int | None = None,
    until: datetime | None = None,
) -> Select[Any]:
    """One KR's rows of ``kr_scores`` (slot, run id, run status, then its columns in ``_HISTORY_COLUMNS``, ordered
    by slot) or of ``measurements`` (run id, then its columns), from their covering indexes (migration 0003).

    Values come as the driver gives them (SQLite: datetimes as text, booleans as 0/1; JSON as text) for
    ``_Results.points``. On PostgreSQL each table is read in two parts: the rows in its partial covering index,
    and the (rare) rows too large for it.
    """
    table = model.__table__
    raw_time = String() if dialect == "sqlite" else DateTime()
    runs = Run.__table__
    scores = table.name == "kr_scores"

    def column(name: str) -> Any:
        if name in _JSON_COLUMNS:
            return cast(table.c[name], Text)
        if name == "observed_at":
            return type_coerce(table.c[name], raw_time)
        if name in ("held", "trusted", "overridden"):
            return type_coerce(table.c[name], Integer)
        return table.c[name]

    def part(*where: Any) -> Select[Any]:
        query = select(
            *([type_coerce(table.c.slot, raw_time).label("slot")] if scores else []),
            table.c.run_id,
            *([runs.c.status.label("run_status")] if scores else []),
            *(column(name).label(name) for name in _HISTORY_COLUMNS[table.name]),
        ).where(table.c.kr_id == kr_id, *where)
        if scores:
            query = query.join_from(table, runs, runs.c.id == table.c.run_id)
        if since is not None:
            query = query.where(table.c.slot >= since)
        return query if until is None else query.where(table.c.slot <= until)

    if dialect == "postgresql":
        fits = _FITS_INDEX[table.name]
        query: Any = union_all(part(fits), part(~fits))
        order = [query.selected_columns.slot, query.selected_columns.run_id] if scores else []
    else:
        query, order = part(), [table.c.slot, table.c.run_id] if scores else []
    query = query.order_by(*order)
    return query if limit is None else query.limit(limit)


_BOOLS = (False, True)
"""Indexed by a 0/1 (SQLite) or a bool (PostgreSQL)."""
_MISSING = object()


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while a long history is built: its ~35,000 new objects (none in a cycle)
    would trigger dozens of collections, every other call a full one (30-60 ms in a process holding a config).
    A caller that has disabled the collector keeps it disabled."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


_SCAN_JSON = json.JSONDecoder().scan_once


def _decode(text: str | None) -> Any:
    """A stored JSON text through the C scanner directly (3x faster than ``json.loads`` on a forecast's small
    object, decoded once per point); anything it does not take whole goes to ``json.loads``, errors included."""
    if text is None:
        return None
    try:
        value, end = _SCAN_JSON(text, 0)
    except StopIteration:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


_EPOCH, _NAIVE_EPOCH = datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 1)


def _aware(naive: datetime) -> datetime:
    """A naive UTC datetime made aware: exact timedelta arithmetic, the same as ``.replace(tzinfo=UTC)``, 7x
    faster (two per point on PostgreSQL)."""
    return _EPOCH + (naive - _NAIVE_EPOCH)


def _aware_text(text: str) -> datetime:
    """SQLite's naive-UTC datetime text ("YYYY-MM-DD HH:MM:SS.ffffff", as SQLAlchemy writes it), made aware.

    Parsed with the offset appended: the same value and ``UTC`` tzinfo as ``.replace(tzinfo=UTC)``, 5x faster.
    """
    return datetime.fromisoformat(text + "+00:00")


class _Results:
    """Rows of ``_result_select`` as ``KRResult``s (the first 17 columns of a row), and of ``_history_select``."""

    def __init__(self) -> None:
        self._json: dict[str, Any] = {}

    def points(
        self,
        kr_id: str,
        scores: Iterable[Sequence[Any]],
        measurements: Iterable[Sequence[Any]],
        aware: Callable[[Any], datetime],
    ) -> list[HistoryPoint]:
        """``_history_select``'s rows of one KR as ``HistoryPoint``s, equal to what ``result`` builds, 3x cheaper.

        A quarter of 15-minute runs is 8,800 points, where per-point costs show: each distinct JSON text is
        decoded once (lineage and gates repeat run after run) and copied per point, an observed time equal to the
        slot is converted once, and the frozen records get their complete attribute dicts directly instead of
        through their generated ``__init__`` (~1.9 us a point; tests compare the two). A score without its
        measurement is left out, as a join would.
        """
        by_run = {row[0]: row for row in measurements}
        lineages: dict[str | None, Any] = {}
        gate_tuples: dict[str | None, tuple[str, ...]] = {}
        forecasts: dict[str | None, Any] = {}
        bools, missing, load, new, set_dict = _BOOLS, _MISSING, _decode, object.__new__, object.__setattr__
        points: list[HistoryPoint] = []
        append = points.append
        for (slot, run_id, run_status, objective_id, score, computed_score, progress, status, gates, held, trusted,
             overridden, expected, forecast) in scores:  # fmt: skip
            row = by_run.get(run_id)
            if row is None:
                continue
            _, value, observed_at, measurement, detail, lineage = row
            at = aware(slot)
            if observed_at is not None:
                observed_at = at if observed_at == slot else aware(observed_at)
            lineage_value = lineages.get(lineage, missing)
            if lineage_value is missing:
                lineage_value = lineages[lineage] = load(lineage) or {}
            gate_tuple = gate_tuples.get(gates)
            if gate_tuple is None:
                gate_tuple = gate_tuples[gates] = tuple(load(gates) or ())
            forecast_value = forecasts.get(forecast, missing)
            if forecast_value is missing:
                forecast_value = forecasts[forecast] = load(forecast)
            result = new(KRResult)
            set_dict(
                result,
                "__dict__",
                {
                    "kr_id": kr_id,
                    "objective_id": objective_id,
                    "value": value,
                    "measurement": measurement,
                    "detail": detail,
                    "observed_at": observed_at,
                    "lineage": dict(lineage_value),  # copies: decoded texts are shared
                    "score": score,
                    "computed_score": computed_score,
                    "progress": progress,
                    "status": status,
                    "gates": gate_tuple,
                    "held": bools[held],
                    "trusted": bools[trusted],
                    "overridden": bools[overridden],
                    "expected": expected,
                    "forecast": dict(forecast_value) if forecast_value is not None else None,
                },
            )
            point = new(HistoryPoint)
            set_dict(point, "__dict__", {"slot": at, "run_id": run_id, "run_status": run_status, "result": result})
            append(point)
        return points

    def _load(self, text: str | None) -> Any:
        if text is None:
            return None
        if text not in self._json:
            self._json[text] = json.loads(text)
        return self._json[text]

    def result(self, row: Sequence[Any]) -> KRResult:
        (kr_id, objective_id, value, measurement, detail, observed_at, lineage, score, computed_score, progress,
         status, gates, held, trusted, overridden, expected, forecast) = row[:17]  # fmt: skip
        lineage_value = self._load(lineage)
        forecast_value = self._load(forecast)
        return KRResult(
            kr_id=kr_id,
            objective_id=objective_id,
            value=value,
            measurement=measurement,
            detail=detail,
            observed_at=observed_at.replace(tzinfo=UTC) if observed_at is not None else None,
            lineage=dict(lineage_value) if lineage_value else {},  # a copy: decoded texts are shared
            score=score,
            computed_score=computed_score,
            progress=progress,
            status=status,
            gates=tuple(self._load(gates) or ()),
            held=held,
            trusted=trusted,
            overridden=overridden,
            expected=expected,
            forecast=dict(forecast_value) if forecast_value is not None else None,
            reason=row[17] if len(row) > 17 else "",  # read by status (an extra column), not by history
        )
