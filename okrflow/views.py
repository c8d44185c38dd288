"""How runs and history look to people and scripts: the status JSON contract, rich tables, CSV.

The JSON shape of ``okrflow status --format json`` is a public contract (ARCHITECTURE.md):
``{"run": {"id", "at", "status"}, "objectives": [{"id", "score", "status"}],
"key_results": [{"id", "objective", "value", "score", "status", "measurement", "gates", "forecast"}]}``.
Extra keys may be added; none may be renamed. Added: each status's ``reason`` (KRs and objectives) and each
objective's ``scored`` / ``of`` (how many KRs under it had data).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions
from rich.control import strip_control_codes
from rich.measure import Measurement
from rich.segment import Segment
from rich.style import Style
from rich.table import Table
from rich.text import Text

from okr_model.config import Config, KeyResult
from okr_model.rollup import children_of
from okr_model.scoring import describe_gates
from okr_model.types import Band
from okrflow.store import HistoryPoint, KRResult, ObjectiveResult, RunRecord, RunSummary

__all__ = [
    "history_csv",
    "history_json",
    "history_table",
    "print_table",
    "record_summary",
    "status_json",
    "status_table",
]

STATUS_STYLE = {"on_track": "green", "at_risk": "yellow", "off_track": "red", "no_data": "dim"}


def record_summary(record: RunRecord, run_id: int = 0) -> RunSummary:
    """A run just evaluated, shown like a stored one."""
    return RunSummary(
        id=run_id,
        slot=record.slot,
        status=record.status,
        started_at=record.started_at,
        finished_at=record.finished_at,
        kr_count=len(record.key_results),
        error_count=record.error_count,
        deployment=record.deployment,
        backfilled=record.backfilled,
        detail=record.detail,
    )


def _target(kr: KeyResult | None) -> Any:
    if kr is None:
        return None
    return list(kr.target) if isinstance(kr.target, Band) else kr.target


def _kr_json(result: KRResult, kr: KeyResult | None) -> dict[str, Any]:
    return {
        "id": result.kr_id,
        "objective": result.objective_id,
        "title": kr.title if kr else None,
        "kind": kr.kind if kr else None,
        "value": result.value if result.measurement == "ok" else None,
        "unit": kr.unit if kr else None,
        "baseline": kr.baseline if kr else None,
        "target": _target(kr),
        "track": kr.track if kr else None,
        "score": result.score,
        "computed_score": result.computed_score,
        "expected": result.expected,
        "status": result.status,
        "reason": result.reason,
        "measurement": result.measurement,
        "detail": result.detail,
        "gates": list(result.gates),
        "held": result.held,
        "trusted": result.trusted,
        "overridden": result.overridden,
        "forecast": dict(result.forecast) if result.forecast else None,
        "observed_at": result.observed_at.isoformat() if result.observed_at else None,
    }


def status_json(
    run: RunSummary | None, objectives: Sequence[ObjectiveResult], results: Sequence[KRResult], config: Config
) -> dict[str, Any]:
    """The status contract; KRs no longer in the config are still reported (with null config fields)."""
    krs = {kr.id: kr for _, kr in config.key_results()}
    titles = {o.id: o.title for o in config.objectives}
    return {
        "run": None
        if run is None
        else {
            "id": run.id,
            "at": run.slot.isoformat(),
            "status": run.status,
            "detail": run.detail,
            "errors": run.error_count,
        },
        "cycle": config.cycle.name,
        "objectives": [
            {
                "id": o.objective_id,
                "title": titles.get(o.objective_id),
                "score": o.score,
                "status": o.status,
                "reason": o.reason,
                "scored": o.scored,
                "of": o.of,
            }
            for o in objectives
        ],
        "key_results": [_kr_json(r, krs.get(r.kr_id)) for r in results],
    }


def _objective_note(title: str, result: ObjectiveResult | None) -> Text:
    """The objective's title in bold, then why its status is what it is (which says how many KRs had data)."""
    note = Text(title, style="bold")
    if result is not None and result.reason:
        note.append(f": {result.reason}")
    return note


def _fmt(value: float | None, unit: str | None = None) -> str:
    if value is None:
        return "-"
    text = f"{value:.4g}"
    return f"{text} {unit}" if unit else text


