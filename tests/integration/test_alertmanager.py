"""The ``alertmanager`` channel against a real Debian ``prometheus-alertmanager`` (tests/fixtures/alertmanager.py):
okrflow's runs post to ``/api/v2/alerts``, Alertmanager routes to a recording webhook, a silence created through its
API suppresses one KR's alert while another KR's arrives, firing alerts are re-posted with a later ``endsAt`` on
every run, and a resolved notification arrives after okrflow resolves.
"""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from okrflow.connectors.registry import Registry
from okrflow.flows.pipeline import evaluate
from okrflow.okr_model.loader import parse_config

from okrflow.alerts.alertmanager import alertmanager_alerts, lease
from okrflow.alerts.message import Message
from okrflow.alerts.repository import AlertRepository
from okrflow.store import Store
from tests.fixtures.warehouse import metrics_warehouse, set_metrics, warehouse_config

T0 = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def world(tmp_path, alertmanager, http_receiver) -> Iterator:
    warehouse = tmp_path / "warehouse.db"
    engine = metrics_warehouse(warehouse, f1=0.90, latency=0.15)
    config = warehouse_config(
        warehouse,
        f"""
        defaults:
          alerts: {{for: 0s, retry_backoff: 0s, link: "https://okr.example.com/report.html"}}
        channels:
          am: {{type: alertmanager, url: "{alertmanager.url}", headers: {{X-Scope-OrgID: team-ml}}}}
          alice-hook: {{type: webhook, url: "{http_receiver.url}/alice"}}
        owners:
          alice: {{channels: [am, alice-hook]}}
          dave: {{channels: [am]}}
        objectives:
          - id: models
            title: Models good enough to automate tickets
            key_results:
              - id: f1
                title: Classifier F1 to 0.9
                kind: increase
                baseline: 0.79
                target: 0.9
                owner: alice
                metric: {{source: warehouse, sql: "SELECT v FROM m WHERE k = 'f1'"}}
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

    def run(at: datetime, f1: float = 0.90, latency: float = 0.15):
        set_metrics(engine, f1=f1, latency=latency)
        return evaluate(config, store, at)

    yield run, store, config
    store.close()
    engine.dispose()


def held(alertmanager, key_result: str) -> list[dict]:
    return [a for a in alertmanager.alerts() if a["labels"].get("okr_key_result") == key_result]


def off_track_end(alertmanager, key_result: str) -> str:
    """The ``endsAt`` Alertmanager holds for a KR's off-track alert."""
    return next(a for a in held(alertmanager, key_result) if a["labels"]["alertname"] == "OkrOffTrack")["endsAt"]


def test_alerts_reach_alertmanager_and_a_silence_suppresses_one_kr_while_the_other_arrives(world, alertmanager):
    run, store, _ = world
    silence = alertmanager.silence(okr_key_result="latency", comment="latency work in progress")
    run(T0, f1=0.80, latency=0.35)  # both KRs off track (and their objective: grouped, it has no owner)
    assert AlertRepository(store.engine).outbox("failed") == [] and AlertRepository(store.engine).outbox("queued") == []
    alertmanager.wait_until(
        "f1's notification",
        lambda: any(labels.get("okr_key_result") == "f1" for _, _, labels in alertmanager.notified()),
    )
    (f1,) = [a for a in held(alertmanager, "f1") if a["labels"]["alertname"] == "OkrOffTrack"]
    assert f1["labels"] == {
        "alertname": "OkrOffTrack",
        "okr_objective": "models",
        "okr_key_result": "f1",
        "owner": "alice",
        "severity": "critical",
        "kind": "off_track",
    }
    assert f1["status"]["state"] == "active"
    assert f1["annotations"]["summary"] == "f1 is off track: 0.8 (target 0.9, score 0.09, off_track)"
    assert "Why: value 0.8 against target 0.9" in f1["annotations"]["description"]
    assert f1["generatorURL"] == "https://okr.example.com/report.html"
    latency = [a for a in held(alertmanager, "latency") if a["labels"]["alertname"] == "OkrOffTrack"]
    assert latency and latency[0]["status"]["state"] == "suppressed"  # it arrived, and the silence holds it
    assert latency[0]["status"]["silencedBy"] == [silence]
    time.sleep(3)  # three group_waits: an unsilenced latency alert would have been sent by now
    assert not [labels for _, _, labels in alertmanager.notified() if labels.get("okr_key_result") == "latency"]
    alertmanager.expire(silence)  # the silence has teeth: without it, latency's alert goes out
    alertmanager.wait_until(
        "latency's notification once the silence ends",
        lambda: any(labels.get("okr_key_result") == "latency" for _, _, labels in alertmanager.notified()),
    )


def test_resolution_flows_through_alertmanager(world, alertmanager):
    run, _, _ = world
    run(T0, f1=0.80)
    alertmanager.wait_until(
        "the firing notification", lambda: ("firing", "firing") in [(n, a) for n, a, _ in alertmanager.notified()]
    )
    run(T0 + timedelta(hours=1), f1=0.90)  # back on track: okrflow resolves, Alertmanager tells the receiver
    alertmanager.wait_until(
        "the resolved notification",
        lambda: any(
            status == "resolved" and labels.get("okr_key_result") == "f1" and labels["alertname"] == "OkrOffTrack"
            for status, _, labels in alertmanager.notified()
        ),
    )
    assert not [a for a in held(alertmanager, "f1") if a["labels"]["alertname"] == "OkrOffTrack"], "no longer held"


def test_a_firing_alert_is_posted_again_every_run_with_a_later_end(world, alertmanager, http_receiver):
    run, store, config = world
    run(T0, f1=0.80)
    first = off_track_end(alertmanager, "f1")
    assert datetime.fromisoformat(first.replace("Z", "+00:00")) > datetime.now(UTC) + lease(config) / 2
    webhook_messages = len([r for r in http_receiver.requests if r.path == "/alice"])
    run(T0 + timedelta(minutes=15), f1=0.80)  # still off track: nothing new to tell, but Alertmanager must hear it
    refreshed = off_track_end(alertmanager, "f1")
    assert refreshed > first
    assert len([r for r in http_receiver.requests if r.path == "/alice"]) == webhook_messages, "webhook: nothing new"
    sent = [item for item in AlertRepository(store.engine).outbox("sent") if item.channel == "am"]
    assert len(sent) == 2, "alice's message at T0, then the refresh of what still fires"
    (again,) = json.loads(sent[-1].payload)["alerts"]
    assert (again["kr_id"], again["kind"], again["state"]) == ("f1", "off_track", "firing")


def test_the_lease_follows_the_schedule_and_resolved_alerts_end_at_their_slot(world):
    _, _, config = world
    assert lease(config) == timedelta(hours=1)  # 4 x the 15 minutes of */15
    faster = config.model_copy(update={"schedule": "@every 30s"})
    assert lease(faster) == timedelta(minutes=5), "never shorter than 5 minutes"


def test_basic_auth_and_headers_from_the_environment_reach_the_api_and_never_an_error(http_receiver, monkeypatch):
    """Alertmanager behind a proxy that wants basic auth: a loopback receiver stands in for it and records."""
    from okrflow.alerts.channels import send
    from okrflow.alerts.delivery import DeliveryError
    from okrflow.alerts.message import Alert

    monkeypatch.setenv("AM_PASSWORD", "s3cret-Am-pa55")
    monkeypatch.setenv("AM_TOKEN", "tenant-token-77")
    config = parse_config(
        textwrap.dedent(
            f"""
            cycle: {{name: Q4, start: 2026-10-01, end: 2026-12-31}}
            channels:
              am:
                type: alertmanager
                url: "{http_receiver.url}/"
                username: okrflow
                password: "${{AM_PASSWORD}}"
                headers: {{X-Scope-OrgID: "${{AM_TOKEN}}"}}
                lease: 2h
            objectives: [{{id: o, title: O}}]
            """
        ),
        resolver=Registry(),
    )
    alert = Alert(
        "fp", "no_data", "firing", "f1", None, "o", "O", "alice", None, None, 0.9, None, "no_data", "", "", "x"
    )
    msg = Message("m1", T0, T0, "alice", "am", (alert,))
    send("am", config.channels["am"], msg)
    (request,) = http_receiver.requests
    assert request.path == "/api/v2/alerts"
    assert request.headers["authorization"] == "Basic b2tyZmxvdzpzM2NyZXQtQW0tcGE1NQ=="  # okrflow:s3cret-Am-pa55
    assert request.headers["x-scope-orgid"] == "tenant-token-77"
    (posted,) = request.json()
    ends = datetime.fromisoformat(posted["endsAt"].replace("Z", "+00:00"))
    assert timedelta(hours=1, minutes=59) < ends - datetime.now(UTC) <= timedelta(hours=2), "the channel's lease"
    assert posted["labels"]["severity"] == "warning" and posted["labels"]["alertname"] == "OkrNoData"
    http_receiver.respond(401, body="bad credentials s3cret-Am-pa55 tenant-token-77")
    with pytest.raises(DeliveryError) as refused:
        send("am", config.channels["am"], msg)
    assert not refused.value.retryable and "401" in str(refused.value)
    assert "s3cret-Am-pa55" not in str(refused.value) and "tenant-token-77" not in str(refused.value)


def test_a_resolved_alert_ends_at_its_slot_and_starts_when_it_fired() -> None:
    from okrflow.alerts.message import Alert

    fired = T0 - timedelta(hours=2)
    alert = Alert("fp", "drift", "resolved", "f1", None, "o", "O", "alice", 0.9, None, 0.9, 1.0, "on_track", "", "", "")
    msg = Message("m1", T0, T0, "alice", "am", (replace(alert, since=fired),))
    (posted,) = alertmanager_alerts(msg, datetime.now(UTC))
    assert (posted["startsAt"], posted["endsAt"]) == ("2026-11-15T10:00:00Z", "2026-11-15T12:00:00Z")
    assert posted["labels"]["alertname"] == "OkrDrift" and "generatorURL" not in posted
