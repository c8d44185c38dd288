"""Benchmark 1: latency of ``okrflow validate``, ``status`` and ``history`` at scale (issue 18's targets).

A generated config of 1,000 KRs over SQL, Prometheus, MLflow and Great Expectations sources (nothing needs to
run: these commands do not fetch) and a SQLite store holding a quarter of hourly runs (2,200 runs x 1,000 KRs
= 2.2M rows per table, written by ``benchmarks.history``, cached under ``benchmarks/.work``). Each command runs
in a fresh interpreter, as a user types it: wall clock (the figure) and the process's CPU time (user + system,
steadier than the wall clock when other work shares the two cores). Targets (issue 18): ``validate`` < 0.25 s (it
is a pre-commit hook), ``status`` < 0.3 s, ``history`` < 1 s. What each one imports, and that none imports Prefect,
MLflow, Great Expectations, pandas or a source's client: ``benchmarks.importtime`` (same config and store).

    .venv/bin/python -m benchmarks.cli_latency [--scale 0.1] [--repeat 5] [--paired REV]

``--paired REV`` (e.g. ``--paired HEAD~3``) compares instead: the tree of REV (``git archive``) and the working tree
run alternately, in fresh processes in the same minutes (``benchmarks/tree_run.py``), and it prints both medians and
the CPU ratio: the way to a before/after figure while other work shares the cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.common import PYTHON, REPO, WORK, Sample, bench_env, fmt_s, print_table, run_cli, section
from benchmarks.world import FULL_MIX, Urls, write_config

HOURLY_RUNS = 2200
TARGETS_S = {"validate": 0.25, "status": 0.3, "history": 1.0}
"""Issue 18's targets by command (the first word of the row's name)."""


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


def timed_cli(args: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one ``okrflow ARGS`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, _ = run_cli(args, env)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def tree_of(revision: str) -> Path:
    """The source tree of ``revision``, extracted once under the work folder."""
    commit = subprocess.run(["git", "rev-parse", revision], capture_output=True, text=True, check=True, cwd=REPO)
    root = WORK / f"tree-{commit.stdout.strip()[:12]}"
    if not (root / "okrflow").exists():
        root.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", commit.stdout.strip()], capture_output=True, check=True, cwd=REPO)
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
    return root


def tree_cli(root: Path, args: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU seconds: user + system) of ``okrflow ARGS`` run from the source tree at ``root``."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [PYTHON, str(REPO / "benchmarks" / "tree_run.py"), str(root), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        cwd=REPO,
    )
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        raise RuntimeError(f"okrflow {' '.join(args)} from {root} exited {os.waitstatus_to_exitcode(status)}")
    return wall, usage.ru_utime + usage.ru_stime


def paired(revision: str, commands: dict[str, list[str]], env: dict[str, str], repeat: int) -> None:
    """Each command from REV's tree and from the working tree, alternately, ``repeat`` pairs after one warm-up."""
    before, after = tree_of(revision), REPO
    rows = []
    for name, cli in commands.items():
        tree_cli(before, cli, env), tree_cli(after, cli, env)  # warm the page cache
        times: dict[Path, list[tuple[float, float]]] = {before: [], after: []}
        for index in range(repeat):
            for root in (before, after) if index % 2 == 0 else (after, before):
                times[root].append(tree_cli(root, cli, env))
        cpu = {root: statistics.median(c for _, c in runs) for root, runs in times.items()}
        wall = {root: statistics.median(w for w, _ in runs) for root, runs in times.items()}
        ratio = f"{cpu[after] / cpu[before]:.2f}"
        rows.append(
            [f"okrflow {name}", *(fmt_s(times_[root]) for root in (before, after) for times_ in (cpu, wall)), ratio]
        )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{revision} against the working tree, {repeat} alternating pairs; load average now {load}")
    print_table(["command", f"{revision} CPU", "wall", "now CPU", "wall", "CPU now/before"], rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cli_latency", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 1,000 KRs and 2,200 runs (default 1)")
    parser.add_argument("--repeat", type=int, default=5, help="measured runs per command (default 5)")
    parser.add_argument("--paired", metavar="REV", help="compare REV's tree with the working tree, alternately")
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
    if args.paired:
        paired(args.paired, {**commands, "--help": ["--help"]}, env, args.repeat)
        return
    rows = []
    for name, cli in commands.items():
        run_cli(cli, env)  # warm the page cache
        timed = [timed_cli(cli, env) for _ in range(args.repeat)]
        sample = Sample(f"okrflow {name}", tuple(wall for wall, _ in timed))
        cpu = Sample("cpu", tuple(cpu for _, cpu in timed))
        target = TARGETS_S[name.split()[0]]
        verdict = "ok" if sample.median < target else "MISSED"
        rows.append([*sample.row(target=f"< {target:g} s: {verdict}"), fmt_s(cpu.median)])
    print(f"config: {config} | store: {runs} runs, {os.path.getsize(store_url[10:]) / 2**20:.0f} MB")
    print(f"load average (1, 5, 15 min) before the last command: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print_table(["command (fresh process, wall)", "median", "spread", "n", "target", "CPU median"], rows)


if __name__ == "__main__":
    main()
