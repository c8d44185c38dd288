"""A cycle's edges end to end (issue 12, "Cycles have edges"): real SQLite warehouse and history store.

Nothing outside the cycle changes the cycle's stored result: a run before its start or after its end is refused
(exit 2 from the CLI), a previous cycle's rows in the same store are never read, and the result freezes at the end.
"""

from __future__ import annotations

import sqlite3
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from okrflow.connectors.registry import default_registry
from okrflow.flows.pipeline import evaluate
from okrflow.okr_model.cycles import OutsideCycle
from okrflow.okr_model.loader import parse_config
from typer.testing import CliRunner

from okrflow.cli import app
from okrflow.store import Store

runner = CliRunner()

CONFIG = """
version: 1
cycle: {{name: {name}, start: {start}, end: {end}}}
timezone: {tz}
store: {store}
sources:
  warehouse: {{type: sql, url: "{warehouse}", timeout_s: 5, retries: 0}}
objectives:
  - id: ops
    title: Ops
    key_results:
      - id: uptime
        kind: maintain_above
        target: 99.5
        metric: {{source: warehouse, sql: "SELECT value FROM series WHERE at <= :now ORDER BY at DESC LIMIT 1"}}
      - id: signups
        kind: increase
        baseline: 0
        target: 100
        metric: {{source: warehouse, sql: "SELECT value FROM series WHERE at <= :now ORDER BY at DESC LIMIT 1"}}
      - id: clock
        kind: increase
        baseline: 0
        target: 1
        metric: {{source: warehouse, sql: "SELECT CAST(strftime('%s', :now) AS REAL) / 1e10"}}
"""
Q3 = {"name": "2026-Q3", "start": "2026-07-01", "end": "2026-09-30"}
Q4 = {"name": "2026-Q4", "start": "2026-10-01", "end": "2026-12-31"}
Q4_START, Q4_END = datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)


def warehouse(folder: Path, points: dict[datetime, float]) -> str:
    path = folder / "warehouse.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS series (at TEXT, value REAL)")
        conn.executemany(
            "INSERT INTO series VALUES (?, ?)",
            [(at.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" "), v) for at, v in points.items()],
        )
    conn.close()
    return f"sqlite:///{path}"


def write(folder: Path, url: str, store: str, cycle: dict[str, str] = Q4, tz: str = "UTC") -> Path:
    path = folder / f"{cycle['name']}.yaml"
    path.write_text(CONFIG.format(warehouse=url, store=store, tz=tz, **cycle))
    return path


def load(path: Path):
    return parse_config(path.read_text(), str(path), default_registry())


def snapshot(store: Store) -> tuple:
    status = store.status()
    assert status is not None
    krs = tuple((r.kr_id, r.value, r.score, r.status) for r in status.key_results)
    return status.run.slot, krs, tuple((o.objective_id, o.score, o.status) for o in status.objectives)


