"""Maintain KRs measure time: how long each KR's measurements held its threshold, summed by the database.

Each measurement stands from its run's slot until the next run (every run measures every KR of its config; the
newest until the run being scored), for at most a cap per KR (``okrflow.okr_model.maintain.standing_cap``). The gaps
between runs are computed once per call (``LEAD`` over the cycle's runs); each KR then sums the gaps of its own
rows over its ``(kr_id, slot, ...)`` index range, so a run reads one row per KR, not the cycle's rows.

SQLite sums per KR in two correlated subqueries (a join with the KRs' list makes SQLite 3.40 build an automatic
index over every measurement: seconds instead of ~0.1 s); PostgreSQL joins and groups (hash joins).

The KRs' (id, threshold, below, cap) go in as one JSON parameter, read as rows by the database (SQLite's
``json_each``, PostgreSQL's ``json_to_recordset``): the statement is the same whatever the KRs, so SQLAlchemy
compiles it once per process. A ``VALUES`` list of four binds per KR was compiled anew on every run: 17 ms of a
200-KR run's 25 ms here (benchmarks/README.md, section 4).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Engine, Float, Integer, String, and_, bindparam, case, cast, func, select

from okrflow.store import tables

__all__ = ["held_durations"]


def held_durations(
    engine: Engine, limits: Mapping[str, tuple[float, bool, float]], start: datetime, before: datetime
) -> dict[str, tuple[float, float]]:
    """(held, valid) seconds of each KR's measurements in [start, before).

    ``limits`` maps a KR id to (threshold, below, cap seconds); an ok value holds when it is >= the threshold,
    or <= with ``below``. KRs without a measurement get (0.0, 0.0).
    """
    result = {kr_id: (0.0, 0.0) for kr_id in limits}
    if not limits:
        return result
    rows = [[kr_id, threshold, int(below), cap] for kr_id, (threshold, below, cap) in limits.items()]
    bounds = json.dumps(rows, allow_nan=False)  # config thresholds and caps are finite
    with engine.connect() as conn:
        query = _query(engine.dialect.name, start, before)
        for kr_id, held, valid in conn.execute(query, {"bounds": bounds}):
            result[kr_id] = (float(held or 0.0), float(valid or 0.0))
    return result


def _bounds(dialect: str) -> Any:
    """The KRs' (kr_id, threshold, below, cap) rows, from the ``bounds`` parameter's JSON array of arrays."""
    param = bindparam("bounds", type_=String)
    if dialect == "sqlite":
        item = func.json_each(param).table_valued("value")

        def field(index: int) -> Any:
            return func.json_extract(item.c.value, f"$[{index}]")
    else:
        item = func.json_array_elements(cast(param, JSON)).table_valued("value")

        def field(index: int) -> Any:
            return item.c.value.op("->>")(index)

    bounds = select(
        cast(field(0), String).label("kr_id"),
        cast(field(1), Float).label("threshold"),
        cast(field(2), Integer).label("below"),
        cast(field(3), Float).label("cap"),
    ).cte("bounds")
    return bounds.prefix_with("MATERIALIZED") if dialect == "sqlite" else bounds  # SQLite: JSON read once, not per row


def _query(dialect: str, start: datetime, before: datetime) -> Any:
    run = tables.runs.c
    epoch = _epoch_seconds(dialect, run.slot)
    following = func.lead(epoch).over(order_by=(run.slot, run.id))
    gaps = select(run.id.label("run_id"), (func.coalesce(following, before.timestamp()) - epoch).label("gap")).where(
        run.slot >= start, run.slot < before
    )
    gaps = gaps.cte("gaps").prefix_with("MATERIALIZED") if dialect == "sqlite" else gaps.cte("gaps")
    bounds = _bounds(dialect)
    m = tables.measurements.alias("m")
    holds = case((bounds.c.below == 1, m.c.value <= bounds.c.threshold), else_=m.c.value >= bounds.c.threshold)
    in_window = and_(m.c.status == "ok", m.c.slot >= start, m.c.slot < before)
    if dialect == "sqlite":
        gap = select(gaps.c.gap).where(gaps.c.run_id == m.c.run_id).scalar_subquery()
        stood = func.min(gap, bounds.c.cap)  # SQLite's two-argument min is a scalar function
        mine = and_(m.c.kr_id == bounds.c.kr_id, in_window)
        per_kr = select(func.sum(stood)).select_from(m).correlate(bounds)
        return select(
            bounds.c.kr_id,
            per_kr.where(mine, holds).scalar_subquery(),
            per_kr.where(mine).scalar_subquery(),
        )
    stood = func.least(gaps.c.gap, bounds.c.cap)
    return (
        select(m.c.kr_id, func.sum(case((holds, stood), else_=0.0)), func.sum(stood))
        .select_from(m.join(gaps, gaps.c.run_id == m.c.run_id).join(bounds, bounds.c.kr_id == m.c.kr_id))
        .where(m.c.kr_id.in_(select(bounds.c.kr_id)), in_window)
        .group_by(m.c.kr_id)
    )


def _epoch_seconds(dialect: str, slot: Any) -> Any:
    """A stored slot as seconds since the epoch, in SQL (SQLite keeps slots as text, whole seconds)."""
    if dialect == "sqlite":
        return cast(func.strftime("%s", slot), Integer)
    return func.extract("epoch", slot)
