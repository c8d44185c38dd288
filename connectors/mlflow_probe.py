"""``okrflow probe`` of an MLflow binding: the registered model's aliases and versions (with the runs behind them)
and the metric names the chosen run logged, so a binding names what exists (autolog logs ``f1_score``, not ``f1``)."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from okrflow.connectors.base import OnlineFinding, Probe

if TYPE_CHECKING:
    from okrflow.connectors.mlflow import MlflowConnector, MlflowMetric

__all__ = ["probe_mlflow"]

SHOWN = 10


def probe_mlflow(mlflow: MlflowConnector, metric: MlflowMetric, at: datetime) -> Probe:
    """Never raises: a part that cannot be listed is left out; the measurement says why the binding fails."""
    holds: dict[str, list[str]] = {}
    named = f", metric {metric.name!r}" if metric.name else ""
    if metric.model is not None:
        held = f"alias {metric.alias!r}" if metric.alias else f"version {metric.version}"
        reads = f"model {metric.model!r} {held}{named}"
        with suppress(Exception):  # a missing model is the measurement's error
            holds["aliases"] = _aliases(mlflow, metric.model) or ["none"]
        with suppress(Exception):
            holds["versions"] = _versions(mlflow, metric.model) or ["none"]
    else:
        reads = f"experiment {metric.experiment!r}, {metric.run} run{named}"
        reads += f" where {metric.filter}" if metric.filter else ""
    findings = []
    with suppress(Exception):  # the measurement below says why the run cannot be read
        run_id, _ = mlflow._resolve(metric, at - (metric.offset or timedelta(0)))
        names = sorted(mlflow._run(run_id).data.metrics)
        holds[f"metrics of run {run_id}"] = names or ["none"]
        if metric.name is not None and metric.measure == "value" and metric.name not in names:
            shown = ", ".join(names[:20]) + (", ..." if len(names) > 20 else "") or "none"
            findings.append(OnlineFinding("error", f"run {run_id} has no metric {metric.name!r}; it has: {shown}"))
    return Probe.of(reads, mlflow.fetch(metric, at), holds, findings)


def _aliases(mlflow: Any, model: str) -> list[str]:
    aliases = mlflow._registered_model(model).aliases or {}
    return [f"@{alias} -> v{version}" for alias, version in sorted(aliases.items())]


def _versions(mlflow: Any, model: str) -> list[str]:
    found = mlflow._call(lambda c: list(c.search_model_versions(f"name = '{model}'")))
    found.sort(key=lambda v: int(v.version), reverse=True)
    held: dict[str, list[str]] = {}  # search results carry no aliases: the registered model's map has them
    for alias, version in (mlflow._registered_model(model).aliases or {}).items():
        held.setdefault(str(version), []).append(f"@{alias}")
    lines = [
        f"v{v.version}: run {v.run_id or '-'}"
        + (f" ({', '.join(sorted(held[str(v.version)]))})" if str(v.version) in held else "")
        for v in found
    ]
    return lines[:SHOWN] + ([f"... {len(lines) - SHOWN} older"] if len(lines) > SHOWN else [])
