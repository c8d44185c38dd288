"""Plain progress lines (a CI log, a flow run's log): a tenth at a time, and at once when the step changes."""

from __future__ import annotations

from okrflow.views.progress import PlainProgress


def test_a_new_stage_is_said_at_once_between_tenths():
    lines: list[str] = []
    progress = PlainProgress("demo", "steps", lines.append)
    for done, stage in ((0, "warehouse"), (1, "warehouse"), (2, "runs"), (3, "runs"), (10, "runs"), (100, None)):
        progress(done, 100, stage)
    assert lines == [
        "demo: 0/100 steps (0%): warehouse",
        "demo: 2/100 steps (2%): runs",
        "demo: 10/100 steps (10%): runs",
        "demo: 100/100 steps (100%)",
    ]


def test_without_stages_a_line_per_tenth_and_nothing_for_no_work():
    lines: list[str] = []
    progress = PlainProgress("compact", "runs deleted", lines.append)
    progress(0, 0)
    for done in range(0, 1001, 50):
        progress(done, 1000)
    assert lines == [f"compact: {n:,}/1,000 runs deleted ({n // 10}%)" for n in range(0, 1001, 100)]
