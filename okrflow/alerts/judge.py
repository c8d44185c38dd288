"""Judge a stored run: which alert conditions hold, how each alert's state moves, and who is told.

Conditions per run: a KR or objective ``off_track`` or ``at_risk`` (at risk or worse), a KR with
``no_data``, a KR whose metric ``drift``s, and a ``source_error`` when every KR of a source errored (one
alert for the source instead of one per KR). A KR without data this run leaves its off-track and at-risk
alerts as they are: a gap is not a recovery. Notifications are routed to the KR's owner, else its
objective's owner, else ``defaults.alerts.channels``, grouped into one message per owner and channel per
run; while an objective's own alert fires, its descendants' alerts of the same kind are grouped under it.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

from okrflow.alerts.condition import Condition, DriftCheck, LineageBefore, RunResults
from okrflow.alerts.message import Alert, Message
from okrflow.alerts.repository import OutboxItem, SavedState
from okrflow.alerts.routing import channels_of, has_alertmanager
from okrflow.alerts.state import AlertState, Timing, Transition, step
from okrflow.okr_model.config import Config, Objective
from okrflow.okr_model.results import AlertChange, KRResult, RunRecord
from okrflow.okr_model.rollup import ancestors

__all__ = ["Condition", "Judgement", "conditions", "fingerprint", "judge", "route"]


class Judgement(NamedTuple):
    """What judging one run decided: the states to save, the messages to enqueue, and every alert it moved."""

    states: list[SavedState]
    messages: list[OutboxItem]
    changes: tuple[AlertChange, ...] = ()


def fingerprint(group: str, kind: str, subject: str) -> str:
    """Identical alerts share a fingerprint (and so one state and one notification per run). ``group`` is the
    config's alert group, never the deployment: every way of starting a run shares one state per alert."""
    return hashlib.sha256(f"{group}|{kind}|{subject}".encode()).hexdigest()[:32]


def conditions(
    config: Config, record: RunRecord, drift: DriftCheck, dropped_from: Mapping[str, float] | None = None
) -> list[Condition]:
    """Every alert condition of one run; ``dropped_from``: the level each open max_drop drift moved from."""
    results = {r.kr_id: r for r in record.key_results}
    out: list[Condition] = []
    by_source: dict[str, list[KRResult]] = {}
    for _, kr in config.key_results():
        if kr.metric and kr.id in results:
            by_source.setdefault(kr.metric.source, []).append(results[kr.id])
    down = {name for name, rs in by_source.items() if rs and all(r.measurement == "error" for r in rs)}
    for name, rs in by_source.items():
        detail = rs[0].detail if name in down else ""
        out.append(Condition("source_error", name, name in down, source=name, detail=detail))
    for objective, kr in config.key_results():
        r = results.get(kr.id)
        if r is None or "abandoned" in r.gates:
            continue  # an abandoned KR was stopped on purpose: nobody is paged about it
        has_data = r.score is not None
        out.append(Condition("off_track", kr.id, r.status == "off_track" if has_data else None, kr, objective))
        out.append(
            Condition("at_risk", kr.id, r.status in ("at_risk", "off_track") if has_data else None, kr, objective)
        )
        source_down = kr.metric is not None and kr.metric.source in down
        out.append(
            Condition("no_data", kr.id, None if source_down else r.measurement != "ok", kr, objective, detail=r.detail)
        )
        if r.measurement == "ok":
            found = drift(kr, (dropped_from or {}).get(kr.id))
            out.append(
                Condition(
                    "drift",
                    kr.id,
                    found is not None,
                    kr,
                    objective,
                    detail=found.description if found else "",
                    drift=found,
                )
            )
    objectives = {o.id: o for o in config.objectives}
    for o in record.objectives:
        objective = objectives.get(o.objective_id)
        if objective is None:
            continue
        has_data = o.score is not None and o.status != "no_data"  # too few KRs scored: unknown, not resolved
        out.append(
            Condition("off_track", o.objective_id, o.status == "off_track" if has_data else None, objective=objective)
        )
        out.append(
            Condition(
                "at_risk",
                o.objective_id,
                o.status in ("at_risk", "off_track") if has_data else None,
                objective=objective,
            )
        )
    return out


def route(config: Config, condition: Condition) -> list[str]:
    """Owners to tell: the KR's owner, else its objective's (walking up the tree), for a source every affected owner."""
    parents = {o.id: o for o in config.objectives}
    if condition.source is not None:
        owners = []
        for objective, kr in config.key_results():
            if kr.metric and kr.metric.source == condition.source:
                owner = kr.owner or _objective_owner(objective, parents)
                if owner and owner not in owners:
                    owners.append(owner)
        return owners or ["(unowned)"]
    if condition.kr is not None and condition.kr.owner:
        return [condition.kr.owner]
    if condition.objective is not None:
        owner = _objective_owner(condition.objective, parents)
        if owner:
            return [owner]
    return ["(unowned)"]


