"""Status and history tables: rich's public Table for a screenful, plain columns (and a footer) for long ones.

Issue 14: ``okrflow/views.py`` drew rich's table itself (``_Grid``, ``_Lines``, ``box.substitute``) to be fast at
1,000 KRs. Now a table of up to ``PLAIN_ABOVE`` rows is rich's own; a longer one is printed plainly and says so.
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from okrflow.okr_model.config import Config
from rich.console import Console

from okrflow.store import HistoryPoint, KRResult, ObjectiveResult, RunSummary
from okrflow.views import PLAIN_ABOVE, history_table, status_table

ROOT = Path(__file__).resolve().parents[2]
AT = datetime(2026, 11, 3, 12, tzinfo=UTC)


def make_config(extra_krs: int = 0) -> Config:
    krs: list[dict[str, Any]] = [
        {"id": "latency", "title": "p95 latency", "kind": "decrease", "unit": "ms", "baseline": 300, "target": 200},
        {"id": "avail", "kind": "maintain_above", "unit": "%", "target": 99.5},
        {"id": "f1", "kind": "increase", "baseline": 0.8, "target": [0.87, 0.92]},
    ]
    krs += [{"id": f"kr-{i:05d}", "kind": "increase", "baseline": 0, "target": 100} for i in range(extra_krs)]
    for kr in krs:
        kr["metric"] = {"source": "s"}
    return Config.model_validate(
        {
            "cycle": {"name": "Q4", "start": "2026-10-01", "end": "2026-12-31"},
            "objectives": [
                {"id": "o", "title": "Fast and reliable", "key_results": krs[:2]},
                {"id": "o2", "parent": "o", "title": "Child", "key_results": krs[2:]},
            ],
        }
    )


def result(kr_id: str, objective: str, value: float | None, score: float | None, status: str, **kw: Any) -> KRResult:
    fields: dict[str, Any] = {
        "kr_id": kr_id,
        "objective_id": objective,
        "value": value,
        "measurement": "ok" if value is not None else "no_data",
        "detail": "",
        "observed_at": None,
        "lineage": {},
        "score": score,
        "computed_score": score,
        "progress": score,
        "status": status,
    }
    return KRResult(**(fields | kw))


def results(extra_krs: int = 0) -> list[KRResult]:
    return [
        result("latency", "o", 231.456, 0.69, "at_risk", reason="score 0.69 is below expected 0.80 [red]now[/]"),
        result("avail", "o", 99.91, 1.0, "on_track", gates=("quality",), detail="line one\nline two"),
        result("f1", "o2", None, None, "no_data", measurement="error", detail="boom\twith a tab"),
    ] + [result(f"kr-{i:05d}", "o2", float(i), 0.5, "on_track") for i in range(extra_krs)]


RUN = RunSummary(
    id=7, slot=AT, status="completed", started_at=AT, finished_at=AT, kr_count=3, error_count=1,
    deployment="default", backfilled=False, detail="",
)  # fmt: skip
OBJECTIVES = [
    ObjectiveResult("o", 0.8, "on_track", reason="scored 2 of 2 key results"),
    ObjectiveResult("o2", None, "no_data"),
]


def render(draw: Any, *args: Any, width: int = 160) -> list[str]:
    console = Console(file=io.StringIO(), width=width, color_system=None, soft_wrap=False)
    draw(*args, console)
    return [line.rstrip() for line in console.file.getvalue().splitlines()]


def test_a_short_status_table_is_riches_own_with_values_targets_and_scores_formatted_once() -> None:
    lines = render(status_table, RUN, OBJECTIVES, results(), make_config())
    assert lines[0] == "Q4: run 7 at 2026-11-03 12:00 UTC (completed, 1 errored)"
    assert lines[1].startswith("┏━") and lines[-1].startswith("└─"), "rich's heavy-headed box"
    body = "\n".join(lines)
    assert (
        "│ o                      │          │           │ 0.80  │ on_track │ Fast and reliable: scored 2 of 2" in body
    )
    assert (
        "│   latency              │ 231.5 ms │ 200 ms    │ 0.69  │ at_risk  │ score 0.69 is below expected 0.80 now"
        in body
    )
    assert "│   avail                │ 99.91%   │ 99.5%     │ 1.00  │ on_track │ capped by quality; line one" in body
    assert "│     f1                 │ -        │ 0.87-0.92 │ -     │ error    │ boom    with a tab" in body


def test_a_status_table_longer_than_the_limit_prints_plain_columns_and_points_to_json() -> None:
    lines = render(status_table, RUN, OBJECTIVES, results(PLAIN_ABOVE), make_config(PLAIN_ABOVE))
    assert not any(char in "\n".join(lines) for char in "│┃━"), "no box"
    assert lines[0] == "Q4: run 7 at 2026-11-03 12:00 UTC (completed, 1 errored)"
    assert re.fullmatch(r"objective / key result +value +target +score +status +note", lines[1])
    assert (
        lines[3]
        == "o                                            0.80   on_track  Fast and reliable: scored 2 of 2 key results"
    )
    assert (
        lines[4]
        == "  latency               231.5 ms  200 ms     0.69   at_risk   score 0.69 is below expected 0.80 now"
    )
    assert (
        lines[5] == "  avail                 99.91%    99.5%      1.00   on_track  capped by quality; line one line two"
    )
    assert lines[7] == "    f1                  -         0.87-0.92  -      error     boom    with a tab"
    assert lines[8] == "    kr-00000            0         100        0.50   on_track"
    rows = PLAIN_ABOVE + 5  # two objectives, three KRs and the extra ones: one line each
    assert len(lines) == 3 + rows + 1
    assert lines[-1] == f"({rows:,} rows, printed plainly above {PLAIN_ABOVE}; for scripts use --format json)"


@pytest.mark.parametrize("count", [1, PLAIN_ABOVE, PLAIN_ABOVE + 1])
def test_a_history_table_is_plain_only_above_the_limit(count: int) -> None:
    config = make_config()
    kr = config.key_result("latency")[1]
    points = [
        HistoryPoint(slot=AT + timedelta(hours=i), run_id=i, run_status="completed", result=results()[0])
        for i in range(count)
    ]
    lines = render(history_table, kr, "latency", points)
    assert lines[0] == "latency: p95 latency"
    if count <= PLAIN_ABOVE:
        assert lines[1].startswith("┏━") and len(lines) == 4 + count + 1
        assert "│ 2026-11-03 12:00 │ 231.5 ms │ ok          │ 0.69  │ at_risk │" in lines[4]
    else:
        assert lines[3] == "2026-11-03 12:00  231.5 ms  ok           0.69   at_risk"
        assert (
            lines[-1]
            == f"({count:,} rows, printed plainly above {PLAIN_ABOVE}; for scripts use --format csv or --format json)"
        )


def test_a_long_table_is_printed_before_the_time_a_person_notices() -> None:
    """1,221 rows (a 1,000-KR status) in well under the 1 s the CLI has in all (benchmark 1)."""
    import time

    config, rows = make_config(1200), results(1200)
    started = time.perf_counter()
    render(status_table, RUN, OBJECTIVES, rows, config)
    assert time.perf_counter() - started < 1.0


def view_sources() -> list[Path]:
    return sorted([*ROOT.glob("okrflow/views*.py"), *ROOT.glob("okrflow/views/*.py")])


def test_views_draw_with_riches_public_table_api_not_a_copy_of_its_internals() -> None:
    internals = re.compile(r"rich\.(segment|measure|cells|control)\b|__rich_console__|__rich_measure__|\.substitute\(")
    found = {p.name: internals.findall(p.read_text()) for p in view_sources()}
    assert view_sources() and not any(found.values()), found


def test_views_modules_have_one_job_each_and_stay_small() -> None:
    sizes = {p.name: len(p.read_text().splitlines()) for p in view_sources()}
    assert sizes and max(sizes.values()) < 400, sizes


def test_a_recording_console_keeps_the_plain_table_for_export() -> None:
    console = Console(file=io.StringIO(), width=160, color_system=None, record=True)
    status_table(RUN, OBJECTIVES, results(PLAIN_ABOVE), make_config(PLAIN_ABOVE), console)
    exported = console.export_text()
    assert "  latency               231.5 ms  200 ms" in exported and "for scripts use --format json" in exported
