"""Benchmark 5: ``okrflow report`` at scale (issue 18; target at 1,000 KRs: under 2 s and under 10 MB of HTML).

Each world is a generated config (``benchmarks.world``) and a SQLite store filled by ``benchmarks.history``:
- ``quarter``: benchmark 1's store, 1,000 KRs x 2,200 hourly runs (1,600 of them in the cycle), shared with
  ``cli_latency`` (same cache under ``benchmarks/.work``);
- ``daily``: 1,000 KRs with one run a day from the cycle's start to today;
- ``daily-5000`` (``--with-5000``): the same with 5,000 KRs.

``okrflow report`` runs as a user types it, in a fresh process; each figure is the whole process: wall time,
peak RSS (``os.wait4``) and the HTML file's bytes. ``--stages`` then times the report's stages in this process
(config load, the history read, the charts' data, the rest) in CPU seconds, to show where the time goes.

    .venv/bin/python -m benchmarks.report_size [--scale 0.1] [--repeat 3] [--only quarter,daily] [--with-5000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.cli_latency import HOURLY_RUNS
from benchmarks.common import OKRFLOW, PYTHON, REPO, WORK, bench_env, fmt_bytes, fmt_s, print_table, section
from benchmarks.world import CYCLE_START, FULL_MIX, Urls, write_config

TARGET_S, TARGET_BYTES = 2.0, 10 * 10**6


@dataclass(frozen=True)
class Run:
    wall: float
    cpu: float  # user + system seconds of the process: the figure to compare on a loaded machine
    rss_mb: float
    html_bytes: int


def daily_world(scale: float, krs: int = 1000) -> tuple[str, str]:
    """A config of ``krs`` x ``scale`` KRs and a store of one run a day from the cycle's start to today."""
    from okrflow.connectors.registry import default_registry
    from okrflow.okr_model.loader import load_config

    from benchmarks.history import fill_history
    from okrflow.store import Store

    mix = FULL_MIX.scaled(scale * krs / FULL_MIX.total)
    end = datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0)
    runs = max(2, (end - CYCLE_START).days + 1)
    workdir = WORK / f"report-daily-{mix.key}-{end:%Y%m%d}"
    workdir.mkdir(parents=True, exist_ok=True)
    store_path = workdir / "okrflow.db"
    config_path = write_config(workdir / "okrflow.yaml", mix, Urls(store=f"sqlite:///{store_path}"))
    marker = workdir / "filled"
    if not marker.exists():
        store_path.unlink(missing_ok=True)
        config = load_config(config_path, default_registry())
        print(f"generating {runs} daily runs x {mix.total} KRs into {store_path} ...", flush=True)
        with Store.open(f"sqlite:///{store_path}") as store:
            marker.write_text(str(fill_history(store, config, runs, timedelta(days=1), end)))
    return str(config_path), f"sqlite:///{store_path}"


def prepared(world: str, scale: float, krs: int = 1000) -> tuple[str, str]:
    """(config, store url) of a world, generated if need be in another interpreter: a child forked from a
    process that filled a store counts that process's pages in its own peak RSS (``ru_maxrss``)."""
    code = (
        "import json, sys; from benchmarks import report_size as r, cli_latency as c; "
        f"print(json.dumps(r.daily_world({scale!r}, {krs!r}) if {world!r} == 'daily' else c.prepare({scale!r})[:2]))"
    )
    done = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env=bench_env(), cwd=REPO, check=True)
    *said, last = done.stdout.strip().splitlines()
    for line in said:  # what generating the world printed
        print(line, flush=True)
    config, store_url = json.loads(last)
    return config, store_url


