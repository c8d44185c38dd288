"""Alerts end to end: runs of a real pipeline on a SQLite warehouse whose numbers we change, judged into
alerts, queued in the outbox and delivered to real HTTP receivers (a webhook and a Slack-shaped one)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from okrflow.flows.pipeline import evaluate

from okrflow.alerts.repository import AlertRepository
from okrflow.store import Store
from tests.fixtures.warehouse import F1_KR, LATENCY_KR, metrics_warehouse, set_metrics, warehouse_config

T0 = datetime(2026, 11, 15, 0, 0, tzinfo=UTC)
SECRET = "hook-secret-value:@/%#-0123456789abcdefgh"  # >= 32 bytes


@pytest.fixture
def world(tmp_path, http_receiver, slack_receiver, monkeypatch):
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    warehouse = tmp_path / "warehouse.db"
    engine = metrics_warehouse(warehouse, f1=0.90, latency=0.15)
    config = warehouse_config(
        warehouse,
        f"""
        defaults:
          alerts: {{for_runs: 2, repeat_interval: 24h, retry_backoff: 0s}}
        channels:
          alice-hook: {{type: webhook, url: "{http_receiver.url}/alice", secret: "${{HOOK_SECRET}}"}}
          bob-slack: {{type: slack, url: "{slack_receiver.url}/services/T0/B0/tokentoken"}}
        owners:
          alice: {{channels: [alice-hook]}}
          bob: {{channels: [bob-slack]}}
        objectives:
          - id: platform
            title: Reliable AI platform
            owner: bob
            key_results:
              - {F1_KR}
              - {LATENCY_KR}
        """,
    )
    store = Store.open(f"sqlite:///{tmp_path / 'history.db'}")

    def run(hour: int, f1: float, latency: float):
        set_metrics(engine, f1=f1, latency=latency)
        return evaluate(config, store, T0 + timedelta(hours=hour))

    yield run, store, http_receiver, slack_receiver
    store.close()
    engine.dispose()


def alerts_of(request) -> list[tuple[str, str, str]]:
    return [(a["kind"], a["state"], a["kr_id"]) for a in request.json()["alerts"]]


def test_degrade_then_restore_tells_the_right_owner_once_each_way(world):
    run, store, hook, slack = world
    run(0, 0.90, 0.15)
    run(1, 0.90, 0.15)
    assert hook.requests == [] and slack.requests == []

    run(2, 0.85, 0.15)  # F1 drops 5 points: drift fires at once, for alice
    run(3, 0.90, 0.35)  # F1 back: drift resolves; latency breaks once: pending (for_runs 2)
    run(4, 0.90, 0.35)  # latency breaks again: off track fires, for bob (the objective's owner)
    run(5, 0.90, 0.15)  # latency back: off track resolves
    run(5, 0.90, 0.15)  # a rerun of the same slot notifies nothing
    run(6, 0.90, 0.15)

    assert [alerts_of(r) for r in hook.requests] == [[("drift", "firing", "f1")], [("drift", "resolved", "f1")]]
    assert [alerts_of(r) for r in slack.requests if "alerts" in r.json()] == []  # slack gets its own payload
    slack_texts = [r.json()["text"] for r in slack.requests]
    assert len(slack_texts) == 2, slack_texts
    assert "latency" in slack_texts[0] and "resolved" in slack_texts[1].lower()
    assert slack.rejections == []
    assert all(item.status == "sent" for item in AlertRepository(store.engine).outbox())


def test_webhook_is_signed_and_names_everything_a_person_needs(world):
    run, _, hook, _ = world
    run(0, 0.90, 0.15)
    run(1, 0.85, 0.15)
    (request,) = hook.requests
    expected = "sha256=" + hmac.new(SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-okrflow-signature"], expected)
    body = request.json()
    assert body["version"] == 1 and body["owner"] == "alice"
    (alert,) = body["alerts"]
    assert alert["kr_id"] == "f1" and alert["value"] == pytest.approx(0.85) and alert["target"] == 0.9
    assert alert["score"] == pytest.approx((0.85 - 0.79) / (0.9 - 0.79), abs=1e-6)
    assert "dropped" in alert["detail"] and alert["query"] == "warehouse: SELECT v FROM m WHERE k = 'f1'"
    assert alert["change"]
    assert SECRET not in request.body.decode()


def test_slack_message_content(world):
    run, _, _, slack = world
    for hour in range(3):
        run(hour, 0.90, 0.35)
    (request,) = slack.requests
    text = json.dumps(request.json())
    for needle in ("latency", "0.35", "0.2", "off_track", "warehouse: SELECT v FROM m WHERE k = 'latency'"):
        assert needle in text, needle
    assert "tokentoken" not in text


def test_a_channel_down_for_three_runs_then_gets_every_message_exactly_once(world):
    run, store, hook, _ = world
    hook.respond(503, times=1000)
    run(0, 0.90, 0.15)
    run(1, 0.85, 0.15)  # drift firing: queued, delivery fails
    run(2, 0.90, 0.15)  # drift resolved: queued, both fail
    run(3, 0.84, 0.15)  # drift again: queued, all three fail
    queued = AlertRepository(store.engine).outbox("queued")
    assert len(queued) == 3 and all(item.attempts >= 1 for item in queued)
    assert "503" in queued[0].last_error
    hook.reset()  # the channel is back
    run(4, 0.84, 0.15)  # still below the window mean: no new message, the three queued ones go out
    ids = [r.headers["x-okrflow-message-id"] for r in hook.requests]
    assert len(ids) == len(set(ids)) == 3
    assert {item.message_id for item in AlertRepository(store.engine).outbox("sent")} == set(ids)
    assert [alerts_of(r)[0][:2] for r in hook.requests] == [
        ("drift", "firing"),
        ("drift", "resolved"),
        ("drift", "firing"),
    ]
    run(5, 0.84, 0.15)  # the window's mean has caught up, but F1 is still 0.04 below where it dropped from: holds

    def drift_told() -> list[str]:
        return [state for r in hook.requests for kind, state, _ in alerts_of(r) if kind == "drift"]

    assert drift_told() == ["firing", "resolved", "firing"]
    run(6, 0.88, 0.15)  # back within max_drop of that level: drift resolves; nothing queued is sent again
    assert drift_told() == ["firing", "resolved", "firing", "resolved"]
    later = [r.headers["x-okrflow-message-id"] for r in hook.requests]
    assert later[:3] == ids and len(later) == len(set(later))
    assert AlertRepository(store.engine).outbox("queued") == []


def test_a_refused_message_is_kept_as_failed_not_retried(world):
    run, store, hook, _ = world
    hook.respond(400, times=1, body="bad request")
    run(0, 0.90, 0.15)
    run(1, 0.85, 0.15)
    run(2, 0.85, 0.15)
    (failed,) = AlertRepository(store.engine).outbox("failed")
    assert "400" in failed.last_error and failed.attempts == 1
    tries = [r for r in hook.requests if r.headers["x-okrflow-message-id"] == failed.message_id]
    assert len(tries) == 1  # a 400 is not retried by later runs
