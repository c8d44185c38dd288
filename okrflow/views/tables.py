"""Tables for people: rich's ``Table`` for a screenful, plain fixed-width columns for very long tables.

Rich lays a table out cell by cell, about 1-2 ms a row here: nothing for a screen of rows, but 1.5-2.7 s for
the 1,221 rows of a 1,000-KR status (benchmark 1 in ``benchmarks/README.md``). A table that long is read
through a pager or grep, not as a picture, so above ``PLAIN_ABOVE`` rows it is printed as plain columns (no box,
no colours) with a footer that says so and names the machine-readable format. Both layouts show the same cells:
markup and emoji codes as rich shows them, one line a row in the plain one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = ["PLAIN_ABOVE", "STATUS_STYLE", "Cell", "print_table", "status_cell"]

PLAIN_ABOVE = 100
"""Rows above which a table is printed plainly (rich would take 0.1-0.2 s and more)."""

STATUS_STYLE = {"on_track": "green", "at_risk": "yellow", "off_track": "red", "no_data": "dim"}

Cell = str | Text

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def status_cell(status: str) -> Text:
    """A status word in its colour."""
    return Text(status, style=STATUS_STYLE.get(status, ""))


def print_table(console: Console, table: Table, rows: Sequence[Sequence[Cell]], hint: str) -> None:
    """Print ``table`` (its title and columns) with ``rows``: rich's layout, or plainly above ``PLAIN_ABOVE`` rows.

    ``hint`` names the format for scripts (``--format json``), shown in the plain layout's footer.
    """
    if len(rows) <= PLAIN_ABOVE:
        for row in rows:
            table.add_row(*row)
        console.print(table)
        return
    header = [str(column.header) for column in table.columns]
    cells = [[_plain(console, cell) for cell in row] for row in rows]
    widths = [max(len(name), *(len(row[i]) for row in cells)) for i, name in enumerate(header)]
    last = len(header) - 1

    def line(values: Sequence[str]) -> str:
        return "  ".join(v if i == last else f"{v:<{widths[i]}}" for i, v in enumerate(values)).rstrip()

    lines = [str(table.title)] if table.title else []
    lines += [line(header), line(["-" * (len(header[i]) if i == last else w) for i, w in enumerate(widths)])]
    lines += [line(row) for row in cells]
    lines.append(f"({len(rows):,} rows, printed plainly above {PLAIN_ABOVE}; for scripts use {hint})")
    text = "\n".join(lines) + "\n"
    if console.record:  # keep what ``export_text`` and friends see
        console.out(text, highlight=False, end="")
    else:  # as it is: laying out a thousand lines as one rich Text costs 0.1-0.2 s
        console.file.write(text)
        console.file.flush()


def _plain(console: Console, cell: Cell) -> str:
    """A cell's text as rich would show it (markup and emoji codes rendered), on one line."""
    if isinstance(cell, Text):
        text = cell.plain
    elif "[" in cell or cell.count(":") > 1:  # markup or an emoji code (:smile:); a time's one colon is neither
        text = console.render_str(cell, highlight=False).plain
    else:
        text = cell
    if "\t" in text:
        text = text.expandtabs()
    if "\n" in text or "\r" in text:
        text = " ".join(text.splitlines())
    return _CONTROL.sub("", text)
