"""``fetch: {processes: N}``: sources fetched in worker processes score exactly like threads, gates included,
and a worker that dies costs its sources one run, not the run or the next one."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime

import pytest
from okrflow.connectors.registry import Registry
from okrflow.flows import workers
from okrflow.flows.pipeline import evaluate
from okrflow.okr_model.loader import parse_config

from okrflow.store import Store
from tests.fixtures.gx import GxWarehouse
from tests.integration.test_gx_connector import METRICS, config_text, kr, suites_on

AT = datetime(2026, 10, 3, 2, tzinfo=UTC)
GATED = (
    "- {id: sales-good, kind: increase, baseline: 0, target: 100, metric: {source: warehouse, sql: 'SELECT 50'},"
    " quality_gate: {source: quality, suite: good}}\n"
    "- {id: sales-bad, kind: increase, baseline: 0, target: 100, metric: {source: warehouse, sql: 'SELECT 50'},"
    " quality_gate: {source: quality, suite: bad}}\n"
    "- {id: typed-in, kind: manual, baseline: 0, target: 10}\n"
)


def config_with(warehouse: GxWarehouse, processes: int):
    krs = "".join(kr(kr_id, metric) for kr_id, metric in METRICS.items()) + GATED
    text = f"fetch: {{processes: {processes}, threads_per_source: 2}}\n" + config_text(
        warehouse, suites_on(warehouse), krs
    )
    return parse_config(text, resolver=Registry())


@pytest.fixture
def fresh_workers():
    workers.shutdown_workers()
    yield
    workers.shutdown_workers()


def comparable(record):
    """What a run says about each KR, without timings."""
    return {
        r.kr_id: r._replace(lineage={k: v for k, v in r.lineage.items() if k != "duration_ms"})
        for r in record.key_results
    }


def test_processes_score_exactly_like_threads(gx_warehouse, tmp_path, fresh_workers):
    with Store.open(f"sqlite:///{tmp_path / 'threads.db'}") as store:
        threaded = evaluate(config_with(gx_warehouse, 0), store, AT)
    with Store.open(f"sqlite:///{tmp_path / 'processes.db'}") as store:
        in_processes = evaluate(config_with(gx_warehouse, 2), store, AT)
    assert set(workers._executors) == {0, 1}  # two sources (quality, warehouse), one process each
    assert comparable(in_processes) == comparable(threaded)
    results = comparable(in_processes)
    assert results["sales-good"].score == 0.5 and results["sales-good"].gates == ()
    assert results["sales-bad"].score == 0.2 and results["sales-bad"].gates == ("quality_gate",)
    assert results["bad-pct"].value == pytest.approx(100 / 3)
    assert results["missing-pct"].measurement == "error"
    assert results["typed-in"].measurement == "no_data"  # manual KRs stay in the run's own process


def test_a_killed_worker_errors_its_sources_for_one_run_only(gx_warehouse, tmp_path, fresh_workers):
    config = config_with(gx_warehouse, 2)
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as store:
        evaluate(config, store, AT)
        quality = workers._executors[0]  # sources sorted: quality -> process 0, warehouse -> process 1
        for pid in list(quality._processes):
            os.kill(pid, signal.SIGKILL)
        broken = evaluate(config, store, datetime(2026, 10, 3, 3, tzinfo=UTC))
        results = {r.kr_id: r for r in broken.key_results}
        assert results["good-pct"].measurement == "error"
        assert "worker process for source 'quality' failed" in results["good-pct"].detail
        assert results["sales-good"].measurement == "error"  # its gate could not run, so its value is not trusted
        assert "quality gate could not run" in results["sales-good"].detail
        assert broken.status == "partial"
        healed = evaluate(config, store, datetime(2026, 10, 3, 4, tzinfo=UTC))
        assert {r.kr_id: r.measurement for r in healed.key_results}["good-pct"] == "ok"
        assert [p.result.measurement for p in store.history("good-pct")] == ["ok", "error", "ok"]
