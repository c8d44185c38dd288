"""A run whose alert step failed says so (issue 14): its stored detail, `okrflow run`'s exit code and message,
and the Prefect flow run's state. The run itself is kept: its scores are history.

The alert step is made to fail for real: the store's ``alert_states`` table is dropped, so judging the run
raises inside the run's writing transaction (SQLite, no mocks).
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select, text
from typer.testing import CliRunner

from okrflow.cli import app
from okrflow.store import Store
from okrflow.store.models import Run
from tests.e2e.okrs import AT, write_config

runner = CliRunner()


@pytest.fixture
def env(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("OKRFLOW_STORE_URL", raising=False)


def broken_alert_store(tmp_path) -> str:
    """A migrated store whose alert-state table is gone: judging any run raises."""
    url = f"sqlite:///{tmp_path / 'history.db'}"
    Store.open(url).close()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE alert_states"))
    engine.dispose()
    return url


def stored_runs(url: str) -> list[tuple[str, str]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = [(r.status, r.detail) for r in conn.execute(select(Run.status, Run.detail).order_by(Run.id))]
    engine.dispose()
    return rows


def test_a_failed_alert_step_is_stored_in_the_run_detail_and_exits_1(tmp_path, sqlite_warehouse, env):
    url = broken_alert_store(tmp_path)
    config = write_config(tmp_path, sqlite_warehouse, url)
    result = runner.invoke(app, ["-c", str(config), "run", "--at", AT])
    assert result.exit_code == 1, result.output
    assert "its alert step failed" in result.stderr and "alert_states" in result.stderr, result.stderr
    assert "signups" in result.stdout, "the scored table is still printed"
    ((status, detail),) = stored_runs(url)
    assert status == "partial", "the run's own status is kept (one KR of the shared config errors)"
    assert detail.startswith("1 of 6 key results errored: broken; alerts failed: history store "), detail
    assert detail.endswith("OperationalError: no such table: alert_states"), detail


def test_a_healthy_alert_step_keeps_exit_0_and_an_empty_detail(tmp_path, sqlite_warehouse, env):
    url = f"sqlite:///{tmp_path / 'history.db'}"
    config = write_config(tmp_path, sqlite_warehouse, url)
    result = runner.invoke(app, ["-c", str(config), "run", "--at", AT])
    assert result.exit_code == 0, result.output
    assert stored_runs(url) == [("partial", "1 of 6 key results errored: broken")]
    assert "alerts: judged" in result.stdout


@pytest.mark.slow  # enters the Prefect test harness
@pytest.mark.prefect
def test_a_failed_alert_step_fails_the_prefect_flow_run_after_the_write(tmp_path, sqlite_warehouse, prefect_harness):
    from okrflow.flows.evaluate import evaluate_flow
    from prefect.client.orchestration import get_client

    from okrflow.alerts.notify import AlertStepFailed

    url = broken_alert_store(tmp_path)
    config = write_config(tmp_path, sqlite_warehouse, url)
    state = evaluate_flow(str(config), AT, return_state=True)
    assert state.is_failed(), state
    with pytest.raises(AlertStepFailed, match="alert step failed"):
        state.result()
    ((status, detail),) = stored_runs(url)
    assert status == "partial" and "; alerts failed: history store " in detail, "written before the flow failed"
    with get_client(sync_client=True) as client:
        stored = client.read_flow_run(state.state_details.flow_run_id)
    assert stored.state is not None and stored.state.is_failed(), "Prefect's UI shows the flow run failed"