def _score_text(score: float | None) -> str:
    return "-" if score is None else f"{score:.2f}"


def _status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def status_table(
    run: RunSummary | None,
    objectives: Sequence[ObjectiveResult],
    results: Sequence[KRResult],
    config: Config,
    console: Console,
) -> None:
    """The objective tree with each KR's value, target, score and status."""
    if run is None:
        console.print("No runs yet. Evaluate once with: okrflow run")
        return
    when = run.slot.strftime("%Y-%m-%d %H:%M UTC")
    errors = f", {run.error_count} errored" if run.error_count else ""
    table = Table(title=f"{config.cycle.name}: run {run.id} at {when} ({run.status}{errors})", title_justify="left")
    for column in ("objective / key result", "value", "target", "score", "status", "note"):
        table.add_column(column, no_wrap=column != "note", overflow="fold")
    by_objective = {o.objective_id: o for o in objectives}
    by_kr = {r.kr_id: r for r in results}
    by_id = {o.id: o for o in config.objectives}
    tree = children_of(config.objectives)
    rows: list[list[str | Text]] = []

    def add(objective_id: str, depth: int) -> None:
        objective = by_id[objective_id]
        result = by_objective.get(objective.id)
        indent = "  " * depth
        rows.append(
            [
                Text(f"{indent}{objective.id}", style="bold"),
                "",
                "",
                _score_text(result.score if result else None),
                _status_text(result.status) if result else "",
                _objective_note(objective.title, result),
            ]
        )
        for kr in objective.key_results:
            r = by_kr.get(kr.id)
            if r is None:
                continue
            note = "; ".join(filter(None, [r.reason, r.detail]))
            if r.gates:
                note = describe_gates(r.gates, r.held) + (f"; {note}" if note else "")
            if r.overridden:
                note = f"override (computed {_score_text(r.computed_score)})" + (f"; {note}" if note else "")
            target = _target(kr)
            rows.append(
                [
                    f"{indent}  {kr.id}",
                    _fmt(r.value if r.measurement == "ok" else None, kr.unit),
                    "-".join(f"{t:g}" for t in target) if isinstance(target, list) else _fmt(target, kr.unit),
                    _score_text(r.score),
                    _status_text(r.status if r.measurement != "error" else "error"),
                    note,
                ]
            )
        for child in tree.get(objective.id, []):
            add(child.id, depth + 1)

    for root in tree.get(None, []):
        add(root.id, 0)
    print_table(console, table, rows)


def _history_row(point: HistoryPoint) -> dict[str, Any]:
    r = point.result
    return {
        "at": point.slot.isoformat(),
        "run": point.run_id,
        "value": r.value if r.measurement == "ok" else None,
        "measurement": r.measurement,
        "score": r.score,
        "computed_score": r.computed_score,
        "status": r.status,
        "gates": list(r.gates),
        "detail": r.detail,
    }


def history_json(kr_id: str, points: Sequence[HistoryPoint]) -> dict[str, Any]:
    return {"key_result": kr_id, "points": [_history_row(p) for p in points]}


def history_csv(points: Sequence[HistoryPoint]) -> str:
    out = io.StringIO()
    fields = ["at", "run", "value", "measurement", "score", "computed_score", "status", "gates", "detail"]
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for point in points:
        row = _history_row(point)
        row["gates"] = ";".join(row["gates"])
        writer.writerow(row)
    return out.getvalue()


def history_table(kr: KeyResult | None, kr_id: str, points: Sequence[HistoryPoint], console: Console) -> None:
    title = f"{kr_id}: {kr.title}" if kr and kr.title else kr_id
    table = Table(title=title, title_justify="left")
    for column in ("at", "value", "measurement", "score", "status", "note"):
        table.add_column(column, overflow="fold")
    unit = kr.unit if kr else None
    rows: list[list[str | Text]] = []
    for point in points:
        r = point.result
        note = "; ".join(filter(None, [describe_gates(r.gates, r.held), r.detail]))
        rows.append(
            [
                point.slot.strftime("%Y-%m-%d %H:%M"),
                _fmt(r.value if r.measurement == "ok" else None, unit),
                r.measurement,
                _score_text(r.score),
                _status_text(r.status),
                note,
            ]
        )
    print_table(console, table, rows)


