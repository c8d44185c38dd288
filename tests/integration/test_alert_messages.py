"""What owners receive, end to end: runs of the real pipeline on a SQLite warehouse whose numbers we set, judged
into alerts and delivered to a real loopback webhook receiver (one path per owner).

Issue 13: alerts wait for ``for:`` in slot time, every message says why (value, target, score, expected score,
forecast, share of time held, drift levels, model version), an objective's alert shows its score, expected score
and worst KRs, a grouped KR's own owner hears of it too, and every body received matches the published schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from okrflow.flows.pipeline import evaluate
from okrflow.okr_model.config import Config

from okrflow.alerts.judge import judge
from okrflow.alerts.message import Alert, Message
from okrflow.alerts.notify import lineage_before
from okrflow.alerts.render import email_parts, slack_payload
from okrflow.alerts.repository import AlertRepository
from okrflow.store import KRResult, ObjectiveResult, RunRecord, Store
from tests.fixtures.warehouse import F1_KR, metrics_warehouse, set_metrics, warehouse_config

T0 = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)  # 49% of the cycle: a committed progress KR is expected at 0.49
SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "config" / "webhook-payload.schema.json").read_text())


@dataclass
class World:
    run: Callable[..., RunRecord]
    store: Store
    config: Config

    def received(self, hook, owner: str) -> list[dict[str, Any]]:
        bodies = [r.json() for r in hook.requests if r.path == f"/{owner}"]
        for body in bodies:  # every real body matches the published schema
            jsonschema.Draft202012Validator(SCHEMA).validate(body)
        return bodies

    def alerts(self, hook, owner: str) -> list[dict[str, Any]]:
        return [a for body in self.received(hook, owner) for a in body["alerts"]]


def make_world(tmp_path: Path, hook, alerts: str) -> Iterator[World]:
    warehouse = tmp_path / "warehouse.db"
    engine = metrics_warehouse(warehouse, f1=0.90, latency=0.15)
    config = warehouse_config(
        warehouse,
        f"""
        defaults:
          alerts: {alerts}
        channels:
          alice-hook: {{type: webhook, url: "{hook.url}/alice"}}
          bob-hook: {{type: webhook, url: "{hook.url}/bob"}}
          carol-hook: {{type: webhook, url: "{hook.url}/carol"}}
          dave-hook: {{type: webhook, url: "{hook.url}/dave"}}
        owners:
          alice: {{channels: [alice-hook]}}
          bob: {{channels: [bob-hook]}}
          carol: {{channels: [carol-hook]}}
          dave: {{channels: [dave-hook]}}
        objectives:
          - id: models
            title: Models good enough to automate tickets
            owner: bob
            key_results:
              - {F1_KR}
          - id: serving
            title: Fast serving
            owner: carol
            key_results:
              - id: latency
                title: P95 latency under 200 ms
                kind: maintain_below
                owner: dave
                target: 0.2
                unit: s
                metric: {{source: warehouse, sql: "SELECT v FROM m WHERE k = 'latency'"}}
        """,
    )
    store = Store.open(f"sqlite:///{tmp_path / 'history.db'}")

    def run(at: datetime, f1: float | None = 0.90, latency: float | None = 0.15) -> RunRecord:
        set_metrics(engine, f1=f1, latency=latency)
        return evaluate(config, store, at)

    yield World(run, store, config)
    store.close()
    engine.dispose()


@pytest.fixture
def world(tmp_path, http_receiver) -> Iterator[World]:
    """Alerts fire on the first run that sees them (``for: 0s``), to read the messages themselves."""
    yield from make_world(tmp_path, http_receiver, "{for: 0s, repeat_interval: 24h, retry_backoff: 0s}")


@pytest.fixture
def default_world(tmp_path, http_receiver) -> Iterator[World]:
    """No alert settings at all: the documented defaults."""
    yield from make_world(tmp_path, http_receiver, "{retry_backoff: 0s}")


# -- for: slot time, not run counts ---------------------------------------------------------------------------------


def test_by_default_two_manual_runs_seconds_apart_do_not_fire_but_30_minutes_of_the_condition_do(
    default_world, http_receiver
):
    """Issue 13: `for_runs: 2` fired after two manual runs 14 s apart; the default is now `for: 30m`."""
    w = default_world
    w.run(T0, latency=0.35)
    w.run(T0 + timedelta(seconds=14), latency=0.35)
    w.run(T0 + timedelta(minutes=15), latency=0.35)
    assert w.received(http_receiver, "dave") == [] and w.received(http_receiver, "carol") == []
    w.run(T0 + timedelta(minutes=30), latency=0.35)
    (alert,) = w.alerts(http_receiver, "dave")
    assert (alert["kr_id"], alert["kind"], alert["state"]) == ("latency", "off_track", "firing")


def test_for_runs_alone_keeps_counting_runs(tmp_path, http_receiver):
    w = next(make_world(tmp_path, http_receiver, "{for_runs: 2, retry_backoff: 0s}"))
    w.run(T0, latency=0.35)
    w.run(T0 + timedelta(seconds=14), latency=0.35)
    assert [a["kind"] for a in w.alerts(http_receiver, "dave")] == ["off_track"]


# -- messages that say why --------------------------------------------------------------------------------------


def test_off_track_says_value_target_score_and_the_expected_score(world, http_receiver):
    w = world
    w.run(T0, f1=0.80)  # score 0.09 where 0.5 is expected at mid-cycle
    (alert,) = [a for a in w.alerts(http_receiver, "alice") if a["kind"] == "off_track"]
    assert alert["detail"], "off-track alerts carried an empty detail"
    assert alert["expected"] == pytest.approx(0.49, abs=0.01)
    for needle in ("0.8", "0.9", "0.09", "0.49", "49% of the cycle"):
        assert needle in alert["detail"], (needle, alert["detail"])


def test_at_risk_says_why(world, http_receiver):
    w = world
    w.run(T0, f1=0.83)  # score 0.36: more than 0.10, at most 0.25 below 0.5
    alerts = [a for a in w.alerts(http_receiver, "alice") if a["kind"] == "at_risk"]
    (alert,) = alerts
    assert alert["status"] == "at_risk" and "0.36" in alert["detail"] and "0.49" in alert["detail"]


def test_a_maintain_kr_says_how_much_of_the_time_it_held(world, http_receiver):
    w = world
    for hours in (3, 2, 1):
        w.run(T0 - timedelta(hours=hours))
    w.run(T0, latency=0.35)
    (alert,) = w.alerts(http_receiver, "dave")
    assert alert["kr_id"] == "latency" and alert["held_share"] is not None and 0 < alert["held_share"] < 1
    assert "0.35" in alert["detail"] and "0.2" in alert["detail"]
    text = email_parts(Message.from_dict({**stored(w), "alerts": [alert]}))[1]
    assert "Held: threshold held" in text


def test_drift_names_the_level_before_and_after(world, http_receiver):
    w = world
    for hours in (3, 2, 1):
        w.run(T0 - timedelta(hours=hours))
    w.run(T0, f1=0.85)
    (drift,) = [a for a in w.alerts(http_receiver, "alice") if a["kind"] == "drift"]
    assert (drift["level_before"], drift["level_after"]) == (pytest.approx(0.9), pytest.approx(0.85))
    assert "0.9 -> 0.85" in drift["detail"]


def stored(w: World) -> dict[str, Any]:
    """A stored message's envelope (to re-render an alert as another medium shows it)."""
    item = AlertRepository(w.store.engine).outbox()[-1]
    return json.loads(item.payload)


