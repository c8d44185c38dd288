"""Run every benchmark in turn: ``python -m benchmarks [--scale 0.1] [--only cli,evaluation,history,slo,importtime,floors,report,served]``.

Each prints its own figures (median and spread over repeats); ``--scale 0.1`` is a quick pass of a few minutes,
the default is the full scale of benchmarks/README.md. Needs PostgreSQL on 127.0.0.1:5432 and Debian's
prometheus binary (``./dev test`` sets both up).
"""

from __future__ import annotations

import argparse
import time

from benchmarks import (
    cli_latency,
    evaluation,
    floors,
    history_store,
    importtime,
    report_size,
    served_run,
    slo_compare,
)

BENCHMARKS = {
    "cli": lambda scale, repeat: cli_latency.main([f"--scale={scale}", f"--repeat={repeat}"]),
    "evaluation": lambda scale, repeat: evaluation.main([f"--scale={scale}", f"--repeat={repeat}"]),
    "history": lambda scale, repeat: history_store.main([f"--scale={scale}", f"--repeat={repeat}"]),
    "slo": lambda scale, repeat: slo_compare.main([f"--count={max(10, round(200 * scale))}", f"--repeat={repeat}"]),
    "importtime": lambda scale, repeat: importtime.main([f"--scale={scale}", f"--repeat={min(repeat, 3)}"]),
    "floors": lambda scale, repeat: floors.main(
        [f"--scale={scale}", f"--count={max(10, round(200 * scale))}", f"--repeat={repeat}"]
    ),
    "report": lambda scale, repeat: report_size.main([f"--scale={scale}", f"--repeat={min(repeat, 3)}", "--stages"]),
    "served": lambda scale, repeat: served_run.main([f"--runs={max(3, round(8 * scale))}", f"--repeat={repeat}"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full scale (0.1: a quick pass)")
    parser.add_argument("--repeat", type=int, default=5, help="measured repeats per figure (default 5)")
    parser.add_argument(
        "--only", default=",".join(BENCHMARKS), help="comma-separated subset of: " + ", ".join(BENCHMARKS)
    )
    args = parser.parse_args()
    for name in args.only.split(","):
        started = time.perf_counter()
        BENCHMARKS[name.strip()](args.scale, args.repeat)
        print(f"\n[{name} took {time.perf_counter() - started:.0f} s]", flush=True)


if __name__ == "__main__":
    main()