def print_table(console: Console, table: Table, rows: Sequence[Sequence[str | Text]]) -> None:
    """Print ``table`` (box, header and edges as rich's default) with ``rows``, the same text as one
    ``add_row`` per row, an order of magnitude faster.

    Rich renders a table cell by cell, about 1 ms per row: 1,000 key results took 1.5 s. Rows that fit on one
    line are consecutive lines of the table either way, so each run of them is added as one row of multi-line
    cells; a row that wraps (or holds a line break or a tab) stays a row of its own. Whether a row fits follows
    rich's width rule: natural widths, and when the table is too wide, the single wrapping column gives up the
    excess (any other case is left to rich row by row).
    """
    columns = table.columns
    cells = [[_cell(console, c) for c in row] for row in rows]
    max_width = console.width - (len(columns) + 1)  # rich's box: two edges and a divider between columns
    widths = [
        min(max_width, 2 + max([cell_len(str(column.header)), *(_longest_line(row[i]) for row in cells)]))
        for i, column in enumerate(columns)
    ]
    excess = sum(widths) - max_width
    wrapping = [i for i, column in enumerate(columns) if not column.no_wrap and column.width is None]
    if excess > 0:
        if len(wrapping) != 1 or widths[wrapping[0]] <= excess:
            for row in cells:
                table.add_row(*map(_text, row))
            console.print(table)
            return
        widths[wrapping[0]] -= excess

    def fits(row: Sequence[str | Text]) -> bool:
        return all(
            "\n" not in (p := _plain(cell)) and "\t" not in p and cell_len(p) <= widths[i] - 2
            for i, cell in enumerate(row)
        )

    if _plain_layout(table) and all(fits(row) for row in cells):
        console.print(_Grid(table, cells, widths))
        return
    block: list[Sequence[str | Text]] = []

    def flush() -> None:
        if len(block) == 1:
            table.add_row(*map(_text, block[0]))
        elif block:
            table.add_row(*(_Lines([_text(row[i]) for row in block]) for i in range(len(columns))))
        block.clear()

    for row in cells:
        if fits(row):
            block.append(row)
        else:
            flush()
            table.add_row(*map(_text, row))
    flush()
    console.print(table)


def _cell(console: Console, value: str | Text) -> str | Text:
    """A cell as rich shows it: a string with markup or an emoji code becomes rich Text; any other string stays
    a string (what rich would make of it, control codes removed), which the fast path prints as it is."""
    if not isinstance(value, str):
        return value
    if "[" in value or value.count(":") > 1:
        return console.render_str(value, highlight=False)
    return strip_control_codes(value)


def _plain(cell: str | Text) -> str:
    return cell if isinstance(cell, str) else cell.plain


def _text(cell: str | Text) -> Text:
    return Text(cell) if isinstance(cell, str) else cell


def _longest_line(cell: str | Text) -> int:
    return max((cell_len(line) for line in _plain(cell).splitlines()), default=0)


class _Lines:
    """A column's cells of consecutive one-line rows, each known to fit the column: rendered as they are
    (right-stripped and padded, as rich does for a line that needs no wrapping) without rich's per-line wrapping."""

    def __init__(self, lines: list[Text]):
        self.lines = lines

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        longest = max((cell_len(line.plain) for line in self.lines), default=0)
        words = [cell_len(word) for line in self.lines for word in line.plain.split()]
        return Measurement(max(words, default=longest), longest)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        width = options.max_width
        for line in self.lines:
            line = line.copy()
            line.rstrip()
            yield from _segments(console, line, None)
            if (pad := width - cell_len(line.plain)) > 0:
                yield Segment(" " * pad)
            yield Segment.line()


def _segments(console: Console, text: Text, style: Style | None) -> Iterator[Segment]:
    """A one-line Text's segments with its own style (which ``Text.render`` leaves to the caller) under ``style``."""
    base = console.get_style(text.style) if text.style else None
    outer = style + base if style and base else style or base
    for segment in text.render(console):
        combined = outer + segment.style if outer and segment.style else outer or segment.style
        yield Segment(segment.text, combined)


