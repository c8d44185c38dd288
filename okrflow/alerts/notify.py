"""The alert step of a run: write the run, judge it, save alert states and enqueue messages (one transaction),
then deliver."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, update

from okrflow.alerts.judge import DriftCheck, LineageBefore, judge
from okrflow.alerts.outbox import DeliveryReport, deliver_due
from okrflow.alerts.repository import AlertRepository
from okrflow.okr_model.config import Config, DriftRule, KeyResult
from okrflow.okr_model.drift import DriftResult
from okrflow.okr_model.errors import OkrflowError
from okrflow.okr_model.results import AlertChange, RunRecord
from okrflow.store import Store
from okrflow.store.tables import runs

__all__ = [
    "DEFAULT_GROUP",
    "AlertOutcome",
    "AlertStepFailed",
    "alert_group",
    "alert_step_failed",
    "drift_check",
    "drift_rule",
    "notify",
]

DEFAULT_GROUP = "default"

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
    from okrflow.okr_model.drift import check_drift

    rules = {kr.id: rule for _, kr in config.key_results() if (rule := drift_rule(config, kr)) is not None}
    if not rules:
        return lambda kr, dropped_from: None
    series = drift_series(config, store, rules, record.slot)
    current = {r.kr_id: r.value for r in record.key_results if r.measurement == "ok"}

    def check(kr: KeyResult, dropped_from: float | None) -> DriftResult | None:
        rule = rules.get(kr.id)
        if rule is None or kr.id not in current:
            return None
        points = [*series.get(kr.id, []), (record.slot, current[kr.id])]
        return check_drift(points, rule, kr.direction, name=kr.id, dropped_from=dropped_from)

    return check


def lineage_before(store: Store, record: RunRecord) -> LineageBefore:
    """A KR's measurement lineage in the run before this slot (where an MLflow alias pointed then), read only for
    the alerts that are told; None when unknown (an alert never fails for it)."""

    @functools.cache
    def of(kr_id: str) -> Mapping[str, Any] | None:
        try:
            previous = store.latest_run(before=record.slot)
            points = store.history(kr_id, since=previous.slot, limit=1) if previous else []
        except Exception:
            log.warning("could not read %s's lineage before %s", kr_id, record.slot.isoformat(), exc_info=True)
            return None
        return points[0].result.lineage if points and previous and points[0].slot == previous.slot else None

    return of


@dataclass
class AlertOutcome:
    """What the alert step did for one run: judged or not (and why), messages enqueued, the delivery."""

    run_id: int | None = None
    judged: bool = False
    note: str = ""
    enqueued: int = 0
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    error: str = ""
    """Why the alert step failed (the run is stored, its alerts not judged); empty when it did not fail."""
    detail: str = ""
    """The run's stored detail, with the alert failure appended when there was one."""
    changes: tuple[AlertChange, ...] = ()
    """The alerts the run fired, repeated or resolved (kept only when the judging committed)."""


class AlertStepFailed(OkrflowError):
    """A run was stored but its alert step failed: nobody was told what the run found. ``okrflow run`` exits 1
    and the Prefect flow run fails, after the run is written."""

    def __init__(self, message: str, record: RunRecord | None = None):
        super().__init__(message)
        self.record = record
        """The stored run (its scores are history; ``okrflow run`` still prints them)."""

    def __reduce__(self) -> tuple[type[AlertStepFailed], tuple[str, RunRecord | None]]:
        return type(self), (str(self), self.record)


def alert_step_failed(record: RunRecord) -> AlertStepFailed:
    """The error for a stored run whose alert step failed, worded once for the CLI and the flow."""
    return AlertStepFailed(f"run {record.run_id} was stored, but its alert step failed: {record.alert_error}", record)


def _failure(exc: BaseException) -> str:
    """An exception in one line for the run's detail (SQLAlchemy appends the statement on later lines); our own
    errors (a ``StoreError`` with the URL's password hidden) read as they are, others with their type."""
    first = (str(exc).strip().splitlines() or [""])[0]
    return (first if isinstance(exc, OkrflowError) else f"{type(exc).__name__}: {first}")[:300]


