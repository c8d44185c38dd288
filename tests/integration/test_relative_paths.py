"""Relative paths in a config are relative to its folder, not the working directory (issue 12): the store, a
SQLite warehouse, an MLflow ``sqlite:///`` store and a Great Expectations data file; ``status`` says which store
it read and never creates an empty one. Real SQLite files, the real CLI."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from okrflow.connectors.registry import default_registry
from okrflow.okr_model.loader import load_config
from okrflow.okr_model.paths import anchor_sqlite_url, store_url
from typer.testing import CliRunner

runner = CliRunner()

CONFIG = """
version: 1
cycle: {name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}
store: sqlite:///history/okrflow.db
sources:
  warehouse: {type: sql, url: "sqlite:///data/warehouse.db", retries: 0}
  tracking: {type: mlflow, tracking_uri: "sqlite:///mlruns.db", registry_uri: "sqlite:////abs/registry.db"}
  quality:
    type: great_expectations
    suites:
      rows: {data: {path: data/tickets.csv}, expectations: [{expect_table_row_count_to_be_between: {min_value: 1}}]}
objectives:
  - id: team
    title: Team
    key_results:
      - id: signups
        kind: increase
        baseline: 0
        target: 100
        metric: {source: warehouse, sql: "SELECT value FROM metrics"}
"""


@pytest.fixture
def project(tmp_path, monkeypatch) -> Path:
    monkeypatch.delenv("OKRFLOW_STORE_URL", raising=False)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    folder = tmp_path / "team"
    (folder / "data").mkdir(parents=True)
    with sqlite3.connect(folder / "data" / "warehouse.db") as conn:
        conn.execute("CREATE TABLE metrics (value REAL)")
        conn.execute("INSERT INTO metrics VALUES (42)")
    conn.close()
    (folder / "data" / "tickets.csv").write_text("id\n1\n")
    (folder / "okrflow.yaml").write_text(CONFIG)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    return folder


def test_paths_in_the_file_are_anchored_to_its_folder(project: Path):
    config = load_config(project / "okrflow.yaml", default_registry())
    assert config.store == f"sqlite:///{project}/history/okrflow.db" == store_url(config, {})
    assert config.sources["warehouse"].url.get_secret_value() == f"sqlite:///{project}/data/warehouse.db"
    assert config.sources["tracking"].tracking_uri == f"sqlite:///{project}/mlruns.db"
    assert config.sources["tracking"].registry_uri == "sqlite:////abs/registry.db"
    assert config.sources["quality"].suites["rows"].data.path == str(project / "data" / "tickets.csv")
    assert store_url(config, {"OKRFLOW_STORE_URL": "sqlite:///mine.db"}) == "sqlite:///mine.db", "env wins, as typed"


def test_run_and_status_from_other_folders_use_the_config_folder(project: Path, tmp_path: Path):
    config = str(project / "okrflow.yaml")
    result = runner.invoke(app_(), ["-c", config, "run", "--at", "2026-11-15T12:00:00Z"])
    assert result.exit_code == 0, result.output
    assert (project / "history" / "okrflow.db").is_file()
    status = runner.invoke(app_(), ["-c", config, "status", "--format", "json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["key_results"][0]["value"] == 42.0
    assert f"store: sqlite:///{project}/history/okrflow.db" in status.stderr
    assert list((tmp_path / "elsewhere").iterdir()) == [], "nothing is created in the working directory"


def test_status_of_a_missing_store_says_where_and_creates_nothing(project: Path):
    status = runner.invoke(app_(), ["-c", str(project / "okrflow.yaml"), "status"])
    assert status.exit_code == 0, status.output
    assert f"store: sqlite:///{project}/history/okrflow.db (does not exist yet" in status.stdout
    assert "No runs yet" in status.stdout
    assert not (project / "history").exists()


@pytest.mark.parametrize(
    ("url", "anchored"),
    [
        ("sqlite:///okrflow.db", "sqlite:////base/okrflow.db"),
        ("sqlite+pysqlite:///data/x.db?timeout=5", "sqlite+pysqlite:////base/data/x.db?timeout=5"),
        ("sqlite:///file:x.db?mode=ro&uri=true", "sqlite:///file:/base/x.db?mode=ro&uri=true"),
        ("sqlite:////abs/x.db", "sqlite:////abs/x.db"),
        ("sqlite://", "sqlite://"),
        ("sqlite:///:memory:", "sqlite:///:memory:"),
        ("postgresql+psycopg://u:p@h/db", "postgresql+psycopg://u:p@h/db"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ],
)
def test_which_urls_are_anchored(url: str, anchored: str):
    assert anchor_sqlite_url(url, Path("/base")) == anchored


def app_():
    from okrflow.cli import app

    return app
