"""One ``Alert`` from one judged condition: its numbers, what changed since the last message, the query, and the
why (``okrflow.alerts.explain``). Pure; the judge decides which alerts are told and to whom."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from okrflow.alerts.condition import Condition, RunResults
from okrflow.alerts.explain import Facts, kr_facts, objective_facts, source_facts
from okrflow.alerts.message import Alert
from okrflow.alerts.repository import SavedState
from okrflow.alerts.state import Transition
from okrflow.okr_model import formatting
from okrflow.okr_model.config import Config, KeyResult
from okrflow.okr_model.results import RunRecord
from okrflow.okr_model.types import Band

__all__ = ["alert_of", "seen"]


def seen(results: RunResults, condition: Condition) -> dict[str, object]:
    if condition.kr is not None:
        r = results.krs[condition.kr.id]
        seen: dict[str, object] = {"value": r.value, "score": r.score, "status": r.status}
        if r.lineage and r.lineage.get("model_version") is not None:
            seen["model_version"] = str(r.lineage["model_version"])
        if condition.drift is not None:
            seen["level_before"] = condition.drift.reference
        return seen
    if condition.objective is not None and condition.source is None:
        o = results.objectives[condition.objective.id]
        return {"score": o.score, "status": o.status}
    return {"status": "error" if condition.holds else "ok"}


def _change(before: Mapping[str, object] | None, now: Mapping[str, object]) -> str:
    if not before:
        return "first notification"
    parts = []
    for key in ("value", "score", "status"):
        if key in now and before.get(key) != now.get(key):
            parts.append(f"{key} {_shown(before.get(key))} -> {_shown(now.get(key))}")
    return "; ".join(parts) or "no change since the last message"


def _shown(value: object) -> str:
    return formatting.number(value) if isinstance(value, float) else ("-" if value is None else str(value))


def _query(kr: KeyResult | None) -> str:
    """The metric binding as a user would recognise it (sources hold the secrets; bindings do not)."""
    if kr is None or kr.metric is None:
        return "manual check-ins" if kr is not None else ""
    fields = kr.metric.model_dump(mode="json", exclude={"source", "offset", "max_age"}, exclude_none=True)
    body = fields.pop("sql", None) or fields.pop("query", None)
    text = " ".join(str(body).split()) if body else ", ".join(f"{k}={v}" for k, v in fields.items())
    return f"{kr.metric.source}: {text}"


def _facts(
    config: Config, record: RunRecord, results: RunResults, c: Condition, firing: bool, before: Mapping[str, Any] | None
) -> Facts:
    if c.source is not None:
        return source_facts(c.source, firing, c.detail)
    if c.kr is not None:
        r = results.krs[c.kr.id]
        earlier = results.lineage_before(c.kr.id) if results.lineage_before and r.lineage.get("model_version") else None
        return kr_facts(c.kind, firing, c.kr, r, c.drift, before, earlier)
    assert c.objective is not None
    o = results.objectives[c.objective.id]
    expected = results.expected_scores(config.objectives).get(c.objective.id)
    return objective_facts(config, record.slot, c.objective, o, results.krs, firing, expected)


def alert_of(
    config: Config,
    record: RunRecord,
    results: RunResults,
    condition: Condition,
    saved: SavedState,
    transition: Transition,
    before: Mapping[str, Any] | None,
) -> Alert:
    kr = condition.kr
    result = results.krs.get(kr.id) if kr else None
    objective_result = results.objectives.get(condition.objective.id) if condition.objective else None
    now_seen = saved.last_seen or {}
    target = (tuple(kr.target) if isinstance(kr.target, Band) else kr.target) if kr else None
    facts = _facts(config, record, results, condition, transition.state == "firing", before)
    return Alert(
        fingerprint=saved.state.fingerprint,
        kind=condition.kind,  # type: ignore[arg-type]
        state=transition.state,
        kr_id=kr.id if kr else None,
        kr_title=kr.title if kr else None,
        objective_id=condition.objective.id if condition.objective else "",
        objective_title=condition.objective.title if condition.objective else "",
        owner=kr.owner if kr and kr.owner else (condition.objective.owner if condition.objective else None) or "",
        value=result.value if result else None,
        unit=kr.unit if kr else None,
        target=target,
        score=result.score if result else (objective_result.score if objective_result else None),
        status=result.status if result else (objective_result.status if objective_result else "error"),
        change=_change(before, now_seen),
        query=_query(kr) if kr else (f"source {condition.source}" if condition.source else ""),
        since=saved.state.fired_at,
        source=condition.source or (kr.metric.source if kr and kr.metric else None),
        **vars(facts),
    )
