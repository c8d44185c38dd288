"""Retention of the history store: raw runs for a while, then one run per day.

Runs every 15 minutes add ~96 runs per KR per day (a quarter of 1,000 KRs is ~8.8 million rows per table).
``compact`` keeps every run of the last ``keep_raw`` and, before that, only the last run of each day (per
deployment, days in ``tz``), so the history of past days stays at one point per KR per day. The cutoff is
rounded down to midnight, so only whole days are collapsed and a run newer than ``keep_raw`` is never touched.

Runs are deleted with all their rows in batches, each batch one transaction (writers of the store wait at
most one batch), so an interrupted compaction leaves whole runs only and a rerun simply finishes the job; a
rerun with nothing to collapse deletes nothing. Alert states, the outbox and annotations are kept. Progress is
told per batch (``progress(runs_done, runs_total)``), never per row, so watching costs nothing measurable.

Kept in mind: a ``maintain_*`` KR scores the share of this cycle's measurements that held its threshold, so
after compaction each collapsed day counts once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import time as day_start

from sqlalchemy import delete, select

from okrflow.store.locks import advisory_lock, slot_lock_key, write_connection
from okrflow.store.models import KRScoreRow, MeasurementRow, ObjectiveScoreRow, Run
from okrflow.store.store import Store

__all__ = ["BATCH_RUNS", "CompactionReport", "compact", "compaction_cutoff", "runs_to_collapse", "vacuum"]

BATCH_RUNS = 200
"""Runs deleted per transaction (200 runs of 1,000 KRs: ~400,000 rows)."""


@dataclass(frozen=True)
class CompactionReport:
    """What ``compact`` did: the cutoff, the runs deleted and kept before it, the rows deleted per table."""

    cutoff: datetime
    runs_deleted: int
    runs_kept: int
    measurements_deleted: int
    kr_scores_deleted: int
    objective_scores_deleted: int
    batches: int
    seconds: float

    @property
    def rows_deleted(self) -> int:
        return self.measurements_deleted + self.kr_scores_deleted + self.objective_scores_deleted

    def summary(self) -> str:
        if not self.runs_deleted:
            return f"nothing to compact before {self.cutoff.isoformat()} ({self.runs_kept} daily runs kept)"
        return (
            f"compacted history before {self.cutoff.isoformat()}: deleted {self.runs_deleted} runs "
            f"({self.measurements_deleted} measurements, {self.kr_scores_deleted} KR scores, "
            f"{self.objective_scores_deleted} objective scores) in {self.batches} batches, {self.seconds:.1f} s; "
            f"kept the last run of each day ({self.runs_kept} runs)"
        )


def compaction_cutoff(keep_raw: timedelta, now: datetime, tz: tzinfo = UTC) -> datetime:
    """Midnight (in ``tz``) at or before ``now - keep_raw``: runs before it are collapsed to one per day."""
    if keep_raw < timedelta(0):
        raise ValueError(f"keep_raw must not be negative (got {keep_raw})")
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    local = (now - keep_raw).astimezone(tz)
    return datetime.combine(local.date(), day_start(), tz).astimezone(UTC)


def runs_to_collapse(
    runs: Sequence[tuple[int, str, datetime]], tz: tzinfo = UTC
) -> tuple[list[tuple[int, str, datetime]], int]:
    """Of ``(id, deployment, slot)`` runs, those that are not the last of their deployment's day; and how many stay."""
    last: dict[tuple[str, object], tuple[datetime, int]] = {}
    for run_id, deployment, slot in runs:
        key = (deployment, slot.astimezone(tz).date())
        if key not in last or (slot, run_id) > last[key]:
            last[key] = (slot, run_id)
    keep = {run_id for _, run_id in last.values()}
    return [run for run in runs if run[0] not in keep], len(keep)


def compact(
    store: Store,
    keep_raw: timedelta,
    now: datetime | None = None,
    *,
    tz: tzinfo = UTC,
    batch_runs: int = BATCH_RUNS,
    progress: Callable[[int, int], None] | None = None,
) -> CompactionReport:
    """Keep every run of the last ``keep_raw``; before that keep the last run of each day and delete the others
    (with their measurements and scores), ``batch_runs`` runs per transaction. Safe to rerun and to interrupt.

    ``progress(done, total)`` counts the runs to delete: called before the first batch and after each one."""
    if batch_runs < 1:
        raise ValueError("batch_runs must be at least 1")
    started = time.perf_counter()
    cutoff = compaction_cutoff(keep_raw, now or datetime.now(UTC), tz)
    with store.engine.connect() as conn:
        rows = conn.execute(select(Run.id, Run.deployment, Run.slot).where(Run.slot < cutoff).order_by(Run.slot))
        candidates = [(run_id, deployment, slot) for run_id, deployment, slot in rows]
    doomed, kept = runs_to_collapse(candidates, tz)
    counts = [0, 0, 0]
    batches = 0
    if progress is not None:
        progress(0, len(doomed))
    for start in range(0, len(doomed), batch_runs):
        batch = doomed[start : start + batch_runs]
        for index, deleted in enumerate(_delete_runs(store, batch)):
            counts[index] += deleted
        batches += 1
        if progress is not None:
            progress(start + len(batch), len(doomed))
    return CompactionReport(
        cutoff=cutoff,
        runs_deleted=len(doomed),
        runs_kept=kept,
        measurements_deleted=counts[0],
        kr_scores_deleted=counts[1],
        objective_scores_deleted=counts[2],
        batches=batches,
        seconds=time.perf_counter() - started,
    )


def _delete_runs(store: Store, runs: Sequence[tuple[int, str, datetime]]) -> tuple[int, int, int]:
    """Delete whole runs in one transaction, serialised with writers of the same slots as ``write_run`` is
    (``okrflow.store.locks``; slot locks taken in key order, so two compactions cannot deadlock)."""
    ids = [run_id for run_id, _, _ in runs]
    with write_connection(store.engine) as conn:
        for key in sorted({slot_lock_key(deployment, slot) for _, deployment, slot in runs}):
            advisory_lock(conn, key)
        deleted = tuple(
            conn.execute(delete(table).where(table.run_id.in_(ids))).rowcount
            for table in (MeasurementRow, KRScoreRow, ObjectiveScoreRow)
        )
        conn.execute(delete(Run).where(Run.id.in_(ids)))
    return deleted  # type: ignore[return-value]


def vacuum(store: Store) -> None:
    """Give freed space back (SQLite ``VACUUM`` rewrites the file; PostgreSQL ``VACUUM ANALYZE`` makes it reusable)."""
    with store.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        if conn.dialect.name == "postgresql":
            raw.autocommit = True
            try:
                raw.execute("VACUUM ANALYZE")
            finally:
                raw.autocommit = False
        elif conn.dialect.name == "sqlite":
            raw.execute("VACUUM")
