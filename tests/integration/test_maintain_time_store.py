"""Maintain KRs measure time (issue 12): the store sums the time each measurement stood for, on SQLite and
PostgreSQL, and a run with ad-hoc runs scores by time end to end (real SQLite warehouse and store)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

import pytest
from okrflow.connectors.registry import default_registry
from okrflow.flows.pipeline import evaluate
from okrflow.okr_model.loader import parse_config

from okrflow.store import Store
from tests.integration.test_store import SLOT, kr_result, run_record


def test_held_durations_weigh_each_value_until_the_next_one(store):
    store.write_run(run_record(SLOT - timedelta(days=60), [kr_result("a", 9.0, 0.9)]))  # before the window
    store.write_run(run_record(SLOT, [kr_result("a", 1.0, 0.1), kr_result("b", 5.0, 1.0)]))
    store.write_run(run_record(SLOT + timedelta(seconds=14), [kr_result("a", 2.0, 0.2)]))
    store.write_run(run_record(SLOT + timedelta(hours=1), [kr_result("a", None, None, "error")]))
    store.write_run(run_record(SLOT + timedelta(hours=2), [kr_result("a", 2.0, 0.2), kr_result("b", 7.0, 0.0)]))
    start = SLOT - timedelta(days=1)
    # a holds at >= 1.5, capped at 30 min a measurement; b holds at <= 5.0 (below), capped at 2 h.
    limits = {"a": (1.5, False, 1800.0), "b": (5.0, True, 7200.0), "zz": (0.0, False, 900.0)}
    got = store.held_durations(limits, start, SLOT + timedelta(hours=2, minutes=10))
    # Each value stands until the next run: a: 1.0 stood 14 s (breach); 2.0 until the error, capped at 1800 s;
    # the error stands for nothing; the last 2.0 until the run being scored, 600 s. b: 5.0 stood 14 s (the next
    # run did not measure b: its time after that is unknown, not held), 7.0 stood 600 s (breach).
    assert got == {"a": (2400.0, 2414.0), "b": (14.0, 614.0), "zz": (0.0, 0.0)}
    # the window ends before the run being scored: nothing at or after it is read
    assert store.held_durations({"a": (1.5, False, 1800.0)}, start, SLOT + timedelta(seconds=14)) == {"a": (0.0, 14.0)}


CONFIG = """
version: 1
cycle: {{name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}}
schedule: "@daily"
store: sqlite:///unused.db
sources:
  warehouse: {{type: sql, url: "{warehouse}", timeout_s: 5, retries: 0}}
objectives:
  - id: ops
    title: Ops
    key_results:
      - id: uptime
        kind: maintain_above
        target: 99.5
        metric: {{source: warehouse, sql: "SELECT value FROM uptime"}}
"""


def test_two_degraded_manual_runs_14_s_apart_do_not_weigh_as_much_as_two_days(tmp_path):
    """Four daily runs held; then two manual runs 14 s apart saw a breach; the next daily run holds again.
    By runs the share is 4 of 7 held; by time the 14 s barely count and the second breach stands one day."""
    warehouse = tmp_path / "warehouse.db"
    with sqlite3.connect(warehouse) as conn:
        conn.execute("CREATE TABLE uptime (value REAL)")
        conn.execute("INSERT INTO uptime VALUES (99.9)")
    conn.close()
    config = parse_config(CONFIG.format(warehouse=f"sqlite:///{warehouse}"), "okrflow.yaml", default_registry())

    def set_value(value: float) -> None:
        with sqlite3.connect(warehouse) as c:
            c.execute("UPDATE uptime SET value = ?", (value,))
        c.close()

    day0 = datetime(2026, 10, 10, tzinfo=UTC)
    with Store.open(f"sqlite:///{tmp_path / 'history.db'}") as store:
        for d in range(4):
            evaluate(config, store, day0 + timedelta(days=d), alerts=False)
        set_value(98.0)
        manual = day0 + timedelta(days=3, hours=9)
        evaluate(config, store, manual, alerts=False)
        second = evaluate(config, store, manual + timedelta(seconds=14), alerts=False)
        set_value(99.9)
        final = evaluate(config, store, day0 + timedelta(days=4), alerts=False)
    (breach,) = second.key_results
    (uptime,) = final.key_results
    day = 86400.0
    # held: three days, 9 h of day 3 and the new day's measurement (a day); breached: 14 s, then the rest of
    # day 3 (15 h - 14 s) until the next daily run
    held, breached = 3 * day + 9 * 3600 + day, 15 * 3600
    assert uptime.score == pytest.approx(held / (held + breached)) == 0.875
    assert 0.875 > 5 / 7, "by runs it would be 5 of 7"
    assert breach.status == "off_track"
    assert uptime.detail == "held 87.5% of the time so far (breached 15 h)"