def report_once(config: str, store_url: str, out: Path) -> Run:
    """``okrflow -c CONFIG report --out OUT`` in a fresh process: wall, peak RSS of the process, HTML bytes."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [OKRFLOW, "-c", config, "report", "--out", str(out)],
        env=bench_env(OKRFLOW_STORE_URL=store_url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"okrflow report exited {os.waitstatus_to_exitcode(status)} (config {config})")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.stat().st_size)


def stages(config_path: str, store_url: str) -> None:
    """Where one report's CPU goes, in this process (imports already paid): CPU seconds, the figure that a loaded
    machine does not inflate."""
    from okrflow.connectors.registry import default_registry
    from okrflow.okr_model.loader import load_config

    from okrflow.report.charts import TimeCode, kr_chart
    from okrflow.report.html import build_report
    from okrflow.store import Store
    from okrflow.store.cycle_histories import cycle_series
    from okrflow.store.gc_pause import gc_paused

    clock = time.process_time
    started = clock()
    config = load_config(config_path, default_registry())
    loaded = clock() - started
    start, end = config.cycle_bounds()
    review_cut = datetime.combine(config.cycle.review_date + timedelta(days=1), datetime.min.time(), config.tz)
    at = TimeCode(start.astimezone(config.tz).replace(tzinfo=None), config.tz)
    krs = {kr.id: kr for _, kr in config.key_results()}
    reads = charts = 0.0
    points = 0
    with Store.open(store_url, migrate=False) as store, gc_paused():  # as build_report runs
        began = clock()
        for series in cycle_series(store.engine, list(krs), start, end, review_cut):
            read = clock()
            kr_chart(krs[series.kr_id], series, [], start, end, at)
            done = clock()
            reads, charts, points = reads + read - began, charts + done - read, points + len(series)
            began = done
        began = clock()
        build_report(config, store)
        whole = clock() - began
    print(
        f"  CPU by stage, in one process: config load {fmt_s(loaded)}; history read (lean series + shown records) {fmt_s(reads)} "
        f"({points / len(krs):,.0f} points a KR); charts' data {fmt_s(charts)}; build_report in all {fmt_s(whole)} "
        f"(the rest, {fmt_s(max(0.0, whole - reads - charts))}: status, alerts, annotations, plotly.js, the page)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report_size", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 1,000 KRs (default 1)")
    parser.add_argument("--repeat", type=int, default=3, help="measured runs per world (default 3)")
    parser.add_argument("--only", default="daily,quarter", help="comma-separated subset of: daily, quarter")
    parser.add_argument("--with-5000", action="store_true", help="also 5,000 KRs of daily runs")
    parser.add_argument("--stages", action="store_true", help="time the report's stages in this process")
    args = parser.parse_args(argv)
    repeat = max(1, min(args.repeat, 5))

    section(f"okrflow report (scale {args.scale:g}, fresh process each run)")
    worlds: dict[str, tuple[str, str]] = {}
    for name in args.only.split(","):
        if name.strip() == "daily":
            worlds[f"{round(1000 * args.scale):,} KRs, daily runs"] = prepared("daily", args.scale)
        elif name.strip() == "quarter":
            runs = max(10, round(HOURLY_RUNS * args.scale))
            worlds[f"{round(1000 * args.scale):,} KRs, {runs:,} hourly runs"] = prepared("quarter", args.scale)
    if args.with_5000:
        worlds[f"{round(5000 * args.scale):,} KRs, daily runs"] = prepared("daily", args.scale, krs=5000)
    rows = []
    out = WORK / "report-bench.html"
    for name, (config, store_url) in worlds.items():
        report_once(config, store_url, out)  # warm the page cache
        runs = [report_once(config, store_url, out) for _ in range(repeat)]
        wall = statistics.median(r.wall for r in runs)
        rss = statistics.median(r.rss_mb for r in runs)
        cpu = statistics.median(r.cpu for r in runs)
        size = runs[-1].html_bytes
        verdict = (
            f"wall {'ok' if wall < TARGET_S else 'OVER'}, html {'ok' if size < TARGET_BYTES else 'OVER'}"
            if name.startswith("1,000 ")
            else ""
        )
        spread = f"{fmt_s(min(r.wall for r in runs))} - {fmt_s(max(r.wall for r in runs))}"
        rows.append(
            [name, fmt_s(wall), spread, fmt_s(cpu), f"{rss:.0f} MB", f"{size / 1e6:.2f} MB", str(repeat), verdict]
        )
        print(f"  {name}: {config} (html {fmt_bytes(size)})", flush=True)
    print(f"  load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print_table(["world", "wall (median)", "spread", "CPU", "peak RSS", "HTML", "n", "target < 2 s, < 10 MB"], rows)
    if args.stages:
        for name, (config, store_url) in worlds.items():
            print(f"{name}:")
            stages(config, store_url)


if __name__ == "__main__":
    main()
