"""Statuses that never overrule the evidence: a KR's pace corrected by its forecast, and objectives that agree
with their key results. Pure functions over plain data; each status comes with its reason in words.

KR (``judge_key_result``): the pace of ``okrflow.okr_model.pacing`` decides. A forecast may lower it by one step
(on_track -> at_risk -> off_track) when its whole interval lies below the success score, and only when

- the KR's score is below its success score (a KR at or above success is never lowered),
- the projection rests on at least ``FORECAST_MIN_POINTS`` runs spanning at least ``FORECAST_MIN_SHARE`` of
  the cycle and ``FORECAST_MIN_DAYS`` days (a day-one series of three runs at baseline proves nothing),
- the score is the rules' own (not an override, not an abandon) and the KR is not a maintain KR.

Objective (``judge_objectives``), over its KRs and child objectives ("children"):

- coverage: the KRs under it that had a score (``scored`` of ``of``) and the share of its weight they carry;
  below ``OBJECTIVE_MIN_COVERAGE`` of the weight the status is no_data, with the count as the reason;
- pace: its score (the weighted mean of its scored children) against the same weighted mean of their
  expected scores (a maintain KR expects its success score, a progress KR elapsed x success);
- cap: never better than its best scored child, so an objective whose scored KRs are all off track is off track
  (the KRs' forecasts reach their objectives this way).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from okrflow.okr_model.config import KeyResult, Objective
from okrflow.okr_model.forecast import Forecast
from okrflow.okr_model.pacing import MAINTAIN_KINDS, Judgement, Status, kr_pace, pace
from okrflow.okr_model.rollup import children_of, weighted_mean

__all__ = [
    "FORECAST_MIN_DAYS",
    "FORECAST_MIN_POINTS",
    "FORECAST_MIN_SHARE",
    "OBJECTIVE_MIN_COVERAGE",
    "ChildResult",
    "ObjectiveJudgement",
    "forecast_evidence",
    "judge_key_result",
    "judge_objectives",
    "worse",
]

FORECAST_MIN_POINTS = 8
"""Fewest runs (in the current regime) a forecast must rest on before it may change a status."""
FORECAST_MIN_SHARE = 0.2
"""Least share of the cycle those runs must span."""
FORECAST_MIN_DAYS = 3.0
"""Least number of days those runs must span (a six-week cycle's 20% is 8.4 days, a quarter's 18.4)."""
OBJECTIVE_MIN_COVERAGE = 0.5
"""Least share of an objective's weight that must have data for it to get a status other than no_data."""

_RANK: dict[str, int] = {"off_track": 0, "at_risk": 1, "on_track": 2}
_TOLERANCE = 1e-9


def worse(a: Status, b: Status) -> Status:
    """The worse of two statuses that have data."""
    return a if _RANK[a] <= _RANK[b] else b


def forecast_evidence(fc: Forecast, cycle_days: float) -> str | None:
    """None when the forecast rests on enough runs over enough time, else what it lacks (for the reason)."""
    days = fc.span * cycle_days
    if fc.points >= FORECAST_MIN_POINTS and fc.span >= FORECAST_MIN_SHARE - _TOLERANCE and days >= FORECAST_MIN_DAYS:
        return None
    return (
        f"{fc.points} runs over {days:.1f} days ({fc.span:.0%} of the cycle), it needs {FORECAST_MIN_POINTS} over "
        f"{FORECAST_MIN_SHARE:.0%} of the cycle and {FORECAST_MIN_DAYS:g} days"
    )


def _range(fc: Forecast) -> str:
    return f"forecast {fc.score:.2f} ({fc.low:.2f}-{fc.high:.2f})"


