"""The alert step of a run: judge the stored run, save alert states and enqueue messages, deliver."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from okr_model.config import Config, DriftRule, KeyResult
from okrflow.alerts.judge import DriftCheck, judge
from okrflow.alerts.outbox import DeliveryReport, deliver_due
from okrflow.store import RunRecord, Store

__all__ = ["drift_check", "drift_rule", "notify"]

log = logging.getLogger("okrflow.alerts")


def drift_rule(config: Config, kr: KeyResult) -> DriftRule | None:
    """The KR's drift block over the config's, field by field (``Config.drift_rule``); None: drift not judged."""
    return config.drift_rule(kr)


def drift_series(
    config: Config, store: Store, rules: dict[str, DriftRule], slot: datetime
) -> dict[str, list[tuple[datetime, float]]]:
    """Each KR's stored ok values that its rule looks at: the whole cycle for a detector (it accumulates),
    only the reference window for ``max_drop`` alone, so a long cycle of frequent runs is not re-read."""
    start, _ = config.cycle_bounds()
    detecting = [kr_id for kr_id, rule in rules.items() if rule.detector is not None]
    windowed = [kr_id for kr_id, rule in rules.items() if rule.detector is None]
    series = store.series(detecting, start, slot) if detecting else {}
    if windowed:
        since = max(start, slot - max(rules[kr_id].window for kr_id in windowed))
        series.update(store.series(windowed, since, slot))
    return series


def drift_check(config: Config, store: Store, record: RunRecord) -> DriftCheck:
    """Drift is judged on each KR's stored ok values of this cycle plus this run's value (one query)."""
    from okr_model.drift import check_drift

    rules = {kr.id: rule for _, kr in config.key_results() if (rule := drift_rule(config, kr)) is not None}
    if not rules:
        return lambda kr: None
    series = drift_series(config, store, rules, record.slot)
    current = {r.kr_id: r.value for r in record.key_results if r.measurement == "ok"}

    def check(kr: KeyResult) -> str | None:
        rule = rules.get(kr.id)
        if rule is None or kr.id not in current:
            return None
        result = check_drift([*series.get(kr.id, []), (record.slot, current[kr.id])], rule, kr.direction, name=kr.id)
        return result.description if result else None

    return check


def notify(config: Config, store: Store, record: RunRecord, now: datetime | None = None) -> DeliveryReport:
    """Judge the run's alerts, enqueue its messages (one transaction), then deliver what is due."""
    now = now or datetime.now(UTC)
    states = store.alerts.states(record.deployment)
    saved, messages = judge(config, record, states, drift_check(config, store, record), now)
    store.alerts.save(saved, messages)
    return deliver_due(config, store, now)
