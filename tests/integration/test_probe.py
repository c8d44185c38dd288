"""``okrflow probe KR`` and the binding checks of ``okrflow validate --online`` (issue 16), against a real MLflow
store, a real Prometheus scraping a real exporter, a real SQLite warehouse and real Great Expectations.

What each source holds is known from the fixtures: MLflow ``ticket-classifier`` has @challenger -> v1 and
@champion -> v2, whose runs logged ``f1``; the exporter's latency histogram has buckets 0.05 .. 1 s and
``model_queue_depth`` two series (instance a = 3, b = 5); the GX warehouse's ``tickets`` has id, priority,
resolution_hours, closed_at.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from okrflow.cli import app
from tests.fixtures.gx import GxWarehouse, write_warehouse
from tests.fixtures.mlflow import SeededRegistry
from tests.fixtures.prometheus import PrometheusServer
from tests.integration.test_gx_project import build_project

P95_MS = "histogram_quantile(0.95, sum(rate(request_latency_seconds_bucket[1m])) by (le)) * 1000"


def write_config(tmp_path: Path, mlflow: SeededRegistry, prom: PrometheusServer, gx: GxWarehouse, gx_dir: Path) -> Path:
    text = f"""
version: 1
cycle: {{name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}}
sources:
  tracking: {{type: mlflow, tracking_uri: "{mlflow.tracking_uri}", retries: 0}}
  metrics: {{type: prometheus, url: "{prom.url}", retries: 0}}
  warehouse: {{type: sql, url: "sqlite:///{gx.db}", retries: 0}}
  quality:
    type: great_expectations
    context_root_dir: "{gx_dir}"
    suites:
      typo:
        data: {{source: warehouse, table: tickets}}
        expectations:
          - expect_column_values_to_not_be_null: {{column: priority}}
          - expect_column_values_to_be_between: {{column: resolution_hourz, min_value: 0}}
      team: {{suite: tickets_quality}}
objectives:
  - id: o
    title: Probe every kind
    key_results:
      - {{id: f1, kind: increase, baseline: 0.8, target: 0.9, metric: {{source: tracking, model: ticket-classifier, alias: champion, name: f1}}}}
      - {{id: f1-typo, kind: increase, baseline: 0.8, target: 0.9, metric: {{source: tracking, model: ticket-classifier, alias: champion, name: f1_score}}}}
      - {{id: p95-fast, kind: decrease, baseline: 500, target: 20, metric: {{source: metrics, query: "{P95_MS}"}}}}
      - {{id: p95-ok, kind: decrease, baseline: 500, target: 300, metric: {{source: metrics, query: "{P95_MS}"}}}}
      - {{id: queues, kind: decrease, baseline: 10, target: 1, metric: {{source: metrics, query: "model_queue_depth"}}}}
      - {{id: hours, kind: decrease, baseline: 100, target: 10, metric: {{source: warehouse, sql: "SELECT avg(resolution_hours) AS mean_hours, count(*) AS n FROM tickets"}}}}
      - {{id: mean-hours, kind: decrease, baseline: 100, target: 10, metric: {{source: warehouse, sql: "SELECT avg(resolution_hours) AS mean_hours FROM tickets"}}}}
      - {{id: valid, kind: increase, baseline: 0, target: 100, metric: {{source: quality, suite: typo}}}}
      - {{id: team-valid, kind: increase, baseline: 0, target: 100, metric: {{source: quality, suite: team}}}}
