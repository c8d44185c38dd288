"""``okrflow report`` of 1,000 key results with 150 runs each (issue 18): one copy of plotly.js, the charts' data
thinned for display and bounded in size, and the page still opens offline in a real headless Chromium, drawing
the charts near the viewport (and the last one once scrolled to) without an error or a network request.

The store is filled by ``benchmarks.history.fill_history`` (rows as ``Store.write_run`` writes them, in bulk).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from okrflow.connectors.registry import default_registry
from okrflow.okr_model.loader import load_config
from typer.testing import CliRunner

from benchmarks.history import fill_history
from okrflow.cli import app
from okrflow.report.charts import MAX_DRAWN
from okrflow.store import Store
from tests.e2e.test_report import PAGE_IDLE, Browser, chromium_binary, problems
from tests.fixtures.polling import wait_for

KRS, RUNS = 1000, 150
PER_KR_BYTES = 6_000
"""The page's bound per KR beyond plotly.js: the tree row, review rows, the card and its chart data (before
issue 18 a KR of 150 runs took ~17 KB: its own copy of plotly's template and every point as a date string)."""


def write_config(tmp: Path, store: str) -> Path:
    lines = [
        "version: 1",
        "cycle: {name: 2026-Q4, start: 2026-10-01, end: 2026-12-31, review: 2026-11-15}",
        f'store: "{store}"',
        "objectives:",
    ]
    for o in range(KRS // 5):
        lines += [f"  - id: obj-{o:03d}", f"    title: Objective {o}", "    key_results:"]
        lines += [
            f"      - {{id: kr-{o * 5 + k:04d}, kind: manual, baseline: 40, target: 60, unit: pts}}" for k in range(5)
        ]
    path = tmp / "okrflow.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def big_report(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("report-scale")
    store_url = f"sqlite:///{tmp / 'history.db'}"
    config_path = write_config(tmp, store_url)
    config = load_config(config_path, default_registry())
    with Store.open(store_url) as store:
        fill_history(store, config, RUNS, timedelta(hours=1), datetime(2026, 11, 20, 9, tzinfo=UTC))
    out = tmp / "report.html"
    result = CliRunner().invoke(app, ["-c", str(config_path), "report", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def chart_block(html: str) -> dict:
    block = re.search(r'<script type="application/json" id="okrflow-charts">(.*?)</script>', html, re.S)
    assert block is not None
    return json.loads(block.group(1))


def test_one_library_bounded_size_and_thinned_lines(big_report):
    import plotly.offline

    html = big_report.read_text(encoding="utf-8")
    bundle = plotly.offline.get_plotlyjs()
    assert html.count(bundle) == 1, "plotly.js is inlined exactly once"
    assert html.replace(bundle, "").count("Plotly.newPlot(") == 1, "one drawing call, in the page's chart script"
    size = big_report.stat().st_size
    assert size <= len(bundle) + KRS * PER_KR_BYTES, f"{size:,} bytes for {KRS} KRs"
    charts = chart_block(html)["charts"]
    assert len(charts) == KRS
    for kr_id, chart in charts.items():
        lines = {t["n"]: t for t in chart["t"]}
        assert 0 < len(lines["value"]["x"]) <= MAX_DRAWN and 0 < len(lines["score"]["x"]) <= MAX_DRAWN, kr_id
        assert chart["runs"] == RUNS and chart["drawn"] <= MAX_DRAWN, kr_id
    assert html.count("Downsampled for display") == KRS
    assert "<code>okrflow history kr-0999 --format csv</code>" in html


def after(browser: Browser, action: str, ready: str) -> list[dict]:
    """Run ``action`` in the page, wait until ``ready`` is true and the page is idle; the events meanwhile."""
    browser.events.clear()
    browser.evaluate(action)
    wait_for(lambda: browser.evaluate(ready), 30, 0.1, ready)
    browser.call("Runtime.evaluate", expression=PAGE_IDLE, awaitPromise=True, returnByValue=True, timeout=30)
    return list(browser.events)


DRAWN = "document.querySelectorAll('.chart[data-kr] .main-svg').length"


def test_the_page_opens_offline_and_draws_charts_as_they_come_into_view(big_report, tmp_path):
    browser = Browser(chromium_binary(), tmp_path / "profile")
    try:
        events = browser.open(big_report.as_uri(), "document.readyState === 'complete' && !!window.Plotly", 60)
        assert browser.evaluate(DRAWN) == 0  # the tree and the review fill the first screens
        first, last = "document.getElementById('chart-kr-0000')", "document.getElementById('chart-kr-0999')"
        events += after(browser, f"{first}.scrollIntoView()", f"{first}.querySelectorAll('.main-svg').length > 0")
        drawn_ids = browser.evaluate("Array.from(document.querySelectorAll('.chart[data-drawn]')).map(e => e.id)")
        assert "chart-kr-0000" in drawn_ids and len(drawn_ids) < KRS / 20, drawn_ids  # near the viewport only
        assert browser.evaluate(f"{last}.querySelectorAll('.main-svg').length") == 0
        events += after(browser, f"{last}.scrollIntoView()", f"{last}.querySelectorAll('.main-svg').length > 0")
        assert browser.evaluate(f"{last}.querySelectorAll('.scatterlayer .trace').length") >= 4
        assert 0 < browser.evaluate(f"{last}.data.find(t => t.name === 'value').x.length") <= MAX_DRAWN
        assert browser.evaluate(DRAWN) < KRS / 10
        assert problems(events) == []
    finally:
        browser.close()