def test_an_objective_alert_shows_its_score_expected_score_and_worst_krs(world, http_receiver):
    w = world
    w.run(T0, f1=0.80)
    (objective,) = [a for a in w.alerts(http_receiver, "bob") if a["kr_id"] is None]
    assert objective["objective_id"] == "models" and objective["score"] == pytest.approx(0.09, abs=0.01)
    assert objective["expected"] == pytest.approx(0.49, abs=0.01)
    assert [w["kr_id"] for w in objective["worst"]] == ["f1"]
    message = Message.from_dict({**stored(w), "alerts": [objective]})
    _, plain, html = email_parts(message)
    slack = json.dumps(slack_payload(message))
    for text in (plain, html, slack):
        assert "no data" not in text and "none" not in text.lower().split("target")[-1][:12]
        assert "0.09" in text and "0.49" in text and "f1" in text, text
    assert "Value:" not in plain and "Target:" not in plain
    assert "Worst key results: f1 0.09 (off_track)" in plain


def test_a_grouped_kr_alert_reaches_the_objective_owner_and_the_kr_owner_once_each(world, http_receiver):
    """Issue 13: cascade grouping told the objective's owner and left the KR's own owner uninformed."""
    w = world
    w.run(T0, f1=0.80)
    bob = w.alerts(http_receiver, "bob")
    alice = w.alerts(http_receiver, "alice")
    (objective,) = [a for a in bob if a["kind"] == "off_track"]
    assert objective["grouped"] == ["f1"] and "grouped here: f1 (owner alice)" in objective["detail"]
    assert [a for a in bob if a["kr_id"] == "f1"] == [], "bob hears of f1 once: inside the objective's alert"
    (own,) = [a for a in alice if a["kind"] == "off_track"]
    assert own["kr_id"] == "f1" and own["grouped_under"] == "models"
    assert "grouped under objective models's off_track alert, which goes to bob" in own["detail"]
    assert len(w.received(http_receiver, "alice")) == 1 and len(w.received(http_receiver, "bob")) == 1


