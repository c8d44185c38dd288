"""Backfill: reconstruct this cycle's history for past slots from the sources that keep it.

Every KR is read for all slots at once through ``Connector.fetch_series`` (one Prometheus
``query_range`` per KR, one MLflow metric-history read per KR, SQL as of each slot through ``:now``).
Then, slot by slot in time order, the run is scored from the store as it stands (``maintain`` KRs
count the slots written just before) and written with ``backfilled=True``.

What is not reconstructed is said, never invented:

- KRs whose binding cannot read the past (``Connector.history_gap``: a Great Expectations suite over a table
  validates it as it is now; a suite over a ``:now`` window or a stored GX result can be read as of each slot,
  as ``run --at`` does) are stored as ``no_data`` and listed in ``BackfillReport.no_history``;
- a quality gate is applied where its suite can be read as of each slot (a ``:now`` window or a stored GX
  result, as ``run --at`` applies it); a gate whose suite validates only today's data is not applied;
- MLflow aliases have no history: the model form reads the run its alias points to now.

A slot that already holds a live (not backfilled) run is skipped, never overwritten; a slot written
by an earlier backfill is replaced (``Store.write_run`` is idempotent per deployment and slot).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from okrflow.connectors.base import Connector, GateOutcome, Measurement, QualityGateProvider
from okrflow.connectors.registry import Registry, default_registry
from okrflow.flows.pipeline import (
    MANUAL,
    _stale,
    close_connectors,
    config_hash,
    load_scoring_inputs,
    manual_measurements,
    normalize_slot,
    open_connectors,
    run_record,
    score_run,
    sources_in_use,
)
from okrflow.okr_model.config import Config, KeyResult
from okrflow.okr_model.errors import OkrflowError
from okrflow.okr_model.types import duration_text

from okrflow.store import Store

__all__ = ["MAX_SLOTS", "BackfillError", "BackfillReport", "backfill", "plan_slots"]

log = logging.getLogger("okrflow.backfill")

MAX_SLOTS = 10_000
"""More slots than this in one cycle is almost surely a wrong --step (e.g. 1s over a quarter)."""

Series = dict[datetime, Measurement]


class BackfillError(OkrflowError):
    """The backfill cannot start: bad time range or step (nothing was written)."""


@dataclass(frozen=True)
class BackfillReport:
    """What a backfill did; ``summary()`` is what ``okrflow backfill`` prints."""

    cycle: str
    since: datetime
    until: datetime
    step: timedelta
    slots: tuple[datetime, ...] = ()
    """Slots inside the cycle, oldest first (written or skipped)."""
    written: tuple[datetime, ...] = ()
    skipped: tuple[datetime, ...] = ()
    """Slots that already hold a live run (left as they are)."""
    outside_cycle: int = 0
    no_history: Mapping[str, str] = field(default_factory=dict)
    """KR id -> why its past cannot be read (stored as no_data)."""
    gaps: Mapping[str, str] = field(default_factory=dict)
    """KR id -> how many written slots had no value and the first reason (KRs of ``no_history`` aside)."""
    ungated: tuple[str, ...] = ()
    """KRs with a quality gate whose suite cannot be read for past slots: backfilled runs do not apply it."""
    partial: int = 0
    """Written runs in which some KR errored."""

    def summary(self) -> str:
        lines = [
            f"backfill of cycle {self.cycle}: {_when(self.since)} .. {_when(self.until)} every {_step(self.step)}, "
            f"{_n(len(self.slots), 'slot')} in the cycle"
        ]
        partial = f" ({self.partial} partial: some key results errored)" if self.partial else ""
        lines.append(f"  written: {_n(len(self.written), 'run')}, marked backfilled{partial}")
        if self.skipped:
            shown = ", ".join(_when(s) for s in self.skipped[:5]) + (", ..." if len(self.skipped) > 5 else "")
            lines.append(
                f"  skipped: {_n(len(self.skipped), 'slot')} that already had a live run (kept as is): {shown}"
            )
        if self.outside_cycle:
            lines.append(f"  outside the cycle: {_n(self.outside_cycle, 'slot')} dropped")
        if self.no_history:
            lines.append(f"  no history: {_n(len(self.no_history), 'key result')} stored as no_data:")
            lines += [f"    {kr_id}: {reason}" for kr_id, reason in self.no_history.items()]
        if self.gaps:
            lines.append(f"  gaps: {_n(len(self.gaps), 'key result')} without a value in some slots:")
            lines += [f"    {kr_id}: {text}" for kr_id, text in list(self.gaps.items())[:20]]
        if self.ungated:
            lines.append(
                "  quality gates: not applied to backfilled runs (the suite judges today's data, not the past): "
                + ", ".join(self.ungated)
            )
        return "\n".join(lines)


def plan_slots(
    config: Config, since: datetime, until: datetime | None, step: timedelta, now: datetime | None = None
) -> tuple[list[datetime], int, datetime]:
    """Slots ``since + k * step <= until`` (default and at most now) inside the cycle, aware UTC.

    Returns (slots in the cycle, count of slots outside it, effective until). Raises ``BackfillError``.
    """
    if step < timedelta(seconds=1):
        raise BackfillError(f"step must be at least 1s (got {_step(step)})")
    first = normalize_slot(since)
    now = normalize_slot(now)
    last = min(normalize_slot(until), now) if until is not None else now
    if last < first:
        raise BackfillError(f"since {_when(first)} is after until {_when(last)} (until is at most now)")
    total = (last - first) // step + 1
    start, end = (t.astimezone(UTC) for t in config.cycle_bounds())
    lo = max(0, _ceil_div(start - first, step))  # first k with first + k*step >= start
    hi = min(total, _ceil_div(end - first, step))  # first k with first + k*step >= end (exclusive)
    inside = max(0, hi - lo)
    if inside > MAX_SLOTS:
        raise BackfillError(
            f"{inside} slots of {_step(step)} in the cycle is more than {MAX_SLOTS}; use a larger --step"
        )
    return [first + k * step for k in range(lo, lo + inside)], total - inside, last


def backfill(
    config: Config,
    store: Store,
    since: datetime,
    until: datetime | None,
    step: timedelta,
    registry: Registry | None = None,
    deployment: str = "default",
    progress: Callable[[int, int], None] | None = None,
) -> BackfillReport:
    """Reconstruct runs for past slots of the current cycle and write them marked ``backfilled``.

    ``progress(done, total)`` is called before the first slot to write and after each (the CLI draws it)."""
    slots, outside, last = plan_slots(config, since, until, step)
    live = {slot for slot in slots if _has_live_run(store, deployment, slot)}
    todo = [slot for slot in slots if slot not in live]
    groups = sources_in_use(config)
    series, no_history = fetch_series_all(config, groups, todo, registry) if todo else ({}, {})
    gates, ungated = gates_per_slot(config, todo, registry)
    written: list[datetime] = []
    misses: dict[str, list[tuple[str, str]]] = {}
    skipped = sorted(live)
    partial = 0
    start, _ = config.cycle_bounds()
    hashed = config_hash(config)
    tick = progress or _no_progress
    tick(0, len(todo))
    for done, slot in enumerate(todo, 1):
        if _has_live_run(store, deployment, slot):  # a live run landed while we fetched
            skipped.append(slot)
            tick(done, len(todo))
            continue
        started = datetime.now(UTC)
        inputs = load_scoring_inputs(store, config, slot)
        measurements = {kr_id: by_slot[slot] for kr_id, by_slot in series.items()}
        if MANUAL in groups:
            as_of = [a for a in inputs.annotations if a.effective_at <= slot]
            measurements.update(manual_measurements(groups[MANUAL], as_of, start))
        key_results, objectives = score_run(config, slot, measurements, gates.get(slot, {}), inputs)
        for result in key_results:
            if result.measurement != "ok" and result.kr_id not in no_history:
                misses.setdefault(result.kr_id, []).append((result.measurement, result.detail))
        record = run_record(
            config, slot, started, key_results, objectives, deployment=deployment, backfilled=True, hashed=hashed
        )
        partial += record.status != "completed"
        store.write_run(record)
        written.append(slot)
        tick(done, len(todo))
    return BackfillReport(
        cycle=config.cycle.name,
        since=normalize_slot(since),
        until=last,
        step=step,
        outside_cycle=outside,
        slots=tuple(slots),
        written=tuple(written),
        skipped=tuple(sorted(skipped)),
        no_history=no_history,
        gaps=_gaps(misses, len(written)),
        ungated=ungated,
        partial=partial,
    )


def fetch_series_all(
    config: Config,
    groups: Mapping[str, list[KeyResult]],
    slots: Sequence[datetime],
    registry: Registry | None = None,
    max_workers: int = 4,
) -> tuple[dict[str, Series], dict[str, str]]:
    """Every metric-bound KR's measurement per slot (KR id -> slot -> measurement), and the KRs whose
    binding cannot read the past (KR id -> reason). One connector per source, KRs fetched concurrently."""
    registry = registry or default_registry()
    series: dict[str, Series] = {}
    no_history: dict[str, str] = {}
    readable: dict[str, list[KeyResult]] = {}
    for name in sorted(set(groups) - {MANUAL}):
        source = config.sources.get(name)
        for kr in groups[name]:
            reason = registry.get(source.type).history_gap(name, source, kr.metric) if source is not None else None
            if reason is None:
                readable.setdefault(name, []).append(kr)
            else:
                no_history[kr.id] = reason
                series[kr.id] = dict.fromkeys(slots, Measurement.no_data(reason, source=name))
    historic = list(readable)
    connectors = open_connectors(config, historic, registry)
    try:
        jobs = [(connectors.get(name), kr) for name in historic for kr in readable[name]]
        if jobs:
            with ThreadPoolExecutor(max_workers=min(max_workers, len(jobs)), thread_name_prefix="backfill") as pool:
                results = pool.map(lambda job: _one(*job, slots), jobs)
                series.update((kr.id, by_slot) for (_, kr), by_slot in zip(jobs, results, strict=True))
        return series, no_history
    finally:
        close_connectors(connectors)


def gates_per_slot(
    config: Config, slots: Sequence[datetime], registry: Registry | None = None
) -> tuple[dict[datetime, dict[str, GateOutcome]], tuple[str, ...]]:
    """Quality gates as of each slot (slot -> KR id -> outcome) for the gates whose suite reads the past
    (``Connector.history_gap``), and the gated KRs whose suite does not (not applied)."""
    registry = registry or default_registry()
    readable, ungated = [], []
    for _, kr in config.key_results():
        gate = kr.quality_gate
        source = config.sources.get(gate.source) if gate is not None else None
        if gate is None:
            continue
        if source is not None and registry.get(source.type).history_gap(gate.source, source, gate) is None:
            readable.append(kr)
        else:
            ungated.append(kr.id)
    if not readable or not slots:
        return {}, tuple(ungated)
    gated = [(kr.id, kr.quality_gate) for kr in readable if kr.quality_gate is not None]
    connectors = open_connectors(config, sorted({gate.source for _, gate in gated}), registry)
    try:  # only these gates: another gate on the same source may run a checkpoint, which backfill never does
        return {slot: _gate_outcomes(gated, connectors, slot) for slot in slots}, tuple(ungated)
    finally:
        close_connectors(connectors)


def _gate_outcomes(
    gated: Sequence[tuple[str, Any]], connectors: Mapping[str, Any], at: datetime
) -> dict[str, GateOutcome]:
    """KR id -> its gate's outcome as of ``at`` (each suite runs or is read once per slot by its connector)."""
    outcomes = {}
    for kr_id, gate in gated:
        connector = connectors.get(gate.source)
        if isinstance(connector, QualityGateProvider):
            outcomes[kr_id] = connector.check_suite(gate.suite, at)
    return outcomes


