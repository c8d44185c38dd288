"""What a flow run shows in the Prefect UI and tells Prefect Automations: two artifacts and the run's events.

Per run of ``evaluate_flow`` (never for a direct ``okrflow run`` without a Prefect API, which does not import
Prefect for this):

- a table artifact ``<key>-key-results``: every KR's objective, value, target, score, status and reason;
- a markdown artifact ``<key>-summary``: the objective tree and what changed since the run stored before;
- an event per alert the run moved (``okrflow.key-result.drift``, ``okrflow.key-result.off-track``,
  ``okrflow.key-result.resolved``, ``okrflow.objective.at-risk``, ``okrflow.source.error``, ...) and per KR
  whose status changed (``okrflow.key-result.status-changed``), its KR, objective, owner, value, score and
  model version as resource labels.

``<key>`` is stable per config file (``artifact_key``), so the UI's Artifacts page keeps one history per
config. Everything published comes from the run's results and stored details, which hold no secrets (sources
redact their errors before a detail is made); a source's URL or credentials are never read here.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from okrflow.okr_model import formatting
from okrflow.okr_model.config import Config, KeyResult, Objective
from okrflow.okr_model.results import AlertChange, KRResult, ObjectiveResult, RunRecord
from okrflow.okr_model.rollup import children_of

from okrflow.alerts.condition import Condition
from okrflow.alerts.judge import route
from okrflow.store import StatusSnapshot

__all__ = ["EventSpec", "Published", "artifact_key", "event_specs", "publish", "summary_markdown", "table_rows"]

_KEY_STEM_CHARS = 40


def artifact_key(config_path: str | Path) -> str:
    """``okrflow-<file stem>-<8 hex of the resolved path>``: Prefect's key alphabet (lowercase letters, digits,
    dashes), the same for every run of one config file, different for two files of one name."""
    path = Path(config_path).resolve()
    stem = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-")[:_KEY_STEM_CHARS].strip("-") or "config"
    return f"okrflow-{stem}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"


def _value(r: KRResult, kr: KeyResult | None) -> str:
    return formatting.quantity(r.value, kr.unit if kr else None, missing=r.measurement.replace("_", " "))


def table_rows(config: Config, record: RunRecord) -> list[dict[str, str]]:
    """One row per KR, in the config's order; a KR without data shows why (its stored, redacted detail)."""
    krs = {kr.id: kr for _, kr in config.key_results()}
    return [
        {
            "objective": r.objective_id,
            "key_result": r.kr_id,
            "value": _value(r, krs.get(r.kr_id)),
            "target": formatting.target(krs[r.kr_id].target, krs[r.kr_id].unit) if r.kr_id in krs else "-",
            "score": formatting.score(r.score),
            "status": r.status.replace("_", " "),
            "reason": (r.reason if r.measurement == "ok" else r.detail) or r.reason or r.detail,
        }
        for r in record.key_results
    ]


def _md(text: str) -> str:
    """Text from a config or a result, shown as itself in markdown (no accidental emphasis, links or tables)."""
    return re.sub(r"([\\`*_\[\]<>|#])", r"\\\1", " ".join(text.split()))


def _status(status: str) -> str:
    return status.replace("_", " ")


def _tree(config: Config, record: RunRecord) -> list[str]:
    krs = {r.kr_id: r for r in record.key_results}
    objectives = {o.objective_id: o for o in record.objectives}
    tree = children_of(config.objectives)
    lines: list[str] = []

    def visit(objective: Objective, depth: int) -> None:
        indent = "  " * depth
        o = objectives.get(objective.id)
        state = f"{formatting.score(o.score)}, {_status(o.status)}" if o else "not scored"
        lines.append(f"{indent}- **{_md(objective.id)}** {_md(objective.title)}: {state}")
        for kr in objective.key_results:
            r = krs.get(kr.id)
            if r is None:
                continue
            target = formatting.target(kr.target, kr.unit)
            lines.append(
                f"{indent}  - `{kr.id}` {_md(_value(r, kr))} (target {_md(target)}): "
                f"score {formatting.score(r.score)}, {_status(r.status)}"
            )
        for child in tree.get(objective.id, []):
            visit(child, depth + 1)

    for root in tree.get(None, []):
        visit(root, 0)
    return lines


