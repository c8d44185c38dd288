"""Every KR's history over one window, read in two scans instead of two queries per KR (the report's read).

``okrflow report`` needs each configured KR's runs of the cycle. One ``history()`` per KR costs two queries and
their set-up each time: at 1,000 KRs of 68 daily runs that per-call cost was most of the report's time. Here
``kr_scores`` and ``measurements`` are each read once for all the KRs, ordered by KR and slot, and each KR's rows
become ``HistoryPoint``s exactly as ``history()`` builds them (``okrflow.store.history._points``), one KR at a
time: the caller sums up and drops one KR's points before the next KR's are built.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import DateTime, Engine, Integer, String, Text, cast, select, type_coerce

from okrflow.store.gc_pause import gc_paused
from okrflow.store.history import _HISTORY_COLUMNS, _JSON_COLUMNS, _aware, _aware_text, _points
from okrflow.store.models import KRScoreRow, MeasurementRow, Run
from okrflow.store.records import HistoryPoint

__all__ = ["cycle_histories"]


def _select(dialect: str, model: Any, kr_ids: Sequence[str], start: datetime, end: datetime) -> Any:
    """``history_select``'s columns for many KRs, each row led by its KR id, ordered by KR, slot and run."""
    table = model.__table__
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

    runs = Run.__table__
    query = select(
        table.c.kr_id,
        *([type_coerce(table.c.slot, raw_time).label("slot")] if scores else []),
        table.c.run_id,
        *([runs.c.status.label("run_status")] if scores else []),
        *(column(name).label(name) for name in _HISTORY_COLUMNS[table.name]),
    ).where(table.c.kr_id.in_(list(kr_ids)), table.c.slot >= start, table.c.slot < end)
    if scores:
        query = query.join_from(table, runs, runs.c.id == table.c.run_id)
    return query.order_by(table.c.kr_id, table.c.slot, table.c.run_id)


def cycle_histories(
    engine: Engine, kr_ids: Sequence[str], start: datetime, end: datetime
) -> Iterator[tuple[str, list[HistoryPoint]]]:
    """Each KR of ``kr_ids`` that has runs in [start, end) with its points, oldest first (as ``history()``), one
    KR at a time in the database's order of KR ids."""
    if not kr_ids:
        return
    dialect = engine.dialect.name
    aware = _aware_text if dialect == "sqlite" else _aware
    first = itemgetter(0)
    with engine.connect() as conn:
        streamed = conn.execution_options(stream_results=True, yield_per=2000)
        scores = groupby(streamed.execute(_select(dialect, KRScoreRow, kr_ids, start, end)), first)
        measurements = groupby(streamed.execute(_select(dialect, MeasurementRow, kr_ids, start, end)), first)
        pending: dict[str, list[Any]] = {}  # measurements of KRs the scores have not reached (both share one order)
        for kr_id, score_rows in scores:
            while kr_id not in pending:
                group = next(measurements, None)
                if group is None:
                    break
                pending[group[0]] = [row[1:] for row in group[1]]
            rows = pending.pop(kr_id, [])
            with gc_paused():
                points = _points(kr_id, (row[1:] for row in score_rows), rows, aware)
            yield kr_id, points