"""
    path = tmp_path / "okrflow.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def config_path(tmp_path, mlflow_store, prometheus_server, gx_warehouse) -> Path:
    prometheus_server.wait_for("sum(rate(request_latency_seconds_bucket[1m])) by (le)")
    warehouse = write_warehouse(tmp_path / "team-data", nulls=5)
    gx_dir = build_project(tmp_path / "team", warehouse)
    return write_config(tmp_path, mlflow_store, prometheus_server, gx_warehouse, gx_dir)


def probe(config_path: Path, kr_id: str):
    return CliRunner().invoke(app, ["-c", str(config_path), "probe", kr_id])


def test_mlflow_probe_lists_aliases_versions_and_the_runs_metric_names(config_path, mlflow_store):
    result = probe(config_path, "f1")
    assert result.exit_code == 0, result.output
    assert "@champion -> v2" in result.output and "@challenger -> v1" in result.output
    assert f"v2: run {mlflow_store.run_ids['champion']} (@champion)" in result.output
    assert f"metrics of run {mlflow_store.run_ids['champion']}: f1" in result.output
    assert "value as of" in result.output and f"{mlflow_store.final_f1('champion'):.6g}" in result.output

    typo = probe(config_path, "f1-typo")
    assert typo.exit_code == 1, typo.output
    assert "error: run" in typo.output and "has no metric 'f1_score'; it has: f1" in typo.output


def test_prometheus_probe_lists_series_and_warns_of_a_target_inside_the_lowest_bucket(config_path):
    fast = probe(config_path, "p95-fast")
    assert fast.exit_code == 0, fast.output
    assert "histogram buckets (le): 0.05, 0.1, 0.2, 0.3, 0.5, 1, +Inf" in fast.output
    assert "warning: the target 20 lies inside the lowest histogram bucket (le=0.05, 50 as the query scales it)" in (
        fast.output
    )
    ok = probe(config_path, "p95-ok")
    assert ok.exit_code == 0 and "warning" not in ok.output, ok.output

    queues = probe(config_path, "queues")
    assert queues.exit_code == 1, queues.output  # two series are not one number: the binding cannot be read
    assert 'instance="a"' in queues.output and 'instance="b"' in queues.output
    assert "series the query returns" in queues.output


def test_sql_probe_shows_the_columns_and_the_first_row(config_path):
    two = probe(config_path, "hours")
    assert two.exit_code == 1, two.output
    assert "columns: mean_hours, n" in two.output
    assert "first row: mean_hours=48.0, n=100" in two.output
    assert "error: query returned 2 columns (mean_hours, n)" in two.output
    one = probe(config_path, "mean-hours")
    assert one.exit_code == 0, one.output
    assert "value as of" in one.output and ": 48" in one.output


def test_gx_probe_shows_expectations_and_the_columns_they_name(config_path):
    typo = probe(config_path, "valid")
    assert typo.exit_code == 1, typo.output
    assert "[1] expect_column_values_to_be_between(column=resolution_hourz, min_value=0)" in typo.output
    assert "columns the expectations name: priority, resolution_hourz" in typo.output
    assert "columns of the data: id, priority, resolution_hours, closed_at" in typo.output
    assert "error: the data has no column(s) resolution_hourz" in typo.output

    team = probe(config_path, "team-valid")
    assert team.exit_code == 0, team.output
    assert "checkpoints: nightly" in team.output and "suites: tickets_quality" in team.output
    assert "columns the expectations name: resolution_hours" in team.output
    assert "value as of" in team.output and ": 100" in team.output


def test_probe_of_an_unknown_kr_names_the_known_ones(config_path):
    result = probe(config_path, "nope")
    assert result.exit_code == 2 and "unknown key result 'nope'" in result.output


def test_validate_online_probes_every_binding(config_path):
    result = CliRunner().invoke(app, ["-c", str(config_path), "validate", "--online"])
    assert result.exit_code == 1, result.output
    assert "source 'tracking': key result 'f1-typo': " in result.output
    assert "has no metric 'f1_score'; it has: f1" in result.output
    assert "warning: source 'metrics': key result 'p95-fast': the target 20 lies inside the lowest" in result.output
    assert "key result 'p95-ok'" not in result.output
    assert "source 'warehouse': key result 'hours'" in result.output
    assert "resolution_hourz" in result.output
