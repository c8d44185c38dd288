"""Shared helpers of the benchmarks: repeated timing with median and spread, tables, a work directory.

Benchmarks print figures; they are not tests. Every timed figure is the median of several repeats with
its spread (min-max), because the 2-core machine is shared and single measurements wander.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "OKRFLOW",
    "PYTHON",
    "REPO",
    "WORK",
    "Sample",
    "bench_env",
    "fmt_bytes",
    "fmt_s",
    "peak_rss_mb",
    "print_table",
    "repeat",
    "run_cli",
    "section",
]

REPO = Path(__file__).resolve().parent.parent
WORK = Path(os.environ.get("OKRFLOW_BENCH_WORK", REPO / "benchmarks" / ".work"))
"""Generated worlds and stores are cached here (gitignored); delete it to regenerate."""
PYTHON = str(REPO / ".venv" / "bin" / "python") if (REPO / ".venv" / "bin" / "python").exists() else sys.executable
OKRFLOW = str(Path(PYTHON).parent / "okrflow")
"""The installed console script: what a user types."""


@dataclass(frozen=True)
class Sample:
    """Repeated measurements of one figure (seconds unless said otherwise)."""

    name: str
    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def row(self, unit: str = "s", target: str = "") -> list[str]:
        show = fmt_s if unit == "s" else (lambda v: f"{v:.3g} {unit}")
        return [
            self.name,
            show(self.median),
            f"{show(self.low)} - {show(self.high)}",
            str(len(self.values)),
            target,
        ]


def repeat(name: str, fn: Callable[[], Any], times: int, warmup: int = 1) -> Sample:
    """Run ``fn`` ``warmup`` times unmeasured, then ``times`` times measured (wall clock)."""
    for _ in range(warmup):
        fn()
    values = []
    for _ in range(times):
        started = time.perf_counter()
        fn()
        values.append(time.perf_counter() - started)
    return Sample(name, tuple(values))


def fmt_s(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain fixed-width table (copied as is into benchmarks/README.md)."""
    cells = [[str(c) for c in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for index, row in enumerate(cells):
        print("  " + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            print("  " + "  ".join("-" * w for w in widths))
    sys.stdout.flush()


def peak_rss_mb() -> float:
    """This process's RSS high-water mark (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_env(**extra: str) -> dict[str, str]:
    """Environment of benchmark subprocesses: no telemetry, no progress bars, repo on the path."""
    env = dict(os.environ)
    env.update(
        GX_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        MLFLOW_DISABLE_TELEMETRY="true",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONPATH=str(REPO),
    )
    env.pop("PREFECT_API_URL", None)  # `okrflow run` must take the direct path, not a Prefect server
    # As installed and run by a user: Python reads and writes okrflow's bytecode cache (pip compiles the wheels' own).
    # Inherited PYTHONDONTWRITEBYTECODE=1 made every process compile okrflow's modules: ~70 ms of validate's CPU.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra)
    return env


def run_cli(args: Sequence[str], env: dict[str, str] | None = None, check: bool = True) -> tuple[float, str]:
    """Run ``okrflow ARGS`` in a fresh interpreter; wall seconds and stdout."""
    started = time.perf_counter()
    done = subprocess.run([OKRFLOW, *args], capture_output=True, text=True, env=env or bench_env(), cwd=REPO)
    elapsed = time.perf_counter() - started
    if check and done.returncode != 0:
        raise RuntimeError(f"okrflow {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed, done.stdout
