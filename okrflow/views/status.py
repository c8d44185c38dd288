"""The latest run as people and scripts read it: ``okrflow status`` (and ``okrflow run``) as a table or JSON.

The JSON shape of ``okrflow status --format json`` is a public contract (ARCHITECTURE.md):
``{"run": {"id", "at", "status"}, "objectives": [{"id", "score", "status"}],
"key_results": [{"id", "objective", "value", "score", "status", "measurement", "gates", "forecast"}]}``.
Extra keys may be added; none may be renamed. Added: each status's ``reason`` (KRs and objectives) and each
objective's ``scored`` / ``of`` (how many KRs under it had data), and each MLflow KR's ``model`` (name, version,
alias, run_id: which model version produced the value; null for other sources).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from okrflow.connectors.mlflow_lineage import describe_model, model_of
from okrflow.okr_model import formatting
from okrflow.okr_model.config import Config, KeyResult
from okrflow.okr_model.rollup import children_of
from okrflow.okr_model.scoring import describe_gates
from okrflow.okr_model.types import Band
from okrflow.store import KRResult, ObjectiveResult, RunRecord, RunSummary
from okrflow.views.tables import Cell, print_table, status_cell

__all__ = ["record_summary", "status_json", "status_table"]


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
        "model": _model_json(result.lineage),
    }


def _model_json(lineage: Any) -> dict[str, str | None] | None:
    found = model_of(lineage)
    return found.as_json() if found else None


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


def _kr_note(r: KRResult) -> str:
    """Why the KR's score is what it is: an override, the gates, the model version, the status reason, the detail."""
    note = "; ".join(filter(None, [describe_model(r.lineage), r.reason, r.detail]))
    if r.gates:
        note = describe_gates(r.gates, r.held) + (f"; {note}" if note else "")
    if r.overridden:
        note = f"override (computed {formatting.score(r.computed_score)})" + (f"; {note}" if note else "")
    return note


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
    rows: list[list[Cell]] = []

    def add(objective_id: str, depth: int) -> None:
        objective = by_id[objective_id]
        result = by_objective.get(objective.id)
        indent = "  " * depth
        rows.append(
            [
                Text(f"{indent}{objective.id}", style="bold"),
                "",
                "",
                formatting.score(result.score if result else None),
                status_cell(result.status) if result else "",
                _objective_note(objective.title, result),
            ]
        )
        for kr in objective.key_results:
            r = by_kr.get(kr.id)
            if r is None:
                continue
            rows.append(
                [
                    f"{indent}  {kr.id}",
                    formatting.quantity(r.value if r.measurement == "ok" else None, kr.unit),
                    formatting.target(kr.target, kr.unit),
                    formatting.score(r.score),
                    status_cell(r.status if r.measurement != "error" else "error"),
                    _kr_note(r),
                ]
            )
        for child in tree.get(objective.id, []):
            add(child.id, depth + 1)

    for root in tree.get(None, []):
        add(root.id, 0)
    print_table(console, table, rows, hint="--format json")