def _objective_owner(objective: Objective, objectives: Mapping[str, Objective]) -> str | None:
    """The objective's owner, else its nearest ancestor's."""
    return next((node.owner for node in ancestors(objective, objectives, include_self=True) if node.owner), None)


def judge(
    config: Config,
    record: RunRecord,
    states: Mapping[str, SavedState],
    drift: DriftCheck,
    now: datetime | None = None,
    group: str = "default",
    lineage_before: LineageBefore | None = None,
) -> Judgement:
    """Step every alert of this run; returns the states to save, the messages to enqueue and the alerts moved.

    ``states`` are the alert group's; the caller judges a group's runs in slot order (``okrflow.alerts.notify``).
    ``lineage_before`` lets an MLflow KR's message say which model version the alias held in the run before.
    """
    now = now or datetime.now(UTC)
    rules = config.defaults.alerts
    results = RunResults.of(record, lineage_before)
    judged: dict[str, tuple[Condition, SavedState, Transition | None]] = {}
    for condition in conditions(config, record, drift, _drift_levels(states)):
        if condition.holds is None:
            continue
        key = fingerprint(group, condition.kind, condition.subject)
        if not condition.holds and key not in states:
            continue  # quiet and staying quiet: no state, no row, no message (most KRs of most runs)
        previous = states.get(key) or SavedState(AlertState(key), group, condition.kind, condition.subject)
        timing = Timing.of(rules)
        timing = timing.at_once() if condition.kind in ("drift", "source_error") else timing  # drift fires at once
        state, transition = _step(previous.state, condition.holds, record.slot, timing)
        if transition is not None and transition.state == "resolved" and not previous.notified:
            transition = None  # its firing was never told (grouped away, or told as off track): nothing to resolve
        last_seen = _seen(results, condition) if transition else previous.last_seen
        judged[key] = (condition, replace(previous, state=state, last_seen=last_seen), transition)
    alerts = _alerts(config, record, results, judged, states)
    told = _told(alerts, group)
    # A quiet alert that stays quiet needs no row: only alerts that are, or were, pending or firing are kept.
    changed = [
        replace(saved, notified=_notified(saved, transition, told))
        for key, (_, saved, transition) in judged.items()
        if saved.state.phase != "inactive" or (key in states and states[key].state.phase != "inactive")
    ]
    messages = _messages(config, record, alerts, now)
    if has_alertmanager(config):  # Alertmanager ends what it is not told again: re-post what still fires, as told
        from okrflow.alerts.alertmanager import refresh_messages

        still = [
            (
                owner,
                _alert_of(config, record, results, c, s, Transition(s.state.fingerprint, "firing", True), s.last_seen),
            )
            for c, s, t in judged.values()
            if t is None and s.state.phase == "firing" and s.notified
            for owner in route(config, c)
        ]
        messages += refresh_messages(config, record.slot, still, now)
    changes = tuple(_change(config, c, t) for c, _, t in judged.values() if t is not None)
    return Judgement(changed, messages, changes)


def _change(config: Config, condition: Condition, transition: Transition) -> AlertChange:
    """A moved alert as the run reports it (every one, told to a channel or grouped away)."""
    return AlertChange(
        kind=condition.kind,
        subject=condition.subject,
        state=transition.state,
        repeat=transition.repeat,
        kr_id=condition.kr.id if condition.kr else None,
        objective_id=condition.objective.id if condition.objective else None,
        source=condition.source,
        owners=tuple(route(config, condition)),
        detail=condition.detail,
    )


def _step(state: AlertState, holds: bool, slot: datetime, timing: Timing) -> tuple[AlertState, Transition | None]:
    """``step``, plus: a rerun of the slot this alert last judged that no longer sees the condition clears it (a
    source answering again resolves that slot's ``source_error``); a rerun that still sees it changes nothing."""
    if not holds and state.last_slot == slot and state.phase in ("pending", "firing"):
        return step(replace(state, last_slot=None), False, slot, timing)
    return step(state, holds, slot, timing)


def _told(alerts: Sequence[tuple[str, Alert]], group: str) -> set[str]:
    """Fingerprints of the alerts this run's messages tell, those grouped under another alert included."""
    told = set()
    for _, alert in alerts:
        told.add(alert.fingerprint)
        told.update(fingerprint(group, alert.kind, subject) for subject in alert.grouped)
    return told


def _notified(saved: SavedState, transition: Transition | None, told: set[str]) -> bool:
    """Whether a resolve is owed: the alert's firing was told, and it has not resolved since."""
    if transition is None:
        return saved.notified and saved.state.phase == "firing"
    if transition.state == "resolved":
        return False
    return saved.notified or saved.state.fingerprint in told


