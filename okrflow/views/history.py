"""One key result's history as people and scripts read it: ``okrflow history KR`` as a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from okrflow.connectors.mlflow_lineage import describe_model, model_of
from okrflow.okr_model import formatting
from okrflow.okr_model.config import KeyResult
from okrflow.okr_model.scoring import describe_gates
from okrflow.store import HistoryPoint
from okrflow.views.tables import Cell, print_table, status_cell

__all__ = ["history_csv", "history_json", "history_table"]

_CSV_FIELDS = [
    *("at", "run", "value", "measurement", "score", "computed_score", "status", "gates", "detail"),
    *("model_version", "run_id"),
]


def _history_row(point: HistoryPoint) -> dict[str, Any]:
    r = point.result
    found = model_of(r.lineage)
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
        "model_version": found.version if found else None,
        "run_id": found.run_id if found else None,
    }


def history_json(kr_id: str, points: Sequence[HistoryPoint]) -> dict[str, Any]:
    return {"key_result": kr_id, "points": [_history_row(p) for p in points]}


def history_csv(points: Sequence[HistoryPoint]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=_CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for point in points:
        row = _history_row(point)
        row["gates"] = ";".join(row["gates"])
        writer.writerow(row)
    return out.getvalue()


def slot_format(points: Sequence[HistoryPoint]) -> str:
    """Minutes, or seconds when two runs fall in the same minute (else they would read as one run twice)."""
    minutes = [p.slot.replace(second=0, microsecond=0) for p in points]
    return "%Y-%m-%d %H:%M:%S" if len(set(minutes)) < len(minutes) else "%Y-%m-%d %H:%M"


def history_table(kr: KeyResult | None, kr_id: str, points: Sequence[HistoryPoint], console: Console) -> None:
    title = f"{kr_id}: {kr.title}" if kr and kr.title else kr_id
    table = Table(title=title, title_justify="left")
    for column in ("at", "value", "measurement", "score", "status", "note"):
        table.add_column(column, overflow="fold")
    unit = kr.unit if kr else None
    rows: list[list[Cell]] = []
    when = slot_format(points)
    for point in points:
        r = point.result
        note = "; ".join(filter(None, [describe_model(r.lineage), describe_gates(r.gates, r.held), r.detail]))
        rows.append(
            [
                point.slot.strftime(when),
                formatting.quantity(r.value if r.measurement == "ok" else None, unit),
                r.measurement,
                formatting.score(r.score),
                status_cell(r.status),
                note,
            ]
        )
    print_table(console, table, rows, hint="--format csv or --format json")
