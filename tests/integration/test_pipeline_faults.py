"""A run survives sources that hang, refuse or fail: other KRs still score and the run is recorded."""

from __future__ import annotations

import textwrap
import time
from datetime import UTC, datetime

import sqlalchemy as sa
from okrflow.connectors.registry import Registry
from okrflow.flows.pipeline import evaluate
from okrflow.okr_model.loader import parse_config

from okrflow.localprom import free_port
from okrflow.store import Store

AT = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


def config_for(warehouse, prometheus_url, timeout_s=1):
    return parse_config(
        textwrap.dedent(
            f"""
            version: 1
            cycle: {{name: Q4, start: 2026-10-01, end: 2026-12-31}}
            sources:
              warehouse: {{type: sql, url: "sqlite:///{warehouse}"}}
              prom: {{type: prometheus, url: "{prometheus_url}", timeout_s: {timeout_s}, retries: 1}}
            objectives:
              - id: o
                title: O
                key_results:
                  - {{id: sales, kind: increase, baseline: 0, target: 10, metric: {{source: warehouse, sql: "SELECT 5"}}}}
                  - {{id: latency, kind: maintain_below, target: 0.2, metric: {{source: prom, query: "vector(0.1)"}}}}
            """
        ),
        resolver=Registry(),
    )


def make_warehouse(tmp_path):
    path = tmp_path / "warehouse.db"
    sa.create_engine(f"sqlite:///{path}").connect().close()
    return path


def test_a_hanging_source_is_bounded_by_its_timeout(tmp_path, hanging_http_server):
    config = config_for(make_warehouse(tmp_path), hanging_http_server, timeout_s=1)
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as store:
        started = time.monotonic()
        record = evaluate(config, store, AT)
        elapsed = time.monotonic() - started
        snapshot = store.status()
    assert elapsed < 6, f"the run waited {elapsed:.1f} s on a hanging source"
    results = {r.kr_id: r for r in snapshot.key_results}
    assert results["sales"].score == 0.5
    assert results["latency"].measurement == "error" and "did not answer within 1 s" in results["latency"].detail
    assert record.status == snapshot.run.status == "partial"
    assert snapshot.run.detail == "1 of 2 key results errored: latency"


def test_every_source_down_marks_the_run_failed_and_keeps_history(tmp_path):
    warehouse = make_warehouse(tmp_path)
    closed = f"http://127.0.0.1:{free_port()}"
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as store:
        evaluate(config_for(warehouse, closed), store, datetime(2026, 11, 14, tzinfo=UTC))
        warehouse.unlink()
        record = evaluate(config_for(warehouse, closed), store, AT)
        assert record.status == "failed"
        assert record.detail == "all 2 key results errored: sales, latency"
        history = store.history("sales")
    assert [p.result.score for p in history] == [0.5, None]  # the earlier value is intact, no 0 was invented
