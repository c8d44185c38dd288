"""The seeds' "alerts triggering retraining within 24 hours of detection", with Prefect Automations: on a real
``prefect server``, the demo retraining deployment is served, an automation on ``okrflow.key-result.drift`` is
created through the API, a KR's metric drifts in an ``okrflow run``, and the automation runs the retraining flow
with the drifting KR as its parameters, well within 24 hours of the detection."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.e2e.test_prefect_artifacts import T1, T2, World, events
from tests.e2e.test_serve import PrefectServer, prefect_server, read_flow_runs, start, stop_process_group, tail
from tests.fixtures.polling import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.prefect]

WITHIN = timedelta(hours=24)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[PrefectServer]:
    with prefect_server(tmp_path_factory.mktemp("prefect-automation")) as running:
        yield running


def deployment_id(server: PrefectServer) -> str | None:
    from okrflow.flows.retrain_demo import DEPLOYMENT, FLOW

    answer = httpx.get(f"{server.api_url}/deployments/name/{FLOW}/{DEPLOYMENT}", timeout=5)
    return answer.json()["id"] if answer.status_code == 200 else None


def when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_drift_event_runs_the_retraining_deployment(tmp_path, server):
    from okrflow.flows.retrain_demo import DEPLOYMENT, drift_automation
    from prefect.settings import PREFECT_API_URL, temporary_settings

    log = tmp_path / "retrain-demo.log"
    served = start([sys.executable, "-m", "okrflow.flows.retrain_demo"], server.env(), log, cwd=tmp_path)
    try:
        found = wait_for(lambda: deployment_id(server), 90, 0.5, lambda: f"the served deployment\n{tail(log)}")
        world = World(tmp_path, server)
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            automation = drift_automation(found, match={"okrflow.config": world.key}).create()
        assert automation.id is not None
        stored = httpx.get(f"{server.api_url}/automations/{automation.id}", timeout=5).json()
        assert stored["trigger"]["expect"] == ["okrflow.key-result.drift"] and stored["enabled"]

        world.run(T1, f1=0.90, latency=0.15)
        assert read_flow_runs(server.api_url, DEPLOYMENT) == []  # no drift, no retraining
        world.run(T2, f1=0.85, latency=0.15)  # five points down: drift fires, the event goes out

        def retrained() -> Any:
            assert served.poll() is None, f"the retraining deployment stopped\n{tail(log)}"
            runs = read_flow_runs(server.api_url, DEPLOYMENT)
            return next((r for r in runs if r.state and r.state.is_completed()), None)

        flow_run = wait_for(retrained, 120, 1, lambda: f"a completed retraining run\n{tail(log)}\n{server.problems()}")
        assert flow_run.parameters == {
            "key_result": "f1",
            "objective": "quality",
            "model_version": "",
            "slot": T2.isoformat(),
        }
        drift = next(e for e in events(server) if e["event"] == "okrflow.key-result.drift")
        assert drift["resource"]["okrflow.config"] == world.key
        started = flow_run.start_time or flow_run.expected_start_time
        assert timedelta(0) <= started - when(drift["occurred"]) < WITHIN
        print(f"retraining started {(started - when(drift['occurred'])).total_seconds():.1f} s after the drift event")
        assert len(read_flow_runs(server.api_url, DEPLOYMENT)) == 1  # one drift, one retraining
    finally:
        stop_process_group(served, signal.SIGINT)
