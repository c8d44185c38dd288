"""Pacing: is a score where it should be at this point of the cycle? Pure functions.

expected(t) = elapsed share of the cycle x the track's success score (1.0 committed, 0.7 aspirational).
On track: score >= expected - 0.1; at risk: >= expected - 0.25; else off track.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from okr_model.config import KeyResult
from okr_model.scoring import holds_threshold, is_valid

__all__ = ["AT_RISK_MARGIN", "ON_TRACK_MARGIN", "Status", "elapsed_share", "kr_status", "pace_status"]

Status = Literal["on_track", "at_risk", "off_track", "no_data"]
ON_TRACK_MARGIN = 0.1
AT_RISK_MARGIN = 0.25
_TOLERANCE = 1e-9
"""Float slack at the boundaries: 0.8 - 0.1 is 0.7000000000000001, yet a score of 0.7 there is on track."""


def elapsed_share(start: datetime, end: datetime, at: datetime) -> float:
    """How much of the cycle [start, end) has passed at ``at``, in [0, 1]."""
    return min(1.0, max(0.0, (at - start) / (end - start)))


def pace_status(score: float | None, expected: float) -> Status:
    """Compare a score with the expected score at this point of the cycle."""
    if score is None:
        return "no_data"
    if score >= expected - ON_TRACK_MARGIN - _TOLERANCE:
        return "on_track"
    if score >= expected - AT_RISK_MARGIN - _TOLERANCE:
        return "at_risk"
    return "off_track"


def kr_status(kr: KeyResult, score: float | None, latest_value: float | None, elapsed: float) -> Status:
    """A KR's status: maintain KRs are off track while the latest value breaks the threshold; once it
    holds again they are on track, or at risk while the cycle's held share is still low (a recovered
    metric is never reported off track). Other kinds are judged against the cycle's pace."""
    if score is None:
        return "no_data"
    if kr.kind in ("maintain_above", "maintain_below"):
        if is_valid(latest_value) and not holds_threshold(kr, latest_value):  # type: ignore[arg-type]
            return "off_track"
        status = pace_status(score, kr.success_score)
        return "at_risk" if status == "off_track" else status
    return pace_status(score, elapsed * kr.success_score)