def _plain_layout(table: Table) -> bool:
    """A table as ``Table(title=..., title_justify=...)`` makes it: the layout ``_Grid`` draws."""
    return (
        table.show_header
        and table.show_edge
        and table.box is not None
        and not (table.show_footer or table.show_lines or table.leading or table.caption or table.row_styles)
        and not (table.expand or table.width or table.min_width or table.border_style)
        and table.style in (None, "", "none")
        and table.padding == (0, 1, 0, 1)
        and all(
            c.justify == "left"
            and c.vertical == "top"
            and not c.style
            and c.width is None
            and c.max_width is None
            and c.min_width is None
            for c in table.columns
        )
    )


class _Grid:
    """The whole table when every row fits on one line: the lines rich draws, without its per-cell machinery.

    Same text as rich (title, heavy-headed box, one-space padding, left-justified cells); styles land on the
    same characters, though escape sequences may be grouped differently.
    """

    def __init__(self, table: Table, rows: list[list[str | Text]], widths: list[int]):
        self.table, self.rows, self.widths = table, rows, widths

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        table, widths = self.table, self.widths
        render_options = options.update(width=sum(widths) + len(widths) + 1, highlight=table.highlight, height=None)
        if table.title:
            title = (
                console.render_str(
                    table.title, style=Style.pick_first(table.title_style, "table.title"), highlight=False
                )
                if isinstance(table.title, str)
                else table.title
            )
            yield from console.render(title, render_options.update(justify=table.title_justify))
        assert table.box is not None
        box = table.box.substitute(options, safe=console.safe_box if table.safe_box is None else table.safe_box)
        border = console.get_style("")
        new_line = Segment.line()
        yield Segment(box.get_top(widths), border)
        yield new_line
        header = [
            (
                console.render_str(c.header, highlight=False) if isinstance(c.header, str) else c.header,
                console.get_style(table.header_style or "") + console.get_style(c.header_style or ""),
            )
            for c in table.columns
        ]
        yield from self._line(console, box.head_left, box.head_vertical, box.head_right, header, border)
        yield Segment(box.get_row(widths, "head", edge=True), border)
        yield new_line
        last = len(self.rows) - 1
        for index, row in enumerate(self.rows):
            left, divider, right = (
                (box.foot_left, box.foot_vertical, box.foot_right)
                if index == last
                else (box.mid_left, box.mid_vertical, box.mid_right)
            )
            yield from self._line(console, left, divider, right, [(text, None) for text in row], border)
        yield Segment(box.get_bottom(widths), border)
        yield new_line

    def _line(
        self, console: Console, left: str, divider: str, right: str, cells: list[tuple[Any, Any]], border: Style
    ) -> Iterator[Segment]:
        return _merged(self._pieces(console, left, divider, right, cells, border))

    def _pieces(
        self, console: Console, left: str, divider: str, right: str, cells: list[tuple[Any, Any]], border: Style
    ) -> Iterator[Segment]:
        yield Segment(left, border)
        for index, ((cell, style), width) in enumerate(zip(cells, self.widths, strict=True)):
            if isinstance(cell, str) and not style:
                text = cell.rstrip()
                yield Segment(f" {text}{' ' * (width - 1 - cell_len(text))}")
            elif isinstance(cell, Text) and not cell.spans and not style:
                text = cell.plain.rstrip()
                yield Segment(" ")
                yield Segment(text, console.get_style(cell.style) if cell.style else None)
                yield Segment(" " * (width - 1 - cell_len(text)))
            else:
                line = _text(cell).copy()
                line.rstrip()
                yield Segment(" ", style)
                yield from _segments(console, line, style)
                yield Segment(" " * (width - 1 - cell_len(line.plain)), style)
            if index < len(self.widths) - 1:
                yield Segment(divider, border)
        yield Segment(right, border)
        yield Segment("\n")


def _merged(segments: Iterator[Segment]) -> Iterator[Segment]:
    """Runs of unstyled segments as one segment: the console's cost is per segment, not per character."""
    plain: list[str] = []
    for segment in segments:
        if segment.style:
            if plain:
                yield Segment("".join(plain))
                plain.clear()
            yield segment
        else:
            plain.append(segment.text)
    if plain:
        yield Segment("".join(plain))
