"""The alert state machine, one instance per (subject, kind): pure transitions, no I/O.

    inactive --condition--> pending --held for `for_runs` runs--> firing --clears--> resolved
       ^                       |                                     |  (repeats no sooner than
       '-------clears----------'                                     |   `repeat_interval`)
                                                                     v
                                                  resolved --condition--> pending / firing

A slot at or before the last judged slot changes nothing: a rerun of a slot never notifies twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

__all__ = ["AlertState", "Transition", "step"]

Phase = Literal["inactive", "pending", "firing", "resolved"]


@dataclass(frozen=True)
class AlertState:
    """What is remembered about one alert between runs."""

    fingerprint: str
    phase: Phase = "inactive"
    consecutive: int = 0
    last_slot: datetime | None = None
    fired_at: datetime | None = None
    last_notified_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class Transition:
    """A notification to send: the alert started or repeats firing, or it resolved."""

    fingerprint: str
    state: Literal["firing", "resolved"]
    repeat: bool = False


def step(
    state: AlertState, condition: bool, slot: datetime, for_runs: int, repeat_interval: timedelta
) -> tuple[AlertState, Transition | None]:
    """Judge one run's slot; returns the new state and the notification it calls for, if any."""
    if state.last_slot is not None and slot <= state.last_slot:
        return state, None
    state = replace(state, last_slot=slot)
    if not condition:
        if state.phase == "firing":
            return replace(state, phase="resolved", consecutive=0, resolved_at=slot), Transition(
                state.fingerprint, "resolved"
            )
        return replace(state, phase="inactive" if state.phase == "pending" else state.phase, consecutive=0), None
    consecutive = state.consecutive + 1
    if state.phase == "firing":
        due = state.last_notified_at is None or slot - state.last_notified_at >= repeat_interval
        if due:
            return replace(state, consecutive=consecutive, last_notified_at=slot), Transition(
                state.fingerprint, "firing", repeat=True
            )
        return replace(state, consecutive=consecutive), None
    if consecutive >= for_runs:
        fired = replace(state, phase="firing", consecutive=consecutive, fired_at=slot, last_notified_at=slot)
        return fired, Transition(state.fingerprint, "firing")
    return replace(state, phase="pending", consecutive=consecutive), None
