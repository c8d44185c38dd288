"""The history store: opens and migrates the database, writes one run per (deployment, slot) in one transaction.

SQLite is the embedded default, PostgreSQL the production store. The schema is migrated with Alembic
on open, and only when the database is behind (a quick version read on every other open). Reads live in
``okrflow.store.queries`` (runs, status, series, counts) and ``okrflow.store.history`` (one KR over time);
``Store`` exposes them as methods so every public call is guarded the same way (``okrflow.store.guard``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, delete, event, insert, inspect, select, text, update
from sqlalchemy.exc import SQLAlchemyError

from okrflow.okr_model.secrets import database_url
from okrflow.store import held_time, queries, tables
from okrflow.store.guard import StoreError, guarded, store_error
from okrflow.store.history import history as read_history
from okrflow.store.locks import advisory_lock, slot_lock_key, sqlite_begin, write_connection
from okrflow.store.records import (
    AnnotationRecord,
    HistoryPoint,
    RunRecord,
    RunSummary,
    StatusSnapshot,
)
from okrflow.store.tables import SCHEMA_HEAD

__all__ = ["Store", "StoreError"]

_MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 0x6F6B72666C6F77  # "okrflow"


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
                event.listen(engine, "begin", sqlite_begin)
            store = cls(engine)
            if migrate:
                store.migrate()
            return store
        except StoreError as exc:
            raise StoreError(f"cannot open the {exc}") from None
        except (SQLAlchemyError, ValueError) as exc:
            raise StoreError(f"cannot open the {store_error(None, url, 'connect', exc)}") from None

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
        with write_connection(self.engine) as conn:
            advisory_lock(conn, _MIGRATION_LOCK)
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

    def write_run(self, run: RunRecord, then: Callable[[Connection, int], None] | None = None) -> int:
        """Write a run and all its rows in one transaction; an existing run of the same slot is replaced.

        Writers of the same slot are serialised (a PostgreSQL advisory lock on the slot, SQLite's
        ``BEGIN IMMEDIATE``), so two concurrent runs of one slot leave one complete set of rows. ``then``
        (connection, run id) runs in the same transaction under the same lock: the alert step judges the run
        there, so its judgment and the run it judged commit together. Core statements on a ``Connection``: the
        run path imports no ORM (issue 18).
        """
        with write_connection(self.engine) as conn:
            run_id = self._write_locked(conn, run)
            if then is not None:
                then(conn, run_id)
            return run_id

    def _write_locked(self, conn: Connection, run: RunRecord) -> int:
        advisory_lock(conn, slot_lock_key(run.deployment, run.slot))
        columns = tables.runs.c
        found = select(columns.id).where(columns.deployment == run.deployment, columns.slot == run.slot)
        run_id = conn.execute(found).scalar()
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
            run_id = conn.execute(insert(tables.runs).values(**values).returning(columns.id)).scalar_one()
        else:
            for table in (tables.measurements, tables.kr_scores, tables.objective_scores):
                conn.execute(delete(table).where(table.c.run_id == run_id))
            conn.execute(update(tables.runs).where(columns.id == run_id).values(**values))
        self._insert_rows(conn, run_id, run)
        return run_id

    @staticmethod
    def _insert_rows(conn: Connection, run_id: int, run: RunRecord) -> None:
        """One executemany per table (Core: the ORM's bulk insert costs more per row and writes the same)."""
        if run.key_results:
            conn.execute(
                insert(tables.measurements),
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
            conn.execute(
                insert(tables.kr_scores),
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
            conn.execute(
                insert(tables.objective_scores),
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
        with self.engine.begin() as conn:
            return conn.execute(
                insert(tables.annotations)
                .values(
                    kr_id=record.kr_id,
                    kind=record.kind,
                    value=record.value,
                    reason=record.reason,
                    author=record.author,
                    created_at=record.created_at,
                    effective_at=record.effective_at,
                )
                .returning(tables.annotations.c.id)
            ).scalar_one()

    # -- reading (okrflow.store.queries, okrflow.store.history) -------------------------------

    def latest_run(
        self, deployment: str | None = None, before: datetime | None = None, status: str | None = None
    ) -> RunSummary | None:
        """The newest run by slot (of a deployment, before a time, with a status)."""
        return queries.latest_run(self.engine, deployment, before, status)

    def runs_between(self, deployment: str, since: datetime, until: datetime) -> dict[datetime, RunSummary]:
        """A deployment's runs with slots in [since, until), by slot."""
        return queries.runs_between(self.engine, deployment, since, until)

    def runs(self, limit: int = 50) -> list[RunSummary]:
        """The newest ``limit`` runs, newest first."""
        return queries.runs(self.engine, limit)

    def status(self, deployment: str | None = None) -> StatusSnapshot | None:
        """The latest run with its KR and objective results, or None for an empty store."""
        return queries.status(self.engine, deployment)

    def history(self, kr_id: str, since: datetime | None = None, limit: int | None = None) -> list[HistoryPoint]:
        """One KR's results over time, oldest first, read from the (kr_id, slot) covering indexes alone."""
        return read_history(self.engine, kr_id, since, limit)

    def series(
        self, kr_ids: Iterable[str], start: datetime, before: datetime
    ) -> dict[str, list[tuple[datetime, float]]]:
        """Valid (ok) values of each KR with their slots in [start, before), oldest first."""
        return queries.series(self.engine, kr_ids, start, before)

    def score_series(
        self, kr_ids: Iterable[str], start: datetime, before: datetime, max_points: int | None = None
    ) -> dict[str, list[tuple[datetime, float]]]:
        """Each KR's scores in [start, before), oldest first; at most ``max_points`` runs' (``queries``)."""
        return queries.score_series(self.engine, kr_ids, start, before, max_points)

    def held_durations(
        self, limits: Mapping[str, tuple[float, bool, float]], start: datetime, before: datetime
    ) -> dict[str, tuple[float, float]]:
        """(held, valid) seconds of each maintain KR's measurements in [start, before); see ``held_time``."""
        return held_time.held_durations(self.engine, limits, start, before)

    def previous_scores(
        self, kr_ids: Sequence[str], before: datetime, since: datetime | None = None
    ) -> dict[str, float]:
        """Each KR's latest computed score in [since, before) (never one of an earlier cycle)."""
        return queries.previous_scores(self.engine, kr_ids, before, since)

    def annotations(self, kr_ids: Sequence[str] | None = None, until: datetime | None = None) -> list[AnnotationRecord]:
        """Check-ins, overrides and abandons, oldest first."""
        return queries.annotations(self.engine, kr_ids, until)


def _schema_version(conn: Any) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's "begin" event emits BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
