"""A run reports the alerts its judging moved (``RunRecord.alert_changes``), which the Prefect flow announces as
events: every firing, repeat and resolve, also for owners without a channel, and nothing twice on a rerun."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from okrflow.flows.pipeline import evaluate

from okrflow.store import Store
from tests.fixtures.warehouse import F1_KR, metrics_warehouse, set_metrics, warehouse_config

T0 = datetime(2026, 11, 15, 0, 0, tzinfo=UTC)


@pytest.fixture
def run(tmp_path):
    warehouse = tmp_path / "warehouse.db"
    engine = metrics_warehouse(warehouse, f1=0.90)
    config = warehouse_config(
        warehouse,
        f"""
        objectives:
          - id: platform
            title: Reliable AI platform
            owner: ml-team
            key_results:
              - {F1_KR}
        """,
    )
    store = Store.open(f"sqlite:///{tmp_path / 'history.db'}")

    def run(hour: int, f1: float):
        set_metrics(engine, f1=f1)
        return evaluate(config, store, T0 + timedelta(hours=hour))

    yield run
    store.close()
    engine.dispose()


def moved(record) -> list[tuple[str, str, str, bool]]:
    return sorted((c.kind, c.subject, c.state, c.repeat) for c in record.alert_changes)


def test_a_run_reports_each_alert_it_fired_and_resolved_once(run):
    assert moved(run(0, 0.90)) == []
    fired = run(1, 0.85)  # five points down: drift fires at once, though alice has no channel
    assert moved(fired) == [("drift", "f1", "firing", False)]
    change = fired.alert_changes[0]
    assert (change.kr_id, change.objective_id, change.owners) == ("f1", "platform", ("alice",))
    assert "0.85" in change.detail or "drop" in change.detail
    assert moved(run(1, 0.85)) == []  # a rerun of the slot moves nothing
    assert moved(run(2, 0.85)) == []  # still drifting, within the repeat interval: no change
    resolved = run(3, 0.90)
    assert moved(resolved) == [("drift", "f1", "resolved", False)]


def test_a_run_older_than_the_judged_slot_reports_nothing(run):
    run(5, 0.90)
    assert moved(run(4, 0.80)) == []  # stored, not judged: past data pages nobody, and announces nothing
