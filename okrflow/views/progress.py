"""Progress of long work (``backfill`` over many slots, ``compact``, ``report``, the demo's stages, catch-up) as
people and CI logs read it.

On a terminal: rich's progress bar, drawn on stderr and cleared when done. Elsewhere (a pipe, a file, a CI
log, a flow run's log): a plain line at each tenth of the work, at each new stage and at least every
``PLAIN_EVERY_S`` seconds, so a log shows the work moving in a dozen readable lines instead of a bar's control
codes. stdout keeps the result. rich is imported only when a console is made or a bar drawn, so a flow that
only logs plain lines does not pay for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID

__all__ = ["PLAIN_EVERY_S", "PlainProgress", "ProgressReport"]

PLAIN_EVERY_S = 10.0
"""Longest quiet time between two plain progress lines."""


class PlainProgress:
    """A ``progress(done, total, stage=None)`` callback that says a plain line through ``say`` (a console's print,
    a logger's ``info``) at each tenth, at each new ``stage`` and after ``PLAIN_EVERY_S`` quiet seconds."""

    def __init__(self, label: str, unit: str, say: Callable[[str], object]):
        self.label, self.unit, self.say = label, unit, say
        self._tenth = -1
        self._stage: str | None = None
        self._said_at = 0.0

    def __call__(self, done: int, total: int, stage: str | None = None) -> None:
        if total <= 0:
            return
        tenth = done * 10 // total
        now = time.monotonic()
        if tenth > self._tenth or stage != self._stage or now - self._said_at >= PLAIN_EVERY_S:
            self._tenth, self._stage, self._said_at = tenth, stage, now
            line = f"{self.label}: {done:,}/{total:,} {self.unit} ({done * 100 // total}%)"
            self.say(f"{line}: {stage}" if stage else line)


class ProgressReport:
    """A ``progress(done, total, stage=None)`` callback for long work; use it as a context manager so a bar is
    cleared. ``stage`` names the step under way (the demo's stages); the bar shows it beside the label."""

    def __init__(self, label: str, unit: str, console: Console | None = None):
        if console is None:
            import sys

            from okrflow.views.console import output_console

            console = output_console(sys.stderr)
        self.label, self.unit, self.console = label, unit, console
        self._plain = PlainProgress(label, unit, lambda line: console.print(line, markup=False, highlight=False))
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, done: int, total: int, stage: str | None = None) -> None:
        if total <= 0:
            return
        if self.console.is_terminal:
            self._draw(done, total, f"{self.label}: {stage}" if stage else self.label)
        else:
            self._plain(done, total, stage)

    def _draw(self, done: int, total: int, description: str) -> None:
        if self._bar is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(self.unit))
            self._bar = Progress(*columns, TimeRemainingColumn(), console=self.console, transient=True)
            self._bar.start()
            self._task = self._bar.add_task(description, total=total)
        assert self._task is not None
        self._bar.update(self._task, completed=done, total=total, description=description)

    def __enter__(self) -> ProgressReport:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
