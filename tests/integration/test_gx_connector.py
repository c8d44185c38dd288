"""The Great Expectations connector against real GX validations of a SQLite warehouse and CSV/Parquet files.

Figures are computed by hand from the ``tests.fixtures.gx`` data: 100 tickets with ids 1..100,
``resolution_hours`` = id except the last 5 (NULL), one ticket closed per hour from 2026-10-01.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from okrflow.connectors.base import ConnectorContext, QualityGateProvider
from okrflow.connectors.great_expectations import GreatExpectationsConnector
from okrflow.connectors.gx_catalog import CATALOG_PATH
from okrflow.connectors.registry import Registry
from okrflow.okr_model.config import Config
from okrflow.okr_model.errors import ConfigError
from okrflow.okr_model.loader import parse_config

from tests.fixtures.gx import GxWarehouse

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 10, 3, 2, tzinfo=UTC)  # 50 tickets (rows 0..49) closed before this
NOT_NULL = "expect_column_values_to_not_be_null"
BETWEEN = "expect_column_values_to_be_between"
MEAN = "expect_column_mean_to_be_between"


def config_text(warehouse: GxWarehouse, suites: str, key_results: str, extra_sources: str = "") -> str:
    """A whole config: a sql source on the fixture warehouse, a GX source with ``suites``, one objective.

    ``suites``, ``key_results`` and ``extra_sources`` are YAML written from column 0.
    """

    def indent(block: str, spaces: int) -> str:
        return textwrap.indent(textwrap.dedent(block).strip("\n") + "\n", " " * spaces) if block.strip() else ""

    return (
        "version: 1\n"
        "cycle: {name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}\n"
        "sources:\n"
        f'  warehouse: {{type: sql, url: "{warehouse.url}", retries: 0}}\n'
        + indent(extra_sources, 2)
        + "  quality:\n    type: great_expectations\n    suites:\n"
        + indent(suites, 6)
        + "objectives:\n  - id: data\n    title: Trustworthy ticket data\n    key_results:\n"
        + indent(key_results, 6)
    )


def kr(kr_id: str, metric: str, kind: str = "increase", baseline: float = 0, target: float = 100) -> str:
    return f"- {{id: {kr_id}, kind: {kind}, baseline: {baseline}, target: {target}, metric: {metric}}}\n"


def suites_on(warehouse: GxWarehouse) -> str:
    """``good`` passes 2 of 2, ``bad`` 1 of 3 (both on the table), ``csv`` is ``bad`` on the CSV file."""
    bad = (
        f"    - {NOT_NULL}: {{column: resolution_hours}}\n"
        f"    - {MEAN}: {{column: resolution_hours, min_value: 0, max_value: 10}}\n"
        f"    - {BETWEEN}: {{column: resolution_hours, min_value: 0, max_value: 720}}\n"
    )
    recent = "SELECT * FROM tickets WHERE closed_at >= :cycle_start AND closed_at < :now"
    return (
        "good:\n  data: {source: warehouse, table: tickets}\n  expectations:\n"
        f"    - {NOT_NULL}: {{column: priority}}\n"
        f"    - {BETWEEN}: {{column: resolution_hours, min_value: 0, max_value: 720}}\n"
        f"bad:\n  data: {{source: warehouse, table: tickets}}\n  expectations:\n{bad}"
        f'csv:\n  data: {{path: "{warehouse.csv}"}}\n  expectations:\n{bad}'
        f'recent:\n  data: {{source: warehouse, query: "{recent}"}}\n  expectations:\n'
        "    - expect_table_row_count_to_be_between: {min_value: 1}\n"
        "    - expect_table_columns_to_match_set: {column_set: [id, priority, resolution_hours, closed_at]}\n"
        "missing:\n  data: {source: warehouse, table: no_such_table}\n  expectations:\n"
        "    - expect_table_row_count_to_be_between: {min_value: 1}\n"
    )


METRICS = {
    "good-pct": "{source: quality, suite: good}",
    "bad-pct": "{source: quality, suite: bad}",
    "bad-nulls": "{source: quality, suite: bad, expectation: 0, result: unexpected_percent}",
    "bad-mean": "{source: quality, suite: bad, expectation: 1, result: observed_value}",
    "csv-pct": "{source: quality, suite: csv}",
    "csv-nulls": "{source: quality, suite: csv, expectation: 0, result: unexpected_percent}",
    "csv-mean": "{source: quality, suite: csv, expectation: 1, result: observed_value}",
    "recent-rows": "{source: quality, suite: recent, expectation: 0, result: observed_value}",
    "recent-columns": "{source: quality, suite: recent, expectation: 1, result: observed_value}",
    "missing-pct": "{source: quality, suite: missing}",
}


@pytest.fixture(scope="module")
def config(gx_warehouse: GxWarehouse) -> Config:
    krs = "".join(kr(kr_id, metric) for kr_id, metric in METRICS.items())
    return parse_config(config_text(gx_warehouse, suites_on(gx_warehouse), krs), resolver=Registry())


@pytest.fixture(scope="module")
def connector(config: Config):
    """One connector (= one run) shared by the module: suites run once and later tests reuse the results."""
    with GreatExpectationsConnector("quality", config.sources["quality"], ConnectorContext(config)) as conn:
        yield conn


def fetch(connector: GreatExpectationsConnector, config: Config, kr_id: str):
    return connector.fetch(config.key_result(kr_id)[1].metric, AT)


def test_percent_passed_for_a_passing_and_a_failing_suite(connector, config):
    good, bad = fetch(connector, config, "good-pct"), fetch(connector, config, "bad-pct")
    assert (good.status, good.value) == ("ok", 100.0)
    assert bad.status == "ok"
    assert bad.value == pytest.approx(100 / 3)  # only the 0..720 range holds; NULLs and the mean 48 fail
    assert bad.observed_at == AT
    assert {k: bad.lineage[k] for k in ("source", "suite", "rows")} == {
        "source": "quality",
        "suite": "bad",
        "rows": 100,
    }
    assert bad.lineage["success_percent"] == pytest.approx(100 / 3)
    assert len(bad.lineage["query_hash"]) == 12 and bad.lineage["query_hash"] != good.lineage["query_hash"]


def test_unexpected_percent_of_not_null_is_the_null_share(connector, config, gx_warehouse):
    measurement = fetch(connector, config, "bad-nulls")
    assert measurement.status == "ok"
    assert measurement.value == pytest.approx(gx_warehouse.null_percent) == 5.0


def test_observed_value_of_a_column_mean(connector, config, gx_warehouse):
    measurement = fetch(connector, config, "bad-mean")
    assert measurement.status == "ok"
    assert measurement.value == pytest.approx(gx_warehouse.mean_hours) == 48.0  # mean of 1..95


def test_csv_file_gives_the_same_figures_as_the_table(connector, config, gx_warehouse):
    assert fetch(connector, config, "csv-pct").value == pytest.approx(100 / 3)
    assert fetch(connector, config, "csv-nulls").value == pytest.approx(5.0)
    mean = fetch(connector, config, "csv-mean")
    assert mean.value == pytest.approx(48.0)
    assert mean.lineage["rows"] == 100 and str(gx_warehouse.csv) in mean.lineage["data"]


def test_query_binds_read_the_data_as_of_the_slot(connector, config):
    rows = fetch(connector, config, "recent-rows")
    assert (rows.status, rows.value, rows.lineage["rows"]) == ("ok", 50.0, 50)  # closed before 2026-10-03 02:00


def test_non_numeric_observed_value_is_no_data(connector, config):
    columns = fetch(connector, config, "recent-columns")
    assert columns.status == "no_data" and columns.value is None
    assert "not a finite number" in columns.detail and "resolution_hours" in columns.detail


def test_each_suite_runs_once_per_connector(config):
    """Many KRs and gates on three suites, fetched from several threads: three validations, not fifteen."""
    conn = GreatExpectationsConnector("quality", config.sources["quality"], ConnectorContext(config))
    metrics = [config.key_result(k)[1].metric for k in ("good-pct", "bad-pct", "bad-nulls", "bad-mean", "csv-mean")]
    with conn, ThreadPoolExecutor(max_workers=6) as pool:
        fetched = list(pool.map(lambda m: conn.fetch(m, AT), metrics * 2))
        gates = list(pool.map(lambda s: conn.check_suite(s, AT), ["good", "bad", "csv"] * 2))
    assert all(m.status == "ok" for m in fetched)
    assert [g.status for g in gates] == ["passed", "failed", "failed"] * 2
    assert conn.runs_executed == 3
    again = GreatExpectationsConnector("quality", config.sources["quality"], ConnectorContext(config))
    with again:
        assert again.fetch(metrics[0], AT).value == 100.0
        assert again.runs_executed == 1  # a new connector is a new run


def test_check_suite_passed_failed_and_error(connector):
    assert isinstance(connector, QualityGateProvider)
    passed = connector.check_suite("good", AT)
    assert passed.status == "passed" and "100 rows" in passed.detail
    failed = connector.check_suite("bad", AT)
    assert failed.status == "failed"
    assert failed.detail.startswith("2 of 3 expectations failed")
    assert f"{NOT_NULL}(column=resolution_hours) [5% unexpected]" in failed.detail
    assert f"{MEAN}(column=resolution_hours, min_value=0, max_value=10) [observed 48.0]" in failed.detail
    assert BETWEEN not in failed.detail  # it passed
    unknown = connector.check_suite("nope", AT)
    assert unknown.status == "error" and "not defined" in unknown.detail


def test_missing_table_is_an_error(connector, config):
    measurement = fetch(connector, config, "missing-pct")
    assert measurement.status == "error" and measurement.value is None
    assert "no such table: no_such_table" in measurement.detail
    gate = connector.check_suite("missing", AT)
    assert gate.status == "error" and "no such table: no_such_table" in gate.detail


def run_one(warehouse: GxWarehouse, data: str, expectation: str, extra_sources: str = "", at: datetime = AT):
    """Build a one-suite config, fetch its percent metric and its gate with a fresh connector."""
    suite = f"s:\n  data: {data}\n  expectations:\n    - {expectation}\n"
    text = config_text(warehouse, suite, kr("k", "{source: quality, suite: s}"), extra_sources)
    config = parse_config(text, resolver=Registry())
    with GreatExpectationsConnector("quality", config.sources["quality"], ConnectorContext(config)) as conn:
        return conn.fetch(config.key_result("k")[1].metric, at), conn.check_suite("s", at)


def test_unreachable_database_is_an_error_without_the_password(gx_warehouse):
    extra = 'pg: {type: sql, url: "postgresql+psycopg://okr:s3cretpw@127.0.0.1:1/warehouse", retries: 0}\n'
    measurement, gate = run_one(gx_warehouse, "{source: pg, table: tickets}", f"{NOT_NULL}: {{column: id}}", extra)
    assert measurement.status == "error" and gate.status == "error"
    assert "cannot connect" in measurement.detail and "cannot connect" in gate.detail
    assert "s3cretpw" not in measurement.detail + gate.detail + json.dumps(dict(measurement.lineage))


def test_slow_query_times_out(gx_warehouse):
    slow = (
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 100000000) "
        "SELECT count(*) AS n FROM c"
    )
    extra = f'slow: {{type: sql, url: "{gx_warehouse.url}", timeout_s: 0.3, retries: 0}}\n'
    measurement, _ = run_one(
        gx_warehouse, f'{{source: slow, query: "{slow}"}}', "expect_table_row_count_to_equal: {value: 1}", extra
    )
    assert measurement.status == "error" and "timed out after 0.3 s" in measurement.detail


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{path: missing/tickets.csv}", "no such file"),
        ("{path: broken.parquet}", "reading the file broken.parquet failed"),
        ('{source: warehouse, query: "SELECT * FROM tickets WHERE id < 0"}', "has no rows to validate"),
    ],
)
def test_bad_files_and_empty_data_are_errors(gx_warehouse, tmp_path, monkeypatch, data, message):
    monkeypatch.chdir(tmp_path)  # relative paths are relative to the working directory
    (tmp_path / "broken.parquet").write_bytes(b"not a parquet file")
    measurement, gate = run_one(gx_warehouse, data, f"{NOT_NULL}: {{column: id}}")
    assert measurement.status == "error" and gate.status == "error"
    assert message in measurement.detail and message in gate.detail


def test_relative_csv_path_and_expectation_that_raises(gx_warehouse, tmp_path, monkeypatch):
    monkeypatch.chdir(gx_warehouse.csv.parent)
    measurement, gate = run_one(gx_warehouse, "{path: tickets.csv}", f"{NOT_NULL}: {{column: no_such_column}}")
    # the suite ran, but its one expectation raised: a broken check (issue 12), not a failed gate on bad data
    assert (measurement.status, measurement.value) == ("error", None) and "no_such_column" in measurement.detail
    assert gate.status == "error" and "raised" in gate.detail and "no_such_column" in gate.detail


# ---- config-time checks: okrflow validate, without importing great_expectations ----

ISSUES = [
    (
        "- expect_column_values_to_be_betwen: {column: resolution_hours, min_value: 0}",
        "{source: quality, suite: s}",
        "sources.quality.suites.s.expectations[0].expect_column_values_to_be_betwen",
        f"did you mean '{BETWEEN}'",
    ),
    (f"- {NOT_NULL}: {{colum: id}}", "{source: quality, suite: s}", f"expectations[0].{NOT_NULL}.colum", "'column'"),
    (
        f"- {BETWEEN}: {{min_value: 0}}",
        "{source: quality, suite: s}",
        f"expectations[0].{BETWEEN}",
        "needs the argument(s) column",
    ),
    (f"- {BETWEEN}: {{column: id, max_value: lots}}", "{source: quality, suite: s}", f"{BETWEEN}.max_value", "must be"),
    (f"- {NOT_NULL}: {{column: id, mostly: 2}}", "{source: quality, suite: s}", f"{NOT_NULL}.mostly", "at most 1"),
    (
        f"- {NOT_NULL}: {{column: id}}",
        "{source: quality, suite: tickets}",
        "key_results[0].metric.suite",
        "unknown suite 'tickets'",
    ),
    (
        f"- {NOT_NULL}: {{column: id}}",
        "{source: quality, suite: s, expectation: 1, result: unexpected_percent}",
        "key_results[0].metric.expectation",
        "index runs from 0 to 0",
    ),
    (
        f"- {MEAN}: {{column: id}}",
        "{source: quality, suite: s, expectation: 0, result: unexpected_percent}",
        "metric.result",
        "reports no unexpected_percent",
    ),
    (
        f"- {NOT_NULL}: {{column: id}}",
        "{source: quality, suite: s, result: observed_value}",
        "key_results[0].metric",
        "add expectation: N",
    ),
    ("- just: [a, list]", "{source: quality, suite: s}", "expectations[0]", "mapping"),
]


@pytest.mark.parametrize(("expectation", "metric", "path", "message"), ISSUES)
def test_validate_reports_suite_mistakes_with_their_key_path(gx_warehouse, expectation, metric, path, message):
    suite = f"s:\n  data: {{source: warehouse, table: tickets}}\n  expectations:\n    {expectation}\n"
    with pytest.raises(ConfigError) as caught:
        parse_config(config_text(gx_warehouse, suite, kr("k", metric)), resolver=Registry())
    matching = [i for i in caught.value.issues if path in i.path and message in i.message]
    assert matching, str(caught.value)
    assert matching[0].line is not None


def test_validate_checks_data_sources_and_gate_suites(gx_warehouse):
    suite = f"s:\n  data: {{source: prom, table: tickets}}\n  expectations:\n    - {NOT_NULL}: {{column: id}}\n"
    gate = "- {id: k, kind: increase, baseline: 0, target: 1, metric: {source: warehouse, sql: 'SELECT 1'}, quality_gate: {source: quality, suite: z}}\n"
    extra = 'prom: {type: prometheus, url: "http://127.0.0.1:9"}\n'
    with pytest.raises(ConfigError) as caught:
        parse_config(config_text(gx_warehouse, suite, gate, extra), resolver=Registry())
    paths = {i.path: i.message for i in caught.value.issues}
    assert "not a sql source" in paths["sources.quality.suites.s.data.source"]
    assert "unknown suite 'z'" in paths["objectives[0].key_results[0].quality_gate.suite"]


def test_validate_does_not_import_great_expectations_or_pandas(gx_warehouse):
    """``okrflow validate`` stays fast: parsing a GX config imports neither library."""
    text = config_text(gx_warehouse, suites_on(gx_warehouse), "".join(kr(k, m) for k, m in METRICS.items()))
    code = (
        "import sys; from okrflow.okr_model.loader import parse_config; from okrflow.connectors.registry import Registry; "
        f"parse_config({text!r}, resolver=Registry()); "
        "print(sorted(m for m in ('great_expectations', 'pandas') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "[]", out.stderr


def test_shipped_catalog_matches_the_installed_great_expectations():
    """Regenerate with ``python scripts/gen_gx_catalog.py`` after a GX upgrade."""
    spec = importlib.util.spec_from_file_location("gen_gx_catalog", ROOT / "scripts" / "gen_gx_catalog.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import great_expectations.expectations.registry as registry

    built = module.build_catalog()
    assert CATALOG_PATH.read_text(encoding="utf-8") == module.render(built)
    assert set(built["expectations"]) == set(registry.list_registered_expectation_implementations())
    between = built["expectations"][BETWEEN]["kwargs"]
    assert between["column"]["required"] is True and "min_value" in between and "batch_id" not in between
