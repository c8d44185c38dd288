"""Benchmark 4: okrflow next to google/slo-generator 2.6.0 on the same Prometheus (target: okrflow >= 2x faster).

200 SLIs as PromQL ratios (the share of one shard's requests served under 300 ms over the last hour) against a
real Prometheus scraping the benchmark exporter. slo-generator computes 200 ``query_sli`` SLOs (one error-budget
step, no exporter) in its own virtual environment, ``benchmarks/.venv-slo`` (created here with pip if missing,
gitignored, so it cannot disturb okrflow's lock file); okrflow evaluates 200 KRs bound to the same queries
(``maintain_above`` 0.9, history written to SQLite, alerts judged). Both are timed warm, in process (all SLOs
or KRs once per repeat, after a warm-up), and cold, as one command from a fresh process.

    .venv/bin/python -m benchmarks.slo_compare [--count 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

from benchmarks.common import OKRFLOW, PYTHON, REPO, Sample, bench_env, fmt_s, print_table, section
from benchmarks.world import CYCLE, Mix, World

SLO_VENV = REPO / "benchmarks" / ".venv-slo"
SLO_PACKAGES = ["slo-generator[prometheus]==2.6.0", "setuptools<81"]
"""Its CLI imports ``pkg_resources``, which setuptools 81+ no longer ships."""


def sli(shard: int, window: str) -> str:
    return (
        f'sum(rate(bench_latency_seconds_bucket{{shard="{shard}",le="0.3"}}[{window}])) / '
        f'sum(rate(bench_latency_seconds_count{{shard="{shard}"}}[{window}]))'
    )


def ensure_slo_venv() -> Path | None:
    """benchmarks/.venv-slo with slo-generator, created with pip when missing; None (with the reason) if it fails."""
    python = SLO_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {SLO_VENV} with {' '.join(SLO_PACKAGES)} ...", flush=True)
        made = subprocess.run([sys.executable, "-m", "venv", str(SLO_VENV)], capture_output=True, text=True)
        if made.returncode == 0:
            made = subprocess.run(
                [str(python), "-m", "pip", "install", "-q", *SLO_PACKAGES], capture_output=True, text=True
            )
        if made.returncode != 0:
            print(f"slo-generator could not be installed: {made.stderr.strip()[-800:]}")
            return None
    return python


def write_slo_generator(workdir: Path, prom_url: str, count: int) -> tuple[Path, Path]:
    """slo-generator's shared config and one SLO file per SLI (its v2 format)."""
    slo_dir = workdir / "slos"
    slo_dir.mkdir(parents=True, exist_ok=True)
    for old in slo_dir.glob("*.yaml"):
        old.unlink()
    config = {
        "backends": {"prometheus": {"url": prom_url}},
        "exporters": {},
        "error_budget_policies": {
            "default": {
                "steps": [
                    {
                        "name": "1 hour",
                        "burn_rate_threshold": 9,
                        "alert": True,
                        "message_alert": "Page",
                        "message_ok": "OK",
                        "window": 3600,
                    }
                ]
            }
        },
    }
    config_path = workdir / "slo-config.yaml"
    config_path.write_text(yaml.safe_dump(config))
    for i in range(count):
        slo = {
            "apiVersion": "sre.google.com/v2",
            "kind": "ServiceLevelObjective",
            "metadata": {
                "name": f"bench-latency-{i}",
                "labels": {"service_name": "bench", "feature_name": f"shard{i}", "slo_name": "latency"},
            },
            "spec": {
                "description": f"90% of shard {i} requests under 300 ms",
                "backend": "prometheus",
                "method": "query_sli",
                "exporters": [],
                "service_level_indicator": {"expression": sli(i, "window")},
                "goal": 0.9,
            },
        }
        (slo_dir / f"slo-{i:04d}.yaml").write_text(yaml.safe_dump(slo, sort_keys=False))
    return config_path, slo_dir


