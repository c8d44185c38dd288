"""Why an alert fires or resolves, in words, and the facts the words rest on.

Every alert says what changed and why it matters: a KR's value against its target, its score against the score
expected at this point of the cycle, the forecast when it (not today's pace) made the status, the share of time
a maintain KR held its threshold, the levels a drifting metric moved between, the MLflow model version measured
(and the version before, when it changed since the last message), and for an objective its score, expected score
and worst key results. Pure functions over one run's results; the judge puts the ``Facts`` into the ``Alert``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from okrflow.alerts.message import Forecast, WorstKR
from okrflow.okr_model import formatting
from okrflow.okr_model.config import Config, KeyResult, Objective
from okrflow.okr_model.drift import DriftResult
from okrflow.okr_model.pacing import AT_RISK_MARGIN, ON_TRACK_MARGIN, elapsed_share, pace_status
from okrflow.okr_model.results import KRResult, ObjectiveResult
from okrflow.okr_model.rollup import children_of
from okrflow.okr_model.types import MAINTAIN_KINDS

__all__ = ["WORST_SHOWN", "Facts", "kr_facts", "objective_facts", "source_facts"]

WORST_SHOWN = 3
"""An objective's alert names this many of its lowest-scoring key results."""
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Facts:
    """The ``detail`` sentence of an alert and the numbers behind it (``Alert`` fields of the same names)."""

    detail: str
    expected: float | None = None
    forecast: Forecast | None = None
    forecast_drove: bool = False
    held_share: float | None = None
    level_before: float | None = None
    level_after: float | None = None
    model_version: str | None = None
    model_version_before: str | None = None
    worst: tuple[WorstKR, ...] = ()


_num = partial(formatting.quantity, missing="no data")


def _forecast(kr: KeyResult, r: KRResult) -> tuple[Forecast | None, bool]:
    """The projection, and whether it drove the status (the pace alone would have judged better)."""
    if not r.forecast or r.score is None or r.expected is None:
        return None, False
    fc = Forecast(float(r.forecast["score"]), float(r.forecast["low"]), float(r.forecast["high"]))
    rank = {"off_track": 0, "at_risk": 1, "on_track": 2}
    paced = pace_status(r.score, r.expected)
    drove = fc.high < kr.success_score - _TOLERANCE and rank.get(r.status, 2) < rank.get(paced, 2)
    return fc, drove


def _versions(r: KRResult, *earlier: Any) -> tuple[str | None, str | None]:
    """The model version measured, and the first of ``earlier`` versions that differs from it (the alias moved)."""
    version = r.lineage.get("model_version") if r.lineage else None
    version = str(version) if version is not None else None
    moved = next((str(e) for e in earlier if e is not None and str(e) != version), None)
    return version, moved if version is not None else None


def _pace_words(kr: KeyResult, r: KRResult, fc: Forecast | None, drove: bool) -> str:
    """Why the status is what it is: the status rule applied to this KR's numbers."""
    reason = r.reason  # the scorer's own words (empty in runs stored before it kept them)
    value = f"value {_num(r.value, kr.unit)} against target {formatting.target_words(kr.target, kr.unit)}"
    if kr.kind in MAINTAIN_KINDS:
        share = r.computed_score if r.computed_score is not None else r.score
        held = f"threshold held {share:.0%} of the time this cycle" if share is not None else ""
        words = "; ".join(w for w in (reason, "" if "held" in reason else held) if w)
        return f"{value}; {words}" if words else value
    if r.score is None or r.expected is None:
        return f"{value}; {reason}" if reason else value
    share = r.expected / kr.success_score if kr.success_score else 0.0
    words = reason or (
        f"score {r.score:.2f} against {r.expected:.2f} expected at {share:.0%} of the cycle "
        f"(on track within {ON_TRACK_MARGIN:.2f} of it, at risk within {AT_RISK_MARGIN:.2f})"
    )
    if reason and "expected" in reason and "of the cycle" not in reason:
        words = f"at {share:.0%} of the cycle, {words}"
    if drove and fc is not None and "forecast" not in words:
        words += (
            f"; the forecast {fc.score:.2f} (interval {fc.low:.2f}-{fc.high:.2f}) ends below the success score "
            f"{kr.success_score:.2f}, so it is {r.status.replace('_', ' ')} although the pace alone is not"
        )
    return f"{value}; {words}"


