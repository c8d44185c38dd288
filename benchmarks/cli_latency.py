"""Benchmark 1: latency of ``okrflow validate``, ``status`` and ``history`` at scale (target: each under 1.0 s).

A generated config of 1,000 KRs over SQL, Prometheus, MLflow and Great Expectations sources (nothing needs to
run: these commands do not fetch) and a SQLite store holding a quarter of hourly runs (2,200 runs x 1,000 KRs
= 2.2M rows per table, written by ``benchmarks.history``, cached under ``benchmarks/.work``). Each command runs
in a fresh interpreter, as a user types it; then ``python -X importtime`` shows what each one imports, and
that none imports Prefect, MLflow, Great Expectations or pandas.

    .venv/bin/python -m benchmarks.cli_latency [--scale 0.1] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
from datetime import UTC, datetime, timedelta

from benchmarks.common import PYTHON, REPO, WORK, Sample, bench_env, fmt_s, print_table, run_cli, section
from benchmarks.world import FULL_MIX, Urls, write_config

HEAVY = ("prefect", "mlflow", "great_expectations", "pandas", "alembic", "prometheus_api_client")
HOURLY_RUNS = 2200
TARGET_S = 1.0


def prepare(scale: float) -> tuple[str, str, int]:
    """The config and the store (built once, cached); returns (config path, store url, runs)."""
    from okrflow.connectors.registry import default_registry
    from okrflow.okr_model.loader import load_config

    from okrflow.store import Store

    mix = FULL_MIX.scaled(scale)
    runs = max(10, round(HOURLY_RUNS * scale))
    workdir = WORK / f"cli-{mix.key}-{runs}"
    workdir.mkdir(parents=True, exist_ok=True)
    store_path = workdir / "okrflow.db"
    config_path = write_config(workdir / "okrflow.yaml", mix, Urls(store=f"sqlite:///{store_path}"))
    marker = workdir / "filled"
    if not marker.exists():
        from benchmarks.history import fill_history

        store_path.unlink(missing_ok=True)
        config = load_config(config_path, default_registry())
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        print(f"generating {runs} hourly runs x {mix.total} KRs into {store_path} ...", flush=True)
        with Store.open(f"sqlite:///{store_path}") as store:
            report = fill_history(store, config, runs, timedelta(hours=1), end)
        print(
            f"generated {report.measurements:,} measurements, {report.kr_scores:,} scores, "
            f"{report.objective_scores:,} objective scores in {report.seconds:.1f} s ({report.rows_per_s:,.0f} rows/s)"
        )
        marker.write_text(str(report))
    return str(config_path), f"sqlite:///{store_path}", runs


def import_costs(args: list[str], env: dict[str, str], top: int = 8) -> tuple[list[tuple[str, int]], list[str], int]:
    """(top cumulative import times in us, heavy packages imported, total modules) of ``okrflow ARGS``."""
    done = subprocess.run(
        [PYTHON, "-X", "importtime", "-m", "okrflow.cli", *args], capture_output=True, text=True, env=env, cwd=REPO
    )
    costs: dict[str, int] = {}
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if match and len(match.group(3)) == 1:  # top-level imports only (no double counting)
            costs[match.group(4)] = int(match.group(2))
    names = {m.group(1).strip().split(".")[0] for m in re.finditer(r"\| *(\S+)$", done.stderr, re.M)}
    heavy = sorted(h for h in HEAVY if h in names)
    modules = sum(1 for line in done.stderr.splitlines() if line.startswith("import time:")) - 1
    return sorted(costs.items(), key=lambda kv: -kv[1])[:top], heavy, modules


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cli_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 1,000 KRs and 2,200 runs (default 1)")
    parser.add_argument("--repeat", type=int, default=5, help="measured runs per command (default 5)")
    args = parser.parse_args(argv)

    section(f"CLI latency (scale {args.scale:g})")
    config, store_url, runs = prepare(args.scale)
    env = bench_env(OKRFLOW_STORE_URL=store_url)
    commands = {
        "validate": ["-c", config, "validate"],
        "status": ["-c", config, "status"],
        "status --format json": ["-c", config, "status", "--format", "json"],
        "history KR": ["-c", config, "history", "kr-00001"],
        "history KR --format csv": ["-c", config, "history", "kr-00001", "--format", "csv"],
    }
    rows = []
    for name, cli in commands.items():
        run_cli(cli, env)  # warm the page cache
        values = tuple(run_cli(cli, env)[0] for _ in range(args.repeat))
        sample = Sample(f"okrflow {name}", values)
        verdict = "ok" if sample.median < TARGET_S else "OVER"
        rows.append(sample.row(target=f"< {TARGET_S:g} s: {verdict}"))
    print(f"config: {config} | store: {runs} runs, {os.path.getsize(store_url[10:]) / 2**20:.0f} MB")
    print_table(["command (fresh process, wall)", "median", "spread", "n", "target"], rows)

    section("What the commands import (python -X importtime)")
    for name in ("validate", "status", "history KR"):
        top, heavy, modules = import_costs(commands[name], env)
        print(f"okrflow {name}: {modules} modules; heavy packages imported: {', '.join(heavy) or 'none'}")
        print("  top-level imports by cumulative time: " + ", ".join(f"{mod} {fmt_s(us / 1e6)}" for mod, us in top))


if __name__ == "__main__":
    main()
