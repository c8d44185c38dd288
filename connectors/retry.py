"""Bounded retries with jittered exponential backoff for transient source failures (one helper for every connector).

The jitter matters when many callers fail at once (a source's fetch threads, several worker processes, the
runs of several deployments): without it they all retry at the same instants and hit a recovering server
together. Each wait is drawn from the upper half of its backoff step ("equal jitter"), so a retry still
leaves the server at least half the step to recover and the total wait keeps its bound.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["backoff_delay", "retry_call"]

T = TypeVar("T")


def backoff_delay(
    attempt: int, *, base_delay: float = 0.2, max_delay: float = 5.0, draw: Callable[[], float] = random.random
) -> float:
    """The wait before retry number ``attempt + 1``: a uniform draw in [step / 2, step], step = base * 2**attempt
    capped at ``max_delay``. ``draw`` returns a number in [0, 1) (injectable for tests)."""
    step = min(max_delay, base_delay * 2 ** min(attempt, 64))
    return step * (0.5 + 0.5 * draw())


def retry_call(
    call: Callable[[], T],
    *,
    retries: int,
    is_transient: Callable[[BaseException], bool],
    base_delay: float = 0.2,
    max_delay: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
    draw: Callable[[], float] = random.random,
) -> T:
    """Call ``call``; on a transient error retry up to ``retries`` times, waiting about 0.2 s, 0.4 s, ... (capped,
    jittered: see ``backoff_delay``).

    Non-transient errors (bad query, permission) and the last transient one propagate to the caller,
    which turns them into an ``error`` measurement.
    """
    attempt = 0
    while True:
        try:
            return call()
        except Exception as exc:
            if attempt >= retries or not is_transient(exc):
                raise
            sleep(backoff_delay(attempt, base_delay=base_delay, max_delay=max_delay, draw=draw))
            attempt += 1
