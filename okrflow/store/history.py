"""One KR's history: its results run after run, read from the ``(kr_id, slot)`` covering indexes alone.

A quarter of 15-minute runs is 8,800 points, so per-point costs show. Its scores and its measurements are read
in one query each (each an ordered index range, migration 0003) and paired by run in Python: cheaper than the
database's join of two 8,800-row inputs. Values come as the driver gives them (SQLite: datetimes as text,
booleans as 0/1; JSON as text); each distinct JSON text is decoded once (``queries.JsonTexts``) and an observed
time equal to the slot is converted once. Records are built with their constructors, as everywhere else.

The points are built with the cyclic garbage collector paused: okrflow's one documented exception to "public
APIs, no tricks", with its figures (``okrflow.store.gc_pause``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, Engine, Integer, Select, String, Text, cast, select, text, type_coerce, union_all

from okrflow.store import tables
from okrflow.store.gc_pause import gc_paused
from okrflow.store.queries import JsonTexts
from okrflow.store.records import HistoryPoint, KRResult
from okrflow.store.tables import (
    HISTORY_KR_SCORE_COLUMNS,
    HISTORY_MEASUREMENT_COLUMNS,
    KR_SCORE_FITS_INDEX,
    MEASUREMENT_FITS_INDEX,
)

__all__ = ["history", "history_columns", "history_select"]


def history(engine: Engine, kr_id: str, since: datetime | None = None, limit: int | None = None) -> list[HistoryPoint]:
    """One KR's results over time, oldest first (at most ``limit`` points from the oldest)."""
    dialect = engine.dialect.name
    aware = _aware_text if dialect == "sqlite" else _aware
    with engine.connect() as conn:
        if dialect == "postgresql":
            # Two index ranges: parallel workers only add their start-up (20-45 ms measured after VACUUM FULL,
            # when the planner overestimates the rare too-large rows). SET LOCAL ends with this transaction.
            conn.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
        scores = conn.execute(history_select(dialect, tables.kr_scores, kr_id, since, limit=limit)).all()
        if not scores:
            return []
        until = aware(scores[-1][0]) if limit is not None else None
        measurements = conn.execute(history_select(dialect, tables.measurements, kr_id, since, until=until))
        with gc_paused():
            return _points(kr_id, scores, measurements, aware)


_HISTORY_COLUMNS = {  # what history reads after (kr_id, slot, run_id): the covering indexes' columns, in order
    "kr_scores": tuple(name for name in HISTORY_KR_SCORE_COLUMNS if name != "run_id"),
    "measurements": tuple(name for name in HISTORY_MEASUREMENT_COLUMNS if name != "run_id"),
}
_JSON_COLUMNS = {"gates", "forecast", "lineage"}
_FITS_INDEX = {"kr_scores": KR_SCORE_FITS_INDEX, "measurements": MEASUREMENT_FITS_INDEX}


def history_select(
    dialect: str,
    table: Any,
    kr_id: str,
    since: datetime | None,
    limit: int | None = None,
    until: datetime | None = None,
) -> Select[Any]:
    """One KR's rows of ``kr_scores`` (slot, run id, run status, then its columns in ``_HISTORY_COLUMNS``, ordered
    by slot) or of ``measurements`` (run id, then its columns), from their covering indexes (migration 0003).
    ``table`` is the table (``okrflow.store.tables``) or its ORM class.

    On PostgreSQL each table is read in two parts: the rows in its partial covering index, and the (rare) rows
    too large for it.
    """
    table = getattr(table, "__table__", table)  # an ORM class (its table) is accepted too
    scores = table.name == "kr_scores"

    def part(*where: Any) -> Select[Any]:
        query = select(*history_columns(dialect, table)).where(table.c.kr_id == kr_id, *where)
        if scores:
            query = query.join_from(table, tables.runs, tables.runs.c.id == table.c.run_id)
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


def history_columns(dialect: str, table: Any) -> list[Any]:
    """What history reads of a ``kr_scores`` row (slot, run id, run status, then ``_HISTORY_COLUMNS``) or of a
    ``measurements`` row (run id, then its columns), as the driver gives them: times raw (SQLite: text), JSON as
    text, booleans as 0/1. A ``kr_scores`` select must join ``runs`` for the run status."""
    raw_time = String() if dialect == "sqlite" else DateTime()
    scores = table.name == "kr_scores"

    def column(name: str) -> Any:
        if name in _JSON_COLUMNS:
            return cast(table.c[name], Text)
        if name == "observed_at":
            return type_coerce(table.c[name], raw_time)
        if name in ("held", "trusted", "overridden"):
            return type_coerce(table.c[name], Integer)
        return table.c[name]

    return [
        *([type_coerce(table.c.slot, raw_time).label("slot")] if scores else []),
        table.c.run_id,
        *([tables.runs.c.status.label("run_status")] if scores else []),
        *(column(name).label(name) for name in _HISTORY_COLUMNS[table.name]),
    ]


_EPOCH, _NAIVE_EPOCH = datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 1)


def _aware(naive: datetime) -> datetime:
    """A naive UTC datetime made aware: exact timedelta arithmetic, the same as ``.replace(tzinfo=UTC)``, 7x
    faster (two per point on PostgreSQL)."""
    return _EPOCH + (naive - _NAIVE_EPOCH)


def _aware_text(text_: str) -> datetime:
    """SQLite's naive-UTC datetime text ("YYYY-MM-DD HH:MM:SS.ffffff", as SQLAlchemy writes it), made aware.

    Parsed with the offset appended: the same value and ``UTC`` tzinfo as ``.replace(tzinfo=UTC)``, 5x faster.
    """
    return datetime.fromisoformat(text_ + "+00:00")


def _points(
    kr_id: str,
    scores: Iterable[Sequence[Any]],
    measurements: Iterable[Sequence[Any]],
    aware: Callable[[Any], datetime],
) -> list[HistoryPoint]:
    """``history_select``'s rows of one KR as ``HistoryPoint``s. A score without its measurement is left out, as
    a join would. Decoded JSON is shared between equal texts, so each point gets its own copy of a mapping."""
    by_run = {row[0]: row for row in measurements}
    texts = JsonTexts()
    load = texts.load
    points: list[HistoryPoint] = []
    for (slot, run_id, run_status, objective_id, score, computed_score, progress, status, gates, held, trusted,
         overridden, expected, forecast) in scores:  # fmt: skip
        row = by_run.get(run_id)
        if row is None:
            continue
        _, value, observed_at, measurement, detail, lineage = row
        at = aware(slot)
        if observed_at is not None:
            observed_at = at if observed_at == slot else aware(observed_at)
        forecast_value = load(forecast)
        result = KRResult(
            kr_id,
            objective_id,
            value,
            measurement,
            detail,
            observed_at,
            dict(load(lineage) or {}),
            score,
            computed_score,
            progress,
            status,
            tuple(load(gates) or ()),
            bool(held),
            bool(trusted),
            bool(overridden),
            expected,
            dict(forecast_value) if forecast_value is not None else None,
        )
        points.append(HistoryPoint(at, run_id, run_status, result))
    return points
