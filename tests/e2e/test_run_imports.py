"""`okrflow run` imports only what its config uses (issue 18, "Fast from the first keystroke").

A user feels the whole process, and most of a short run is imports: a run of Prometheus KRs without alert
channels or worker processes must not load MLflow, Great Expectations, pandas, Prefect, Alembic (the store is
already migrated), the alert senders and renderers, multiprocessing, or SQLAlchemy's PostgreSQL dialect (the
store is SQLite). Checked in a real ``okrflow`` process (``python -X importtime`` lists every module it loaded)
against a real Prometheus.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.fixtures.cycles import cycle_around_now

CONFIG = """
version: 1
cycle: {cycle}
store: {store}
sources:
  prom: {{type: prometheus, url: "{prometheus}", timeout_s: 5}}
objectives:
  - id: serving
    title: Serving stays up
    key_results:
      - id: up
        kind: maintain_above
        target: 0.9
        metric: {{source: prom, query: 'max(model_serving_up)'}}
      - id: queue
        kind: maintain_below
        target: 10
        metric: {{source: prom, query: 'max(model_queue_depth)'}}
"""

HEAVY = ("mlflow", "great_expectations", "pandas", "prefect", "alembic", "httpx", "multiprocessing")
"""Packages a Prometheus-only run without alert channels or worker processes has no use for."""
UNUSED_OKRFLOW = (
    "okrflow.alerts.channels",  # senders: only when a queued message is due
    "okrflow.alerts.alertmanager",  # only with an Alertmanager channel
    "okrflow.alerts.compose",  # an alert's wording: only when an alert moves
    "okrflow.alerts.render",
    "okrflow.flows.workers",  # only with fetch: {processes: N}
    "okrflow.connectors.mlflow",
    "okrflow.connectors.great_expectations",
    "okrflow.connectors.sql",
)


def okrflow_run(config: str, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """``okrflow -c CONFIG run ARGS`` in a fresh interpreter; its result and every module it imported."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "OKRFLOW_STORE_URL")}
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "okrflow.cli", "-c", config, "run", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    modules = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    return done, modules


def test_a_prometheus_run_imports_no_other_source_nor_unused_alert_code(tmp_path, prometheus_server):
    store = f"sqlite:///{tmp_path / 'history.db'}"
    path = tmp_path / "okrflow.yaml"
    path.write_text(CONFIG.format(cycle=cycle_around_now(), store=store, prometheus=prometheus_server.url))
    first, _ = okrflow_run(str(path), "--format", "json")  # creates and migrates the store (Alembic, once)
    assert first.returncode == 0, first.stderr[-3000:]
    done, modules = okrflow_run(str(path), "--format", "json")
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert {kr["id"]: kr["measurement"] for kr in out["key_results"]} == {"up": "ok", "queue": "ok"}, out
    assert "okrflow.connectors.prometheus_http" in modules and "requests" in modules, "the check saw the run's imports"
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == [], f"a Prometheus-only run imported {heavy}"
    assert "sqlalchemy.dialects.postgresql" not in modules, "a SQLite store loaded SQLAlchemy's PostgreSQL dialect"
    unused = sorted(set(UNUSED_OKRFLOW) & modules)
    assert unused == [], f"a run without alert channels or worker processes imported {unused}"
