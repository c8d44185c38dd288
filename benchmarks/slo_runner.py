"""Runs inside benchmarks/.venv-slo (slo-generator 2.6.0): compute every SLO of a folder, timed, JSON out.

Kept free of okrflow imports: slo-generator lives in its own virtual environment so that it cannot disturb
okrflow's lock file. Usage: ``benchmarks/.venv-slo/bin/python benchmarks/slo_runner.py CONFIG SLO_DIR REPEAT``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import yaml
from slo_generator.compute import compute


def main() -> None:
    config_path, slo_dir, repeat = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
    logging.disable(logging.WARNING)  # slo-generator logs every report at INFO
    config = yaml.safe_load(Path(config_path).read_text())
    slos = [yaml.safe_load(path.read_text()) for path in sorted(slo_dir.glob("*.yaml"))]

    def run_all() -> list[dict]:
        reports = []
        for slo in slos:
            reports.extend(compute(slo, config, timestamp=time.time(), do_export=False))
        return reports

    run_all()  # warm-up: imports, first connections
    totals, valid = [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        reports = run_all()
        totals.append(time.perf_counter() - started)
        valid = sum(1 for r in reports if r.get("valid") and r.get("sli_measurement", -1) >= 0)
    print(json.dumps({"totals": totals, "slos": len(slos), "valid": valid}))


if __name__ == "__main__":
    main()
