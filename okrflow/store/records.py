"""Plain records the store returns from its queries, so callers never touch ORM rows or sessions.

The run's result types and annotations are domain values (``okrflow.okr_model.results``,
``okrflow.okr_model.annotations``), re-exported here because the store writes and returns them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from okrflow.okr_model.annotations import AnnotationRecord
from okrflow.okr_model.results import KRResult, ObjectiveResult, RunRecord

__all__ = [
    "AnnotationRecord",
    "HistoryPoint",
    "KRResult",
    "ObjectiveResult",
    "RunRecord",
    "RunSummary",
    "StatusSnapshot",
]


@dataclass(frozen=True)
class RunSummary:
    id: int
    slot: datetime
    status: str
    started_at: datetime
    finished_at: datetime | None
    kr_count: int
    error_count: int
    deployment: str
    backfilled: bool
    detail: str


@dataclass(frozen=True)
class StatusSnapshot:
    """The latest run with every KR and objective result in it."""

    run: RunSummary
    key_results: list[KRResult]
    objectives: list[ObjectiveResult]


@dataclass(frozen=True)
class HistoryPoint:
    """One KR in one run, with the run's slot."""

    slot: datetime
    run_id: int
    run_status: str
    result: KRResult