def _moves(record: RunRecord, before: StatusSnapshot) -> list[str]:
    """Each KR whose status or shown score moved, each objective whose status moved, since ``before``."""
    lines = []
    old = {r.kr_id: r for r in before.key_results}
    for r in record.key_results:
        was = old.get(r.kr_id)
        score, was_score = formatting.score(r.score), formatting.score(was.score) if was else ""
        if was is None:
            lines.append(f"- `{r.kr_id}` is new: score {score}, {_status(r.status)}")
        elif was.status != r.status:
            lines.append(f"- `{r.kr_id}`: {_status(was.status)} -> {_status(r.status)} (score {was_score} -> {score})")
        elif was_score != score:
            lines.append(f"- `{r.kr_id}`: score {was_score} -> {score}, still {_status(r.status)}")
    old_objectives = {o.objective_id: o for o in before.objectives}
    for o in record.objectives:
        was_o = old_objectives.get(o.objective_id)
        if was_o is not None and was_o.status != o.status:
            lines.append(f"- objective **{_md(o.objective_id)}**: {_status(was_o.status)} -> {_status(o.status)}")
    return lines


def _changes(record: RunRecord, before: StatusSnapshot | None) -> list[str]:
    lines = _moves(record, before) if before is not None else ["First run of this store: nothing to compare with."]
    for change in record.alert_changes:
        verb = "resolved" if change.state == "resolved" else ("still firing" if change.repeat else "fired")
        why = f": {_md(change.detail)}" if change.detail and change.state == "firing" else ""
        lines.append(f"- alert {change.kind.replace('_', ' ')} of `{change.subject}` {verb}{why}")
    return lines or ["Nothing changed since the last run."]


def summary_markdown(config: Config, record: RunRecord, before: StatusSnapshot | None, title: str) -> str:
    """The objective tree with scores and statuses, then what changed since ``before`` (the run stored before)."""
    slot = record.slot.astimezone(config.tz).strftime("%Y-%m-%d %H:%M %Z")
    head = [f"# {_md(title)}: run of {slot}", ""]
    head.append(f"Run {record.run_id}: {record.status}, {len(record.key_results)} key results, cycle {record.cycle}.")
    if record.detail:
        head.append(f"Detail: {_md(record.detail)}")
    since = ""
    if before is not None:
        since = f" (slot {before.run.slot.astimezone(config.tz).strftime('%Y-%m-%d %H:%M %Z')})"
    changed = f"## Changed since the last run{since}"
    lines = [*head, "", "## Objectives", "", *_tree(config, record), "", changed, "", *_changes(record, before)]
    return "\n".join(lines)


@dataclass(frozen=True)
class EventSpec:
    """One Prefect event to emit: its name, primary resource (id plus labels) and payload."""

    event: str
    resource: dict[str, str]
    payload: dict[str, Any] = field(default_factory=dict)


def _labels(config: Config, key: str, r: KRResult | None, kr_id: str) -> dict[str, str]:
    """A KR as a Prefect resource: its id, name, objective, owner, value, score, status and model version."""
    labels = {"prefect.resource.id": f"okrflow.key-result.{key}.{kr_id}", "prefect.resource.name": kr_id}
    labels |= {"okrflow.config": key, "okrflow.kr": kr_id}
    try:
        objective, kr = config.key_result(kr_id)
    except KeyError:
        return labels
    labels["okrflow.objective"] = objective.id
    labels["okrflow.owner"] = route(config, Condition("owner", kr.id, None, kr, objective))[0]
    if r is not None:
        if r.value is not None:
            labels["okrflow.value"] = formatting.exact_number(r.value)
        labels["okrflow.score"] = formatting.score(r.score)
        labels["okrflow.status"] = r.status
        if r.lineage and r.lineage.get("model_version") is not None:
            labels["okrflow.model-version"] = str(r.lineage["model_version"])
    return labels


