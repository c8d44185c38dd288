"""The exporter serves what the store holds, and a real Prometheus scraping it stores the same numbers.

A small SQLite warehouse feeds three KRs (a band target, a point target, one with no data); ``evaluate``
writes runs to a SQLite store; ``start_exporter`` serves them; Debian's ``prometheus`` scrapes every second.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from okrflow.connectors.registry import Registry
from okrflow.flows.pipeline import evaluate
from okrflow.okr_model.config import Config
from okrflow.okr_model.loader import parse_config
from prometheus_client.parser import text_string_to_metric_families

from okrflow.localprom import PROMETHEUS_MISSING, LocalPrometheus, free_port, prometheus_binary
from okrflow.report.exporter import METRIC_NAMES, ExporterError, ExporterServer, start_exporter
from okrflow.store import StatusSnapshot, Store
from tests.fixtures import unavailable

FIRST, MIDDLE, SECOND, THIRD = (datetime(2026, 11, day, 12, tzinfo=UTC) for day in (1, 8, 15, 20))
DASHBOARD = Path(__file__).resolve().parents[2] / "config" / "grafana" / "okrflow.json"


def make_config(warehouse: Path) -> Config:
    return parse_config(config_text(warehouse), resolver=Registry())


def config_text(warehouse: Path) -> str:
    query = "SELECT value FROM metrics WHERE name = '{}'"
    return textwrap.dedent(
        f"""
            version: 1
            cycle: {{name: Q4, start: 2026-10-01, end: 2026-12-31}}
            sources:
              warehouse: {{type: sql, url: "sqlite:///{warehouse}"}}
            objectives:
              - {{id: company, title: Company, owner: exec}}
              - id: support
                parent: company
                team: support
                title: Support
                owner: support-lead
                key_results:
                  - id: f1
                    kind: increase
                    baseline: 0.79
                    target: [0.87, 0.92]
                    track: aspirational
                    owner: alice
                    metric: {{source: warehouse, sql: "{query.format("f1")}"}}
                  - {{id: hours, kind: decrease, baseline: 4, target: 2, metric: {{source: warehouse, sql: "{query.format("hours")}"}}}}
              - id: support-ai
                parent: support
                title: Support AI
                owner: bot-team
                key_results:
                  - {{id: missing, kind: increase, baseline: 0, target: 10, metric: {{source: warehouse, sql: "{query.format("missing")}"}}}}
            """
    )


def set_metrics(warehouse: Path, **values: float) -> None:
    engine = sa.create_engine(f"sqlite:///{warehouse}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS metrics (name TEXT PRIMARY KEY, value REAL)")
        for name, value in values.items():
            conn.exec_driver_sql("INSERT OR REPLACE INTO metrics VALUES (?, ?)", (name, value))
    engine.dispose()


@dataclass
class World:
    config: Config
    warehouse: Path
    store_url: str
    exporter: ExporterServer = field(init=False)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.exporter.port}"

    def status(self) -> StatusSnapshot:
        with Store.open(self.store_url) as store:
            snapshot = store.status()
        assert snapshot is not None
        return snapshot

    def evaluate(self, at: datetime) -> None:
        with Store.open(self.store_url) as store:
            evaluate(self.config, store, at, alerts=False)


def make_world(workdir: Path) -> Iterator[World]:
    workdir.mkdir(parents=True, exist_ok=True)
    warehouse = workdir / "warehouse.db"
    set_metrics(warehouse, f1=0.83, hours=3.5)
    config = make_config(warehouse)
    world = World(config, warehouse, f"sqlite:///{workdir / 'history.db'}")
    world.evaluate(FIRST)
    set_metrics(warehouse, f1=0.85, hours=3.0)
    world.evaluate(MIDDLE)  # three scored runs: the forecast needs them
    set_metrics(warehouse, f1=0.88, hours=2.5)
    world.evaluate(SECOND)
    with start_exporter(config, world.store_url, port=0) as exporter:
        world.exporter = exporter
        yield world


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    yield from make_world(tmp_path_factory.mktemp("exporter"))


@pytest.fixture(scope="module")
def changing(tmp_path_factory) -> Iterator[World]:
    """A second store and exporter, for the test that writes a new run."""
    yield from make_world(tmp_path_factory.mktemp("exporter-changing"))


@pytest.fixture(scope="module")
def prometheus(world: World, changing: World, tmp_path_factory) -> Iterator[LocalPrometheus]:
    if prometheus_binary() is None:
        unavailable(PROMETHEUS_MISSING)
    with LocalPrometheus(tmp_path_factory.mktemp("prometheus"), [world.target, changing.target]) as prom:
        prom.wait_for(f'okrflow_key_result_score{{instance="{changing.target}"}}')
        prom.wait_for(f'okrflow_key_result_score{{instance="{world.target}"}}')
        yield prom


def scrape(url: str) -> dict[str, dict[tuple, float]]:
    """``/metrics`` as {metric name: {sorted label items: value}}."""
    response = httpx.get(url, timeout=5)
    assert response.status_code == 200, response.text
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def kr_labels(kr: str, objective: str, team: str, owner: str, **extra: str) -> tuple:
    return tuple(sorted({"key_result": kr, "objective": objective, "team": team, "owner": owner, **extra}.items()))


def by_kr(series: dict[tuple, float]) -> dict[str, float]:
    return {dict(labels)["key_result"]: value for labels, value in series.items()}


def query(prom: LocalPrometheus, promql: str) -> dict[str, float]:
    body = httpx.get(f"{prom.url}/api/v1/query", params={"query": promql}, timeout=5).json()
    assert body["status"] == "success", body
    return {item["metric"].get("key_result", ""): float(item["value"][1]) for item in body["data"]["result"]}


def test_metrics_equal_the_stores_latest_run(world: World) -> None:
    snapshot = world.status()
    assert snapshot.run.slot == SECOND
    results = {r.kr_id: r for r in snapshot.key_results}
    assert results["missing"].score is None and results["missing"].measurement == "no_data"
    samples = scrape(world.exporter.url)

    # every declared gauge is served (and nothing undeclared); no KR here reads an MLflow model version
    assert set(samples) == METRIC_NAMES - {"okrflow_key_result_model_info"}
    scores = samples["okrflow_key_result_score"]
    assert scores == {
        kr_labels("f1", "support", "support", "alice"): results["f1"].score,
        kr_labels("hours", "support", "support", "support-lead"): results["hours"].score,
    }  # team is inherited from the parent objective; owner falls back to the objective's
    assert results["hours"].score == pytest.approx(0.75)  # 4 -> 2, measured 2.5
    assert by_kr(samples["okrflow_key_result_value"]) == {"f1": 0.88, "hours": 2.5}
    assert "missing" not in by_kr(scores)  # no data exports no sample, never a 0
    assert samples["okrflow_key_result_target"] == {
        kr_labels("f1", "support", "support", "alice", bound="low"): 0.87,
        kr_labels("f1", "support", "support", "alice", bound="high"): 0.92,
        kr_labels("hours", "support", "support", "support-lead", bound="target"): 2.0,
        kr_labels("missing", "support-ai", "support", "bot-team", bound="target"): 10.0,
    }
    status = [(dict(labels), value) for labels, value in samples["okrflow_key_result_status"].items()]
    for kr_id, result in results.items():
        states = {labels["status"]: value for labels, value in status if labels["key_result"] == kr_id}
        assert states == {s: float(s == result.status) for s in ("on_track", "at_risk", "off_track", "no_data")}
    measured = {
        dict(labels)["key_result"]: dict(labels)["measurement"]
        for labels, value in samples["okrflow_key_result_measurement"].items()
        if value == 1
    }
    assert measured == {"f1": "ok", "hours": "ok", "missing": "no_data"}
    forecasts = samples["okrflow_key_result_forecast"]
    f1_forecast = {
        dict(labels)["bound"]: value for labels, value in forecasts.items() if dict(labels)["key_result"] == "f1"
    }
    assert f1_forecast == {bound: results["f1"].forecast[bound] for bound in ("score", "low", "high")}
    objectives = {dict(labels)["objective"]: value for labels, value in samples["okrflow_objective_score"].items()}
    assert objectives == {o.objective_id: o.score for o in snapshot.objectives if o.score is not None}
    for gauge, name in (("okrflow_objective_key_results_scored", "scored"), ("okrflow_objective_key_results", "of")):
        counts = {dict(labels)["objective"]: value for labels, value in samples[gauge].items()}
        assert counts == {o.objective_id: getattr(o, name) for o in snapshot.objectives}
    assert {o.objective_id: (o.scored, o.of) for o in snapshot.objectives}["support-ai"] == (0, 1)  # "missing"
    assert samples["okrflow_run_timestamp_seconds"] == {(("deployment", "default"),): SECOND.timestamp()}
    assert samples["okrflow_store_up"] == {(): 1.0}


def test_prometheus_scraping_the_exporter_stores_the_same_values(world: World, prometheus: LocalPrometheus) -> None:
    snapshot = world.status()
    instance = f'instance="{world.target}"'
    scores = query(prometheus, f"okrflow_key_result_score{{{instance}}}")
    assert scores == {r.kr_id: r.score for r in snapshot.key_results if r.score is not None}
    assert query(prometheus, f'okrflow_key_result_score{{{instance}, key_result="f1"}}') == {"f1": scores["f1"]}
    assert query(prometheus, f'okrflow_key_result_score{{{instance}, key_result="missing"}}') == {}
    targets = query(prometheus, f'okrflow_key_result_target{{{instance}, key_result="f1", bound="high"}}')
    assert targets == {"f1": 0.92}
    age = query(prometheus, f"time() - okrflow_run_timestamp_seconds{{{instance}}}")[""]
    assert age == pytest.approx(time.time() - SECOND.timestamp(), abs=120)


def test_a_new_run_shows_up_on_the_next_scrape(changing: World, prometheus: LocalPrometheus) -> None:
    before = by_kr(scrape(changing.exporter.url)["okrflow_key_result_value"])
    assert before == {"f1": 0.88, "hours": 2.5}
    set_metrics(changing.warehouse, f1=0.91, missing=4.0)
    changing.evaluate(THIRD)

    samples = scrape(changing.exporter.url)  # the very next scrape, no cache in between
    assert by_kr(samples["okrflow_key_result_value"]) == {"f1": 0.91, "hours": 2.5, "missing": 4.0}
    new_scores = {r.kr_id: r.score for r in changing.status().key_results}
    assert by_kr(samples["okrflow_key_result_score"]) == new_scores
    assert new_scores["missing"] == pytest.approx(0.4)
    assert samples["okrflow_run_timestamp_seconds"] == {(("deployment", "default"),): THIRD.timestamp()}

    instance = f'instance="{changing.target}"'
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # Prometheus scrapes every second
        if query(prometheus, f"okrflow_key_result_score{{{instance}}}") == new_scores:
            break
        time.sleep(0.2)
    assert query(prometheus, f"okrflow_key_result_score{{{instance}}}") == new_scores


def test_every_dashboard_query_runs_on_prometheus(world: World, prometheus: LocalPrometheus) -> None:
    """Each PromQL of the Grafana dashboard parses and, with variables set to match all, returns data."""
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [t["expr"] for panel in panels(dashboard) for t in panel.get("targets", [])]
    expressions += [v["query"]["query"] if isinstance(v["query"], dict) else v["query"] for v in variables(dashboard)]
    assert len(expressions) >= 8
    for expr in expressions:
        promql = re.sub(r"\$\{?__\w+\}?", "5m", expr)  # $__rate_interval and friends
        promql = re.sub(r"\$\{?\w+(?::\w+)?\}?", ".*", promql)  # template variables: match everything
        label_values = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", promql.strip())
        if label_values:  # Grafana's variable query: the series selector must return series
            selector, label = label_values.groups()
            body = httpx.get(f"{prometheus.url}/api/v1/series", params={"match[]": selector}, timeout=5).json()
            assert body["status"] == "success" and body["data"], (expr, body)
            assert any(label in series for series in body["data"]), (expr, label)
            continue
        body = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": promql}, timeout=5).json()
        assert body["status"] == "success", (expr, body)
        assert body["data"]["result"], f"no data for {expr!r} (as {promql!r})"


def panels(dashboard: dict) -> Iterator[dict]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def variables(dashboard: dict) -> list[dict]:
    return [v for v in dashboard["templating"]["list"] if v["type"] == "query"]


def test_an_unreadable_store_exports_store_up_0_without_leaking_the_password(caplog, tmp_path: Path) -> None:
    config = make_config(tmp_path / "warehouse.db")
    url = f"postgresql+psycopg://okr:s3cr3t-pw@127.0.0.1:{free_port()}/okrflow?connect_timeout=2"
    with caplog.at_level(logging.WARNING, logger="okrflow.exporter"), start_exporter(config, url, port=0) as exporter:
        samples = scrape(exporter.url)
        scrape(exporter.url)  # a second failing scrape logs nothing new
    assert samples["okrflow_store_up"] == {(): 0.0}
    assert set(samples) == {"okrflow_store_up"}  # no stale or invented numbers
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings and all("s3cr3t-pw" not in message for message in warnings)
    assert sum("cannot read the history store" in message for message in warnings) == 1


def test_an_empty_store_exports_the_config_but_no_scores(tmp_path: Path) -> None:
    config = make_config(tmp_path / "warehouse.db")
    with start_exporter(config, f"sqlite:///{tmp_path / 'empty.db'}", port=0) as exporter:
        samples = scrape(exporter.url)
    assert samples["okrflow_store_up"] == {(): 1.0}
    assert "okrflow_key_result_score" not in samples and "okrflow_run_timestamp_seconds" not in samples
    assert len(samples["okrflow_key_result_target"]) == 4


def test_a_busy_port_is_a_clear_error(world: World, tmp_path: Path) -> None:
    with pytest.raises(ExporterError, match=rf"cannot listen on 127\.0\.0\.1:{world.exporter.port}: "):
        start_exporter(world.config, world.store_url, port=world.exporter.port)


def test_the_cli_exporter_serves_until_sigterm(world: World, tmp_path: Path) -> None:
    """``okrflow exporter`` as docker runs it: serves the store, and ``docker stop`` (SIGTERM) ends it cleanly."""
    config = tmp_path / "okrflow.yaml"
    config.write_text(config_text(world.warehouse))
    port = free_port()
    env = {**os.environ, "OKRFLOW_STORE_URL": world.store_url}
    command = [sys.executable, "-c", "from okrflow.cli import main; main()", "-c", str(config), "exporter"]
    process = subprocess.Popen([*command, "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                samples = scrape(f"http://127.0.0.1:{port}/metrics")
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, process.communicate(timeout=5)
                time.sleep(0.1)
        assert samples["okrflow_key_result_score"] == scrape(world.exporter.url)["okrflow_key_result_score"]
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert f"serving okrflow metrics on http://127.0.0.1:{port}/metrics" in out.decode()


def test_the_exporter_imports_no_heavy_library() -> None:
    heavy = ("prefect", "mlflow", "great_expectations", "pandas")
    probe = f"import sys, okrflow.report.exporter; print([m for m in sys.modules if m.split('.')[0] in {heavy!r}])"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
