"""The console the CLI prints to: wrapped to the terminal on a terminal, unwrapped in a file, pipe or CI log.

A table written to a file or a CI log is read with a pager, ``grep`` or a browser's log view, which scroll
sideways; hard-wrapping it to some guessed width breaks its rows into fragments nobody can grep. So when the
output is not a terminal nothing is wrapped, unless ``COLUMNS`` says how wide the reader is (as it does on a
terminal, where rich asks the terminal and ``COLUMNS`` overrides it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TextIO

from rich.console import Console

__all__ = ["UNWRAPPED_WIDTH", "output_console", "output_width"]

UNWRAPPED_WIDTH = 100_000
"""The width given to rich off a terminal: wider than any row, so nothing wraps (rich pads no line to it)."""


def output_width(is_terminal: bool, environ: Mapping[str, str] = os.environ) -> int | None:
    """The width to lay out for: ``COLUMNS`` when set, else the terminal's (None: rich asks it), else unwrapped."""
    columns = environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    return None if is_terminal else UNWRAPPED_WIDTH


def output_console(stream: TextIO | None = None, environ: Mapping[str, str] = os.environ) -> Console:
    """A console for ``stream`` (default: whatever ``sys.stdout`` is when printing, as rich does)."""
    probe = stream if stream is not None else sys.stdout
    is_terminal = bool(getattr(probe, "isatty", lambda: False)())
    return Console(file=stream, soft_wrap=False, width=output_width(is_terminal, environ))