def _one(connector: Connector[Any, Any] | None, kr: KeyResult, slots: Sequence[datetime]) -> Series:
    """One KR over all slots; a failure (or a missing slot) becomes an error measurement, never an exception."""
    source = kr.metric.source if kr.metric else "?"
    if connector is None:
        return dict.fromkeys(slots, Measurement.error(f"source {source!r} is not defined in the config"))
    try:
        got = connector.fetch_series(kr.metric, slots)
    except Exception as exc:  # a connector bug must not stop the other KRs
        log.exception("connector %s raised on KR %s", connector.name, kr.id)
        return dict.fromkeys(slots, Measurement.error(f"connector {source!r} failed: {type(exc).__name__}: {exc}"))
    missing = Measurement.error(f"connector {source!r} returned no measurement for this slot")
    return {slot: _stale(got.get(slot, missing), kr, slot) for slot in slots}


def _no_progress(done: int, total: int) -> None:
    """Backfill without anyone watching."""


def _has_live_run(store: Store, deployment: str, slot: datetime) -> bool:
    run = store.latest_run(deployment, before=slot + timedelta(seconds=1))
    return run is not None and run.slot == slot and not run.backfilled


def _gaps(misses: Mapping[str, list[tuple[str, str]]], written: int) -> dict[str, str]:
    """KR id -> "2 no_data, 1 error of 8 slots; first: <reason>" for KRs that lacked a value somewhere."""
    gaps = {}
    for kr_id, found in misses.items():
        counts = ", ".join(f"{n} {status}" for status, n in sorted(Counter(s for s, _ in found).items()))
        gaps[kr_id] = f"{counts} of {written} slots; first: {found[0][1]}"
    return gaps


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _ceil_div(a: timedelta, b: timedelta) -> int:
    return -((-a) // b)


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M")


def _step(step: timedelta) -> str:
    return duration_text(step)
