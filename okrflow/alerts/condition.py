"""What judging one run looks at: each alert's condition, and the run's results by id.

Plain values shared by ``okrflow.alerts.judge`` (which makes them) and ``okrflow.alerts.compose`` (which words
the alerts from them), so neither imports the other's module for its types.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from okrflow.okr_model.config import KeyResult, Objective
from okrflow.okr_model.drift import DriftResult
from okrflow.okr_model.results import KRResult, ObjectiveResult, RunRecord
from okrflow.okr_model.rollup import rollup

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
    _expected: dict[int, tuple[Sequence[Objective], Mapping[str, float | None]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def expected_scores(self, objectives: Sequence[Objective]) -> Mapping[str, float | None]:
        """Each objective's score expected now: the rollup of its scored KRs' expected scores. Computed once for
        the run: every objective alert asks, and a whole-tree rollup per alert made judging quadratic (10,000 KRs:
        6.7 s of it, benchmarks/README.md)."""
        kept = self._expected.get(id(objectives))
        if kept is None or kept[0] is not objectives:
            by_kr = {k: r.expected for k, r in self.krs.items() if r.score is not None and r.expected is not None}
            kept = self._expected[id(objectives)] = (objectives, rollup(objectives, by_kr))
        return kept[1]

    @classmethod
    def of(cls, record: RunRecord, lineage_before: LineageBefore | None = None) -> RunResults:
        krs = {r.kr_id: r for r in record.key_results}
        return cls(krs, {o.objective_id: o for o in record.objectives}, lineage_before)
