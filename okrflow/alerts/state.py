"""The alert state machine, one instance per (subject, kind): pure transitions, no I/O.

    inactive --condition--> pending --held `for:` (and `for_runs`)--> firing --clears--> resolved
       ^                       |                                        |  (repeats no sooner than
       '-------clears----------'                                        |   `repeat_interval`)
                                                                        v
                                                     resolved --condition--> pending / firing

Holding is measured in slot time, as Prometheus measures a rule's ``for``: from the slot of the first run that
saw the condition (``active_since``) to the current run's slot, so two manual runs seconds apart do not fire a
``for: 30m`` alert however many they are. ``for_runs`` additionally counts consecutive runs; when a rule sets
both, both must hold. A run without data (the caller does not step) leaves the clock running.

A slot at or before the last judged slot changes nothing: a rerun of a slot never notifies twice.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from okrflow.okr_model.config import AlertDefaults

__all__ = ["AT_ONCE", "AlertState", "Timing", "Transition", "step"]

Phase = Literal["inactive", "pending", "firing", "resolved"]


@dataclass(frozen=True)
class Timing:
    """When a held condition fires and how often it repeats: ``for:``, ``for_runs``, ``repeat_interval``."""

    hold: timedelta = timedelta(0)
    runs: int = 1
    repeat_interval: timedelta = timedelta(hours=24)

    def __post_init__(self) -> None:
        if self.hold < timedelta(0) or self.runs < 1:
            raise ValueError(f"a hold of at least 0s and at least 1 run (got {self.hold}, {self.runs})")

    @classmethod
    def of(cls, rules: AlertDefaults) -> Timing:
        """``defaults.alerts``' for / for_runs / repeat_interval."""
        return cls(rules.for_, rules.for_runs or 1, rules.repeat_interval)

    def held(self, active_since: datetime, slot: datetime, consecutive: int) -> bool:
        return consecutive >= self.runs and slot - active_since >= self.hold

    def at_once(self) -> Timing:
        """The same repeat interval, firing on the first run that sees the condition (drift, source errors)."""
        return replace(self, hold=timedelta(0), runs=1)


AT_ONCE = Timing()
"""Fire on the first run that sees the condition; repeat daily."""


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
    active_since: datetime | None = None
    """Slot of the first run of the current stretch of the condition (pending or firing); None when quiet."""


@dataclass(frozen=True)
class Transition:
    """A notification to send: the alert started or repeats firing, or it resolved."""

    fingerprint: str
    state: Literal["firing", "resolved"]
    repeat: bool = False


def step(state: AlertState, condition: bool, slot: datetime, timing: Timing) -> tuple[AlertState, Transition | None]:
    """Judge one run's slot; returns the new state and the notification it calls for, if any."""
    if state.last_slot is not None and slot <= state.last_slot:
        return state, None
    state = replace(state, last_slot=slot)
    if not condition:
        if state.phase == "firing":
            resolved = replace(state, phase="resolved", consecutive=0, resolved_at=slot, active_since=None)
            return resolved, Transition(state.fingerprint, "resolved")
        phase = "inactive" if state.phase == "pending" else state.phase
        return replace(state, phase=phase, consecutive=0, active_since=None), None
    consecutive = state.consecutive + 1
    ongoing = state.phase in ("pending", "firing") and state.active_since is not None
    since = state.active_since if ongoing else slot
    assert since is not None
    if state.phase == "firing":
        due = state.last_notified_at is None or slot - state.last_notified_at >= timing.repeat_interval
        if due:
            return replace(state, consecutive=consecutive, active_since=since, last_notified_at=slot), Transition(
                state.fingerprint, "firing", repeat=True
            )
        return replace(state, consecutive=consecutive, active_since=since), None
    if timing.held(since, slot, consecutive):
        fired = replace(
            state, phase="firing", consecutive=consecutive, active_since=since, fired_at=slot, last_notified_at=slot
        )
        return fired, Transition(state.fingerprint, "firing")
    return replace(state, phase="pending", consecutive=consecutive, active_since=since), None
