"""Reads of the history store: runs, the latest status, value and score series, counts, previous scores.

Each function takes the store's engine and returns plain records (``okrflow.store.records``); ``Store`` exposes
them as its methods (guarded there). One KR's history over time has its own module (``okrflow.store.history``).
Reads are Core statements on the tables (``okrflow.store.tables``), never the ORM: at 1,000 KRs the ORM's
per-object cost was most of ``status()``, and importing it most of a short command's start (issue 18).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    Engine,
    Select,
    Text,
    and_,
    cast,
    func,
    select,
    type_coerce,
)

from okrflow.store import tables
from okrflow.store.records import (
    AnnotationRecord,
    KRResult,
    ObjectiveResult,
    RunSummary,
    StatusSnapshot,
)

__all__ = [
    "JsonTexts",
    "annotations",
    "decode_json",
    "latest_run",
    "previous_scores",
    "result_select",
    "runs",
    "runs_between",
    "score_series",
    "series",
    "status",
]


_DECODER = json.JSONDecoder()


def decode_json(text: str) -> Any:
    """``json.loads(text)``, through the decoder's public ``raw_decode`` first: the texts okrflow stored are
    whole documents without surrounding whitespace, and ``raw_decode`` skips ``loads``' two whitespace scans
    (~1 us of ~2 us per forecast text; a quarter's history decodes ~6,500). Any other text (whitespace around
    it, something after it, invalid) goes to ``json.loads``, so the value or the error is always ``loads``'."""
    try:
        value, end = _DECODER.raw_decode(text)
    except ValueError:
        return json.loads(text)
    return value if end == len(text) else json.loads(text)


class JsonTexts:
    """Stored JSON texts decoded once each: a KR's lineage and gates repeat run after run (``decode_json``)."""

    def __init__(self) -> None:
        self._decoded: dict[str, Any] = {}

    def load(self, text: str | None) -> Any:
        """The decoded value, shared between equal texts: copy a mutable one before handing it out."""
        if text is None:
            return None
        value = self._decoded.get(text)
        if value is None:
            value = self._decoded[text] = decode_json(text)
        return value


def latest_run(
    engine: Engine, deployment: str | None = None, before: datetime | None = None, status: str | None = None
) -> RunSummary | None:
    """The newest run by slot (of a deployment, before a time, with a status)."""
    runs_table = tables.runs.c
    query = _run_select().order_by(runs_table.slot.desc()).limit(1)
    if status is not None:
        query = query.where(runs_table.status == status)
    if deployment is not None:
        query = query.where(runs_table.deployment == deployment)
    if before is not None:
        query = query.where(runs_table.slot < before)
    with engine.connect() as conn:
        row = conn.execute(query).first()
        return RunSummary(*row) if row else None


def runs_between(engine: Engine, deployment: str, since: datetime, until: datetime) -> dict[datetime, RunSummary]:
    """A deployment's runs with slots in [since, until), by slot."""
    runs_table = tables.runs.c
    in_window = (runs_table.deployment == deployment, runs_table.slot >= since, runs_table.slot < until)
    with engine.connect() as conn:
        rows = conn.execute(_run_select().where(*in_window).order_by(runs_table.slot))
        return {summary.slot: summary for summary in (RunSummary(*row) for row in rows)}


def runs(engine: Engine, limit: int = 50) -> list[RunSummary]:
    """The newest ``limit`` runs, newest first."""
    query = _run_select().order_by(tables.runs.c.slot.desc()).limit(limit)
    with engine.connect() as conn:
        return [RunSummary(*row) for row in conn.execute(query)]


def status(engine: Engine, deployment: str | None = None) -> StatusSnapshot | None:
    """The latest run with its KR and objective results, or None for an empty store."""
    run = latest_run(engine, deployment)
    if run is None:
        return None
    scores = tables.kr_scores
    query = result_select(scores.c.reason).where(scores.c.run_id == run.id).order_by(scores.c.id)
    objectives = tables.objective_scores
    with engine.connect() as conn:
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
    texts = JsonTexts()
    return StatusSnapshot(
        run=run,
        key_results=[_result(row, texts) for row in rows],
        objectives=[ObjectiveResult(*o) for o in objective_rows],
    )


def series(
    engine: Engine, kr_ids: Iterable[str], start: datetime, before: datetime
) -> dict[str, list[tuple[datetime, float]]]:
    """Valid (ok) values of each KR with their slots in [start, before), oldest first."""
    measurements = tables.measurements
    ok = measurements.c.status == "ok"
    return _by_kr(engine, measurements, measurements.c.value, ok, kr_ids, start, before)


def score_series(
    engine: Engine, kr_ids: Iterable[str], start: datetime, before: datetime, max_points: int | None = None
) -> dict[str, list[tuple[datetime, float]]]:
    """Each KR's scores with their slots in [start, before), oldest first (the forecast's input).

    With ``max_points``, a long cycle of frequent runs is thinned to the last run of each of that many equal
    time buckets, so a run's cost does not grow with the history behind it.
    """
    scores, run = tables.kr_scores, tables.runs.c
    scored = scores.c.score.is_not(None)
    if max_points is None:
        return _by_kr(engine, scores, scores.c.score, scored, kr_ids, start, before)
    ids = list(kr_ids)
    with engine.connect() as conn:
        slots = conn.execute(
            select(run.id, type_coerce(run.slot, DateTime()))
            .where(run.slot >= start, run.slot < before)
            .order_by(run.slot, run.id)
        ).all()
    if len(slots) <= max_points:
        return _by_kr(engine, scores, scores.c.score, scored, ids, start, before)
    chosen = _thin(slots, start, before, max_points)
    wanted = set(ids)
    result: dict[str, list[tuple[datetime, float]]] = {kr_id: [] for kr_id in ids}
    query = select(scores.c.run_id, scores.c.kr_id, scores.c.score).where(scores.c.run_id.in_(list(chosen)), scored)
    with engine.connect() as conn:
        for run_id, kr_id, score in conn.execute(query):
            if kr_id in wanted:
                result[kr_id].append((chosen[run_id], score))
    for points in result.values():
        points.sort(key=lambda point: point[0])
    return result


