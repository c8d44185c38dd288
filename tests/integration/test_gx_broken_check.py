"""A Great Expectations suite that names a column its data does not have is a broken check, not bad data
(issue 12): the gate and the suite's KRs report ``error`` naming the column, never a failed gate's 0.2 cap.
Real GX validations of the ``tests.fixtures.gx`` SQLite warehouse."""

from __future__ import annotations

from datetime import UTC, datetime

from okrflow.connectors.base import ConnectorContext
from okrflow.connectors.great_expectations import GreatExpectationsConnector
from okrflow.connectors.registry import Registry
from okrflow.flows.pipeline import evaluate
from okrflow.okr_model.loader import parse_config

from tests.fixtures.gx import GxWarehouse
from tests.integration.test_gx_connector import config_text

AT = datetime(2026, 10, 3, 2, tzinfo=UTC)
SUITES = """
typo:
  data: {source: warehouse, table: tickets}
  expectations:
    - expect_column_values_to_not_be_null: {column: priority}
    - expect_column_values_to_not_be_null: {column: resolution_hourz}
"""
KRS = """
- id: hours
  kind: decrease
  baseline: 100
  target: 10
  metric: {source: warehouse, sql: "SELECT avg(resolution_hours) FROM tickets"}
  quality_gate: {source: quality, suite: typo}
- id: valid
  kind: increase
  baseline: 0
  target: 100
  metric: {source: quality, suite: typo}
"""


def load(warehouse: GxWarehouse):
    return parse_config(config_text(warehouse, SUITES, KRS), resolver=Registry())


def test_a_missing_column_is_an_error_naming_it_not_a_failed_gate(gx_warehouse: GxWarehouse):
    config = load(gx_warehouse)
    with GreatExpectationsConnector("quality", config.sources["quality"], ConnectorContext(config)) as gx:
        gate = gx.check_suite("typo", AT)
        valid = gx.fetch(config.key_result("valid")[1].metric, AT)
    assert gate.status == "error", gate
    assert "resolution_hourz" in gate.detail and "broken check" in gate.detail
    assert valid.status == "error" and "resolution_hourz" in valid.detail, valid


def test_the_gated_kr_is_an_error_not_capped_at_02(gx_warehouse: GxWarehouse):
    record = evaluate(load(gx_warehouse), None, AT)
    hours = next(r for r in record.key_results if r.kr_id == "hours")
    assert (hours.measurement, hours.score, hours.gates) == ("error", None, ())
    assert "resolution_hourz" in hours.detail


def test_validate_online_catches_the_missing_column(gx_warehouse: GxWarehouse, tmp_path):
    from typer.testing import CliRunner

    from okrflow.cli import app

    path = tmp_path / "okrflow.yaml"
    path.write_text(config_text(gx_warehouse, SUITES, KRS))
    offline = CliRunner().invoke(app, ["-c", str(path), "validate"])
    assert offline.exit_code == 0, offline.output  # the config itself is well formed
    online = CliRunner().invoke(app, ["-c", str(path), "validate", "--online"])
    assert online.exit_code == 1, online.output
    assert "error: source 'quality': suite 'typo' is a broken check, not bad data" in online.stderr
    assert "resolution_hourz" in online.stderr
