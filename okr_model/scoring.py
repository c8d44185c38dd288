"""Key-result scoring on the 0.0-1.0 OKR scale, as ARCHITECTURE.md states it. Pure functions.

- increase / decrease / milestone / manual: progress from the start value to the target, clamped;
  a ``[low, high]`` band maps start -> low to 0.0 -> 0.7 and low -> high to 0.7 -> 1.0.
- maintain_above / maintain_below: the share of the cycle's valid measurements that held the threshold.
- gates: a failed quality gate caps at 0.2 (or holds the previous score), a model outside production
  caps at 0.5, an abandoned KR scores 0.4; an override replaces the effective score but never the computed one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from okr_model.config import Caps, KeyResult
from okr_model.errors import ScoringError
from okr_model.types import Band

__all__ = ["BAND_COMMIT_SCORE", "GateInputs", "KRScore", "holds_threshold", "is_valid", "progress", "score_key_result"]

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


def maintain_share(kr: KeyResult, values: Sequence[float | None], earlier: tuple[int, int] = (0, 0)) -> float | None:
    """Share of the cycle's valid measurements that held; None when there are none.

    ``earlier`` is (held, valid) of measurements already counted elsewhere (the store counts a long cycle).
    """
    valid = [v for v in values if is_valid(v)]
    held, total = earlier
    held += sum(holds_threshold(kr, v) for v in valid)
    total += len(valid)
    return held / total if total else None


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
    earlier: tuple[int, int] = (0, 0),
) -> KRScore:
    """Score one KR from its latest value (and, for maintain kinds, the cycle's values including it).

    A maintain KR's earlier measurements come as ``cycle_values``, as (held, valid) counts in ``earlier``, or both.
    """
    if kr.kind in ("maintain_above", "maintain_below"):
        raw = maintain_share(kr, cycle_values, earlier) if is_valid(value) else None
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
        if kr.requires_production and gates.in_production is False:
            computed = min(computed, caps.requires_production)
            applied.append("requires_production")
        if kr.quality_gate is not None and gates.quality == "failed":
            applied.append("quality_gate")
            trusted = False
            if kr.quality_gate.on_fail == "hold":
                computed, held = gates.previous_score, True
            else:
                computed = min(computed, caps.quality_gate)
    if gates.override is not None:
        return KRScore(gates.override, computed, raw, tuple(applied), held, trusted, overridden=True)
    return KRScore(computed, computed, raw, tuple(applied), held, trusted)
