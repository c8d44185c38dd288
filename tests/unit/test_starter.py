"""`okrflow init`: a starter config that validates as written, and the `.env` beside a config."""

from __future__ import annotations

import stat
from datetime import date

import pytest
from okrflow.okr_model.dotenv import read_dotenv
from okrflow.okr_model.loader import load_config
from typer.testing import CliRunner

from okrflow.cli import app
from okrflow.starter import current_quarter, write_starter

runner = CliRunner()
PLACEHOLDERS = (
    "OKRFLOW_WEBHOOK_SECRET",
    "OKRFLOW_WEBHOOK_URL",
    "WAREHOUSE_URL",
    "PROMETHEUS_URL",
    "MLFLOW_TRACKING_URI",
)


@pytest.fixture
def bare_environment(monkeypatch):
    for name in (*PLACEHOLDERS, "OKRFLOW_STORE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 12, 7), ("2026-Q4", date(2026, 10, 1), date(2026, 12, 31))),
        (date(2027, 1, 1), ("2027-Q1", date(2027, 1, 1), date(2027, 3, 31))),
        (date(2027, 6, 30), ("2027-Q2", date(2027, 4, 1), date(2027, 6, 30))),
        (date(2028, 8, 15), ("2028-Q3", date(2028, 7, 1), date(2028, 9, 30))),
    ],
)
def test_current_quarter(today, expected):
    assert current_quarter(today) == expected


def test_init_writes_a_config_that_validates_as_written(tmp_path, bare_environment):
    config = tmp_path / "team" / "okrflow.yaml"
    result = runner.invoke(app, ["-c", str(config), "init", "--team", "ML platform"])
    assert result.exit_code == 0, result.output
    text = config.read_text()
    assert "ML platform" in text
    for name in PLACEHOLDERS:
        assert "${" + name in text, name  # every address and secret is a placeholder
    kinds = {kr.metric.source for _, kr in load_config(config).key_results() if kr.metric}
    assert kinds == {"warehouse", "prom", "tracking", "quality"}  # one KR per source kind
    env = tmp_path / "team" / ".env"
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert len(read_dotenv(env)["OKRFLOW_WEBHOOK_SECRET"]) >= 40

    validated = runner.invoke(app, ["-c", str(config), "validate"])
    assert validated.exit_code == 0, validated.output
    assert "4 key results" in validated.output


def test_init_does_not_overwrite(tmp_path, bare_environment):
    config = tmp_path / "okrflow.yaml"
    config.write_text("# mine\n")
    result = runner.invoke(app, ["-c", str(config), "init"])
    assert result.exit_code == 2
    assert "not overwriting" in result.output
    assert config.read_text() == "# mine\n"
    assert runner.invoke(app, ["-c", str(config), "init", "--force"]).exit_code == 0
    assert config.read_text() != "# mine\n"


def test_environment_wins_over_dotenv(tmp_path, monkeypatch):
    files = write_starter(tmp_path / "okrflow.yaml", today=date(2026, 12, 7))
    files.env.write_text(files.env.read_text() + "WAREHOUSE_URL=sqlite:///from-dotenv.db\n")
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    assert load_config(files.config).sources["warehouse"].model_extra["url"] == "sqlite:///from-dotenv.db"
    monkeypatch.setenv("WAREHOUSE_URL", "sqlite:///from-environment.db")
    assert load_config(files.config).sources["warehouse"].model_extra["url"] == "sqlite:///from-environment.db"


def test_read_dotenv_format(tmp_path):
    path = tmp_path / ".env"
    path.write_text(
        "# comment\n\nexport A=1\nB = 'two words'\nC=\"x=y\"\n not a line\nD=\n",
        encoding="utf-8",
    )
    assert read_dotenv(path) == {"A": "1", "B": "two words", "C": "x=y", "D": ""}
    assert read_dotenv(tmp_path / "absent") == {}