@pytest.fixture(autouse=True)
def _env(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("OKRFLOW_STORE_URL", raising=False)


def test_january_breaches_do_not_change_the_q4_result(tmp_path):
    """The audit's case: a Q4 maintain score of 1.0 dropped to 0.5 after a January breach. Now refused."""
    url = warehouse(
        tmp_path,
        {datetime(2026, 12, 1, tzinfo=UTC): 99.9, datetime(2027, 1, 10, tzinfo=UTC): 90.0},
    )
    store = f"sqlite:///{tmp_path / 'history.db'}"
    config = write(tmp_path, url, store)
    assert runner.invoke(app, ["-c", str(config), "run", "--at", "2026-12-20T00:00:00Z"]).exit_code == 0
    before = runner.invoke(app, ["-c", str(config), "status", "--format", "json"]).stdout
    january = runner.invoke(app, ["-c", str(config), "run", "--at", "2027-01-10T00:00:00Z"])
    assert january.exit_code == 2, january.output
    assert "cycle 2026-Q4 ended on 2026-12-31 (UTC); its result is frozen" in january.stderr
    assert runner.invoke(app, ["-c", str(config), "status", "--format", "json"]).stdout == before
    september = runner.invoke(app, ["-c", str(config), "run", "--at", "2026-09-20"])
    assert september.exit_code == 2 and "is before cycle 2026-Q4, which starts on 2026-10-01" in september.stderr


def test_now_never_reads_past_the_cycle_end(tmp_path):
    """The last second of the cycle binds :now to that second; the first second after it is refused."""
    url = warehouse(tmp_path, {datetime(2026, 10, 1, tzinfo=UTC): 100.0})
    config = load(write(tmp_path, url, f"sqlite:///{tmp_path / 'h.db'}"))
    last = Q4_END - timedelta(seconds=1)
    record = evaluate(config, None, last)
    clock = next(r for r in record.key_results if r.kr_id == "clock")
    assert clock.value == pytest.approx(last.timestamp() / 1e10)
    with pytest.raises(OutsideCycle):
        evaluate(config, None, Q4_END)


def test_a_naive_at_is_read_in_the_config_time_zone(tmp_path):
    url = warehouse(tmp_path, {datetime(2026, 10, 1, tzinfo=UTC): 100.0})
    store = f"sqlite:///{tmp_path / 'history.db'}"
    config = write(tmp_path, url, store, tz="America/Los_Angeles")
    result = runner.invoke(app, ["-c", str(config), "run", "--at", "2026-10-01"])
    assert result.exit_code == 0, result.output
    assert "evaluating as of 2026-10-01T00:00:00-07:00 (2026-10-01T07:00:00Z)" in result.stdout
    with Store.open(store) as opened:
        assert opened.status().run.slot == datetime(2026, 10, 1, 7, tzinfo=UTC)


day = st.integers(0, 91)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    inside=st.dictionaries(day, st.floats(98.0, 100.0), min_size=1, max_size=5),
    before=st.dictionaries(st.integers(1, 80), st.floats(0.0, 100.0), max_size=3),
    after=st.dictionaries(st.integers(0, 60), st.floats(0.0, 100.0), min_size=1, max_size=3),
    order=st.randoms(use_true_random=False),
)
def test_nothing_outside_a_cycle_changes_its_stored_result(inside, before, after, order):
    """Property: a previous cycle's runs in the same store and refused runs after the end leave the cycle's
    stored result exactly as the cycle's own runs made it."""
    in_slots = {Q4_START + timedelta(days=d, hours=12): v for d, v in inside.items()}
    early = {Q4_START - timedelta(days=d): v for d, v in before.items()}
    late = {Q4_END + timedelta(days=d, hours=1): v for d, v in after.items()}
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        url = warehouse(root, {**in_slots, **early, **late})
        q4 = load(write(root, url, "unused", Q4))
        q3 = load(write(root, url, "unused", Q3))
        with Store.open(f"sqlite:///{root / 'alone.db'}") as alone:
            for slot in sorted(in_slots):
                evaluate(q4, alone, slot, alerts=False)
            expected = snapshot(alone)
        with Store.open(f"sqlite:///{root / 'mixed.db'}") as mixed:
            for slot in sorted(early):
                evaluate(q3, mixed, slot, alerts=False)
            late_order = list(late)
            order.shuffle(late_order)
            for index, slot in enumerate(sorted(in_slots)):  # each run of the cycle, then a refused late one
                evaluate(q4, mixed, slot, alerts=False)
                with pytest.raises(OutsideCycle):
                    evaluate(q4, mixed, late_order[index % len(late_order)], alerts=False)
            assert snapshot(mixed) == expected


def test_catch_up_after_the_end_stops_at_the_end(tmp_path):
    """``okrflow serve`` starting in January catches up the missed December slots, none after the end."""
    from okrflow.flows.catchup import catch_up

    url = warehouse(tmp_path, {datetime(2026, 12, 1, tzinfo=UTC): 99.9})
    daily = 'version: 1\nschedule: "@daily"\ncatchup: all\nmax_catchup_runs: 10\n'
    (tmp_path / "q4.yaml").write_text(
        CONFIG.format(warehouse=url, store="unused", tz="UTC", **Q4).replace("version: 1\n", daily)
    )
    config = load(tmp_path / "q4.yaml")
    with Store.open(f"sqlite:///{tmp_path / 'h.db'}") as store:
        evaluate(config, store, datetime(2026, 12, 28, tzinfo=UTC), alerts=False)
        caught = catch_up(config, store, datetime(2027, 1, 20, tzinfo=UTC))
        assert [r.slot for r in caught] == [datetime(2026, 12, d, tzinfo=UTC) for d in (29, 30, 31)]
        assert store.status().run.slot == datetime(2026, 12, 31, tzinfo=UTC)


HELD = """
cycle: {name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}
sources: {db: {type: sql, url: "sqlite:///x.db"}, gx: {type: great_expectations, suites: {s: {data: {path: x.csv}}}}}
objectives:
  - id: o
    title: t
    key_results:
      - {id: a, kind: increase, baseline: 0, target: 10, metric: {source: db, sql: "SELECT 1"},
         quality_gate: {source: gx, suite: s, on_fail: hold}}
"""


def test_a_held_gate_never_keeps_a_score_of_an_earlier_cycle(store):
    """A held quality gate keeps the previous score of this cycle; with none, the KR has no score, not Q3's."""
    from okrflow.flows.pipeline import load_scoring_inputs

    from tests.integration.test_store import kr_result, run_record

    config = parse_config(HELD)
    at = Q4_START + timedelta(days=2)
    store.write_run(run_record(Q4_START - timedelta(days=3), [kr_result("a", 9.0, 0.9)]))  # Q3
    assert load_scoring_inputs(store, config, at).previous_scores == {}
    store.write_run(run_record(Q4_START + timedelta(days=1), [kr_result("a", 3.0, 0.3)]))
    assert load_scoring_inputs(store, config, at).previous_scores == {"a": 0.3}
