"""Every KR's runs over one window as the report needs them: a lean series to draw, full records only to show.

``okrflow report`` draws each configured KR's value and score over the cycle (at most 100 points a line) and shows
the full result of a few runs per KR: its latest, its last before the review, its first scored, and the latest
scored (its forecast). Building a ``HistoryPoint`` per stored run (its JSON decoded, its times parsed) cost
~15 us a run: 1 s for 1,000 KRs of 68 daily runs, 28 s for a quarter of hourly runs. So ``kr_scores`` and
``measurements`` are each read once for all the KRs, only the columns a chart draws (slot, run id, score,
computed score, overridden; value, status), as plain rows ordered by KR and slot and paired by run as
``history()`` pairs them; the full records of the few runs shown are then read per batch of KRs (two small
queries a batch) and built exactly as ``history()`` builds them (``okrflow.store.history._points``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain, groupby
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, Integer, String, select, type_coerce

from okrflow.store import tables
from okrflow.store.gc_pause import gc_paused
from okrflow.store.history import _aware, _aware_text, _points, history_columns
from okrflow.store.records import HistoryPoint

__all__ = ["BATCH_KRS", "CycleSeries", "cycle_series"]

BATCH_KRS = 50
"""KRs whose shown records are read together: two queries per batch, and one batch's series held at a time."""


@dataclass
class CycleSeries:
    """One KR's runs in the window, oldest first (the runs ``history()`` returns), as parallel lists.

    ``ok[i]``: the run's measurement status is "ok"; ``values[i]`` its value; ``scores``, ``computed`` and
    ``overridden`` its score columns. ``slot(i)`` is the run's slot (aware UTC), converted when asked for: a chart
    draws a few of them. ``last``, ``before_cut``, ``first_scored`` and ``latest_scored`` are the full records of
    the latest run, the latest run before the cut, the first and the latest with a score (None when there is none).
    """

    kr_id: str
    aware: Callable[[Any], datetime]
    raw_slots: list[Any] = field(default_factory=list)
    run_ids: list[int] = field(default_factory=list)
    ok: list[bool] = field(default_factory=list)
    values: list[float | None] = field(default_factory=list)
    scores: list[float | None] = field(default_factory=list)
    computed: list[float | None] = field(default_factory=list)
    overridden: list[bool] = field(default_factory=list)
    measurement_slots: list[Any] = field(default_factory=list)  # as stored: the run's slot, as the score's
    last: HistoryPoint | None = None
    before_cut: HistoryPoint | None = None
    first_scored: HistoryPoint | None = None
    latest_scored: HistoryPoint | None = None

    def __len__(self) -> int:
        return len(self.run_ids)

    def slot(self, i: int) -> datetime:
        return self.aware(self.raw_slots[i])

    def _shown(self, cut: datetime) -> dict[str, int]:
        """Which runs' full records are shown: attribute name -> index."""
        n = len(self.run_ids)
        scored = [i for i, score in enumerate(self.scores) if score is not None]
        before = bisect_left(self.raw_slots, cut, key=self.aware) - 1  # slots ascend (ordered by slot)
        wanted = {"last": n - 1, "before_cut": before}
        if scored:
            wanted |= {"first_scored": scored[0], "latest_scored": scored[-1]}
        return {name: i for name, i in wanted.items() if i >= 0}


def _lean(dialect: str, table: Any, kr_ids: Sequence[str], start: datetime, end: datetime) -> Any:
    """What a chart draws of a table's rows of ``kr_ids`` in [start, end), led by KR id, slot (as the driver gives
    it: SQLite text) and run id, ordered by KR, slot and run (as ``history_select``)."""
    raw_time = String() if dialect == "sqlite" else DateTime()
    drawn = (
        [table.c.score, table.c.computed_score, type_coerce(table.c.overridden, Integer)]
        if table.name == "kr_scores"
        else [table.c.value, table.c.status]
    )
    return (
        select(table.c.kr_id, type_coerce(table.c.slot, raw_time), table.c.run_id, *drawn)
        .where(table.c.kr_id.in_(list(kr_ids)), table.c.slot >= start, table.c.slot < end)
        .order_by(table.c.kr_id, table.c.slot, table.c.run_id)
    )


