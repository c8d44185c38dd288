"""The alert lifecycle as a hypothesis state machine against a plain model of the rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from okrflow.alerts.state import AlertState, step

T0 = datetime(2026, 10, 1, tzinfo=UTC)


def test_fires_after_for_runs_and_resolves_once():
    state, sent = AlertState("fp"), []
    for hour, condition in enumerate([True, True, True, False, False, True]):
        state, note = step(
            state, condition, T0 + timedelta(hours=hour), for_runs=2, repeat_interval=timedelta(hours=24)
        )
        sent.append(note and (note.state, note.repeat))
    assert sent == [None, ("firing", False), None, ("resolved", False), None, None]
    assert state.phase == "pending"


def test_rerun_of_a_slot_never_notifies_again():
    state, note = step(AlertState("fp"), True, T0, for_runs=1, repeat_interval=timedelta(0))
    assert note is not None
    again, note2 = step(state, True, T0, for_runs=1, repeat_interval=timedelta(0))
    assert note2 is None and again == state
    older, note3 = step(state, False, T0 - timedelta(hours=1), for_runs=1, repeat_interval=timedelta(0))
    assert note3 is None and older == state


def test_repeat_interval():
    state, notes = AlertState("fp"), []
    for hour in range(0, 50):
        state, note = step(state, True, T0 + timedelta(hours=hour), for_runs=1, repeat_interval=timedelta(hours=24))
        if note:
            notes.append(hour)
    assert notes == [0, 24, 48]


class AlertLifecycle(RuleBasedStateMachine):
    """Random condition sequences, slots moving forward (sometimes rerun), random rule parameters."""

    def __init__(self):
        super().__init__()
        self.state = AlertState("fp")
        self.slot = T0
        self.for_runs = 1
        self.repeat = timedelta(hours=6)
        self.configured = False
        self.history: list[tuple[datetime, bool]] = []  # judged (slot, condition), one per distinct slot
        self.notes: list[tuple[datetime, str]] = []

    @precondition(lambda self: not self.configured)
    @rule(for_runs=st.integers(1, 4), repeat_hours=st.integers(0, 12))
    def configure(self, for_runs, repeat_hours):
        self.for_runs, self.repeat, self.configured = for_runs, timedelta(hours=repeat_hours), True

    @precondition(lambda self: self.configured)
    @rule(condition=st.booleans(), advance=st.sampled_from([0, 1, 1, 1, 2, 5]))
    def run(self, condition, advance):
        slot = self.slot + timedelta(hours=advance)
        before = self.state
        self.state, note = step(self.state, condition, slot, self.for_runs, self.repeat)
        if before.last_slot is not None and slot <= before.last_slot:
            assert note is None and self.state == before  # reruns change nothing
            return
        self.slot = slot
        self.history.append((slot, condition))
        if note:
            self.notes.append((slot, note.state))

    @invariant()
    def matches_the_plain_rules(self):
        streak, firing, last_note = 0, False, None
        expected = []
        for slot, condition in self.history:
            if condition:
                streak += 1
                if not firing and streak >= self.for_runs:
                    firing, last_note = True, slot
                    expected.append((slot, "firing"))
                elif firing and slot - last_note >= self.repeat:
                    last_note = slot
                    expected.append((slot, "firing"))
            else:
                streak = 0
                if firing:
                    firing = False
                    expected.append((slot, "resolved"))
        assert self.notes == expected
        assert (self.state.phase == "firing") == firing

    @invariant()
    def no_duplicate_notifications_per_slot(self):
        slots = [slot for slot, _ in self.notes]
        assert len(slots) == len(set(slots))

    @invariant()
    def every_firing_resolves_when_the_condition_clears(self):
        if self.history and not self.history[-1][1]:
            assert self.state.phase != "firing"


AlertLifecycle.TestCase.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)
TestAlertLifecycle = AlertLifecycle.TestCase
