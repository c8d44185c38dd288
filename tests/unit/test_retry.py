"""The one retry helper of every connector: bounded, exponential, jittered (connectors/retry.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from okrflow.connectors.retry import retry_call


class Transient(Exception):
    pass


class Permanent(Exception):
    pass


def failing(times: int, error: type[Exception] = Transient):
    """A call that raises ``error`` ``times`` times, then returns how many calls it took."""
    calls = []

    def call() -> int:
        calls.append(1)
        if len(calls) <= times:
            raise error(f"failure {len(calls)}")
        return len(calls)

    return call, calls


def waits_of(call, retries: int, **options) -> tuple[object, list[float]]:
    waits: list[float] = []
    try:
        result = retry_call(
            call, retries=retries, is_transient=lambda e: isinstance(e, Transient), sleep=waits.append, **options
        )
    except Exception as exc:
        result = exc
    return result, waits


def test_callers_failing_together_do_not_retry_in_lockstep():
    """Ten callers hit by the same outage spread their retries instead of all waiting exactly 0.2, 0.4 s."""
    firsts = {tuple(waits_of(failing(2)[0], retries=2)[1]) for _ in range(10)}
    assert len(firsts) == 10, f"identical backoff sequences: {sorted(firsts)}"


@given(
    retries=st.integers(0, 8),
    failures=st.integers(0, 12),
    base=st.floats(0.01, 2.0),
    cap=st.floats(0.01, 10.0),
    draws=st.lists(st.floats(0.0, 1.0, exclude_max=True), min_size=12, max_size=12),
)
def test_waits_are_bounded_jittered_exponential_steps(retries, failures, base, cap, draws):
    source = iter(draws)
    call, calls = failing(failures)
    result, waits = waits_of(call, retries, base_delay=base, max_delay=cap, draw=lambda: next(source))
    assert len(calls) == min(failures, retries) + 1, "one call, then one per retry, never more"
    assert len(waits) == len(calls) - 1
    if failures <= retries:
        assert result == failures + 1
    else:
        assert isinstance(result, Transient) and str(result) == f"failure {retries + 1}", "the last error propagates"
    for attempt, wait in enumerate(waits):
        step = min(cap, base * 2**attempt)
        assert step / 2 <= wait <= step, (attempt, wait, step)
        assert wait == pytest.approx(step * (0.5 + 0.5 * draws[attempt]))


def test_a_permanent_error_is_raised_at_once():
    call, calls = failing(1, Permanent)
    result, waits = waits_of(call, retries=5)
    assert isinstance(result, Permanent) and calls == [1] and waits == []


def test_the_total_wait_stays_bounded():
    """Defaults: 2 retries wait at most 0.2 + 0.4 s (the Prometheus down-server test relies on it)."""
    for _ in range(50):
        _, waits = waits_of(failing(5)[0], retries=2)
        assert 0.3 <= sum(waits) <= 0.6 + 1e-9
