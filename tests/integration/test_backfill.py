"""``okrflow backfill`` against real components: a Prometheus filled with a week of synthetic history by
promtool, a seeded MLflow store, SQLite warehouses and history stores, the CLI.

The Prometheus sits behind a small recording HTTP proxy on loopback, so the tests see every request
the connector really sent (one ``query_range`` per KR, whatever the number of slots).
"""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
import yaml
from okrflow.connectors.base import Connector, ConnectorContext, Measurement
from okrflow.connectors.mlflow import MlflowConnector
from okrflow.connectors.prometheus import MAX_POINTS, PrometheusConnector
from okrflow.connectors.registry import BUILTINS, Registry
from okrflow.flows.backfill import BackfillError, backfill, plan_slots
from okrflow.flows.pipeline import evaluate
from okrflow.okr_model.config import Config, MetricBinding, SourceConfig
from okrflow.okr_model.loader import parse_config
from typer.testing import CliRunner

from okrflow.localprom import LocalPrometheus, prometheus_binary
from okrflow.store import AnnotationRecord, Store
from tests.fixtures import unavailable
from tests.fixtures.loopback import QuietHandler, serving
from tests.fixtures.mlflow import T0, SeededRegistry

DAY = timedelta(days=1)
H0 = datetime(2026, 10, 5, tzinfo=UTC)
"""Start of the synthetic Prometheus week (inside the 2026-Q4 cycle)."""
GAP = H0 + 3 * DAY
"""No samples within 10 minutes of this instant: an instant query there finds nothing (5 min lookback)."""
SAMPLE = timedelta(minutes=5)


def rising(at: datetime) -> float:
    """The synthetic gauge: hours since H0 (0 at H0, 168 a week later)."""
    return (at - H0).total_seconds() / 3600


def openmetrics_week() -> list[str]:
    """``okr_rising`` (one series, with a gap at GAP) and ``okr_split`` (two series), a sample every 5 min."""
    times = [H0 + i * SAMPLE for i in range(int(7 * DAY / SAMPLE) + 1)]
    lines = ["# HELP okr_rising Hours since the start of the week.", "# TYPE okr_rising gauge"]
    lines += [f"okr_rising {rising(t)!r} {t.timestamp():.0f}" for t in times if abs(t - GAP) >= 2 * SAMPLE]
    lines += ["# HELP okr_split Two instances.", "# TYPE okr_split gauge"]
    for instance in ("a", "b"):
        lines += [f'okr_split{{instance="{instance}"}} 1 {t.timestamp():.0f}' for t in times]
    return [*lines, "# EOF"]


@dataclass
class RecordingProxy:
    """Forwards every request to ``upstream`` and records (path, query parameters)."""

    upstream: str
    url: str = ""
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def paths(self) -> Counter[str]:
        return Counter(path for path, _ in self.requests)


def proxy_handler(proxy: RecordingProxy) -> type[QuietHandler]:
    """A handler forwarding to ``proxy.upstream`` and recording each request."""

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._forward()

        def do_POST(self) -> None:
            self._forward()

        def _forward(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parsed = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(parsed.query))
            if body:
                params.update(urllib.parse.parse_qsl(body.decode()))
            proxy.requests.append((parsed.path, params))
            headers = {"Content-Type": self.headers.get("Content-Type", "application/x-www-form-urlencoded")}
            request = urllib.request.Request(
                proxy.upstream + self.path, data=body or None, method=self.command, headers=headers
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    status, data = response.status, response.read()
            except urllib.error.HTTPError as exc:
                status, data = exc.code, exc.read()
            self.answer(status, data)

    return Handler


@pytest.fixture(scope="module")
def synthetic_prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordingProxy]:
    """A real Prometheus holding the synthetic week (imported with promtool), behind a recording proxy."""
    if prometheus_binary() is None:
        unavailable("the prometheus binary was not found (apt-get install -y --no-install-recommends prometheus)")
    with LocalPrometheus(tmp_path_factory.mktemp("prom-week"), history=openmetrics_week()) as prom:
        proxy = RecordingProxy(prom.url)
        with serving(proxy_handler(proxy)) as proxy.url:
            yield proxy


