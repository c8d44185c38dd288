"""Crash safety and concurrent writers of one slot, with real processes against SQLite and PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from okrflow.store import Store

SLOT = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)

WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime, timedelta
    from okrflow.store import KRResult, ObjectiveResult, RunRecord, Store

    url, writer, rounds = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
    slot = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
    with Store.open(url) as store:
        for i in range(rounds):
            krs = [
                KRResult(f"kr{k}", "obj", writer, "ok", "", slot, {"writer": writer, "round": i}, 0.5, 0.5, 0.5, "on_track")
                for k in range(50)
            ]
            store.write_run(RunRecord(slot, slot, slot, "completed", "h", "Q4", krs, [ObjectiveResult("obj", 0.5, "on_track")]))
    """
)


def counts(url: str) -> tuple[int, int, set[float]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        runs = conn.execute(sa.text("SELECT count(*) FROM runs")).scalar_one()
        rows = conn.execute(sa.text("SELECT count(*) FROM measurements")).scalar_one()
        writers = {v for (v,) in conn.execute(sa.text("SELECT DISTINCT value FROM measurements"))}
    engine.dispose()
    return runs, rows, writers


def test_two_processes_writing_one_slot_leave_one_complete_run(store_url):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, store_url, str(writer), "15"], stderr=subprocess.PIPE, text=True
        )
        for writer in (1.0, 2.0)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    runs, rows, writers = counts(store_url)
    assert runs == 1
    assert rows == 50  # never both writers' rows, never a mix of rounds
    assert len(writers) == 1  # one writer's complete set


@pytest.mark.postgres
def test_a_run_killed_while_writing_leaves_no_half_written_slot(make_postgres_db, tmp_path):
    """Hold a lock on the last table a run writes, kill the writer mid-transaction, then rerun."""
    store = make_postgres_db()
    Store.open(store).close()
    warehouse = tmp_path / "warehouse.db"
    sa_engine = sa.create_engine(f"sqlite:///{warehouse}")
    with sa_engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (v FLOAT)"))
        conn.execute(sa.text("INSERT INTO t VALUES (7)"))
    sa_engine.dispose()
    config = tmp_path / "okrflow.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            version: 1
            cycle: {{name: Q4, start: 2026-10-01, end: 2026-12-31}}
            store: "{store}"
            sources: {{warehouse: {{type: sql, url: "sqlite:///{warehouse}"}}}}
            objectives:
              - id: o
                title: O
                key_results:
                  - {{id: k, kind: increase, baseline: 0, target: 10, metric: {{source: warehouse, sql: "SELECT v FROM t"}}}}
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    run = [sys.executable, "-m", "okrflow.cli", "-c", str(config), "run", "--at", SLOT.isoformat()]

    blocker = sa.create_engine(store)
    with blocker.connect() as conn:
        trans = conn.begin()
        conn.execute(sa.text("LOCK TABLE objective_scores IN ACCESS EXCLUSIVE MODE"))
        proc = subprocess.Popen(run, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 60
        waiting = 0
        while time.monotonic() < deadline and not waiting:  # the writer is blocked inside its transaction
            waiting = conn.execute(
                sa.text("SELECT count(*) FROM pg_locks WHERE relation = 'objective_scores'::regclass AND NOT granted")
            ).scalar_one()
            time.sleep(0.1)
        assert waiting, "the run never reached the objective_scores insert"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        trans.rollback()
    blocker.dispose()

    assert counts(store)[:2] == (0, 0), "a killed run left rows behind"
    rerun = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    assert counts(store) == (1, 1, {7.0})
