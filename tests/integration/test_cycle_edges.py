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
from typer.testing import CliRunner

from connectors.registry import default_registry
from flows.pipeline import evaluate
from okr_model.cycles import OutsideCycle
from okr_model.loader import parse_config
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
            attempts = [*sorted(in_slots), *late]
            late_order = list(late)
            order.shuffle(late_order)
            for slot in attempts:
                if slot in late:
                    with pytest.raises(OutsideCycle):
                        evaluate(q4, mixed, slot, alerts=False)
                else:
                    evaluate(q4, mixed, slot, alerts=False)
                    for refused in late_order[:1]:
                        with pytest.raises(OutsideCycle):
                            evaluate(q4, mixed, refused, alerts=False)
            assert snapshot(mixed) == expected
