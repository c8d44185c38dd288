"""A real Prefect flow run on SQLite and PostgreSQL warehouses, read back through the CLI."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from okrflow.cli import app
from tests.e2e.okrs import AT, EXPECTED_SCORES, EXPECTED_STATUS, EXPECTED_TEAM, write_config

pytestmark = pytest.mark.slow  # every test enters the Prefect test harness

runner = CliRunner()


def cli(config, *args: str):
    result = runner.invoke(app, ["-c", str(config), *args])
    return result


def status_json(config) -> dict:
    result = cli(config, "status", "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def check_scores(status: dict) -> None:
    assert status["run"]["at"] == AT
    assert status["run"]["status"] == "partial"
    krs = {kr["id"]: kr for kr in status["key_results"]}
    assert set(krs) == set(EXPECTED_SCORES)
    for kr_id, expected in EXPECTED_SCORES.items():
        assert krs[kr_id]["score"] == (pytest.approx(expected) if expected is not None else None), kr_id
        assert krs[kr_id]["status"] == EXPECTED_STATUS[kr_id], kr_id
    assert krs["broken"]["measurement"] == "error"
    assert "no_such_table" in krs["broken"]["detail"]
    assert krs["adoption"]["measurement"] == "no_data"
    assert krs["signups"]["value"] == pytest.approx(15.0)
    assert krs["signups"]["objective"] == "team"
    assert set(krs["signups"]) >= {"id", "objective", "value", "score", "status", "measurement", "gates", "forecast"}
    objectives = {o["id"]: o for o in status["objectives"]}
    assert objectives["team"]["score"] == pytest.approx(EXPECTED_TEAM)
    assert objectives["company"]["score"] == pytest.approx(EXPECTED_TEAM)  # its only child


@pytest.mark.prefect
@pytest.mark.parametrize("warehouse", ["sqlite_warehouse", "postgres_warehouse"])
def test_prefect_flow_scores_and_stores_every_kr(request, tmp_path, prefect_harness, warehouse):
    from okrflow.flows.evaluate import evaluate_flow

    config = write_config(tmp_path, request.getfixturevalue(warehouse), f"sqlite:///{tmp_path / 'history.db'}")
    record = evaluate_flow(str(config), AT)
    assert record.status == "partial" and "broken" in record.detail
    check_scores(status_json(config))

    evaluate_flow(str(config), AT)  # the same slot again
    history = json.loads(cli(config, "history", "signups", "--format", "json").stdout)
    assert len(history["points"]) == 1
    assert history["points"][0]["score"] == pytest.approx(0.5)


def test_direct_run_writes_the_same_rows_as_the_flow(tmp_path, sqlite_warehouse, prefect_harness):
    from okrflow.flows.evaluate import evaluate_flow

    (tmp_path / "flow").mkdir()
    flow_config = write_config(tmp_path / "flow", sqlite_warehouse, f"sqlite:///{tmp_path / 'flow.db'}")
    evaluate_flow(str(flow_config), AT)
    (tmp_path / "cli").mkdir()
    cli_config = write_config(tmp_path / "cli", sqlite_warehouse, f"sqlite:///{tmp_path / 'cli.db'}")
    result = cli(cli_config, "run", "--at", AT)
    assert result.exit_code == 0, result.output
    from_flow, from_cli = status_json(flow_config), status_json(cli_config)
    assert from_flow["key_results"] == from_cli["key_results"]
    assert from_flow["objectives"] == from_cli["objectives"]


def test_flow_with_worker_processes_writes_the_same_rows_as_threads(tmp_path, sqlite_warehouse, prefect_harness):
    from okrflow.flows import workers
    from okrflow.flows.evaluate import evaluate_flow

    (tmp_path / "flow").mkdir()
    flow_config = write_config(tmp_path / "flow", sqlite_warehouse, f"sqlite:///{tmp_path / 'flow.db'}")
    flow_config.write_text(flow_config.read_text() + "fetch: {processes: 2}\n")
    workers.shutdown_workers()
    try:
        evaluate_flow(str(flow_config), AT)
        assert workers._executors, "the flow fetched in worker processes"
    finally:
        workers.shutdown_workers()
    (tmp_path / "cli").mkdir()
    cli_config = write_config(tmp_path / "cli", sqlite_warehouse, f"sqlite:///{tmp_path / 'cli.db'}")
    assert cli(cli_config, "run", "--at", AT).exit_code == 0
    from_flow, from_cli = status_json(flow_config), status_json(cli_config)
    check_scores(from_flow)
    assert from_flow["key_results"] == from_cli["key_results"]
    assert from_flow["objectives"] == from_cli["objectives"]