def make_config(tmp_path: Path, sources: dict[str, Any], krs: list[dict[str, Any]], registry: Registry) -> Config:
    """A 2026-Q4 config with one objective holding ``krs``, written to ``okrflow.yaml`` and parsed."""
    data = {
        "cycle": {"name": "2026-Q4", "start": "2026-10-01", "end": "2026-12-31"},
        "store": f"sqlite:///{tmp_path / 'history.db'}",
        "sources": sources,
        "objectives": [{"id": "ml", "title": "Ship a better model", "key_results": krs}],
    }
    text = yaml.safe_dump(data, sort_keys=False)
    (tmp_path / "okrflow.yaml").write_text(text)
    return parse_config(text, "okrflow.yaml", resolver=registry)


def values(store: Store, kr_id: str) -> dict[datetime, float | None]:
    return {p.slot: p.result.value for p in store.history(kr_id)}


# -- Prometheus ---------------------------------------------------------------------------------------


def test_prometheus_week_one_range_query_per_kr(synthetic_prom: RecordingProxy, tmp_path: Path) -> None:
    source = {"type": "prometheus", "url": synthetic_prom.url, "timeout_s": 10, "retries": 0}
    krs = [
        {
            "id": "rising",
            "kind": "increase",
            "baseline": 0,
            "target": 168,
            "metric": {"source": "prom", "query": "okr_rising"},
        },
        {
            "id": "lagged",
            "kind": "increase",
            "baseline": 0,
            "target": 168,
            "metric": {"source": "prom", "query": "max(okr_rising)", "offset": "1h"},
        },
        {
            "id": "split",
            "kind": "increase",
            "baseline": 0,
            "target": 1,
            "metric": {"source": "prom", "query": "okr_split"},
        },
    ]
    config = make_config(tmp_path, {"prom": source}, krs, Registry())
    synthetic_prom.requests.clear()
    with Store.open(config.store) as store:
        report = backfill(config, store, H0, H0 + 7 * DAY, DAY)
        slots = [H0 + k * DAY for k in range(8)]
        assert report.written == tuple(slots) and report.skipped == () and report.outside_cycle == 0

        expected = {slot: (None if slot == GAP else rising(slot)) for slot in slots}
        assert values(store, "rising") == expected
        assert values(store, "lagged") == {
            slot: (None if slot == H0 else rising(slot - timedelta(hours=1))) for slot in slots
        }
        gap = {p.slot: p.result for p in store.history("rising")}[GAP]
        assert gap.measurement == "no_data"
        assert gap.detail == "query returned no finite value at 2026-10-08T00:00:00+00:00 (no series then, or NaN)"
        split = store.history("split")
        assert {p.result.measurement for p in split} == {"error"}
        assert "query returned 2 series; aggregate it to one" in split[0].result.detail
        ok = {p.slot: p.result for p in store.history("rising")}[H0 + DAY]
        assert ok.observed_at == H0 + DAY and ok.lineage["source"] == "prom"
        assert all(run.backfilled for run in store.runs()) and len(store.runs()) == 8
        assert {run.status for run in store.runs()} == {"partial"}  # split errors in every slot
    assert set(report.gaps) == {"rising", "lagged", "split"}
    assert report.gaps["split"].startswith("8 error of 8 slots; first: prometheus source 'prom': query returned 2")

    # exactly one query_range per KR, no instant queries, with the backfill step over [first, last slot]
    assert synthetic_prom.paths() == Counter({"/api/v1/query_range": 3})
    by_query = {params["query"]: params for _, params in synthetic_prom.requests}
    assert set(by_query) == {"okr_rising", "max(okr_rising)", "okr_split"}
    assert float(by_query["okr_rising"]["step"]) == DAY.total_seconds()
    assert float(by_query["okr_rising"]["start"]) == H0.timestamp()
    assert float(by_query["okr_rising"]["end"]) == (H0 + 7 * DAY).timestamp()
    assert float(by_query["max(okr_rising)"]["start"]) == (H0 - timedelta(hours=1)).timestamp()


