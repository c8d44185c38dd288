"""One Prefect run over a config that mixes all four source kinds, against real servers; then the stored
scores and gates are read back through ``okrflow status``."""

from __future__ import annotations

import json
import math
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from okrflow.cli import app
from tests.fixtures.polling import wait_for

P95 = "histogram_quantile(0.95, sum(rate(request_latency_seconds_bucket[1m])) by (le))"

CONFIG = """
version: 1
cycle: {{name: now, start: {start}, end: {end}}}
store: sqlite:///{store}
sources:
  warehouse: {{type: sql, url: "{warehouse}"}}
  prom: {{type: prometheus, url: "{prometheus}", timeout_s: 5}}
  tracking: {{type: mlflow, tracking_uri: "{tracking}", production_aliases: [champion]}}
  quality:
    type: great_expectations
    suites:
      tickets:
        data: {{source: warehouse, table: tickets}}
        expectations:
          - expect_column_values_to_not_be_null: {{column: resolution_hours}}
          - expect_column_values_to_be_between: {{column: resolution_hours, min_value: 0, max_value: 720}}
objectives:
  - id: platform
    title: Reliable AI platform
    key_results:
      - id: champion-f1
        kind: increase
        baseline: 0.79
        target: [0.87, 0.92]
        metric: {{source: tracking, model: ticket-classifier, alias: champion, name: f1}}
        requires_production: true
        quality_gate: {{source: quality, suite: tickets}}
      - id: challenger-f1
        kind: increase
        baseline: 0.79
        target: 0.84
        metric: {{source: tracking, model: ticket-classifier, alias: challenger, name: f1}}
        requires_production: true
      - id: p95-latency
        kind: maintain_below
        target: 0.5
        unit: s
        metric: {{source: prom, query: 'histogram_quantile(0.95, sum(rate(request_latency_seconds_bucket[1m])) by (le))'}}
      - id: uptime
        kind: maintain_above
        target: 0.99
        metric: {{source: prom, query: 'avg(avg_over_time(model_serving_up[1m]))'}}
      - id: data-valid
        kind: increase
        baseline: 0
        target: 100
        metric: {{source: quality, suite: tickets}}
      - id: missing-data
        kind: decrease
        baseline: 10
        target: 2
        metric: {{source: quality, suite: tickets, expectation: 0, result: unexpected_percent}}
      - id: tickets-closed
        kind: milestone
        target: 200
        metric: {{source: warehouse, sql: "SELECT count(*) FROM tickets"}}
      - id: latency-several-series
        kind: maintain_below
        target: 10
        metric: {{source: prom, query: 'model_queue_depth'}}
"""

EXPECTED = {
    # id: (score, gates, measurement)
    "champion-f1": (0.2, ["quality_gate"], "ok"),  # F1 0.88 -> 0.76, in production, but the suite fails: capped at 0.2
    "challenger-f1": (0.5, ["requires_production"], "ok"),  # F1 0.84 hits its target, not in production: 0.5
    "p95-latency": (1.0, [], "ok"),  # P95 about 0.4 s held under 0.5 s
    "uptime": (1.0, [], "ok"),
    "data-valid": (0.5, [], "ok"),  # 1 of 2 expectations passed
    "missing-data": (0.625, [], "ok"),  # 5% NULL: (5 - 10) / (2 - 10)
    "tickets-closed": (0.5, [], "ok"),  # 100 of 200
    "latency-several-series": (None, [], "error"),
}


def finite_at_this_second(prometheus_url: str, promql: str) -> bool:
    """``promql`` evaluated at the current whole second has a finite result: a run whose slot is now (slots are
    truncated to the second) sees the two scrapes a ``rate`` needs, however fresh the server is."""
    query = urllib.parse.urlencode({"query": promql, "time": int(time.time())})
    with urllib.request.urlopen(f"{prometheus_url}/api/v1/query?{query}", timeout=5) as response:
        result = json.load(response)["data"]["result"]
    return bool(result) and all(math.isfinite(float(item["value"][1])) for item in result)


@pytest.mark.slow
@pytest.mark.prefect
def test_flow_mixing_all_four_sources(tmp_path, prefect_harness, prometheus_server, mlflow_store, gx_warehouse_factory):
    from okrflow.flows.evaluate import evaluate_flow

    wait_for(lambda: finite_at_this_second(prometheus_server.url, P95), 30, 0.2, f"{P95} at this second", (OSError,))
    today = datetime.now(UTC).date()
    warehouse = gx_warehouse_factory(5)
    config = tmp_path / "okrflow.yaml"
    config.write_text(
        CONFIG.format(
            start=today - timedelta(days=30),
            end=today + timedelta(days=60),
            store=tmp_path / "history.db",
            warehouse=warehouse.url,
            prometheus=prometheus_server.url,
            tracking=mlflow_store.tracking_uri,
        )
    )
    record = evaluate_flow(str(config))  # no --at: the slot is now
    assert record.status == "partial" and "latency-several-series" in record.detail

    result = CliRunner().invoke(app, ["-c", str(config), "status", "--format", "json"])
    assert result.exit_code == 0, result.output
    krs = {kr["id"]: kr for kr in json.loads(result.stdout)["key_results"]}
    for kr_id, (score, gates, measurement) in EXPECTED.items():
        assert krs[kr_id]["measurement"] == measurement, (kr_id, krs[kr_id]["detail"])
        assert krs[kr_id]["score"] == (pytest.approx(score) if score is not None else None), kr_id
        assert krs[kr_id]["gates"] == gates, kr_id
    assert krs["champion-f1"]["computed_score"] == pytest.approx(0.2)
    assert krs["champion-f1"]["trusted"] is False
    assert "quality gate" in krs["champion-f1"]["detail"]
    assert 0.3 < krs["p95-latency"]["value"] <= 0.5
    assert "2 series" in krs["latency-several-series"]["detail"]