def judge_key_result(
    kr: KeyResult,
    score: float | None,
    latest_value: float | None,
    elapsed: float,
    fc: Forecast | None = None,
    *,
    cycle_days: float,
    forecast_applies: bool = True,
) -> Judgement:
    """A KR's status and reason: its pace, lowered one step by a forecast with enough evidence (module docs)."""
    paced = kr_pace(kr, score, latest_value, elapsed)
    if paced.status == "no_data" or fc is None or not forecast_applies or kr.kind in MAINTAIN_KINDS:
        return paced
    success = kr.success_score
    if score is None or score >= success - _TOLERANCE or fc.high >= success - _TOLERANCE:
        return paced  # at or above success already, or success is still within the forecast's reach
    lacking = forecast_evidence(fc, cycle_days)
    if lacking is not None:
        return Judgement(paced.status, f"{paced.reason}; {_range(fc)} not used yet: {lacking}")
    below = f"{_range(fc)} from {fc.points} runs stays below success {success:.2f}"
    if paced.status == "off_track":
        return Judgement("off_track", f"{paced.reason}; {below}")
    lowered: Status = "at_risk" if paced.status == "on_track" else "off_track"
    return Judgement(lowered, f"{paced.reason}, but {below}")


@dataclass(frozen=True)
class ChildResult:
    """What an objective needs from one KR of this run: its score, expected score and status."""

    score: float | None
    expected: float | None
    status: str


@dataclass(frozen=True)
class ObjectiveJudgement:
    """An objective's score, status and reason, with how many KRs under it had data."""

    score: float | None
    status: Status
    reason: str
    scored: int
    of: int
    coverage: float
    """The share of its weight with data (child objectives count by their own coverage)."""
    expected: float | None


def _scored_text(scored: int, of: int) -> str:
    return f"scored {scored} of {of} key result{'s' if of != 1 else ''}"


def judge_objectives(
    objectives: Sequence[Objective], key_results: Mapping[str, ChildResult]
) -> dict[str, ObjectiveJudgement]:
    """Every objective's judgement (module docs); KRs missing from ``key_results`` count as having no data."""
    tree = children_of(objectives)
    done: dict[str, ObjectiveJudgement] = {}

    def visit(objective: Objective) -> ObjectiveJudgement:
        if objective.id in done:
            return done[objective.id]
        # (score, expected, status, weight, coverage, scored, of) of every child
        items: list[tuple[float | None, float | None, str, float, float, int, int]] = []
        for kr in objective.key_results:
            r = key_results.get(kr.id, ChildResult(None, None, "no_data"))
            has = r.score is not None
            items.append((r.score, r.expected, r.status if has else "no_data", kr.weight, float(has), int(has), 1))
        for child in tree.get(objective.id, []):
            j = visit(child)
            items.append((j.score, j.expected, j.status, child.weight, j.coverage, j.scored, j.of))
        done[objective.id] = judged = _judge(items)
        return judged

    for objective in objectives:
        visit(objective)
    return done


def _judge(items: list[tuple[float | None, float | None, str, float, float, int, int]]) -> ObjectiveJudgement:
    scored, of = sum(i[5] for i in items), sum(i[6] for i in items)
    counted = [i for i in items if i[6] > 0]  # an objective with no KRs under it weighs nothing either way
    total = sum(i[3] for i in counted)
    coverage = sum(i[3] * i[4] for i in counted) / total if total > 0 else 0.0
    score = weighted_mean([(i[0], i[3]) for i in items])
    present = [i for i in items if i[0] is not None]
    expected = weighted_mean([(i[1] if i[1] is not None else 0.0, i[3]) for i in present])
    count = _scored_text(scored, of)

    def result(status: Status, reason: str) -> ObjectiveJudgement:
        return ObjectiveJudgement(score, status, reason, scored, of, coverage, expected)

    if of == 0:
        return result("no_data", "no key results under it")
    if score is None or scored == 0:
        return result("no_data", f"{count}: none has data")
    if coverage < OBJECTIVE_MIN_COVERAGE - _TOLERANCE:
        return result(
            "no_data",
            f"{count} ({coverage:.0%} of its weight); a status needs at least {OBJECTIVE_MIN_COVERAGE:.0%}",
        )
    paced = pace(score, expected if expected is not None else 0.0)
    statuses: list[Status] = [i[2] for i in present if i[2] in _RANK]  # type: ignore[misc]
    if not statuses:
        return result("no_data", f"{count}; none of its scored children has a status")
    best = max(statuses, key=_RANK.__getitem__)
    if _RANK[best] < _RANK[paced.status]:
        return result(best, f"no child does better than {best} (pace alone: {paced.reason}); {count}")
    return result(paced.status, f"{paced.reason}; {count}")
