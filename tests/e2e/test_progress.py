"""Progress of long commands in a real ``okrflow`` process (issue 17): plain lines on stderr when it is not a
terminal (a CI log stays readable), rich's bar on a pseudo-terminal; stdout keeps the result either way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from okrflow.store import Store
from tests.fixtures.terminal import okrflow_on_pipes, okrflow_on_terminal
from tests.integration.test_retention import hourly

CONFIG = """
version: 1
cycle: {name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}
store: sqlite:///history.db
objectives:
  - id: obj
    title: An objective
    key_results:
      - {id: alpha, kind: manual, baseline: 0, target: 10}
"""


def lines_of(stderr: str, label: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(f"{label}: ")]


@pytest.fixture
def hourly_history(tmp_path: Path) -> Path:
    """20 days of hourly runs ending yesterday: ``compact --raw-days 1`` deletes 460 of them in 3 batches."""
    config = tmp_path / "okrflow.yaml"
    config.write_text(CONFIG)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    with Store.open(f"sqlite:///{tmp_path / 'history.db'}") as store:
        hourly(store, today - timedelta(days=21), hours=20 * 24)
    return config


def test_compact_off_a_terminal_prints_a_plain_line_per_batch_on_stderr(hourly_history):
    ran = okrflow_on_pipes(hourly_history, "compact", "--raw-days", "1")
    assert ran.returncode == 0, ran.stderr
    assert lines_of(ran.stderr, "compact") == [
        "compact: 0/460 runs deleted (0%)",
        "compact: 200/460 runs deleted (43%)",
        "compact: 400/460 runs deleted (86%)",
        "compact: 460/460 runs deleted (100%)",
    ], ran.stderr
    assert "\x1b" not in ran.stderr and "\r" not in ran.stderr, "no bar control codes in a log"
    assert "deleted 460 runs" in ran.stdout and "runs deleted (" not in ran.stdout, "stdout keeps the result only"


def test_compact_on_a_terminal_draws_a_bar_instead_of_lines(hourly_history):
    ran = okrflow_on_terminal(hourly_history, "compact", "--raw-days", "1")
    assert ran.returncode == 0 and "deleted 460 runs" in ran.stdout, ran.stderr
    assert "\x1b[" in ran.stderr and "compact" in ran.stderr, ran.stderr
    assert "compact: 0/460 runs deleted (0%)" not in ran.stderr, "no log lines on a terminal"


def test_compact_with_nothing_to_delete_prints_no_progress(hourly_history):
    okrflow_on_pipes(hourly_history, "compact", "--raw-days", "1")
    ran = okrflow_on_pipes(hourly_history, "compact", "--raw-days", "1")
    assert ran.returncode == 0 and ran.stdout.startswith("nothing to compact"), ran.stderr
    assert not lines_of(ran.stderr, "compact"), ran.stderr
