"""Plain records passed to and from the store, so callers never touch ORM rows or sessions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
class KRResult:
    """One KR in one run: what the source said and what the rules made of it."""

    kr_id: str
    objective_id: str
    value: float | None
    measurement: str  # ok | no_data | error
    detail: str
    observed_at: datetime | None
    lineage: Mapping[str, Any]
    score: float | None
    computed_score: float | None
    progress: float | None
    status: str  # on_track | at_risk | off_track | no_data
    gates: tuple[str, ...] = ()
    held: bool = False
    trusted: bool = True
    overridden: bool = False
    expected: float | None = None
    forecast: Mapping[str, float] | None = None
    reason: str = ""
    """Why the status is what it is, in words (``okrflow.okr_model.status``)."""


@dataclass(frozen=True)
class ObjectiveResult:
    objective_id: str
    score: float | None
    status: str
    reason: str = ""
    scored: int | None = None
    """How many KRs under the objective had a score in this run (None in runs stored before it was counted)."""
    of: int | None = None
    """How many KRs are under the objective."""


@dataclass(frozen=True)
class RunRecord:
    """A whole evaluation of one slot, written in one transaction."""

    slot: datetime
    started_at: datetime
    finished_at: datetime
    status: str  # completed | partial | failed
    config_hash: str
    cycle: str
    key_results: list[KRResult]
    objectives: list[ObjectiveResult]
    deployment: str = "default"
    backfilled: bool = False
    detail: str = ""
    run_id: int | None = None
    """The stored run's id once written (None for a dry run)."""
    alert_note: str = ""
    """What the alert step did with the run, for people (e.g. not judged: an older slot); not stored."""

    @property
    def error_count(self) -> int:
        return sum(kr.measurement == "error" for kr in self.key_results)


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


@dataclass(frozen=True)
class AnnotationRecord:
    kr_id: str
    kind: str  # checkin | override | abandon | clear_override | clear_abandon
    value: float | None
    reason: str
    author: str
    created_at: datetime
    effective_at: datetime
    extra: Mapping[str, Any] = field(default_factory=dict)