def test_prometheus_widened_step_maps_each_slot_to_the_latest_point(synthetic_prom: RecordingProxy) -> None:
    """A slot per minute over 8 days exceeds MAX_POINTS: still one request, each slot reads a point <= it."""
    text = yaml.safe_dump(
        {
            "cycle": {"name": "2026-Q4", "start": "2026-10-01", "end": "2026-12-31"},
            "sources": {"prom": {"type": "prometheus", "url": synthetic_prom.url, "retries": 0}},
            "objectives": [
                {
                    "id": "o",
                    "title": "t",
                    "key_results": [
                        {
                            "id": "r",
                            "kind": "increase",
                            "baseline": 0,
                            "target": 1,
                            "metric": {"source": "prom", "query": "okr_rising"},
                        }
                    ],
                }
            ],
        }
    )
    config = parse_config(text, "t.yaml", resolver=Registry())
    metric = config.key_result("r")[1].metric
    slots = [H0 - DAY + k * timedelta(minutes=1) for k in range(8 * 24 * 60 + 1)]
    assert len(slots) > MAX_POINTS
    synthetic_prom.requests.clear()
    with PrometheusConnector("prom", config.sources["prom"], ConnectorContext(config)) as connector:
        series = connector.fetch_series(metric, slots)
    assert synthetic_prom.paths() == Counter({"/api/v1/query_range": 1})
    width = float(synthetic_prom.requests[0][1]["step"])
    assert width > 60  # widened
    ok = {slot: m for slot, m in series.items() if m.status == "ok"}
    assert len(ok) > len(slots) * 0.8
    for slot, m in ok.items():
        assert slot - timedelta(seconds=width) < m.observed_at <= slot
        sample = H0 + ((m.observed_at - H0) // SAMPLE) * SAMPLE  # what Prometheus read: the last 5-min sample
        assert m.value == rising(sample)
    assert all(series[slot].status == "no_data" for slot in slots if slot < H0)  # before the history


# -- MLflow -------------------------------------------------------------------------------------------


class CountingMlflow(MlflowConnector):
    """The real connector with a real client that counts metric-history reads (a subclass, no mock)."""

    history_reads: ClassVar[list[tuple[str, str]]] = []

    def _create_client(self) -> Any:
        client = super()._create_client()
        reads = self.history_reads
        base = type(client)

        class Counting(base):  # type: ignore[misc, valid-type]
            def get_metric_history(self, run_id: str, key: str) -> Any:
                reads.append((run_id, key))
                return super().get_metric_history(run_id, key)

        client.__class__ = Counting
        return client


def test_mlflow_as_of_values_one_history_read_per_kr(mlflow_store: SeededRegistry, tmp_path: Path) -> None:
    registry = Registry({k: v for k, v in BUILTINS.items() if k != "mlflow"}, load_entry_points=False)
    registry.register("mlflow", CountingMlflow)
    champion = {"source": "tracking", "model": "ticket-classifier", "alias": "champion", "name": "f1"}
    krs = [
        {"id": "f1", "kind": "increase", "baseline": 0.79, "target": [0.87, 0.92], "metric": champion},
        {
            "id": "f1-fresh",
            "kind": "increase",
            "baseline": 0.79,
            "target": 0.9,
            "metric": {**champion, "max_age": "90m"},
        },
        {
            "id": "f1-latest",
            "kind": "increase",
            "baseline": 0.79,
            "target": 0.9,
            "metric": {"source": "tracking", "experiment": "ticket-classifier", "name": "f1", "run": "latest"},
        },
    ]
    config = make_config(
        tmp_path, {"tracking": {"type": "mlflow", "tracking_uri": mlflow_store.tracking_uri}}, krs, registry
    )
    start = T0 + 2 * DAY  # the champion run starts; it logs f1 0.85, 0.86, 0.88 at +1h, +2h, +3h
    CountingMlflow.history_reads.clear()
    with Store.open(config.store) as store:
        report = backfill(config, store, start, start + timedelta(hours=5), timedelta(hours=1), registry=registry)
        slots = [start + timedelta(hours=h) for h in range(6)]
        assert report.written == tuple(slots)
        as_of = dict(zip(slots, [None, 0.85, 0.86, 0.88, 0.88, 0.88], strict=True))
        assert values(store, "f1") == as_of
        assert values(store, "f1-latest") == as_of
        assert values(store, "f1-fresh") == {**as_of, slots[5]: None}  # 2 h after the last entry > 90m
        results = {p.slot: p.result for p in store.history("f1")}
        run_id = mlflow_store.run_ids["champion"]
        assert results[slots[0]].detail == f"no value of metric 'f1' before {start.isoformat()} in run {run_id}"
        assert results[slots[2]].lineage["run_id"] == run_id and results[slots[2]].lineage["in_production"] is True
        assert results[slots[2]].observed_at == start + timedelta(hours=2)
        fresh = {p.slot: p.result for p in store.history("f1-fresh")}[slots[5]]
        assert fresh.measurement == "no_data" and fresh.detail.startswith("stale: last observation at")
        latest = {p.slot: p.result for p in store.history("f1-latest")}[slots[0]]
        assert "backfill reads one run for all slots" in latest.detail
    # one read per (run, metric) for the whole backfill: not per KR, not per slot
    assert Counter(CountingMlflow.history_reads) == Counter({(run_id, "f1"): 1})


# -- SQL, Great Expectations, manual, a failing connector -----------------------------------------------


class OddSource(SourceConfig):
    type: Literal["odd"]


class OddMetric(MetricBinding):
    fail: bool = False


class OddConnector(Connector[OddSource, OddMetric]):
    """A third-party connector whose ``fetch_series`` raises for one binding (registered like a plugin)."""

    type_name = "odd"
    config_model = OddSource
    metric_model = OddMetric

    def fetch(self, metric: OddMetric, at: datetime) -> Measurement:
        return Measurement.ok(1.0, at)

    def fetch_series(self, metric: OddMetric, slots: Any) -> dict[datetime, Measurement]:
        if metric.fail:
            raise RuntimeError("boom")
        return super().fetch_series(metric, slots)


def warehouse(tmp_path: Path, rows: list[tuple[str, float]]) -> str:
    path = tmp_path / "warehouse.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS readings (at TEXT, value REAL)")
        conn.execute("CREATE TABLE IF NOT EXISTS tickets (id INTEGER, hours REAL)")
        conn.executemany("INSERT INTO readings VALUES (?, ?)", rows)
        conn.execute("INSERT INTO tickets VALUES (1, NULL)")  # the suite would fail today
    conn.close()
    return f"sqlite:///{path}"


