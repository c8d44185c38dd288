"""Pacing: is a score where it should be at this point of the cycle? Pure functions.

expected(t) = elapsed share of the cycle x the track's success score (1.0 committed, 0.7 aspirational or a
confidence band); a maintain KR expects its success score all cycle long (it scores a share of time held).
On track: score >= expected - 0.1; at risk: >= expected - 0.25; else off track. Every status comes with its
reason in words (``Judgement``). The forecast's and objectives' rules build on these in ``okrflow.okr_model.status``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from okrflow.okr_model import formatting
from okrflow.okr_model.config import KeyResult
from okrflow.okr_model.scoring import holds_threshold, is_valid, maintain_threshold
from okrflow.okr_model.types import MAINTAIN_KINDS

__all__ = [
    "AT_RISK_MARGIN",
    "MAINTAIN_KINDS",
    "ON_TRACK_MARGIN",
    "Judgement",
    "Status",
    "elapsed_share",
    "expected_score",
    "kr_pace",
    "kr_status",
    "pace",
    "pace_status",
]

Status = Literal["on_track", "at_risk", "off_track", "no_data"]
ON_TRACK_MARGIN = 0.1
AT_RISK_MARGIN = 0.25
_TOLERANCE = 1e-9
"""Float slack at the boundaries: 0.8 - 0.1 is 0.7000000000000001, yet a score of 0.7 there is on track."""


@dataclass(frozen=True)
class Judgement:
    """A status and the reason for it, in words a KR's owner reads in the status table and in alerts."""

    status: Status
    reason: str


def elapsed_share(start: datetime, end: datetime, at: datetime) -> float:
    """How much of the cycle [start, end) has passed at ``at``, in [0, 1]."""
    return min(1.0, max(0.0, (at - start) / (end - start)))


def expected_score(kr: KeyResult, elapsed: float) -> float:
    """The score a KR should have by now: its success score for maintain kinds, else elapsed x success."""
    return kr.success_score if kr.kind in MAINTAIN_KINDS else elapsed * kr.success_score


def pace_status(score: float | None, expected: float) -> Status:
    """Compare a score with the expected score at this point of the cycle."""
    return pace(score, expected).status


def pace(score: float | None, expected: float) -> Judgement:
    """``pace_status`` with its reason, e.g. "score 0.31 is below expected 0.62 by more than 0.25"."""
    if score is None:
        return Judgement("no_data", "no score")
    gap = expected - score
    if score >= expected - ON_TRACK_MARGIN - _TOLERANCE:
        if gap < 0.005:  # equal as shown, to two decimals
            return Judgement("on_track", f"score {score:.2f} is at or above expected {expected:.2f}")
        return Judgement("on_track", f"score {score:.2f} is within {ON_TRACK_MARGIN:.2f} of expected {expected:.2f}")
    if score >= expected - AT_RISK_MARGIN - _TOLERANCE:
        return Judgement("at_risk", f"score {score:.2f} is {gap:.2f} below expected {expected:.2f}")
    return Judgement(
        "off_track", f"score {score:.2f} is below expected {expected:.2f} by more than {AT_RISK_MARGIN:.2f}"
    )


def kr_pace(kr: KeyResult, score: float | None, latest_value: float | None, elapsed: float) -> Judgement:
    """A KR's pace with its reason: maintain KRs are off track while the latest value breaks the threshold; once
    it holds again they are on track, or at risk while the cycle's held share is still low (a recovered metric is
    never reported off track). Other kinds are judged against the cycle's pace."""
    if score is None:
        return Judgement("no_data", "no score this run")
    if kr.kind not in MAINTAIN_KINDS:
        return pace(score, expected_score(kr, elapsed))
    threshold = formatting.quantity(maintain_threshold(kr), kr.unit)
    shown = formatting.number(latest_value) if is_valid(latest_value) else ""  # type: ignore[arg-type]
    if is_valid(latest_value) and not holds_threshold(kr, latest_value):  # type: ignore[arg-type]
        side = "above" if kr.kind == "maintain_below" else "below"
        return Judgement("off_track", f"latest value {shown} is {side} the threshold {threshold}")
    needed = kr.success_score - ON_TRACK_MARGIN
    holds = f"latest value {shown} holds the threshold {threshold}" if shown else ""
    if score >= needed - _TOLERANCE:
        return Judgement(
            "on_track", "; ".join(filter(None, [f"share held {score:.2f} is at least {needed:.2f}", holds]))
        )
    return Judgement(
        "at_risk",
        "; ".join(filter(None, [f"share held {score:.2f} is below the {needed:.2f} on track needs", holds])),
    )


def kr_status(kr: KeyResult, score: float | None, latest_value: float | None, elapsed: float) -> Status:
    """A KR's pacing status (``kr_pace`` without the reason)."""
    return kr_pace(kr, score, latest_value, elapsed).status
