"""okrflow's one documented exception to "public APIs, no library tricks" (issue 14): the cyclic garbage collector
is paused while okrflow builds large, acyclic data that stays alive.

Why: loading a 1,000-KR config and reading a quarter of one KR's history create tens of thousands of containers,
none in a reference cycle. Each batch of new survivors triggers collections, and in a process that holds a config
the full ones walk everything it holds, again and again: nothing is ever freed by them. The figures, paired on one
machine (``benchmarks/README.md``, section 3, "the one exception"):

- one KR's quarter ``history()`` (8,800 points): 172-185 ms CPU with the collector running, 93-94 ms paused
  (target < 100 ms wall);
- ``okrflow validate`` / ``status`` / ``history KR`` in a fresh process at 1,000 KRs: 1.08 / 1.31 / 1.33 s CPU with
  the collector running, 0.71 / 0.83 / 0.83 s paused (target < 1 s wall);
- ``okrflow report``'s ``build_report`` (``gc_paused``) at 1,000 KRs of daily runs: 1.59-1.76 s CPU with the
  collector running, 1.43-1.49 s paused.

Every switch of the collector is here, so the exception is one rule in one place; ``tests/unit/test_no_library_internals.py`` refuses
``gc`` calls anywhere else.
"""

from __future__ import annotations

import atexit
import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["gc_paused", "pause_for_short_process"]


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic collection inside the block; a caller that disabled the collector keeps it disabled."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def pause_for_short_process() -> None:
    """For a command that reads, prints and exits in its own process: no cyclic collection until it ends, and
    none over every object at exit (frozen: the OS frees the memory). Never under a test runner or an embedding
    app (the caller checks)."""
    gc.disable()
    atexit.register(gc.freeze)