READINGS = [("2026-10-02 12:00:00", 10.0), ("2026-10-03 12:00:00", 20.0), ("2026-10-04 12:00:00", 30.0)]
AS_OF_NOW = "SELECT max(value) FROM readings WHERE at <= :now"


def mixed_sources(url: str) -> dict[str, Any]:
    return {
        "warehouse": {"type": "sql", "url": url, "timeout_s": 5, "retries": 0},
        "quality": {
            "type": "great_expectations",
            "suites": {
                "tickets_quality": {
                    "data": {"source": "warehouse", "table": "tickets"},
                    "expectations": [{"expect_column_values_to_not_be_null": {"column": "hours"}}],
                }
            },
        },
    }


def test_sql_gx_manual_and_a_failing_connector(tmp_path: Path) -> None:
    registry = Registry()
    registry.register("odd", OddConnector)
    sources = {**mixed_sources(warehouse(tmp_path, READINGS)), "odd": {"type": "odd"}}
    krs = [
        {
            "id": "signups",
            "kind": "increase",
            "baseline": 0,
            "target": 40,
            "metric": {"source": "warehouse", "sql": AS_OF_NOW},
            "quality_gate": {"source": "quality", "suite": "tickets_quality"},
        },
        {"id": "held", "kind": "maintain_above", "target": 15, "metric": {"source": "warehouse", "sql": AS_OF_NOW}},
        {
            "id": "data-valid",
            "kind": "increase",
            "baseline": 90,
            "target": 99.5,
            "metric": {"source": "quality", "suite": "tickets_quality"},
        },
        {"id": "adoption", "kind": "manual", "baseline": 20, "target": 80},
        {"id": "odd-ok", "kind": "increase", "baseline": 0, "target": 2, "metric": {"source": "odd"}},
        {"id": "odd-bad", "kind": "increase", "baseline": 0, "target": 2, "metric": {"source": "odd", "fail": True}},
    ]
    config = make_config(tmp_path, sources, krs, registry)
    slots = [datetime(2026, 10, d, tzinfo=UTC) for d in (2, 3, 4, 5)]
    with Store.open(config.store) as store:
        checkin = datetime(2026, 10, 3, 6, tzinfo=UTC)
        store.add_annotation(AnnotationRecord("adoption", "checkin", 50.0, "survey", "alice", checkin, checkin))
        report = backfill(config, store, slots[0], slots[-1], DAY, registry=registry)
        assert report.written == tuple(slots)

        assert values(store, "signups") == dict(zip(slots, [None, 10.0, 20.0, 30.0], strict=True))
        signups = {p.slot: p.result for p in store.history("signups")}
        assert (signups[slots[2]].score, signups[slots[2]].gates) == (0.5, ())  # no gate in the past: not capped
        assert signups[slots[0]].detail == "query returned NULL"
        # maintain: the share of this cycle's valid values that held >= 15, counting the slots written before
        assert [p.result.score for p in store.history("held")] == [None, 0.0, 0.5, pytest.approx(2 / 3, abs=1e-6)]

        reason = (
            "source 'quality' (great_expectations) keeps no history: suite 'tickets_quality' validates the table "
            "tickets of source 'warehouse' as it is now (a query with :now validates each past window)"
        )
        assert report.no_history == {"data-valid": reason}
        assert {(p.result.measurement, p.result.detail) for p in store.history("data-valid")} == {("no_data", reason)}

        adoption = [p.result for p in store.history("adoption")]
        assert [r.value for r in adoption] == [None, None, 50.0, 50.0]
        assert adoption[0].detail.startswith("no check-in this cycle")

        assert values(store, "odd-ok") == dict.fromkeys(slots, 1.0)
        bad = store.history("odd-bad")
        assert {(p.result.measurement, p.result.detail) for p in bad} == {
            ("error", "connector 'odd' failed: RuntimeError: boom")
        }
        runs = store.runs()
        assert {(r.status, r.backfilled, r.error_count) for r in runs} == {("partial", True, 1)}
    assert report.partial == 4 and report.ungated == ("signups",)
    text = report.summary()
    assert "written: 4 runs, marked backfilled (4 partial: some key results errored)" in text
    assert f"data-valid: {reason}" in text
    assert "quality gates: not applied to backfilled runs" in text and "signups" in text
    assert "odd-bad: 4 error of 4 slots; first: connector 'odd' failed: RuntimeError: boom" in text


