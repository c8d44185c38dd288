"""The README's first command: the demo world with all four source kinds, alerts, and nothing left running."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest
from okrflow.connectors.registry import default_registry
from okrflow.okr_model.loader import load_config
from rich.console import Console

from okrflow.alerts.repository import AlertRepository
from okrflow.demo import run_demo
from okrflow.store import Store

DEMO_ENV = ("WAREHOUSE_URL", "MLFLOW_TRACKING_URI", "OKRFLOW_STORE_URL", "PROMETHEUS_URL", "OKRFLOW_ALERT_WEBHOOK")


def prometheus_processes() -> int:
    return (
        subprocess.run(
            ["pgrep", "-fc", "prometheus --config.file=.*okrflow-demo-test"], capture_output=True, text=True
        ).stdout.strip()
        or 0
    )


@pytest.fixture
def clean_env(monkeypatch):
    for name in DEMO_ENV:  # run_demo sets these; monkeypatch restores them afterwards
        monkeypatch.setenv(name, "unset-by-test")
        monkeypatch.delenv(name)


def test_demo_scores_every_source_kind_and_alerts_alice(tmp_path, clean_env):
    workdir = tmp_path / "okrflow-demo-test"
    buffer = io.StringIO()
    run_demo(workdir, runs=3, console=Console(file=buffer, width=200))
    text = buffer.getvalue()
    for line in [line for line in text.splitlines() if "run at" in line]:
        for kind in ("great_expectations 2/2", "mlflow 2/2", "prometheus 2/2", "sql 5/5"):
            assert kind in line, line
    assert "-> alice: classifier-f1 drift firing" in text
    assert "-> alice: classifier-f1 drift resolved" in text
    # the alias moves okrflow saw itself: a rollback (v2 -> v1), then a deployment back to v2
    assert "@champion moved from v2 to v1" in text and "@champion moved from v1 to v2" in text
    assert "model-deployments = 1: moves of @champion seen by okrflow since" in text
    assert "v2 -> v1 (rollback, seen" in text and "v1 -> v2 (deployment, seen" in text
    with Store.open(f"sqlite:///{workdir / 'okrflow.db'}") as store:
        runs = store.runs()
        assert len(runs) == 5  # three over simulated time, then degraded and restored
        history = [p.result for p in store.history("p95-latency")]
        assert all(r.measurement == "ok" for r in history)
        sent = AlertRepository(store.engine).outbox("sent")
        assert sent and not AlertRepository(store.engine).outbox("queued")
    assert int(prometheus_processes()) == 0, "the demo left Prometheus running"
    assert "Report: " in text and (workdir / "report.html").stat().st_size > 1_000_000  # plotly inlined
    # the demo evaluated the example with its cycle set around now (a run outside the cycle is refused), written
    # beside its world; the closing hint names that file and `okrflow -c <it> status` reads the demo's store
    copy = workdir / "okrflow.yaml"
    config = load_config(copy, default_registry())
    start, end = config.cycle_bounds()
    assert start <= datetime.now(UTC) < end
    assert f"okrflow -c {copy} status" in text and f"okrflow -c {copy} history classifier-f1" in text
    env = {k: v for k, v in os.environ.items() if k not in DEMO_ENV}
    status = subprocess.run(
        [sys.executable, "-m", "okrflow.cli", "-c", str(copy), "status", "--format", "json"],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path.parent, check=False,
    )  # fmt: skip
    assert status.returncode == 0, status.stderr
    shown = json.loads(status.stdout)
    assert shown["run"]["id"] == runs[0].id and len(shown["key_results"]) == 12
