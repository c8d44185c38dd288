"""What each command imports: ``python -X importtime`` per command, the total and the top importers.

Most of a short command is imports (issue 18), and an import that creeps onto a command's path is invisible in
review: this prints, per command, the total import time, the number of modules, the top-level packages loaded and
the 15 modules with the most time of their own (self) and with their imports (cumulative). It fails nothing; compare
its output before and after a change. Commands: ``validate``, ``status`` and ``history KR`` on benchmark 1's
config and store (1,000 KRs, 2.2M rows; ``--scale`` as there), ``run --dry-run`` on a Prometheus-only config
whose server does not answer (the fetch path of one source kind, nothing else), and ``report --help``.

``-X importtime`` does not list a module imported through ``importlib.import_module`` (the registry imports
connector modules that way); the modules it imports are listed. Times are wall clock in the importing process:
on a shared machine, compare medians of a few repeats (``--repeat``), not single runs.

    .venv/bin/python -m benchmarks.importtime [--scale S] [--repeat N] [--top 15]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from benchmarks.cli_latency import prepare
from benchmarks.common import PYTHON, REPO, WORK, bench_env, fmt_s, print_table, section

__all__ = ["HEAVY", "ImportProfile", "import_profile", "main"]

HEAVY = ("prefect", "mlflow", "great_expectations", "pandas", "numpy", "alembic", "prometheus_api_client", "requests")
"""Packages named in each command's summary when it imports them: none belongs on validate's, status' or history's path."""

_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")

PROMETHEUS_ONLY = """\
version: 1
cycle: {{name: bench, start: {start}, end: {end}}}
store: sqlite:///{store}
sources:
  prom: {{type: prometheus, url: "http://127.0.0.1:9", timeout_s: 1, retries: 0}}
objectives:
  - id: serving
    title: Serving stays up
    key_results:
      - {{id: up, kind: maintain_above, target: 0.9, metric: {{source: prom, query: 'max(up)'}}}}
      - {{id: p95, kind: maintain_below, target: 0.2, metric: {{source: prom, query: 'max(latency_p95)'}}}}
"""
"""``run --dry-run``'s config: port 9 (discard) refuses at once, so the run is its imports and two error rows."""


@dataclass(frozen=True)
class ImportProfile:
    """One command's imports, times in microseconds (medians over repeats for the per-module figures)."""

    total_us: float
    modules: int
    packages: tuple[str, ...]
    self_us: dict[str, float]
    cumulative_us: dict[str, float]


def parse(stderr: str) -> tuple[dict[str, int], dict[str, int]]:
    """Self and cumulative microseconds per module from ``-X importtime`` output."""
    own: dict[str, int] = {}
    cumulative: dict[str, int] = {}
    for line in stderr.splitlines():
        match = _LINE.match(line)
        if match:
            own[match.group(4)] = own.get(match.group(4), 0) + int(match.group(1))
            cumulative[match.group(4)] = max(cumulative.get(match.group(4), 0), int(match.group(2)))
    return own, cumulative


def import_profile(args: Sequence[str], env: dict[str, str], repeat: int) -> ImportProfile:
    """``okrflow ARGS`` under ``python -X importtime``, ``repeat`` times in fresh processes."""
    runs = []
    for _ in range(repeat):
        done = subprocess.run(
            [PYTHON, "-X", "importtime", "-m", "okrflow.cli", *args], capture_output=True, text=True, env=env, cwd=REPO
        )
        runs.append(parse(done.stderr))
    names = set().union(*(own for own, _ in runs))
    self_us = {name: statistics.median(own.get(name, 0) for own, _ in runs) for name in names}
    cumulative_us = {name: statistics.median(cum.get(name, 0) for _, cum in runs) for name in names}
    return ImportProfile(
        total_us=statistics.median(sum(own.values()) for own, _ in runs),
        modules=len(names),
        packages=tuple(sorted({name.split(".")[0] for name in names} - sys.stdlib_module_names - {"_distutils_hack"})),
        self_us=self_us,
        cumulative_us=cumulative_us,
    )


def prometheus_only_config(workdir: Path) -> Path:
    """A two-KR Prometheus config whose cycle holds today (``run`` refuses a slot outside its cycle)."""
    today = datetime.now(UTC).date()
    path = workdir / "prometheus-only.yaml"
    text = PROMETHEUS_ONLY.format(
        start=today - timedelta(days=30), end=today + timedelta(days=60), store=workdir / "p.db"
    )
    path.write_text(text)
    return path


def print_profile(name: str, profile: ImportProfile, top: int) -> None:
    section(f"okrflow {name}: imports {fmt_s(profile.total_us / 1e6)} over {profile.modules} modules")
    print("  packages beside the standard library: " + ", ".join(p for p in profile.packages if not p.startswith("_")))
    by_self = sorted(profile.self_us.items(), key=lambda kv: -kv[1])[:top]
    by_cumulative = sorted(profile.cumulative_us.items(), key=lambda kv: -kv[1])[:top]
    rows = [
        [f"{s_name} {fmt_s(s_us / 1e6)}", f"{c_name} {fmt_s(c_us / 1e6)}"]
        for (s_name, s_us), (c_name, c_us) in zip(by_self, by_cumulative, strict=False)
    ]
    print_table([f"top {top} by self time", f"top {top} by cumulative time"], rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.importtime", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="benchmark 1's scale (default 1: 1,000 KRs)")
    parser.add_argument("--repeat", type=int, default=3, help="fresh processes per command (default 3; medians)")
    parser.add_argument("--top", type=int, default=15, help="importers listed per command (default 15)")
    args = parser.parse_args(argv)

    config, store_url, _ = prepare(args.scale)
    env = bench_env(OKRFLOW_STORE_URL=store_url)
    workdir = WORK / "importtime"
    workdir.mkdir(parents=True, exist_ok=True)
    prometheus = str(prometheus_only_config(workdir))
    commands = {
        "validate": ["-c", config, "validate"],
        "status": ["-c", config, "status"],
        "history KR": ["-c", config, "history", "kr-00001"],
        "run --dry-run (Prometheus only)": ["-c", prometheus, "run", "--dry-run"],
        "report --help": ["report", "--help"],
    }
    totals = []
    for name, cli in commands.items():
        run_env = env if "Prometheus" not in name else bench_env()
        profile = import_profile(cli, run_env, args.repeat)
        print_profile(name, profile, args.top)
        heavy = ", ".join(sorted(set(HEAVY) & set(profile.packages))) or "none"
        totals.append([f"okrflow {name}", fmt_s(profile.total_us / 1e6), str(profile.modules), heavy])
    section(f"Import time per command (python -X importtime, median of {args.repeat})")
    print_table(["command", "imports", "modules", "heavy packages"], totals)


if __name__ == "__main__":
    main()