def _series(kr_id: str, scores: Iterator[Any], measurements: list[Any], aware: Callable[[Any], datetime]):
    """One KR's lean rows paired by run; a score without its measurement is left out (as ``history()``)."""
    series = CycleSeries(kr_id, aware)
    score_rows = list(scores)
    if [row[2] for row in score_rows] == [row[2] for row in measurements]:  # the usual case: one each, in order
        pairs = zip(score_rows, measurements, strict=True)
    else:
        by_run = {row[2]: row for row in measurements}
        pairs = ((row, by_run[row[2]]) for row in score_rows if row[2] in by_run)
    runs = [
        (slot, measured, run_id, status == "ok", value, score, computed, bool(overridden))
        for (_, slot, run_id, score, computed, overridden), (_, measured, _, value, status) in pairs
    ]
    if runs:  # as columns
        s = series
        s.raw_slots, s.measurement_slots, s.run_ids, s.ok, s.values, s.scores, s.computed, s.overridden = (
            list(column) for column in zip(*runs, strict=True)
        )
    return series


def _with_records(conn: Connection, dialect: str, batch: list[CycleSeries], cut: datetime) -> None:
    """Fill in the full records each series of ``batch`` shows, read in one query per table."""
    shown = {series.kr_id: series._shown(cut) for series in batch}
    by_kr = {series.kr_id: series for series in batch}
    keys = {(kr_id, by_kr[kr_id].run_ids[i]) for kr_id, wanted in shown.items() for i in wanted.values()}
    if not keys:
        return
    raw_time = String() if dialect == "sqlite" else DateTime()
    slots = {by_kr[kr_id].measurement_slots[i] for kr_id, wanted in shown.items() for i in wanted.values()}
    kr_ids, run_ids = sorted({k for k, _ in keys}), sorted({r for _, r in keys})
    rows: dict[str, list[list[Any]]] = {kr_id: [[], []] for kr_id in kr_ids}
    for part, table in enumerate((tables.kr_scores, tables.measurements)):
        query = select(table.c.kr_id, *history_columns(dialect, table)).where(
            table.c.kr_id.in_(kr_ids), table.c.run_id.in_(run_ids)
        )
        if part == 0:
            query = query.join_from(table, tables.runs, tables.runs.c.id == table.c.run_id)
        else:  # measurements have no (run, KR) index: their (kr_id, slot) one, with the slots of the runs shown
            query = query.where(type_coerce(table.c.slot, raw_time).in_(sorted(slots)))
        for row in conn.execute(query):
            if (row[0], row[2 - part]) in keys:  # run id: third in a score row (after slot), second in a measurement
                rows[row[0]][part].append(row[1:])
    for kr_id, (score_rows, measurement_rows) in rows.items():
        series = by_kr[kr_id]
        points = {p.run_id: p for p in _points(kr_id, score_rows, measurement_rows, series.aware)}
        for name, i in shown[kr_id].items():
            setattr(series, name, points[series.run_ids[i]])


def cycle_series(
    engine: Engine, kr_ids: Sequence[str], start: datetime, end: datetime, cut: datetime
) -> Iterator[CycleSeries]:
    """Each KR of ``kr_ids`` that has runs in [start, end): its series and the records the report shows
    (``before_cut``: the latest run with a slot before ``cut``), in the database's order of KR ids."""
    if not kr_ids:
        return
    dialect = engine.dialect.name
    aware = _aware_text if dialect == "sqlite" else _aware
    first = itemgetter(0)
    with engine.connect() as conn:
        streamed = conn.execution_options(stream_results=True, yield_per=2000)

        def rows(table: Any) -> Iterator[Any]:  # in partitions: no per-row fetch call (0.14 s, not 0.2 s at 68k)
            return chain.from_iterable(streamed.execute(_lean(dialect, table, kr_ids, start, end)).partitions())

        scores = groupby(rows(tables.kr_scores), first)
        measurements = groupby(rows(tables.measurements), first)
        pending: dict[str, list[Any]] = {}  # measurements of KRs the scores have not reached (both share one order)
        batch: list[CycleSeries] = []
        for kr_id, score_rows in scores:
            while kr_id not in pending:
                group = next(measurements, None)
                if group is None:
                    break
                pending[group[0]] = list(group[1])
            series = _series(kr_id, score_rows, pending.pop(kr_id, []), aware)
            if not series.run_ids:
                continue
            batch.append(series)
            if len(batch) == BATCH_KRS:
                with gc_paused():
                    _with_records(conn, dialect, batch, cut)
                yield from batch
                batch = []
        with gc_paused():
            _with_records(conn, dialect, batch, cut)
        yield from batch
