"""`okrflow run`'s exit codes and run id (issue 12, "Small things that break trust"), through the real CLI."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from okrflow.cli import app
from okrflow.store.models import Run
from tests.e2e.okrs import AT, HEADER, write_config

runner = CliRunner()

ALL_BROKEN = (
    HEADER
    + """objectives:
  - id: team
    title: Team objective
    key_results:
      - id: broken
        kind: increase
        baseline: 0
        target: 1
        metric: {{source: warehouse, sql: "SELECT value FROM no_such_table"}}
      - id: also-broken
        kind: maintain_below
        target: 1
        metric: {{source: warehouse, sql: "SELECT nope FROM metrics"}}
"""
)


@pytest.fixture
def env(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("OKRFLOW_STORE_URL", raising=False)


def stored_ids(store: str) -> list[int]:
    engine = create_engine(store)
    with engine.connect() as conn:
        ids = list(conn.execute(select(Run.id).order_by(Run.id)).scalars())
    engine.dispose()
    return ids


def test_a_failed_run_exits_1_and_is_still_stored(tmp_path, sqlite_warehouse, env):
    store = f"sqlite:///{tmp_path / 'history.db'}"
    path = write_config(tmp_path, sqlite_warehouse, store, ALL_BROKEN)
    result = runner.invoke(app, ["-c", str(path), "run", "--at", AT])
    assert result.exit_code == 1, result.output
    assert "run failed: all 2 key results errored: broken, also-broken" in result.stderr
    assert "(failed, 2 errored)" in result.stdout, "the table still shows what errored"
    assert len(stored_ids(store)) == 1, "a failed run is history too"


def test_run_prints_the_stored_run_id(tmp_path, sqlite_warehouse, env):
    store = f"sqlite:///{tmp_path / 'history.db'}"
    config = write_config(tmp_path, sqlite_warehouse, store)
    first = runner.invoke(app, ["-c", str(config), "run", "--at", "2026-11-14T00:00:00Z", "--format", "json"])
    second = runner.invoke(app, ["-c", str(config), "run", "--at", AT])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    ids = stored_ids(store)
    assert len(ids) == 2 and 0 not in ids
    assert json.loads(first.stdout)["run"]["id"] == ids[0]
    assert f"run {ids[1]} at 2026-11-15 12:00 UTC" in second.stdout


def test_an_abandon_can_be_undone_from_the_cli(tmp_path, sqlite_warehouse, env):
    store = f"sqlite:///{tmp_path / 'history.db'}"
    config = write_config(tmp_path, sqlite_warehouse, store)

    def hours_at(at: str) -> tuple[float, list[str]]:
        result = runner.invoke(app, ["-c", str(config), "run", "--at", at, "--format", "json"])
        assert result.exit_code == 0, result.output
        (hours,) = [kr for kr in json.loads(result.stdout)["key_results"] if kr["id"] == "hours"]
        return hours["score"], hours["gates"]

    abandon = ["-c", str(config), "abandon", "hours", "--reason", "source retired", "--at", "2026-11-01T00:00:00Z"]
    assert runner.invoke(app, abandon).exit_code == 0
    assert hours_at("2026-11-10T00:00:00Z") == (0.4, ["abandoned"])
    undo = [
        "-c",
        str(config),
        "abandon",
        "hours",
        "--undo",
        "--reason",
        "source is back",
        "--at",
        "2026-11-12T00:00:00Z",
    ]
    assert runner.invoke(app, undo).exit_code == 0
    assert hours_at("2026-11-13T00:00:00Z") == (0.5, [])
    assert hours_at("2026-11-10T00:00:00Z") == (0.4, ["abandoned"]), "before the undo it was abandoned"
    missing_reason = runner.invoke(app, ["-c", str(config), "abandon", "hours", "--undo"])
    assert missing_reason.exit_code == 2 and "abandon --undo needs a --reason" in missing_reason.stderr