# -- slots: cycle bounds, live runs, reruns ------------------------------------------------------------


def sql_config(tmp_path: Path, url: str) -> Config:
    krs = [
        {
            "id": "signups",
            "kind": "increase",
            "baseline": 0,
            "target": 40,
            "metric": {"source": "warehouse", "sql": AS_OF_NOW},
        }
    ]
    return make_config(tmp_path, {"warehouse": {"type": "sql", "url": url, "retries": 0}}, krs, Registry())


def test_outside_cycle_live_runs_and_reruns(tmp_path: Path) -> None:
    url = warehouse(tmp_path, READINGS)
    config = sql_config(tmp_path, url)
    live_slot = datetime(2026, 10, 3, tzinfo=UTC)
    with Store.open(config.store) as store:
        live = evaluate(config, store, live_slot)
        assert live.key_results[0].value == 10.0 and not live.backfilled
        live_run = store.latest_run()

        since, until = datetime(2026, 9, 29, tzinfo=UTC), datetime(2026, 10, 4, tzinfo=UTC)
        first = backfill(config, store, since, until, DAY)
        inside = tuple(datetime(2026, 10, d, tzinfo=UTC) for d in (1, 2, 3, 4))
        assert (first.slots, first.outside_cycle, first.skipped) == (inside, 2, (live_slot,))
        assert first.written == (inside[0], inside[1], inside[3])

        # the warehouse changes; a rerun replaces its own rows (same runs, new values) and keeps the live run
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute("INSERT INTO readings VALUES ('2026-10-01 06:00:00', 50.0)")
        conn.close()
        second = backfill(config, store, since, until, DAY)
        assert (second.written, second.skipped) == (first.written, first.skipped)
        runs = {r.slot: r for r in store.runs()}
        assert len(runs) == 4 and len(store.history("signups")) == 4
        assert runs[live_slot] == live_run  # untouched: same id, times and flag
        assert {s for s, r in runs.items() if r.backfilled} == set(first.written)
        # a re-evaluation of the live slot would now read 50: it was not touched
        assert values(store, "signups") == {inside[0]: None, inside[1]: 50.0, live_slot: 10.0, inside[3]: 50.0}
    assert "skipped: 1 slot that already had a live run (kept as is): 2026-10-03 00:00" in second.summary()
    assert "outside the cycle: 2 slots dropped" in second.summary()


