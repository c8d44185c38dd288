"""Fill a history store fast: millions of rows written straight through the store's engine, not the pipeline.

SQLite gets ``executemany`` of pre-rendered rows in large transactions (``Connection.exec_driver_sql``);
PostgreSQL gets ``COPY ... FROM STDIN`` through psycopg's ``cursor.copy``. The rows look like what
``Store.write_run`` writes for the generated config (same columns, lineage of the KR's source, a forecast
on progress KRs, a few ``no_data`` rows), so sizes and query plans are realistic.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from okrflow.okr_model.config import Config
from sqlalchemy import text

from okrflow.store import Store
from okrflow.store.models import KRScoreRow, MeasurementRow, ObjectiveScoreRow, add_postgresql_indexes

__all__ = ["FillReport", "fill_history", "slot_text"]

BATCH_RUNS = 100
"""Runs written per transaction (100 x 1,000 KRs = 100,000 rows per table)."""


@dataclass(frozen=True)
class FillReport:
    runs: int
    measurements: int
    kr_scores: int
    objective_scores: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return (self.measurements + self.kr_scores + self.objective_scores) / max(self.seconds, 1e-9)


def slot_text(slot: datetime) -> str:
    """A naive-UTC datetime as SQLAlchemy stores it in SQLite (always with microseconds)."""
    return slot.astimezone(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass(frozen=True)
class _Kr:
    kr_id: str
    objective_id: str
    lineage: str
    progress: bool


def _krs(config: Config) -> list[_Kr]:
    out = []
    for objective, kr in config.key_results():
        source = kr.metric.source if kr.metric else "checkin"
        digest = hashlib.sha256(f"{kr.id}".encode()).hexdigest()[:12]
        out.append(
            _Kr(
                kr.id,
                objective.id,
                json.dumps({"source": source, "query_hash": digest}),
                kr.kind not in ("maintain_above", "maintain_below"),
            )
        )
    return out


def _rows(
    krs: list[_Kr],
    objectives: list[str],
    run_ids: range,
    slots: list[datetime],
    rng: random.Random,
    first_ids: list[int],
) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    """Per run: its measurement, kr_score and objective_score rows (ids continue from ``first_ids``)."""
    m_id, s_id, o_id = first_ids
    for run_id, slot in zip(run_ids, slots, strict=True):
        at = slot_text(slot)
        measurements, scores = [], []
        for kr in krs:
            m_id += 1
            s_id += 1
            missing = rng.random() < 0.02
            value = None if missing else round(rng.uniform(0, 100), 4)
            score = None if missing else round(rng.random(), 6)
            measurements.append(
                (
                    m_id,
                    run_id,
                    at,
                    kr.kr_id,
                    value,
                    None if missing else at,
                    "no_data" if missing else "ok",
                    "query returned no series" if missing else "",
                    kr.lineage,
                )
            )
            forecast = (
                f'{{"score": {score}, "low": {round(score * 0.8, 6)}, "high": {min(1.0, round(score * 1.2, 6))}}}'
                if kr.progress and score is not None
                else None
            )
            status = "no_data" if missing else ("on_track" if score > 0.4 else "at_risk")
            scores.append(
                (
                    s_id,
                    run_id,
                    at,
                    kr.kr_id,
                    kr.objective_id,
                    score,
                    score,
                    score,
                    status,
                    "[]",
                    False,
                    True,
                    False,
                    0.5,
                    forecast,
                )
            )
        yield "measurements", measurements
        yield "kr_scores", scores
        rows = []
        for objective in objectives:
            o_id += 1
            rows.append((o_id, run_id, at, objective, round(rng.random(), 6), "on_track"))
        yield "objective_scores", rows
    first_ids[:] = [m_id, s_id, o_id]


_COLUMNS = {
    "runs": "id, deployment, slot, started_at, finished_at, status, config_hash, cycle, kr_count, error_count, backfilled, detail",
    "measurements": "id, run_id, slot, kr_id, value, observed_at, status, detail, lineage",
    "kr_scores": "id, run_id, slot, kr_id, objective_id, score, computed_score, progress, status, gates, held, trusted, overridden, expected, forecast",
    "objective_scores": "id, run_id, slot, objective_id, score, status",
}


def fill_history(
    store: Store, config: Config, runs: int, step: timedelta, end: datetime, seed: int = 11, progress: bool = False
) -> FillReport:
    """Write ``runs`` runs of every KR of ``config``, ``step`` apart, the last at ``end``, into an empty store."""
    krs = _krs(config)
    objectives = [o.id for o in config.objectives]
    rng = random.Random(seed)
    slots = [end - step * (runs - 1 - i) for i in range(runs)]
    started = time.perf_counter()
    dialect = store.engine.dialect.name
    with store.engine.connect() as conn:
        if conn.execute(text("SELECT count(*) FROM runs")).scalar():
            raise RuntimeError("fill_history needs an empty store")
    ids = [0, 0, 0]
    if dialect == "postgresql":
        add_postgresql_indexes()  # the partial covering indexes are on the models only once asked for
    indexes = [i for t in (MeasurementRow, KRScoreRow, ObjectiveScoreRow) for i in t.__table__.indexes]
    foreign_keys: list[tuple[str, str, str]] = []
    with store.engine.begin() as conn:  # secondary indexes are built once at the end: faster than row by row
        for index in indexes:
            index.drop(conn)
        if dialect == "postgresql":  # so are foreign keys (one check at the end instead of one per row)
            foreign_keys = [
                tuple(row)
                for row in conn.execute(
                    text(
                        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
                        "WHERE contype = 'f' AND conrelid::regclass::text IN ('measurements', 'kr_scores', 'objective_scores')"
                    )
                )
            ]
            for table, name, _ in foreign_keys:
                conn.execute(text(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"'))
    for batch_start in range(0, runs, BATCH_RUNS):
        batch = range(batch_start + 1, min(runs, batch_start + BATCH_RUNS) + 1)
        batch_slots = slots[batch.start - 1 : batch.stop - 1]
        run_rows = [
            (
                run_id,
                "default",
                slot_text(slot),
                slot_text(slot),
                slot_text(slot + timedelta(seconds=3)),
                "completed",
                "0123456789abcdef",
                config.cycle.name,
                len(krs),
                0,
                False,
                "",
            )
            for run_id, slot in zip(batch, batch_slots, strict=True)
        ]
        tables = _rows(krs, objectives, batch, batch_slots, rng, ids)
        if dialect == "sqlite":
            _sqlite_batch(store, run_rows, tables)
        else:
            _postgres_batch(store, run_rows, tables)
        if progress:
            print(f"  ... {batch.stop - 1}/{runs} runs, {time.perf_counter() - started:.0f} s", flush=True)
    with store.engine.begin() as conn:
        for index in indexes:
            index.create(conn)
        for table, name, definition in foreign_keys:
            conn.execute(text(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))
    if dialect == "postgresql":
        with store.engine.begin() as conn:
            for table in ("runs", "measurements", "kr_scores", "objective_scores"):
                conn.execute(
                    text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
                )
        # VACUUM sets the visibility map as autovacuum would after a bulk insert: index-only scans skip the heap
        with store.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            raw.autocommit = True
            raw.execute("VACUUM ANALYZE")
            raw.autocommit = False
    else:
        with store.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return FillReport(runs, ids[0], ids[1], ids[2], time.perf_counter() - started)


def _sqlite_batch(
    store: Store, run_rows: list[tuple[Any, ...]], tables: Iterator[tuple[str, list[tuple[Any, ...]]]]
) -> None:
    with store.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        raw.execute("PRAGMA synchronous=OFF")  # a benchmark fill, not a real write
        raw.execute("PRAGMA cache_size=-524288")  # 512 MB: the (kr_id, slot) indexes take rows in random order
        with conn.begin():
            conn.exec_driver_sql(_insert("runs"), run_rows)
            for table, rows in tables:
                conn.exec_driver_sql(_insert(table), rows)


def _insert(table: str) -> str:
    columns = _COLUMNS[table]
    marks = ", ".join("?" for _ in columns.split(","))
    return f"INSERT INTO {table} ({columns}) VALUES ({marks})"


def _postgres_batch(
    store: Store, run_rows: list[tuple[Any, ...]], tables: Iterator[tuple[str, list[tuple[Any, ...]]]]
) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")  # a benchmark fill, not a real write
        cursor = conn.connection.dbapi_connection.cursor()
        _copy(cursor, "runs", run_rows)
        for table, rows in tables:
            _copy(cursor, table, rows)


def _copy(cursor: Any, table: str, rows: list[tuple[Any, ...]]) -> None:
    """COPY in text format; rows are rendered by hand (None -> \\N), which is much faster than write_row."""
    lines = []
    for row in rows:
        lines.append(
            "\t".join("\\N" if v is None else ("t" if v is True else "f" if v is False else str(v)) for v in row)
        )
    with cursor.copy(f"COPY {table} ({_COLUMNS[table]}) FROM STDIN") as copy:
        copy.write("\n".join(lines) + "\n")