def test_no_data_and_resolved_say_why(world, http_receiver):
    w = world
    w.run(T0, f1=0.80)
    w.run(T0 + timedelta(hours=1), f1=None)
    w.run(T0 + timedelta(hours=2), f1=0.90)
    alerts = w.alerts(http_receiver, "alice")
    (no_data,) = [a for a in alerts if a["kind"] == "no_data" and a["state"] == "firing"]
    assert no_data["detail"].startswith("no usable value this run")
    resolved = [a for a in alerts if a["state"] == "resolved" and a["kind"] == "off_track"]
    assert resolved and all(a["detail"].startswith("now on track") for a in resolved), resolved


# -- MLflow: the model version from the measurement's lineage, and where the alias moved --------------------------


def kr_result(kr_id: str, objective: str, value: float, score: float, status: str, **extra: Any) -> KRResult:
    fields: dict[str, Any] = dict(
        kr_id=kr_id,
        objective_id=objective,
        value=value,
        measurement="ok",
        detail="",
        observed_at=T0,
        lineage={},
        score=score,
        computed_score=score,
        progress=score,
        status=status,
        expected=0.5,
    )
    return KRResult(**{**fields, **extra})


def mlflow_record(slot: datetime, value: float, score: float, status: str, version: str) -> RunRecord:
    lineage = {"model": "ticket-classifier", "alias": "champion", "model_version": version, "run_id": f"run-{version}"}
    kr = kr_result("f1", "models", value, score, status, lineage=lineage)
    latency = kr_result("latency", "serving", 0.15, 1.0, "on_track")
    objectives = [ObjectiveResult("models", 1.0, "on_track"), ObjectiveResult("serving", 1.0, "on_track")]
    return RunRecord(slot, slot, slot, "completed", "h", "Q4", [kr, latency], objectives)


def told(items) -> list[Alert]:
    return [Alert.from_dict(a) for item in items for a in json.loads(item.payload)["alerts"]]


def test_mlflow_alerts_name_the_model_version_and_the_version_the_alias_held_in_the_run_before(world):
    """The version comes from the measurement's lineage; the run before's lineage says where the alias moved from."""
    before = mlflow_record(T0, 0.90, 1.0, "on_track", "2")
    world.store.write_run(before)
    now = mlflow_record(T0 + timedelta(hours=1), 0.80, 0.09, "off_track", "1")
    world.store.write_run(now)
    previous = lineage_before(world.store, now)
    assert previous("f1") is not None and previous("f1")["model_version"] == "2"
    items = judge(world.config, now, {}, lambda kr, level: None, T0, lineage_before=previous).messages
    off = next(a for a in told(items) if a.kind == "off_track" and a.kr_id == "f1")
    assert (off.model_version, off.model_version_before) == ("1", "2")
    assert "model version 2 -> 1" in off.detail
    assert "Model version: 1 (was 2)" in email_parts(Message("m", T0, T0, "alice", "x", (off,)))[1]
    items = judge(world.config, now, {}, lambda kr, level: None, T0).messages  # no earlier lineage: the version alone
    off = next(a for a in told(items) if a.kind == "off_track" and a.kr_id == "f1")
    assert (off.model_version, off.model_version_before) == ("1", None) and "model version 1" in off.detail