def kr_facts(
    kind: str,
    firing: bool,
    kr: KeyResult,
    r: KRResult,
    drift: DriftResult | None = None,
    before: Mapping[str, Any] | None = None,
    lineage_before: Mapping[str, Any] | None = None,
) -> Facts:
    """The facts of a KR's alert of ``kind``; ``before`` is what its last message reported (``last_seen``),
    ``lineage_before`` the KR's measurement lineage in the previous run (where an MLflow alias pointed then)."""
    fc, drove = _forecast(kr, r)
    version, earlier = _versions(r, (lineage_before or {}).get("model_version"), (before or {}).get("model_version"))
    held = (r.computed_score if r.computed_score is not None else r.score) if kr.kind in MAINTAIN_KINDS else None
    common: dict[str, Any] = {
        "expected": r.expected,
        "forecast": fc,
        "forecast_drove": drove,
        "held_share": held,
        "model_version": version,
        "model_version_before": earlier,
    }
    moved = f"; model version {earlier} -> {version}" if earlier else (f"; model version {version}" if version else "")
    if kind == "drift":
        level = drift.reference if drift else (before or {}).get("level_before")
        if firing and drift is not None:
            text = f"{drift.description}: {_num(drift.reference, kr.unit)} -> {_num(drift.latest, kr.unit)}"
        else:
            text = f"{kr.id} is back at {_num(r.value, kr.unit)}" + (
                f", within max_drop of the level {_num(level, kr.unit)} it had moved from" if level is not None else ""
            )
        return Facts(text + moved, level_before=level, level_after=r.value, **common)
    if kind == "no_data":
        if firing:
            return Facts(f"no usable value this run: {r.detail or r.measurement}" + moved, **common)
        return Facts(f"data again: {_pace_words(kr, r, fc, drove)}{moved}", **common)
    status = r.status.replace("_", " ")
    if firing:
        return Facts(f"{_pace_words(kr, r, fc, drove)}{moved}", **common)
    return Facts(f"now {status}: {_pace_words(kr, r, fc, drove)}{moved}", **common)


def _under(objective: Objective, objectives: Sequence[Objective]) -> list[KeyResult]:
    """Every KR under an objective, its child objectives' included."""
    tree = children_of(objectives)
    found, stack = [], [objective]
    while stack:
        node = stack.pop()
        found.extend(node.key_results)
        stack.extend(tree.get(node.id, []))
    return found


def objective_facts(
    config: Config,
    slot: datetime,
    objective: Objective,
    o: ObjectiveResult,
    krs: Mapping[str, KRResult],
    firing: bool,
    expected: float | None,
) -> Facts:
    """An objective's score, the score ``expected`` now (the weighted mean of its scored KRs' expected scores:
    ``RunResults.expected_scores``), and its worst key results."""
    start, end = config.cycle_bounds()
    scored = sorted(
        (krs[kr.id] for kr in _under(objective, config.objectives) if kr.id in krs and krs[kr.id].score is not None),
        key=lambda r: r.score if r.score is not None else 0.0,
    )
    worst = tuple(WorstKR(r.kr_id, r.score, r.status) for r in scored[:WORST_SHOWN])
    reason = o.reason
    if o.score is None:
        words = reason or "no key result under it has a score this run"
    else:
        share = elapsed_share(start, end, slot)
        gap = f" against {expected:.2f} expected now ({share:.0%} of the cycle)" if expected is not None else ""
        words = f"objective score {o.score:.2f}{gap}" + (f": {reason}" if reason else "")
    names = ", ".join(f"{w.kr_id} {w.score:.2f} {w.status.replace('_', ' ')}" for w in worst if w.score is not None)
    text = (words if firing else f"now {o.status.replace('_', ' ')}: {words}") + (f"; worst: {names}" if names else "")
    return Facts(text, expected=expected, worst=worst)


def source_facts(source: str, firing: bool, reason: str) -> Facts:
    if firing:
        return Facts(f"every key result of source {source!r} errored: {reason}")
    return Facts(f"source {source!r} answers again")