def write_okrflow(workdir: Path, prom_url: str, count: int) -> Path:
    krs = [
        {
            "id": f"latency-{i}",
            "kind": "maintain_above",
            "target": 0.9,
            "metric": {"source": "prom", "query": sli(i, "1h")},
        }
        for i in range(count)
    ]
    config = {
        "version": 1,
        "cycle": CYCLE,
        "store": f"sqlite:///{workdir / 'okrflow.db'}",
        "sources": {"prom": {"type": "prometheus", "url": prom_url, "timeout_s": 10}},
        "objectives": [
            {"id": f"shards-{o}", "title": f"Latency SLOs {o}", "key_results": krs[o * 5 : o * 5 + 5]}
            for o in range(-(-count // 5))
        ],
    }
    path = workdir / "okrflow-slo.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.slo_compare", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="SLOs / KRs (default 200)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    section(f"okrflow vs slo-generator 2.6.0: {args.count} Prometheus SLIs")
    slo_python = ensure_slo_venv()
    with World(Mix(0, 0, 2 * args.count, 0, 0), name="slo") as world:
        workdir = world.workdir
        prom_url = world.urls.prometheus
        okr_config = write_okrflow(workdir, prom_url, args.count)
        store = workdir / "okrflow.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store}{suffix}").unlink(missing_ok=True)
        env = bench_env(OKRFLOW_STORE_URL=f"sqlite:///{store}")
        done = subprocess.run(
            [PYTHON, "-m", "benchmarks.evaluation", "worker", str(okr_config), f"--repeat={args.repeat}"],
            capture_output=True, text=True, env=env, cwd=REPO,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-3000:])
        ours = json.loads(done.stdout.strip().splitlines()[-1])
        cold_ours = []
        for _ in range(3):
            started = time.perf_counter()
            subprocess.run(
                [OKRFLOW, "-c", str(okr_config), "run", "--format", "json"],
                capture_output=True,
                env=env,
                cwd=REPO,
                check=True,
            )
            cold_ours.append(time.perf_counter() - started)
        rows = [Sample("okrflow: evaluate 200 KRs (warm)", tuple(ours["totals"])).row()]
        theirs = None
        if slo_python is not None:
            slo_config, slo_dir = write_slo_generator(workdir, prom_url, args.count)
            done = subprocess.run(
                [str(slo_python), str(REPO / "benchmarks" / "slo_runner.py"), str(slo_config), str(slo_dir), str(args.repeat)],
                capture_output=True, text=True, env=bench_env(), cwd=REPO,
            )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(done.stderr[-3000:])
            theirs = json.loads(done.stdout.strip().splitlines()[-1])
            cold_theirs = []
            for _ in range(3):
                started = time.perf_counter()
                subprocess.run(
                    [str(SLO_VENV / "bin" / "slo-generator"), "compute", "-f", str(slo_dir), "-c", str(slo_config)],
                    capture_output=True, env=bench_env(), cwd=REPO, check=True,
                )  # fmt: skip
                cold_theirs.append(time.perf_counter() - started)
            rows.append(Sample("slo-generator: compute 200 SLOs (warm)", tuple(theirs["totals"])).row())
            rows.append(Sample("okrflow run (cold, fresh process)", tuple(cold_ours)).row())
            rows.append(Sample("slo-generator compute (cold, fresh process)", tuple(cold_theirs)).row())
    print_table(["what", "median", "spread", "n", ""], rows)
    ok = sum(v for k, v in ours["statuses"].items() if k.endswith(":ok"))
    print(f"  okrflow read {ok} of {ours['krs']} values; peak RSS {ours['peak_rss_mb']:.0f} MB")
    if theirs is not None:
        ratio = statistics.median(theirs["totals"]) / statistics.median(ours["totals"])
        cold = statistics.median(cold_theirs) / statistics.median(cold_ours)
        print(f"  slo-generator computed {theirs['valid']} valid of {theirs['slos']} SLOs")
        print(
            f"  okrflow is {ratio:.1f}x faster warm (target >= 2x: {'ok' if ratio >= 2 else 'MISSED'}), {cold:.1f}x cold"
        )
        print("  " + ", ".join(f"okrflow step {k} {fmt_s(v)}" for k, v in ours["phases"].items()))
    os.environ.pop("OKRFLOW_STORE_URL", None)


if __name__ == "__main__":
    main()
