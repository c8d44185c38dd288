"""Catch-up after downtime and after a source outage, on a real SQLite warehouse and history store."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from okrflow.connectors.registry import Registry
from okrflow.flows.catchup import catch_up, missed_slots, scheduled_slots
from okrflow.flows.pipeline import evaluate
from okrflow.okr_model.loader import parse_config

from okrflow.store import Store

T0 = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


def make_config(warehouse, store, catchup="all", schedule="0 * * * *", max_runs=24):
    return parse_config(
        textwrap.dedent(
            f"""
            version: 1
            cycle: {{name: Q4, start: 2026-10-01, end: 2026-12-31}}
            schedule: "{schedule}"
            store: "{store}"
            catchup: {catchup}
            max_catchup_runs: {max_runs}
            sources:
              warehouse: {{type: sql, url: "sqlite:///{warehouse}", retries: 0}}
            objectives:
              - id: o
                title: O
                key_results:
                  - id: signups
                    kind: increase
                    baseline: 0
                    target: 100
                    metric: {{source: warehouse, sql: "SELECT count(*) FROM signups WHERE at < :now"}}
            """
        ),
        resolver=Registry(),
    )


@pytest.fixture
def world(tmp_path):
    warehouse = tmp_path / "warehouse.db"
    engine = sa.create_engine(f"sqlite:///{warehouse}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE signups (at TIMESTAMP)"))
        conn.execute(  # one signup every 10 minutes: the count as of a slot is known
            sa.text("INSERT INTO signups VALUES (:at)"),
            [{"at": (T0 + timedelta(minutes=10 * i)).strftime("%Y-%m-%d %H:%M:%S")} for i in range(200)],
        )
    engine.dispose()
    store = Store.open(f"sqlite:///{tmp_path / 'history.db'}")
    yield warehouse, store
    store.close()


def expected_count(slot: datetime) -> float:
    return float(len([i for i in range(200) if T0 + timedelta(minutes=10 * i) < slot]))


def test_scheduled_slots_follow_cron_and_intervals(world):
    warehouse, _store = world
    cron = make_config(warehouse, "sqlite://", schedule="*/15 * * * *")
    assert scheduled_slots(cron, T0, T0 + timedelta(hours=1)) == [T0 + timedelta(minutes=m) for m in (15, 30, 45)]
    every = make_config(warehouse, "sqlite://", schedule="@every 20m")
    assert scheduled_slots(every, T0, T0 + timedelta(hours=1)) == [
        T0 + timedelta(minutes=20),
        T0 + timedelta(minutes=40),
    ]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [("none", []), ("latest", [3]), ("all", [1, 2, 3])],
)
def test_downtime_policies(world, policy, expected):
    warehouse, store = world
    config = make_config(warehouse, "sqlite://", catchup=policy)
    evaluate(config, store, T0)  # then the service was down for three hourly slots
    now = T0 + timedelta(hours=3, minutes=30)
    records = catch_up(config, store, now)
    assert [r.slot for r in records] == [T0 + timedelta(hours=h) for h in expected]
    for record in records:
        assert record.key_results[0].value == expected_count(record.slot)  # read as of each slot
    assert len(store.runs_between("default", T0, now)) == 1 + len(expected)


def test_max_catchup_runs_bounds_all(world):
    warehouse, store = world
    config = make_config(warehouse, "sqlite://", catchup="all", max_runs=2)
    evaluate(config, store, T0)
    records = catch_up(config, store, T0 + timedelta(hours=5, minutes=1))
    assert [r.slot for r in records] == [T0 + timedelta(hours=4), T0 + timedelta(hours=5)]


def test_source_down_for_two_slots_then_back(world, tmp_path):
    warehouse, store = world
    config = make_config(warehouse, "sqlite://", catchup="all")
    evaluate(config, store, T0)
    hidden = warehouse.with_suffix(".offline")
    warehouse.rename(hidden)  # the warehouse goes away for two slots
    for hours in (1, 2):
        record = evaluate(config, store, T0 + timedelta(hours=hours))
        assert record.status == "failed" and record.key_results[0].measurement == "error"
        assert "does not exist" in record.key_results[0].detail
    hidden.rename(warehouse)
    now = T0 + timedelta(hours=3)
    current = evaluate(config, store, now)
    assert current.status == "completed"
    repaired = catch_up(config, store, now, current_errors=current.error_count)
    assert [r.slot for r in repaired] == [T0 + timedelta(hours=1), T0 + timedelta(hours=2)]
    history = store.history("signups")
    assert [(p.slot, p.result.measurement) for p in history] == [(T0 + timedelta(hours=h), "ok") for h in range(4)]
    assert [p.result.value for p in history] == [expected_count(p.slot) for p in history]
    # nothing left to repair: a second pass evaluates nothing
    assert catch_up(config, store, now, current_errors=0) == []


def test_permanent_errors_are_not_retried_every_run(world):
    warehouse, store = world
    config = make_config(warehouse, "sqlite://", catchup="all")
    warehouse.unlink()
    for hours in (0, 1, 2):
        evaluate(config, store, T0 + timedelta(hours=hours))
    current = evaluate(config, store, T0 + timedelta(hours=3))
    assert current.error_count == 1
    assert catch_up(config, store, T0 + timedelta(hours=3), current_errors=current.error_count) == []


def test_missed_slots_is_pure_policy(world):
    warehouse, _ = world
    config = make_config(warehouse, "sqlite://", catchup="latest")
    slots = [T0 + timedelta(hours=h) for h in range(3)]
    assert missed_slots(config, slots, {}, None) == slots[-1:]
