"""Bounded retries with exponential backoff for transient source failures (one helper for every connector)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["retry_call"]

T = TypeVar("T")


def retry_call(
    call: Callable[[], T],
    *,
    retries: int,
    is_transient: Callable[[BaseException], bool],
    base_delay: float = 0.2,
    max_delay: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``call``; on a transient error retry up to ``retries`` times, waiting 0.2 s, 0.4 s, ... (capped).

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
            sleep(min(max_delay, base_delay * 2**attempt))
            attempt += 1
