"""Catch-up over many missed slots tells its progress (issue 17): plain lines, a tenth at a time, in the flow
run's log of the served flow (a flow process has no terminal). Real SQLite store; the flow under Prefect's test
harness (a real Prefect server), its log read back from the server's API."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from okrflow.flows.catchup import catch_up
from okrflow.flows.pipeline import evaluate
from okrflow.okr_model.loader import load_config

from okrflow.store import Store
from okrflow.views.progress import PlainProgress
from tests.fixtures.cycles import cycle_around_now
from tests.fixtures.polling import wait_for

CONFIG = """
version: 1
cycle: {cycle}
schedule: "0 * * * *"
store: sqlite:///history.db
catchup: all
objectives:
  - id: obj
    title: An objective
    key_results:
      - {{id: alpha, kind: manual, baseline: 0, target: 10}}
"""


def write_config(folder: Path, now: datetime) -> Path:
    path = folder / "okrflow.yaml"
    path.write_text(CONFIG.format(cycle=cycle_around_now(now=now)))
    return path


def test_catch_up_tells_progress_a_tenth_at_a_time(tmp_path, monkeypatch):
    monkeypatch.delenv("OKRFLOW_STORE_URL", raising=False)
    now = datetime(2026, 11, 2, 20, 30, tzinfo=UTC)
    config = load_config(write_config(tmp_path, now))
    lines: list[str] = []
    with Store.open(config.store) as store:
        evaluate(config, store, now - timedelta(hours=20, minutes=30))  # then 20 hourly slots were missed
        repaired = catch_up(config, store, now, progress=PlainProgress("catch-up", "missed slots", lines.append))
        assert len(repaired) == 20
        assert lines == [f"catch-up: {n}/20 missed slots ({n * 5}%)" for n in range(0, 21, 2)]
        lines.clear()
        assert catch_up(config, store, now, progress=PlainProgress("catch-up", "missed slots", lines.append)) == []
        assert lines == [], "nothing missed: nothing said"


@pytest.mark.slow
def test_the_served_flow_logs_catch_up_progress_in_its_run_log(tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("OKRFLOW_STORE_URL", raising=False)
    from okrflow.flows.evaluate import evaluate_flow
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.testing.utilities import prefect_test_harness

    now = datetime.now(UTC)
    path = write_config(tmp_path, now)
    config = load_config(path)
    with Store.open(config.store) as store:  # the service was down for five hourly slots
        evaluate(config, store, now - timedelta(hours=5, minutes=30))
    with prefect_test_harness(server_startup_timeout=90):
        state = evaluate_flow(str(path), return_state=True)
        assert state.is_completed(), state
        flow_run_id = state.state_details.flow_run_id

        def progress_lines() -> list[str]:
            with get_client(sync_client=True) as client:
                logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
            found = [log.message for log in logs if log.message.startswith("catch-up: ")]
            return found if found and found[-1].endswith("(100%)") else []  # the log is shipped in batches

        lines = wait_for(progress_lines, timeout=60, what="the catch-up lines in the flow run's log")
    total = int(re.match(r"catch-up: 0/(\d+) missed slots \(0%\)$", lines[0]).group(1))  # type: ignore[union-attr]
    assert total >= 5, lines
    assert lines == [f"catch-up: {n}/{total} missed slots ({n * 100 // total}%)" for n in range(total + 1)]


def test_serve_start_up_catch_up_shows_progress_then_one_line(tmp_path, monkeypatch, capfd):
    """``serve``'s catch-up before serving: progress on stderr (plain off a terminal), one summary on stdout."""
    monkeypatch.delenv("OKRFLOW_STORE_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    from okrflow.flows.deploy import catch_up_on_start

    now = datetime(2026, 11, 2, 20, 30, tzinfo=UTC)
    config = load_config(write_config(tmp_path, now))
    with Store.open(config.store) as store:
        evaluate(config, store, now - timedelta(hours=10, minutes=30))  # then 10 hourly slots were missed
    catch_up_on_start(config, "default", now)
    out, err = capfd.readouterr()
    assert err.splitlines() == [f"catch-up: {n}/10 missed slots ({n * 10}%)" for n in range(11)]
    assert out.splitlines() == [
        "caught up 10 missed slots from 2026-11-02T11:00:00+00:00 to 2026-11-02T20:00:00+00:00: 10 completed"
    ]
    with Store.open(config.store) as store:
        assert len(store.runs_between("default", now - timedelta(days=1), now)) == 11
