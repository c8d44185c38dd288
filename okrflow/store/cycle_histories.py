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

from sqlalchemy import Engine, select

from okrflow.store.gc_pause import gc_paused
from okrflow.store.history import _aware, _aware_text, _points, history_columns
from okrflow.store.models import KRScoreRow, MeasurementRow, Run
from okrflow.store.records import HistoryPoint

__all__ = ["cycle_histories"]


def _select(dialect: str, model: Any, kr_ids: Sequence[str], start: datetime, end: datetime) -> Any:
    """``history_select``'s columns for many KRs, each row led by its KR id, ordered by KR, slot and run."""
    table = model.__table__
    query = select(table.c.kr_id, *history_columns(dialect, table)).where(
        table.c.kr_id.in_(list(kr_ids)), table.c.slot >= start, table.c.slot < end
    )
    if table.name == "kr_scores":
        query = query.join_from(table, Run.__table__, Run.__table__.c.id == table.c.run_id)
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