def _thin(slots: Sequence[Any], start: datetime, before: datetime, max_points: int) -> dict[int, datetime]:
    """Run id -> aware slot of the last run in each of ``max_points`` equal time buckets of [start, before)."""
    width = (before - start) / max_points
    naive_start = start.astimezone(UTC).replace(tzinfo=None)
    last_in_bucket: dict[int, tuple[int, datetime]] = {}
    for run_id, slot in slots:
        last_in_bucket[min(max_points - 1, int((slot - naive_start) / width))] = (run_id, slot)
    return {run_id: slot.replace(tzinfo=UTC) for run_id, slot in last_in_bucket.values()}


def _by_kr(
    engine: Engine, table: Any, value: Any, keep: Any, kr_ids: Iterable[str], start: datetime, before: datetime
) -> dict[str, list[tuple[datetime, float]]]:
    ids = list(kr_ids)
    result: dict[str, list[tuple[datetime, float]]] = {kr_id: [] for kr_id in ids}
    if not ids:
        return result
    # Ordered like the (kr_id, slot) index, so no sort; slots are read as plain (naive UTC) datetimes and
    # made aware here: a cycle of 15-minute runs is millions of rows, where per-row type hooks show.
    query = (
        select(table.c.kr_id, type_coerce(table.c.slot, DateTime()), value)
        .where(table.c.kr_id.in_(ids), keep, table.c.slot >= start, table.c.slot < before)
        .order_by(table.c.kr_id, table.c.slot)
    )
    with engine.connect() as conn:
        for kr_id, slot, number in conn.execute(query):
            result[kr_id].append((slot.replace(tzinfo=UTC), number))
    return result


def previous_scores(
    engine: Engine, kr_ids: Sequence[str], before: datetime, since: datetime | None = None
) -> dict[str, float]:
    """Each KR's latest computed score in [since, before) (what a held quality gate keeps: never one of an
    earlier cycle)."""
    if not kr_ids:
        return {}
    scores = tables.kr_scores.c
    known = scores.computed_score.is_not(None)
    window = [scores.slot < before] + ([scores.slot >= since] if since is not None else [])
    latest = (
        select(scores.kr_id, func.max(scores.slot).label("slot"))
        .where(scores.kr_id.in_(list(kr_ids)), *window, known)
        .group_by(scores.kr_id)
        .subquery()
    )
    query = (
        select(scores.kr_id, scores.computed_score)
        .join(latest, and_(scores.kr_id == latest.c.kr_id, scores.slot == latest.c.slot))
        .where(known)
        .order_by(scores.id)
    )
    with engine.connect() as conn:
        return {kr_id: score for kr_id, score in conn.execute(query)}


def annotations(
    engine: Engine, kr_ids: Sequence[str] | None = None, until: datetime | None = None
) -> list[AnnotationRecord]:
    """Check-ins, overrides and abandons, oldest first."""
    a = tables.annotations.c
    query = select(a.kr_id, a.kind, a.value, a.reason, a.author, a.created_at, a.effective_at)
    query = query.order_by(a.effective_at, a.id)
    if kr_ids is not None:
        query = query.where(a.kr_id.in_(list(kr_ids)))
    if until is not None:
        query = query.where(a.effective_at <= until)
    with engine.connect() as conn:
        return [AnnotationRecord(*row) for row in conn.execute(query)]


_RUN_SUMMARY_FIELDS = tuple(f.name for f in fields(RunSummary))


def _run_select() -> Select[Any]:
    """The runs table's columns of a ``RunSummary``, in its field order: Core rows, so reading the latest run (all
    ``okrflow status`` reads besides its results) needs no ORM session and no mapper configuration."""
    columns = tables.runs.c
    return select(*(columns[name] for name in _RUN_SUMMARY_FIELDS))


def result_select(*extra: Any) -> Select[Any]:
    """A KR's score joined with its measurement (plus ``extra`` columns): plain Core rows for ``_result``.

    Datetimes come as naive UTC and JSON as text: ``_result`` converts them, decoding each distinct JSON text
    once (``JsonTexts``).
    """
    scores, measurements = tables.kr_scores, tables.measurements
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


def _result(row: Sequence[Any], texts: JsonTexts) -> KRResult:
    """A ``result_select`` row (its 18th column the reason) as a ``KRResult``."""
    (kr_id, objective_id, value, measurement, detail, observed_at, lineage, score, computed_score, progress,
     status_, gates, held, trusted, overridden, expected, forecast, reason) = row  # fmt: skip
    lineage_value = texts.load(lineage)
    forecast_value = texts.load(forecast)
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
        status=status_,
        gates=tuple(texts.load(gates) or ()),
        held=held,
        trusted=trusted,
        overridden=overridden,
        expected=expected,
        forecast=dict(forecast_value) if forecast_value is not None else None,
        reason=reason,
    )
