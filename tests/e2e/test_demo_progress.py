"""``okrflow demo`` shows which step it is in (issue 17), in a real process: with stdout and stderr on pipes, plain
lines on stderr (one per step here) while stdout keeps the demo's story; on a pseudo-terminal, rich's bar named
after the step, with the story printed above it."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e.test_progress import lines_of
from tests.fixtures.terminal import okrflow_on_pipes, okrflow_on_terminal

STEPS = [
    "demo: 0/8 steps (0%): building the warehouse",
    "demo: 1/8 steps (12%): seeding MLflow",
    "demo: 2/8 steps (25%): starting Prometheus",
    "demo: 3/8 steps (37%): evaluating the cycle so far",
    "demo: 4/8 steps (50%): evaluating the cycle so far",
    "demo: 5/8 steps (62%): alerts: the champion degraded",
    "demo: 6/8 steps (75%): alerts: the champion restored",
    "demo: 7/8 steps (87%): writing the report",
    "demo: 8/8 steps (100%)",
]
"""Two runs: three set-up steps, the two runs, the champion swapped and restored, the report."""


def demo_args(tmp_path: Path) -> tuple[str, ...]:
    """The demo with two runs; its -c config is unused (the demo writes its own), hence ``UNUSED``."""
    return ("demo", "--workdir", str(tmp_path / "okrflow-demo"), "--runs", "2")


UNUSED = Path("unused.yaml")


def assert_the_story_is_on_stdout(stdout: str) -> None:
    assert "okrflow demo in" in stdout and stdout.count("  run at ") == 2, stdout
    assert "Report: " in stdout and "demo: " not in stdout, "stdout keeps the demo's story only"


def test_the_demo_off_a_terminal_prints_a_plain_line_per_step_on_stderr(tmp_path):
    ran = okrflow_on_pipes(UNUSED, *demo_args(tmp_path))
    assert ran.returncode == 0, ran.stderr
    assert lines_of(ran.stderr, "demo") == STEPS, ran.stderr
    assert "\x1b" not in ran.stderr and "\r" not in ran.stderr, "no bar control codes in a log"
    assert_the_story_is_on_stdout(ran.stdout)


def test_the_demo_on_a_terminal_draws_a_bar_named_after_the_step_below_its_story(tmp_path):
    """Both streams on one pseudo-terminal, as a person runs it: the bar names the step, and each line of the story
    is printed above the bar (after rich erased it), never appended to the bar's line and then erased with it."""
    ran = okrflow_on_terminal(UNUSED, *demo_args(tmp_path), stdout_too=True)
    shown = ran.stderr
    assert ran.returncode == 0, shown
    assert "\x1b[" in shown and "demo: evaluating the cycle so far" in shown, shown
    assert "demo: writing the report" in shown, shown
    assert not any(line in shown for line in STEPS), "no log lines on a terminal"
    before = [shown[: found.start()] for found in re.finditer("  run at ", shown)]
    assert len(before) == 2 and all(text.endswith(("\r\x1b[2K", "\n")) for text in before), [b[-80:] for b in before]
    assert "Report: " in shown
