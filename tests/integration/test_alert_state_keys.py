"""One alert state per config, whatever starts the run (issue 13).

Real pipeline runs on a SQLite warehouse whose numbers (and whose table's presence) a test changes, a real
history store and a real loopback webhook receiver:

- a manual ``okrflow run`` (deployment ``default``) and ``okrflow serve`` (its own deployment) share each
  alert, so ``repeat_interval`` holds across them; state rows written per deployment are carried over;
- runs of slots older than the latest judged slot update history but send nothing, and say so;
- a resolve is sent only for what was told firing;
- a rerun of a slot that now succeeds resolves that slot's ``source_error``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from okrflow.connectors.registry import default_registry
from okrflow.flows.pipeline import evaluate
from okrflow.okr_model.loader import load_config

from okrflow.alerts.repository import AlertRepository
from okrflow.store import Store
from tests.fixtures.warehouse import metrics_warehouse, set_metrics, set_source

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)


@dataclass
class World:
    config_path: Path
    warehouse: sa.Engine
    store: Store
    receiver: object

    def set(self, **values: float) -> None:
        set_metrics(self.warehouse, **values)

    def source(self, up: bool) -> None:
        set_source(self.warehouse, up)

    def run(self, at: datetime, deployment: str = "default"):
        config = load_config(self.config_path, default_registry())
        return evaluate(config, self.store, at, deployment=deployment)

    def told(self) -> list[tuple[str, str, str]]:
        """(kind, state, subject) of every alert POSTed, in order."""
        return [
            (alert["kind"], alert["state"], alert["kr_id"] or alert["objective_id"] or alert.get("source") or "")
            for request in self.receiver.requests  # type: ignore[attr-defined]
            for alert in request.json()["alerts"]
        ]


def make_world(tmp_path: Path, receiver, store_url: str | None = None, group: str | None = None) -> World:
    tmp_path.mkdir(parents=True, exist_ok=True)
    warehouse_path = tmp_path / "warehouse.db"
    warehouse = metrics_warehouse(warehouse_path, f1=90, uptime=99.9)
    store_url = store_url or f"sqlite:///{tmp_path / 'history.db'}"
    grouping = f", group: {group}" if group else ""
    path = tmp_path / "okrs.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            version: 1
            cycle: {{name: Q4, start: 2026-10-01, end: 2026-12-31}}
            store: "{store_url}"
            defaults:
              alerts: {{for: 0s, repeat_interval: 24h, retry_backoff: 0s{grouping}}}
            sources:
              warehouse: {{type: sql, url: "sqlite:///{warehouse_path}", retries: 0}}
              steady: {{type: sql, url: "sqlite:///{warehouse_path}", retries: 0}}
            channels:
              hook: {{type: webhook, url: "{receiver.url}/keys"}}
            owners:
              alice: {{channels: [hook]}}
            objectives:
              - id: platform
                title: Reliable AI platform
                owner: alice
                key_results:
                  - id: f1
                    title: Tickets auto-resolved, percent
                    kind: increase
                    baseline: 0
                    target: 100
                    drift: {{max_drop: 1000}}
                    metric: {{source: warehouse, sql: "SELECT v FROM m WHERE k = 'f1'"}}
                  - id: uptime
                    title: Uptime stays above 99%
                    kind: maintain_above
                    target: 99
                    drift: {{max_drop: 1000}}
                    metric: {{source: steady, sql: "SELECT 99.9"}}
            """
        )
    )
    return World(path, warehouse, Store.open(store_url), receiver)


@pytest.fixture
def world(tmp_path, http_receiver):
    made = make_world(tmp_path, http_receiver)
    yield made
    made.store.close()
    made.warehouse.dispose()


def test_a_manual_run_and_serve_share_one_alert_so_repeat_interval_holds(world):
    world.source(up=False)
    world.run(T0, deployment="default")  # okrflow run
    world.run(T0 + timedelta(minutes=15), deployment="okrs-serve")  # okrflow serve, the next slot
    world.run(T0 + timedelta(minutes=30), deployment="default")
    assert world.told() == [("source_error", "firing", "warehouse")]
    world.source(up=True)
    world.run(T0 + timedelta(minutes=45), deployment="okrs-serve")  # serve sees it clear: resolved, once
    assert world.told() == [("source_error", "firing", "warehouse"), ("source_error", "resolved", "warehouse")]
    states = AlertRepository(world.store.engine).states(None)
    assert [(s.group, s.kind, s.subject) for s in states.values()] == [("default", "source_error", "warehouse")]


def test_an_explicit_alert_group_keeps_two_configs_on_one_store_apart(tmp_path, http_receiver):
    first = make_world(tmp_path / "a", http_receiver, f"sqlite:///{tmp_path / 'shared.db'}", group="team-a")
    second = make_world(tmp_path / "b", http_receiver, f"sqlite:///{tmp_path / 'shared.db'}", group="team-b")
    try:
        first.source(up=False)
        second.source(up=False)
        first.run(T0)
        second.run(T0)
        assert first.told() == [("source_error", "firing", "warehouse")] * 2  # each config tells its owner
        assert {s.group for s in AlertRepository(first.store.engine).states(None).values()} == {"team-a", "team-b"}
    finally:
        for made in (first, second):
            made.store.close()
            made.warehouse.dispose()


