"""Key-result scoring on the 0.0-1.0 OKR scale, as ARCHITECTURE.md states it. Pure functions.

- increase / decrease / milestone / manual: progress from the start value to the target, clamped;
  a ``[low, high]`` band maps start -> low to 0.0 -> 0.7 and low -> high to 0.7 -> 1.0.
- maintain_above / maintain_below: the share of the cycle's time that the threshold held, each valid measurement
  weighted by the time it stood for (``okrflow.okr_model.maintain`` computes the weights).
- gates: a failed quality gate caps at 0.2 (or holds the previous score), a model outside production
  caps at 0.5, an abandoned KR scores 0.4; an override replaces the effective score but never the computed one.
  ``gates`` lists only the gates that changed the score (a 0.49 under a 0.5 cap was not capped).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from okrflow.okr_model.config import Caps, KeyResult
from okrflow.okr_model.errors import ScoringError
from okrflow.okr_model.types import MAINTAIN_KINDS, Band

__all__ = [
    "BAND_COMMIT_SCORE",
    "GateInputs",
    "KRScore",
    "describe_gates",
    "holds_threshold",
    "is_valid",
    "progress",
    "score_key_result",
]

BAND_COMMIT_SCORE = 0.7
"""The score at the committed (low) end of a confidence band."""


def is_valid(value: float | None) -> bool:
    """A value can be scored only if it is a finite number: None and NaN never score."""
    return value is not None and not isinstance(value, bool) and math.isfinite(value)


def _clamp(x: float) -> float:
    return min(1.0, max(0.0, x))


def _linear(value: float, start: float, end: float) -> float:
    span = end - start
    if not math.isfinite(span):  # validation refuses such targets; dividing by inf would give a silent 0.0
        raise ScoringError(
            f"the distance from {start} to {end} is not a finite number (it overflows a float): "
            "progress cannot be computed"
        )
    return _clamp((value - start) / span)


def _band_ends(kr: KeyResult, band: Band) -> tuple[float, float]:
    """(committed, stretch): the committed end is the one nearer the start value."""
    start = kr.start_value
    near, far = sorted(band, key=lambda end: abs(end - start))
    return near, far


def progress(kr: KeyResult, value: float) -> float:
    """Progress of a value towards an increase/decrease/milestone/manual target, in [0, 1]."""
    start = kr.start_value
    if isinstance(kr.target, Band):
        committed, stretch = _band_ends(kr, kr.target)
        reached_commit = (value >= committed) if committed > start else (value <= committed)
        if not reached_commit:
            return BAND_COMMIT_SCORE * _linear(value, start, committed)
        return BAND_COMMIT_SCORE + (1 - BAND_COMMIT_SCORE) * _linear(value, committed, stretch)
    return _linear(value, start, kr.target)


def maintain_threshold(kr: KeyResult) -> float:
    """The level a maintain KR's measurements must hold (a band's low end)."""
    return kr.target.low if isinstance(kr.target, Band) else kr.target


def holds_threshold(kr: KeyResult, value: float) -> bool:
    """Whether one measurement of a maintain KR held its threshold (inclusive)."""
    threshold = maintain_threshold(kr)
    return value <= threshold if kr.kind == "maintain_below" else value >= threshold


def maintain_share(
    kr: KeyResult, values: Sequence[float | None], earlier: tuple[float, float] = (0, 0), weight: float = 1.0
) -> float | None:
    """Share of the cycle's time that the threshold held; None when no valid measurement stood for any time.

    ``earlier`` is (held, valid) time of measurements already weighed elsewhere (the store sums a long cycle);
    each of ``values`` stands for ``weight`` (the current measurement: until the next scheduled run). With
    ``weight`` 1 and counts in ``earlier`` this is the share of runs.
    """
    valid = [v for v in values if is_valid(v)]
    held, total = earlier
    held += weight * sum(holds_threshold(kr, v) for v in valid)
    total += weight * len(valid)
    if total <= 0:
        return (1.0 if all(holds_threshold(kr, v) for v in valid) else 0.0) if valid else None
    return held / total


@dataclass(frozen=True)
class GateInputs:
    """What the gates need to know about one evaluation of a KR."""

    quality: Literal["passed", "failed"] | None = None
    in_production: bool | None = None
    previous_score: float | None = None
    abandoned: bool = False
    override: float | None = None


@dataclass(frozen=True)
class KRScore:
    """The outcome of scoring one KR: ``score`` is what counts, ``computed`` what the rules gave."""

    score: float | None
    computed: float | None
    progress: float | None
    gates: tuple[str, ...] = ()
    held: bool = False
    trusted: bool = True
    overridden: bool = False


def score_key_result(
    kr: KeyResult,
    value: float | None,
    cycle_values: Sequence[float | None] = (),
    gates: GateInputs = GateInputs(),
    caps: Caps = Caps(),
    earlier: tuple[float, float] = (0, 0),
    weight: float = 1.0,
) -> KRScore:
    """Score one KR from its latest value (and, for maintain kinds, the cycle's values including it).

    A maintain KR's earlier measurements come as ``cycle_values``, as (held, valid) time in ``earlier``, or both;
    each of ``cycle_values`` stands for ``weight``. Only gates that changed the score are listed.
    """
    if kr.kind in MAINTAIN_KINDS:
        raw = maintain_share(kr, cycle_values, earlier, weight) if is_valid(value) else None
    else:
        raw = progress(kr, value) if is_valid(value) else None  # type: ignore[arg-type]

    applied: list[str] = []
    computed = raw
    held = False
    trusted = True
    if gates.abandoned:
        computed = caps.abandoned
        applied.append("abandoned")
    elif computed is not None:
        if kr.requires_production and gates.in_production is False and computed > caps.requires_production:
            computed = caps.requires_production
            applied.append("requires_production")
        if kr.quality_gate is not None and gates.quality == "failed":
            trusted = False  # bad data behind the value, whether or not the cap lowered the score
            if kr.quality_gate.on_fail == "hold":
                computed, held = gates.previous_score, True
                applied.append("quality_gate")
            elif computed is not None and computed > caps.quality_gate:
                computed = caps.quality_gate
                applied.append("quality_gate")
    if gates.override is not None:
        return KRScore(gates.override, computed, raw, tuple(applied), held, trusted, overridden=True)
    return KRScore(computed, computed, raw, tuple(applied), held, trusted)


def describe_gates(gates: Sequence[str], held: bool) -> str:
    """How the gates changed a score, in words: ``capped by requires_production``, ``held by quality_gate``."""
    capped = [g for g in gates if g not in ("abandoned", "quality_gate") or (g == "quality_gate" and not held)]
    parts = ["abandoned"] if "abandoned" in gates else []
    if capped:
        parts.append(f"capped by {', '.join(capped)}")
    if held and "quality_gate" in gates:
        parts.append("held by quality_gate")
    return "; ".join(parts)
