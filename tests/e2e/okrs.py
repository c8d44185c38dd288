"""A config with hand-computed expected scores, shared by the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

AT = "2026-11-15T12:00:00+00:00"
ELAPSED = (44 * 24 + 12) / (92 * 24)  # 2026-10-01 .. 2026-11-15T12:00 of a 92-day cycle

HEADER = """
version: 1
cycle: {{name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}}
store: {store}
sources:
  warehouse: {{type: sql, url: "{warehouse}", timeout_s: 5, retries: 0}}
"""
"""The start of an end-to-end config: the 2026-Q4 cycle, a ``{store}`` and one SQL source ``warehouse``."""

CONFIG = (
    HEADER
    + """objectives:
  - id: company
    title: Company objective
  - id: team
    parent: company
    title: Team objective
    weight: 1
    key_results:
      - id: signups
        kind: increase
        baseline: 10
        target: 20
        weight: 2
        metric: {{source: warehouse, sql: "SELECT avg(value) FROM metrics WHERE name = 'signups' AND at < :now"}}
      - id: f1
        kind: increase
        baseline: 0.79
        target: [0.87, 0.92]
        track: aspirational
        metric: {{source: warehouse, sql: "SELECT value FROM metrics WHERE name = :metric", params: {{metric: f1}}}}
      - id: hours
        kind: decrease
        baseline: 4
        target: 2
        metric: {{source: warehouse, sql: "SELECT value FROM metrics WHERE name = 'hours'"}}
      - id: latency
        kind: maintain_below
        target: 0.2
        metric: {{source: warehouse, sql: "SELECT value FROM metrics WHERE name = 'latency'"}}
      - id: broken
        kind: increase
        baseline: 0
        target: 1
        metric: {{source: warehouse, sql: "SELECT value FROM no_such_table"}}
      - id: adoption
        kind: manual
        baseline: 20
        target: 80
"""
)

# signups: avg(14, 16) = 15 -> (15-10)/(20-10) = 0.5; f1: 0.895 in band -> 0.7 + 0.3 * 0.025/0.05 = 0.85
# hours: (3-4)/(2-4) = 0.5; latency: 0.15 <= 0.2 held in 1 of 1 runs -> 1.0; broken: error; adoption: no check-in
EXPECTED_SCORES = {"signups": 0.5, "f1": 0.85, "hours": 0.5, "latency": 1.0, "broken": None, "adoption": None}
EXPECTED_TEAM = (0.5 * 2 + 0.85 + 0.5 + 1.0) / 5  # weighted mean of the KRs that have data
EXPECTED_STATUS = {
    "signups": "on_track",  # 0.5 >= 0.4946 - 0.1
    "f1": "on_track",  # aspirational: 0.85 >= 0.7 * 0.4946 - 0.1
    "hours": "on_track",
    "latency": "on_track",
    "broken": "no_data",
    "adoption": "no_data",
}


def write_config(tmp_path: Path, warehouse: str, store: str, template: str = CONFIG) -> Path:
    """``template`` (``CONFIG`` unless a test brings its own) with its warehouse and store, as okrflow.yaml."""
    path = tmp_path / "okrflow.yaml"
    path.write_text(template.format(warehouse=warehouse, store=store))
    return path