def test_past_slots_update_history_but_send_nothing_and_say_so(world):
    world.run(T0)  # today: fine
    world.set(f1=5)  # the data of days ago: far behind
    records = [world.run(T0 - timedelta(days=day)) for day in range(5, 0, -1)]
    assert world.told() == []
    notes = [getattr(record, "alert_note", "") for record in records]
    assert notes == ["alerts: not judged (slot older than the latest judged slot 2026-11-16 09:00)"] * 5
    assert len(world.store.runs()) == 6  # history has every run
    world.run(T0 + timedelta(hours=1))  # the next live slot with the same bad data is judged, in slot order
    assert ("off_track", "firing", "f1") in world.told()


def test_okrflow_run_at_a_past_slot_prints_that_alerts_were_not_judged(world):
    world.run(T0)
    okrflow = Path(sys.executable).with_name("okrflow")
    at = (T0 - timedelta(days=3)).isoformat()
    result = subprocess.run(
        [str(okrflow), "-c", str(world.config_path), "run", "--at", at], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "alerts: not judged (slot older than the latest judged slot 2026-11-16 09:00)" in result.stdout


def test_resolved_is_sent_only_for_what_was_told_firing(world):
    world.set(f1=5)  # off track, and so at risk too: told once, as off track
    world.run(T0)
    world.set(f1=40)  # better, still at risk: off track resolves
    world.run(T0 + timedelta(hours=1))
    world.set(f1=95)  # on track: the at-risk alert clears, but it was never told: no "resolved" for it
    world.run(T0 + timedelta(hours=2))
    told = [t for t in world.told() if t[2] == "f1"]
    assert told == [("off_track", "firing", "f1"), ("off_track", "resolved", "f1")], told


def test_a_rerun_of_a_slot_that_now_succeeds_resolves_its_source_error(world):
    world.source(up=False)
    world.run(T0)
    world.run(T0)  # a rerun still failing: nothing new
    assert world.told() == [("source_error", "firing", "warehouse")]
    world.source(up=True)
    world.run(T0)  # the same slot, now answered
    assert world.told() == [("source_error", "firing", "warehouse"), ("source_error", "resolved", "warehouse")]


def _store_at(url: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    import okrflow.store.store as store_module

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(store_module._MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_states_kept_per_deployment_are_carried_over_not_lost(backend, tmp_path, http_receiver, request):
    """A store of the old schema holds one firing source_error twice (run and serve): it becomes one state."""
    url = f"sqlite:///{tmp_path / 'old.db'}" if backend == "sqlite" else request.getfixturevalue("make_postgres_db")()
    _store_at(url, "0004")
    import hashlib

    def old_fingerprint(deployment: str) -> str:
        return hashlib.sha256(f"{deployment}|source_error|warehouse".encode()).hexdigest()[:32]

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for deployment, notified in (("default", T0 - timedelta(hours=2)), ("okrs-serve", T0 - timedelta(hours=1))):
            conn.execute(
                sa.text(
                    "INSERT INTO alert_states (fingerprint, deployment, kind, subject, phase, consecutive, last_slot,"
                    " fired_at, last_notified_at) VALUES (:f, :d, 'source_error', 'warehouse', 'firing', 1, :at,"
                    " :at, :at)"
                ),
                {"f": old_fingerprint(deployment), "d": deployment, "at": notified.replace(tzinfo=None)},
            )
        conn.execute(
            sa.text(
                "INSERT INTO alert_states (fingerprint, deployment, kind, subject, phase, consecutive, last_slot)"
                " VALUES (:f, 'okrs-serve', 'at_risk', 'f1', 'pending', 1, :at)"
            ),
            {
                "f": hashlib.sha256(b"okrs-serve|at_risk|f1").hexdigest()[:32],
                "at": (T0 - timedelta(hours=1)).replace(tzinfo=None),
            },
        )
    engine.dispose()

    made = make_world(tmp_path, http_receiver, url)  # Store.open migrates to the head
    try:
        states = {(s.group, s.kind, s.subject): s for s in AlertRepository(made.store.engine).states(None).values()}
        assert set(states) == {("default", "source_error", "warehouse"), ("default", "at_risk", "f1")}
        kept = states["default", "source_error", "warehouse"]
        assert kept.state.phase == "firing" and kept.notified
        assert kept.state.last_notified_at == T0 - timedelta(hours=1)  # the later of the two
        made.source(up=False)
        made.run(T0)  # still down, told an hour ago: repeat_interval holds, nothing is sent
        assert made.told() == []
        made.source(up=True)
        made.run(T0 + timedelta(minutes=15))
        assert made.told() == [("source_error", "resolved", "warehouse")]
    finally:
        made.store.close()
        made.warehouse.dispose()
