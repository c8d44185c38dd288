"""Catch-up: which past slots to evaluate after downtime or failed runs, and evaluating them.

Policies (config ``catchup``): ``none`` evaluates no missed slot; ``latest`` (default) only the most
recent one; ``all`` every one, oldest first, at most ``max_catchup_runs``. A slot is missed when the
schedule says it should have run and the store has no run for it, or its run had errors that the
current run no longer has (the source is back): sources that keep history are then read as of that slot.
Repairing many slots takes a while, so ``catch_up`` tells ``progress(done, total)`` before and after each slot
(the served flow logs it as plain lines in the flow run's log).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from okrflow.flows.pipeline import evaluate, map_in_threads
from okrflow.okr_model.config import Config

from okrflow.store import RunRecord, RunSummary, Store

__all__ = ["catch_up", "missed_slots", "scheduled_slots"]


def scheduled_slots(config: Config, after: datetime, until: datetime, limit: int = 100_000) -> list[datetime]:
    """The schedule's slots in (after, until), oldest first, as aware datetimes (see ``okr_model.schedule``)."""
    return config.parsed_schedule.slots(after, until, limit)


def missed_slots(
    config: Config, expected: list[datetime], runs: Mapping[datetime, RunSummary], current_errors: int | None
) -> list[datetime]:
    """Apply the catch-up policy to the expected slots, given the runs the store has for them."""
    if config.catchup == "none":
        return []
    missed = []
    for slot in expected:
        run = runs.get(slot)
        if run is None or (
            run.status in ("partial", "failed") and current_errors is not None and current_errors < run.error_count
        ):
            missed.append(slot)
    return missed[-1:] if config.catchup == "latest" else missed[-config.max_catchup_runs :]


def catch_up(
    config: Config,
    store: Store,
    now: datetime,
    *,
    deployment: str = "default",
    current_errors: int | None = None,
    lookback: timedelta | None = None,
    progress: Callable[[int, int], None] | None = None,
    **evaluate_options: Any,
) -> list[RunRecord]:
    """Evaluate the missed slots of this cycle before ``now`` (as of each slot) and write them.

    Never past the cycle's end: its result is frozen then (a start-up after the end catches up to the end only).
    ``progress(done, total)`` counts the missed slots: told before the first (0 of 0 when none) and after each.
    """
    start, end = config.cycle_bounds()
    now = min(now, end)
    since = max(start, now - lookback) if lookback else start
    runs = store.runs_between(deployment, since, now)
    if not runs:
        return []  # history starts with the deployment's first run, never before it
    # After a run, repair what followed the last clean run; at start-up, fill the gap after the last run.
    last = store.latest_run(deployment, before=now, status="completed" if current_errors is not None else None)
    since = max(since, min(runs), last.slot if last is not None else since)
    expected = scheduled_slots(config, since - timedelta(microseconds=1), now)
    evaluate_options.setdefault("map_sources", map_in_threads)
    missed = missed_slots(config, expected, runs, current_errors)
    records: list[RunRecord] = []
    if progress is not None:
        progress(0, len(missed))
    for slot in missed:
        records.append(evaluate(config, store, slot, deployment=deployment, **evaluate_options))
        if progress is not None:
            progress(len(records), len(missed))
    return records
