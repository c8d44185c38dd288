"""`okrflow run` imports only what its config uses (issue 18, "Fast from the first keystroke").

A user feels the whole process, and most of a short run is imports: a run of Prometheus KRs without alert
channels or worker processes must not load MLflow, Great Expectations, pandas, Prefect, Alembic (the store is
already migrated), the alert senders and renderers, multiprocessing, or SQLAlchemy's PostgreSQL dialect (the
store is SQLite). No run, whatever its sources and alerts, imports SQLAlchemy's ORM: the store is written and
read with Core statements (~0.14 s of CPU and 7.5 MiB less per run). Checked in a real ``okrflow`` process (its
``sys.modules`` when it ends: ``tests.fixtures.modules``) against a real Prometheus and a real SQLite warehouse.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from okrflow.store import Store
from tests.e2e.okrs import AT, HEADER, write_config
from tests.fixtures.cycles import cycle_around_now
from tests.fixtures.modules import okrflow_process

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


def okrflow_run(config: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """``okrflow -c CONFIG run ARGS`` in a fresh interpreter; its result and every module it imported."""
    return okrflow_process(config.parent, "-c", str(config), "run", *args)


def orm_modules(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m == "sqlalchemy.orm" or m.startswith("sqlalchemy.orm."))


def test_a_prometheus_run_imports_no_other_source_nor_unused_alert_code(tmp_path, prometheus_server):
    store = f"sqlite:///{tmp_path / 'history.db'}"
    path = tmp_path / "okrflow.yaml"
    path.write_text(CONFIG.format(cycle=cycle_around_now(), store=store, prometheus=prometheus_server.url))
    first, _ = okrflow_run(path, "--format", "json")  # creates and migrates the store (Alembic, once)
    assert first.returncode == 0, first.stderr[-3000:]
    done, modules = okrflow_run(path, "--format", "json")
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert {kr["id"]: kr["measurement"] for kr in out["key_results"]} == {"up": "ok", "queue": "ok"}, out
    assert "okrflow.connectors.prometheus_http" in modules and "requests" in modules, "the check saw the run's imports"
    heavy = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert heavy == [], f"a Prometheus-only run imported {heavy}"
    assert "sqlalchemy.dialects.postgresql" not in modules, "a SQLite store loaded SQLAlchemy's PostgreSQL dialect"
    unused = sorted(set(UNUSED_OKRFLOW) & modules)
    assert unused == [], f"a run without alert channels or worker processes imported {unused}"
    assert orm_modules(modules) == [], "the run wrote and read the store with SQLAlchemy's ORM"


ALERTING = (
    HEADER
    + """defaults:
  alerts: {{for_runs: 1, repeat_interval: 24h, retry_backoff: 0s}}
channels:
  hook: {{type: webhook, url: "{receiver}/hook"}}
owners:
  alice: {{channels: [hook]}}
objectives:
  - id: team
    title: Team objective
    owner: alice
    key_results:
      - id: f1
        kind: increase
        baseline: 0.9
        target: 1.0
        metric: {{source: warehouse, sql: "SELECT value FROM metrics WHERE name = 'f1'"}}
      - id: latency
        kind: maintain_below
        target: 0.2
        metric: {{source: warehouse, sql: "SELECT value FROM metrics WHERE name = 'latency'"}}
"""
)
"""A SQL source and a webhook channel; ``f1`` (0.895, below its baseline) is off track, so the run fires an alert."""


def test_a_sql_run_that_alerts_imports_no_orm(tmp_path, sqlite_warehouse, http_receiver):
    store = f"sqlite:///{tmp_path / 'history.db'}"
    template = ALERTING.replace("{receiver}", http_receiver.url)
    path = write_config(tmp_path, sqlite_warehouse, store, template)
    Store.open(store).close()  # created and migrated here (Alembic: once per store, with the ORM)
    done, modules = okrflow_run(path, "--at", AT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "alerts: judged, 1 message queued" in done.stdout, done.stdout
    assert [r.path for r in http_receiver.requests] == ["/hook"], "the run sent its alert"
    assert "okrflow.connectors.sql" in modules and "okrflow.alerts.notify" in modules, "the check saw the run's imports"
    assert orm_modules(modules) == [], "the run wrote, judged and delivered with SQLAlchemy's ORM"