def _alerts(
    config: Config,
    record: RunRecord,
    results: RunResults,
    judged: Mapping[str, tuple[Condition, SavedState, Transition | None]],
    previous: Mapping[str, SavedState],
) -> list[tuple[str, Alert]]:
    """(owner, alert) for every notification, with the cascade grouping applied."""
    objectives = {o.id: o for o in config.objectives}
    firing_objectives = {
        (c.kind, c.subject)
        for c, saved, _ in judged.values()
        if c.kr is None and c.source is None and saved.state.phase == "firing"
    }
    # A KR at risk and off track in the same run is told once, as off track.
    off_track_now = {c.subject for c, _, t in judged.values() if c.kind == "off_track" and t and t.state == "firing"}
    grouped: dict[tuple[str, str], list[str]] = {}
    folded: list[tuple[Condition, SavedState, Transition, str]] = []
    pending: list[tuple[Condition, SavedState, Transition]] = []
    for condition, saved, transition in judged.values():
        if transition is None:
            continue
        if condition.kind == "at_risk" and transition.state == "firing" and condition.subject in off_track_now:
            continue
        if condition.kind in ("off_track", "at_risk") and transition.state == "firing":
            parent = next(
                (
                    a.id
                    for a in ancestors(condition.objective, objectives, include_self=condition.kr is not None)
                    if a.id != condition.subject and (condition.kind, a.id) in firing_objectives
                ),
                None,
            )
            if parent is not None:
                grouped.setdefault((condition.kind, parent), []).append(condition.subject)
                folded.append((condition, saved, transition, parent))
                continue
        pending.append((condition, saved, transition))
    own = {(c.kind, c.subject): c for c, _, _ in judged.values() if c.kr is None and c.source is None}
    out = []
    for condition, saved, transition in pending:
        before = previous.get(saved.state.fingerprint)
        alert = _alert_of(config, record, results, condition, saved, transition, before.last_seen if before else None)
        children = grouped.get((condition.kind, condition.subject), [])
        if children:
            owners = {kid: route(config, c) for c, _, _, p in folded if p == condition.subject for kid in [c.subject]}
            named = ", ".join(f"{kid} (owner {', '.join(owners[kid])})" for kid in children)
            alert = replace(alert, grouped=tuple(children), detail=f"{alert.detail}; grouped here: {named}")
        for owner in route(config, condition):
            out.append((owner, alert))
    # A grouped KR's own owner hears of it too, once, told where it was grouped (the objective's owner has it).
    for condition, saved, transition, parent in folded:
        parent_owners = route(config, own[(condition.kind, parent)])
        before = previous.get(saved.state.fingerprint)
        alert = _alert_of(config, record, results, condition, saved, transition, before.last_seen if before else None)
        note = f"; grouped under objective {parent}'s {condition.kind} alert, which goes to {', '.join(parent_owners)}"
        alert = replace(alert, grouped_under=parent, detail=alert.detail + note)
        for owner in route(config, condition):
            if owner not in parent_owners:
                out.append((owner, alert))
    return out


def _seen(results: RunResults, condition: Condition) -> dict[str, Any]:
    """``compose.seen``; the composing modules (facts, wording) are imported only when an alert moves."""
    from okrflow.alerts.compose import seen

    return seen(results, condition)


def _alert_of(*args: Any) -> Alert:
    """``compose.alert_of`` (same arguments), imported only when an alert is told."""
    from okrflow.alerts.compose import alert_of

    return alert_of(*args)


def _drift_levels(states: Mapping[str, SavedState]) -> dict[str, float]:
    """The level each firing drift alert's metric moved from, as its last message reported it (by KR id)."""
    levels = {}
    for saved in states.values():
        level = (saved.last_seen or {}).get("level_before")
        if saved.kind == "drift" and saved.state.phase == "firing" and isinstance(level, int | float):
            levels[saved.subject] = float(level)
    return levels


def _messages(
    config: Config, record: RunRecord, alerts: Sequence[tuple[str, Alert]], now: datetime
) -> list[OutboxItem]:
    """One message per owner per run, one outbox row per channel of that owner."""
    by_owner: dict[str, list[Alert]] = {}
    for owner, alert in alerts:
        if alert not in by_owner.setdefault(owner, []):
            by_owner[owner].append(alert)
    items = []
    valid_for = None
    if has_alertmanager(config):
        from okrflow.alerts.alertmanager import lease

        valid_for = lease(config)
    for owner, owned in by_owner.items():
        message_id = uuid.uuid4().hex
        for channel in channels_of(config, owner):
            message = Message(
                id=message_id,
                created_at=now,
                slot=record.slot,
                owner=owner,
                channel=channel,
                alerts=tuple(owned),
                link=config.defaults.alerts.link,
                valid_for=valid_for,
            )
            items.append(OutboxItem(None, message_id, channel, owner, record.slot, message.to_json(), created_at=now))
    return items
