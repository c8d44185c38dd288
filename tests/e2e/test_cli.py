"""The CLI contract end to end on a real SQLite warehouse and history store (no Prefect API: direct path)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from sqlalchemy import create_engine, func, select
from typer.testing import CliRunner

from okrflow.cli import app
from okrflow.store.models import KRScoreRow, MeasurementRow, Run
from tests.e2e.okrs import AT, EXPECTED_SCORES, write_config

runner = CliRunner()


@pytest.fixture
def setup(tmp_path, sqlite_warehouse, monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv("OKRFLOW_STORE_URL", raising=False)
    store = f"sqlite:///{tmp_path / 'history.db'}"
    return write_config(tmp_path, sqlite_warehouse, store), store


def cli(config, *args: str):
    return runner.invoke(app, ["-c", str(config), *args])


def rows(store: str) -> dict[str, int]:
    engine = create_engine(store)
    with engine.connect() as conn:
        counts = {
            t.__tablename__: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (Run, MeasurementRow, KRScoreRow)
        }
    engine.dispose()
    return counts


def krs(config) -> dict[str, dict]:
    result = cli(config, "status", "--format", "json")
    assert result.exit_code == 0, result.output
    return {kr["id"]: kr for kr in json.loads(result.stdout)["key_results"]}


def test_run_then_status_json(setup):
    config, _store = setup
    result = cli(config, "run", "--at", AT)
    assert result.exit_code == 0, result.output  # some KRs without data still complete the run
    assert "signups" in result.stdout
    scores = {kr_id: kr["score"] for kr_id, kr in krs(config).items()}
    assert scores == pytest.approx(EXPECTED_SCORES)


def test_status_gives_every_status_its_reason_and_counts_the_krs_with_data(setup):
    config, _store = setup
    assert cli(config, "run", "--at", AT).exit_code == 0
    shown = json.loads(cli(config, "status", "--format", "json").stdout)
    objectives = {o["id"]: o for o in shown["objectives"]}
    assert {k: (o["scored"], o["of"]) for k, o in objectives.items()} == {"company": (4, 6), "team": (4, 6)}
    assert objectives["team"]["reason"].endswith("scored 4 of 6 key results")
    assert all(kr["reason"] for kr in shown["key_results"]), shown["key_results"]
    table = cli(config, "status").stdout
    assert "scored 4 of 6 key results" in table and "is at or above expected" in table


def test_same_slot_twice_leaves_one_set_of_rows(setup):
    config, store = setup
    assert cli(config, "run", "--at", AT).exit_code == 0
    first = rows(store)
    assert cli(config, "run", "--at", AT).exit_code == 0
    assert rows(store) == first == {"runs": 1, "measurements": 6, "kr_scores": 6}
    assert cli(config, "run", "--at", "2026-11-16T12:00:00Z").exit_code == 0
    assert rows(store) == {"runs": 2, "measurements": 12, "kr_scores": 12}


def test_dry_run_writes_nothing(setup):
    config, store = setup
    result = cli(config, "run", "--at", AT, "--dry-run", "--format", "json")
    assert result.exit_code == 0, result.output
    preview = {kr["id"]: kr["score"] for kr in json.loads(result.stdout)["key_results"]}
    assert preview == pytest.approx(EXPECTED_SCORES)
    assert rows(store)["runs"] == 0


def test_run_at_earlier_time_uses_it_for_binds_and_pacing(setup):
    config, _ = setup
    assert cli(config, "run", "--at", "2026-10-20T00:00:00Z").exit_code == 0
    signups = krs(config)["signups"]
    assert signups["value"] == pytest.approx(14.0)  # the November row is after :now
    assert signups["score"] == pytest.approx(0.4)
    assert signups["expected"] == pytest.approx(19 / 92, abs=1e-6)


def test_history_formats(setup):
    config, _ = setup
    for at in ("2026-10-20T00:00:00Z", AT):
        assert cli(config, "run", "--at", at).exit_code == 0
    as_json = json.loads(cli(config, "history", "signups", "--format", "json").stdout)
    assert [p["value"] for p in as_json["points"]] == pytest.approx([14.0, 15.0])
    as_csv = list(csv.DictReader(io.StringIO(cli(config, "history", "signups", "--format", "csv").stdout)))
    assert [float(r["score"]) for r in as_csv] == pytest.approx([0.4, 0.5])
    table = cli(config, "history", "broken")
    assert table.exit_code == 0 and "error" in table.stdout


def test_checkin_override_and_abandon(setup):
    config, _ = setup
    assert (
        cli(
            config, "checkin", "adoption", "50", "--note", "survey", "--author", "bob", "--at", "2026-11-01T00:00:00Z"
        ).exit_code
        == 0
    )
    assert (
        cli(
            config,
            "override",
            "hours",
            "0.9",
            "--reason",
            "new tooling lands next week",
            "--at",
            "2026-11-01T00:00:00Z",
        ).exit_code
        == 0
    )
    assert (
        cli(config, "abandon", "signups", "--reason", "data limitation", "--at", "2026-11-01T00:00:00Z").exit_code == 0
    )
    assert cli(config, "run", "--at", AT).exit_code == 0
    result = krs(config)
    assert result["adoption"]["value"] == 50.0 and result["adoption"]["score"] == pytest.approx(0.5)
    assert result["hours"]["score"] == 0.9 and result["hours"]["computed_score"] == pytest.approx(0.5)
    assert result["hours"]["overridden"] is True
    assert result["signups"]["score"] == pytest.approx(0.4) and result["signups"]["gates"] == ["abandoned"]

    assert cli(config, "override", "hours", "--clear", "--at", "2026-11-02T00:00:00Z").exit_code == 0
    assert cli(config, "run", "--at", AT).exit_code == 0
    assert krs(config)["hours"]["score"] == pytest.approx(0.5)


def test_people_commands_refuse_bad_input(setup):
    config, _ = setup
    assert cli(config, "checkin", "signups", "3").exit_code == 2  # not a manual KR
    assert cli(config, "checkin", "nope", "3").exit_code == 2
    assert cli(config, "override", "hours", "0.5").exit_code == 2  # no reason
    assert cli(config, "override", "hours", "1.5", "--reason", "x").exit_code == 2
    assert cli(config, "abandon", "hours").exit_code == 2


def test_status_on_an_empty_store(setup):
    config, _ = setup
    assert json.loads(cli(config, "status", "--format", "json").stdout)["run"] is None
    assert "No runs yet" in cli(config, "status").stdout


def test_validate_reports_file_key_and_exit_2_without_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\ncycle: {name: q, start: 2026-10-01, end: 2026-12-31}\nobjectives:\n"
        "  - id: o\n    title: O\n    key_results:\n      - id: k\n        kind: increase\n"
        "        baseline: 1\n        target: [2, 3, 4]\n        metric: {source: nowhere, sql: x}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "okrflow.cli", "-c", str(bad), "validate"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert f"{bad}:10: objectives[0].key_results[0].target" in proc.stderr
    assert "[low, high]" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_validate_ok_and_missing_file(setup, tmp_path):
    config, _ = setup
    ok = cli(config, "validate")
    assert ok.exit_code == 0 and "6 key results" in ok.stdout
    missing = cli(tmp_path / "nope.yaml", "validate")
    assert missing.exit_code == 2 and "file not found" in missing.stderr