def test_plan_slots_bounds_and_bad_arguments(tmp_path: Path) -> None:
    config = sql_config(tmp_path, warehouse(tmp_path, []))
    now = datetime(2026, 11, 24, 0, 11, 5, tzinfo=UTC)
    slots, outside, until = plan_slots(
        config, datetime(2026, 11, 22, tzinfo=UTC), datetime(2027, 1, 5, tzinfo=UTC), DAY, now
    )
    assert (slots, outside, until) == ([datetime(2026, 11, d, tzinfo=UTC) for d in (22, 23, 24)], 0, now)
    # the cycle's last day is included, the midnight after it is not
    slots, outside, _ = plan_slots(
        config,
        datetime(2026, 12, 30, tzinfo=UTC),
        datetime(2027, 1, 2, tzinfo=UTC),
        DAY,
        datetime(2027, 2, 1, tzinfo=UTC),
    )
    assert (slots, outside) == ([datetime(2026, 12, 30, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC)], 2)
    with pytest.raises(BackfillError, match="step must be at least 1s"):
        plan_slots(config, datetime(2026, 10, 1, tzinfo=UTC), None, timedelta(0), now)
    with pytest.raises(BackfillError, match="is after until"):
        plan_slots(config, datetime(2026, 10, 5, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC), DAY, now)
    with pytest.raises(BackfillError, match="use a larger --step"):
        plan_slots(config, datetime(2026, 10, 1, tzinfo=UTC), None, timedelta(seconds=1), now)


# -- the CLI -------------------------------------------------------------------------------------------


def test_cli_backfill_then_history(tmp_path: Path) -> None:
    from okrflow.cli import app

    url = warehouse(tmp_path, READINGS)
    krs = [
        {
            "id": "signups",
            "kind": "increase",
            "baseline": 0,
            "target": 40,
            "metric": {"source": "warehouse", "sql": AS_OF_NOW},
        },
        {
            "id": "data-valid",
            "kind": "increase",
            "baseline": 90,
            "target": 99.5,
            "metric": {"source": "quality", "suite": "tickets_quality"},
        },
    ]
    make_config(tmp_path, mixed_sources(url), krs, Registry())
    cfg = str(tmp_path / "okrflow.yaml")
    runner = CliRunner()
    result = runner.invoke(
        app, ["-c", cfg, "backfill", "--since", "2026-09-30", "--until", "2026-10-04", "--step", "1d"]
    )
    assert result.exit_code == 0, result.output
    assert (
        "backfill of cycle 2026-Q4: 2026-09-30 00:00 .. 2026-10-04 00:00 every 1d, 4 slots in the cycle"
        in result.output
    )
    assert "written: 4 runs, marked backfilled" in result.output
    assert "outside the cycle: 1 slot dropped" in result.output
    assert "data-valid: source 'quality' (great_expectations) keeps no history" in result.output

    shown = runner.invoke(app, ["-c", cfg, "history", "signups", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    points = json.loads(shown.output)["points"]
    assert [(p["at"][:10], p["value"]) for p in points] == [
        ("2026-10-01", None),
        ("2026-10-02", None),
        ("2026-10-03", 10.0),
        ("2026-10-04", 20.0),
    ]
    bad = runner.invoke(app, ["-c", cfg, "backfill", "--since", "2026-10-05", "--until", "2026-10-01"])
    assert bad.exit_code == 1 and "backfill failed: since 2026-10-05 00:00 is after until" in bad.output