def _alert_resource(config: Config, key: str, change: AlertChange, record: RunRecord) -> tuple[str, dict[str, str]]:
    """(entity, resource) of an alert: a KR, an objective or a source."""
    if change.kr_id is not None:
        krs = {r.kr_id: r for r in record.key_results}
        return "key-result", _labels(config, key, krs.get(change.kr_id), change.kr_id)
    if change.kind == "source_error":
        resource = {"prefect.resource.id": f"okrflow.source.{key}.{change.subject}", "okrflow.source": change.subject}
        return "source", resource | {"prefect.resource.name": change.subject, "okrflow.config": key}
    objectives: Mapping[str, ObjectiveResult] = {o.objective_id: o for o in record.objectives}
    o = objectives.get(change.subject)
    resource = {"prefect.resource.id": f"okrflow.objective.{key}.{change.subject}", "okrflow.objective": change.subject}
    resource |= {"prefect.resource.name": change.subject, "okrflow.config": key}
    if change.owners:
        resource["okrflow.owner"] = change.owners[0]
    if o is not None:
        resource |= {"okrflow.score": formatting.score(o.score), "okrflow.status": o.status}
    return "objective", resource


def event_specs(config: Config, record: RunRecord, before: StatusSnapshot | None, key: str) -> list[EventSpec]:
    """Every alert the run moved, then every KR whose status changed since the run stored before."""
    run = {"slot": record.slot.isoformat(), "run_id": record.run_id, "cycle": record.cycle}
    specs = []
    for change in record.alert_changes:
        entity, resource = _alert_resource(config, key, change, record)
        kind = "error" if change.kind == "source_error" else change.kind.replace("_", "-")
        name = f"okrflow.{entity}.{'resolved' if change.state == 'resolved' else kind}"
        resource["okrflow.alert"] = change.kind
        payload = {**run, "kind": change.kind, "state": change.state, "repeat": change.repeat}
        specs.append(EventSpec(name, resource, payload | {"detail": change.detail, "owners": list(change.owners)}))
    old = {r.kr_id: r.status for r in before.key_results} if before is not None else {}
    for r in record.key_results:
        if r.kr_id in old and old[r.kr_id] != r.status:
            resource = _labels(config, key, r, r.kr_id) | {"okrflow.status-before": old[r.kr_id]}
            payload = {**run, "status": r.status, "status_before": old[r.kr_id], "reason": r.reason}
            specs.append(EventSpec("okrflow.key-result.status-changed", resource, payload))
    return specs


@dataclass(frozen=True)
class Published:
    """What ``publish`` created: the artifact key prefix and the names of the events it emitted."""

    key: str
    events: Sequence[str]


def publish(config: Config, config_path: str | Path, record: RunRecord, before: StatusSnapshot | None) -> Published:
    """Create the run's two artifacts and emit its events (inside a flow run: Prefect links them to it)."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact
    from prefect.events import emit_event

    key = artifact_key(config_path)
    title = Path(config_path).name
    create_table_artifact(
        table_rows(config, record), key=f"{key}-key-results", description=f"Key results of {title}, this run"
    )
    create_markdown_artifact(
        summary_markdown(config, record, before, title),
        key=f"{key}-summary",
        description=f"Objectives of {title} and what changed since the last run",
    )
    specs = event_specs(config, record, before, key)
    related = [{"prefect.resource.id": f"okrflow.config.{key}", "prefect.resource.role": "okrflow-config"}]
    for spec in specs:
        emit_event(spec.event, resource=spec.resource, related=related, payload=spec.payload)
    return Published(key, [spec.event for spec in specs])