def alert_group(config: Config) -> str:
    """Whose alert state a run steps: the config's ``defaults.alerts.group``, else ``default`` (never the
    deployment, so a manual run and ``okrflow serve`` of one config share each alert)."""
    return config.defaults.alerts.group or DEFAULT_GROUP


def notify(config: Config, store: Store, record: RunRecord, now: datetime | None = None) -> AlertOutcome:
    """Write the run and judge its alerts in one transaction, then deliver what is due.

    The run's slot lock and its alert group's lock are held while the group's states are read, stepped and
    saved and the messages enqueued: concurrent runs of one slot (two workers, a cron job and a manual run)
    judge one after the other, so a condition is told once. A slot older than the group's latest judged slot
    (a backfill, ``--at`` in the past, a catch-up) is stored but not judged: past data never pages anyone, and
    alerts move in slot order. A failing alert step is logged and rolled back alone; the run is kept, and its
    stored detail says the alert step failed (``AlertOutcome.error``; ``okrflow run`` exits 1 on it).
    """
    now = now or datetime.now(UTC)
    outcome = AlertOutcome(detail=record.detail)
    try:
        drift = drift_check(config, store, record)  # reads history before this run: no lock needed
    except Exception as exc:
        log.exception("alerting for the run of slot %s failed (drift history)", record.slot.isoformat())
        drift, outcome.error = None, _failure(exc)

    def failed(conn: Connection, run_id: int) -> None:
        outcome.judged, outcome.enqueued, outcome.changes = False, 0, ()
        outcome.note = f"alerts: failed, not judged ({outcome.error})"
        outcome.detail = "; ".join(part for part in (record.detail, f"alerts failed: {outcome.error}") if part)
        conn.execute(update(runs).where(runs.c.id == run_id).values(detail=outcome.detail))  # in the run's transaction

    def judge_locked(conn: Connection, run_id: int) -> None:
        if drift is None:
            failed(conn, run_id)
            return
        try:
            with conn.begin_nested():  # a savepoint: an alert failure rolls back alone
                _judge_locked(config, AlertRepository(store.engine, conn), record, drift, now, outcome)
        except Exception as exc:
            log.exception("alerting for the run of slot %s failed", record.slot.isoformat())
            outcome.error = _failure(exc)
            failed(conn, run_id)

    outcome.run_id = store.write_run(record, then=judge_locked)
    try:
        outcome.delivery = deliver_due(config, store, now)
    except Exception:  # the messages stay queued: the next run or ``okrflow alerts --deliver`` sends them
        log.exception("delivering alerts after the run of slot %s failed", record.slot.isoformat())
    return outcome


def _judge_locked(
    config: Config,
    alerts: AlertRepository,
    record: RunRecord,
    drift: DriftCheck,
    now: datetime,
    outcome: AlertOutcome,
) -> None:
    group = alert_group(config)
    latest = alerts.judging(group)
    if latest is not None and record.slot < latest:
        outcome.note = f"alerts: not judged (slot older than the latest judged slot {_when(config, latest)})"
        return
    previous = lineage_before(Store(alerts.engine), record)  # read on a connection of its own, only if told
    saved, messages, changes = judge(
        config, record, alerts.states(group), drift, now, group=group, lineage_before=previous
    )
    alerts.save(saved, messages)
    alerts.judged(group, record.slot, now)
    outcome.judged, outcome.enqueued, outcome.changes = True, len({m.message_id for m in messages}), changes
    outcome.note = f"alerts: judged, {outcome.enqueued} message{'s' if outcome.enqueued != 1 else ''} queued"


def _when(config: Config, at: datetime) -> str:
    """A slot as people read it: in the config's time zone, to the minute."""
    local = at.astimezone(config.tz)
    return local.strftime("%Y-%m-%d %H:%M") + ("" if local.utcoffset() == timedelta(0) else local.strftime(" %Z"))
