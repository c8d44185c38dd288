"""What the CLI prints when its output is not a terminal: a real ``okrflow`` process writing to a file or a pipe.

Tables are not hard-wrapped there (a CI log or ``> status.txt`` keeps each row on one line) unless ``COLUMNS``
says how wide the reader is; ``history`` shows seconds when two runs fall in the same minute.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from okrflow.views.console import UNWRAPPED_WIDTH, output_width
from tests.fixtures.terminal import okrflow_on_terminal

TITLE = "A deliberately long objective title " + "that keeps going " * 12 + "END-OF-TITLE"

CONFIG = f"""
version: 1
cycle: {{name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}}
store: sqlite:///history.db
objectives:
  - id: wide
    title: "{TITLE}"
    key_results:
      - {{id: adoption, kind: manual, baseline: 0, target: 10}}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "okrflow.yaml"
    path.write_text(CONFIG)
    return path


def okrflow(config: Path, *args: str, columns: str | None = None, to_file: Path | None = None) -> str:
    """Run the CLI in its own process, stdout to a file (``to_file``) or a pipe; return what it wrote."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "OKRFLOW_STORE_URL", "PREFECT_API_URL")}
    if columns is not None:
        env["COLUMNS"] = columns
    command = [sys.executable, "-m", "okrflow.cli", "-c", str(config), *args]
    if to_file is None:
        proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout
    with to_file.open("w") as out:
        proc = subprocess.run(command, env=env, stdout=out, stderr=subprocess.PIPE, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return to_file.read_text()


def test_a_wide_status_table_written_to_a_file_or_a_pipe_keeps_each_row_on_one_line(config, tmp_path):
    okrflow(config, "run", "--at", "2026-11-15T12:00:00Z")
    for written in (okrflow(config, "status", to_file=tmp_path / "status.txt"), okrflow(config, "status")):
        row = [line for line in written.splitlines() if "wide" in line and "A deliberately" in line]
        assert len(row) == 1, written
        assert TITLE in row[0] and len(row[0]) > 300
        assert all(len(line) < 1000 for line in written.splitlines())  # unwrapped, not padded to a huge width


def test_columns_is_honoured_off_a_terminal(config, tmp_path):
    okrflow(config, "run", "--at", "2026-11-15T12:00:00Z")
    written = okrflow(config, "status", columns="60", to_file=tmp_path / "status.txt")
    table = [line for line in written.splitlines() if not line.startswith("store: ")]  # a path is never broken
    assert max(len(line) for line in table) <= 60, written
    assert max(len(line) for line in table) >= 55, "laid out for 60 columns, not for the content"
    assert "wide" in written and "adoption" in written and TITLE not in written


def test_history_shows_seconds_when_two_runs_fall_in_the_same_minute(config):
    okrflow(config, "run", "--at", "2026-11-15T12:00:05Z")
    okrflow(config, "run", "--at", "2026-11-15T12:07:00Z")
    apart = okrflow(config, "history", "adoption")
    assert "2026-11-15 12:00 " in apart and "2026-11-15 12:07 " in apart and "12:00:05" not in apart, apart
    okrflow(config, "run", "--at", "2026-11-15T12:00:40Z")
    same_minute = okrflow(config, "history", "adoption")
    for moment in ("2026-11-15 12:00:05", "2026-11-15 12:00:40", "2026-11-15 12:07:00"):
        assert moment in same_minute, same_minute


@pytest.mark.parametrize(
    ("terminal", "environ", "width"),
    [
        (False, {}, UNWRAPPED_WIDTH),
        (False, {"COLUMNS": "60"}, 60),
        (True, {}, None),
        (True, {"COLUMNS": "90"}, 90),
        (False, {"COLUMNS": "wide"}, UNWRAPPED_WIDTH),
        (False, {"COLUMNS": "0"}, UNWRAPPED_WIDTH),
    ],
)
def test_output_width(terminal, environ, width):
    assert output_width(terminal, environ) == width


def okrflow_streams(config: Path, *args: str) -> tuple[str, str]:
    """Run the CLI with stdout and stderr on pipes (as in a CI job); both streams."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "OKRFLOW_STORE_URL", "PREFECT_API_URL")}
    command = [sys.executable, "-m", "okrflow.cli", "-c", str(config), *args]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, proc.stderr


def progress_lines(stderr: str, label: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(f"{label}: ")]


def test_backfill_off_a_terminal_prints_plain_progress_lines_on_stderr(config):
    stdout, stderr = okrflow_streams(
        config, "backfill", "--since", "2026-10-01", "--until", "2026-10-30", "--step", "1d"
    )
    lines = progress_lines(stderr, "backfill")
    assert lines[0] == "backfill: 0/30 slots (0%)" and lines[-1] == "backfill: 30/30 slots (100%)", stderr
    assert "backfill: 15/30 slots (50%)" in lines
    assert len(lines) <= 12, "a tenth at a time, not a line per slot"
    assert "\x1b" not in stderr and "\r" not in stderr, "no bar control codes in a log"
    assert "written: 30 runs" in stdout and "slots (" not in stdout, "stdout keeps the result only"


def test_report_off_a_terminal_prints_plain_progress_lines_on_stderr(tmp_path):
    krs = "\n".join(f"      - {{id: kr{n}, kind: manual, baseline: 0, target: 10}}" for n in range(40))
    config = tmp_path / "okrflow.yaml"
    config.write_text(
        "version: 1\ncycle: {name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}\nstore: sqlite:///history.db\n"
        f"objectives:\n  - id: many\n    title: Many key results\n    key_results:\n{krs}\n"
    )
    okrflow(config, "run", "--at", "2026-11-15T12:00:00Z")
    stdout, stderr = okrflow_streams(config, "report", "--out", str(tmp_path / "report.html"))
    lines = progress_lines(stderr, "report")
    assert lines[0] == "report: 0/80 key result reads and charts (0%)", stderr
    assert lines[-1] == "report: 80/80 key result reads and charts (100%)", stderr
    assert 10 <= len(lines) <= 12 and "\x1b" not in stderr
    assert stdout.strip() == f"wrote {tmp_path / 'report.html'}"


def test_backfill_on_a_terminal_draws_a_bar_instead_of_lines(config):
    """stderr on a pseudo-terminal: rich's bar (cursor control codes), not the plain lines meant for logs."""
    ran = okrflow_on_terminal(config, "backfill", "--since", "2026-10-01", "--until", "2026-10-30")
    assert ran.returncode == 0 and "written: 30 runs" in ran.stdout
    assert "\x1b[" in ran.stderr and "backfill" in ran.stderr, ran.stderr
    assert "backfill: 0/30 slots (0%)" not in ran.stderr, "no log lines on a terminal"
