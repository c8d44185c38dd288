"""The alert lifecycle as a hypothesis state machine against a plain model of the rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from okrflow.alerts.state import AlertState, Timing, step

T0 = datetime(2026, 10, 1, tzinfo=UTC)
DAILY = timedelta(hours=24)


def runs(n: int, repeat: timedelta = DAILY) -> Timing:
    return Timing(runs=n, repeat_interval=repeat)


def test_fires_after_for_runs_and_resolves_once():
    state, sent = AlertState("fp"), []
    for hour, condition in enumerate([True, True, True, False, False, True]):
        state, note = step(state, condition, T0 + timedelta(hours=hour), runs(2))
        sent.append(note and (note.state, note.repeat))
    assert sent == [None, ("firing", False), None, ("resolved", False), None, None]
    assert state.phase == "pending"


def test_rerun_of_a_slot_never_notifies_again():
    state, note = step(AlertState("fp"), True, T0, runs(1, timedelta(0)))
    assert note is not None
    again, note2 = step(state, True, T0, runs(1, timedelta(0)))
    assert note2 is None and again == state
    older, note3 = step(state, False, T0 - timedelta(hours=1), runs(1, timedelta(0)))
    assert note3 is None and older == state


def test_repeat_interval():
    state, notes = AlertState("fp"), []
    for hour in range(0, 50):
        state, note = step(state, True, T0 + timedelta(hours=hour), runs(1))
        if note:
            notes.append(hour)
    assert notes == [0, 24, 48]


def test_for_is_slot_time_not_a_run_count():
    """Issue 13: `for_runs: 2` fired after two manual runs 14 s apart; `for: 30m` waits 30 minutes of slot time."""
    timing = Timing(hold=timedelta(minutes=30))
    state, notes = AlertState("fp"), []
    for seconds in (0, 14, 28, 42, 1799):  # many runs, all within 30 minutes of the first
        state, note = step(state, True, T0 + timedelta(seconds=seconds), timing)
        notes.append(note)
    assert notes == [None] * 5 and state.phase == "pending" and state.active_since == T0
    state, note = step(state, True, T0 + timedelta(minutes=30), timing)
    assert note is not None and note.state == "firing" and state.fired_at == T0 + timedelta(minutes=30)


def test_for_restarts_when_the_condition_clears():
    timing = Timing(hold=timedelta(minutes=30))
    state, _ = step(AlertState("fp"), True, T0, timing)
    state, _ = step(state, False, T0 + timedelta(minutes=20), timing)
    assert state.phase == "inactive" and state.active_since is None
    state, note = step(state, True, T0 + timedelta(minutes=40), timing)
    assert note is None and state.active_since == T0 + timedelta(minutes=40)
    state, note = step(state, True, T0 + timedelta(minutes=60), timing)
    assert note is None, "20 minutes since the condition came back"
    state, note = step(state, True, T0 + timedelta(minutes=70), timing)
    assert note is not None and note.state == "firing"


def test_for_and_for_runs_both_must_hold():
    timing = Timing(hold=timedelta(minutes=30), runs=3)
    state, _ = step(AlertState("fp"), True, T0, timing)
    state, note = step(state, True, T0 + timedelta(hours=1), timing)
    assert note is None, "an hour held, but only 2 of 3 runs"
    state, note = step(state, True, T0 + timedelta(hours=1, seconds=5), timing)
    assert note is not None


class AlertLifecycle(RuleBasedStateMachine):
    """Random condition sequences, slots moving forward (sometimes rerun), random rule parameters."""

    def __init__(self):
        super().__init__()
        self.state = AlertState("fp")
        self.slot = T0
        self.for_runs = 1
        self.hold = timedelta(0)
        self.repeat = timedelta(hours=6)
        self.configured = False
        self.history: list[tuple[datetime, bool]] = []  # judged (slot, condition), one per distinct slot
        self.notes: list[tuple[datetime, str]] = []

    @precondition(lambda self: not self.configured)
    @rule(for_runs=st.integers(1, 4), hold_hours=st.integers(0, 6), repeat_hours=st.integers(0, 12))
    def configure(self, for_runs, hold_hours, repeat_hours):
        self.for_runs, self.hold, self.repeat = for_runs, timedelta(hours=hold_hours), timedelta(hours=repeat_hours)
        self.configured = True

    @precondition(lambda self: self.configured)
    @rule(condition=st.booleans(), advance=st.sampled_from([0, 1, 1, 1, 2, 5]))
    def run(self, condition, advance):
        slot = self.slot + timedelta(hours=advance)
        before = self.state
        self.state, note = step(self.state, condition, slot, Timing(self.hold, self.for_runs, self.repeat))
        if before.last_slot is not None and slot <= before.last_slot:
            assert note is None and self.state == before  # reruns change nothing
            return
        self.slot = slot
        self.history.append((slot, condition))
        if note:
            self.notes.append((slot, note.state))

    @invariant()
    def matches_the_plain_rules(self):
        streak, firing, last_note, began = 0, False, None, None
        expected = []
        for slot, condition in self.history:
            if condition:
                streak += 1
                began = began or slot
                if not firing and streak >= self.for_runs and slot - began >= self.hold:
                    firing, last_note = True, slot
                    expected.append((slot, "firing"))
                elif firing and slot - last_note >= self.repeat:
                    last_note = slot
                    expected.append((slot, "firing"))
            else:
                streak, began = 0, None
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


def test_config_for_defaults_to_30_minutes_and_for_runs_alone_keeps_its_meaning():
    from okrflow.okr_model.config import AlertDefaults

    assert Timing.of(AlertDefaults()) == Timing(timedelta(minutes=30), 1, DAILY)
    assert Timing.of(AlertDefaults.model_validate({"for_runs": 2})) == Timing(timedelta(0), 2, DAILY)
    both = AlertDefaults.model_validate({"for": "1h", "for_runs": 3, "repeat_interval": "6h"})
    assert Timing.of(both) == Timing(timedelta(hours=1), 3, timedelta(hours=6))
    assert Timing.of(AlertDefaults.model_validate({"for": "15m"})).runs == 1
