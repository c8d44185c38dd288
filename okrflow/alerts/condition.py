"""What judging one run looks at: each alert's condition, and the run's results by id.

Plain values shared by ``okrflow.alerts.judge`` (which makes them) and ``okrflow.alerts.compose`` (which words
the alerts from them), so neither imports the other's module for its types.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from okrflow.okr_model.config import KeyResult, Objective
from okrflow.okr_model.drift import DriftResult
from okrflow.okr_model.results import KRResult, ObjectiveResult, RunRecord

__all__ = ["Condition", "DriftCheck", "LineageBefore", "RunResults"]

DriftCheck = Callable[[KeyResult, float | None], DriftResult | None]
"""Given a KR and the level an open max_drop drift of it moved from (None if none is open), its drift or None."""


@dataclass(frozen=True)
class Condition:
    """One alert's condition in one run; ``holds`` None means unknown (no data): the state is kept."""

    kind: str
    subject: str  # KR id, objective id, or source name
    holds: bool | None
    kr: KeyResult | None = None
    objective: Objective | None = None
    source: str | None = None
    detail: str = ""
    drift: DriftResult | None = None


LineageBefore = Callable[[str], Mapping[str, Any] | None]
"""Given a KR id, its measurement's lineage in the run before this one (None if unknown)."""


@dataclass(frozen=True)
class RunResults:
    """A run's results by id (judging looks them up once per alert), and how to read the run before's lineage."""

    krs: Mapping[str, KRResult]
    objectives: Mapping[str, ObjectiveResult]
    lineage_before: LineageBefore | None = None

    @classmethod
    def of(cls, record: RunRecord, lineage_before: LineageBefore | None = None) -> RunResults:
        krs = {r.kr_id: r for r in record.key_results}
        return cls(krs, {o.objective_id: o for o in record.objectives}, lineage_before)
