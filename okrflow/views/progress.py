"""Progress of long work (``backfill`` over many slots) as people and CI logs read it.

On a terminal: rich's progress bar, drawn on stderr and cleared when done. Elsewhere (a pipe, a file, a CI
log): a plain line on stderr at each tenth of the work and at least every ``PLAIN_EVERY_S`` seconds, so a log
shows the work moving in a dozen readable lines instead of a bar's control codes. stdout keeps the result.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from okrflow.views.console import output_console

__all__ = ["PLAIN_EVERY_S", "ProgressReport"]

PLAIN_EVERY_S = 10.0
"""Longest quiet time between two plain progress lines."""


class ProgressReport:
    """A ``progress(done, total)`` callback for long work; use it as a context manager so a bar is cleared."""

    def __init__(self, label: str, unit: str, console: Console | None = None):
        self.label, self.unit = label, unit
        self.console = console or output_console(sys.stderr)
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._tenth = -1
        self._said_at = 0.0

    def __call__(self, done: int, total: int) -> None:
        if total <= 0:
            return
        if self.console.is_terminal:
            self._draw(done, total)
            return
        tenth = done * 10 // total
        now = time.monotonic()
        if tenth > self._tenth or now - self._said_at >= PLAIN_EVERY_S:
            self._tenth, self._said_at = tenth, now
            line = f"{self.label}: {done:,}/{total:,} {self.unit} ({done * 100 // total}%)"
            self.console.print(line, markup=False, highlight=False)

    def _draw(self, done: int, total: int) -> None:
        if self._bar is None:
            columns = (TextColumn(self.label), BarColumn(), MofNCompleteColumn(), TextColumn(self.unit))
            self._bar = Progress(*columns, TimeRemainingColumn(), console=self.console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=total)
        assert self._task is not None
        self._bar.update(self._task, completed=done, total=total)

    def __enter__(self) -> ProgressReport:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
