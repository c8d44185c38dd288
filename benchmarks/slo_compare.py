"""Benchmark 4: okrflow next to google/slo-generator 2.6.0 on the same Prometheus, whole process first.

200 SLIs as PromQL ratios (the share of one shard's requests served under 300 ms over the last hour) against a
real Prometheus scraping the benchmark exporter. slo-generator computes 200 ``query_sli`` SLOs (one error-budget
step, no exporter) in its own virtual environment, ``benchmarks/.venv-slo`` (created here with pip if missing,
gitignored, so it cannot disturb okrflow's lock file); okrflow evaluates 200 KRs bound to the same queries
(``maintain_above`` 0.9, history written to SQLite, alerts judged).

The headline is what a user feels: ``okrflow run`` and ``slo-generator compute`` as fresh processes, run in
pairs (one after the other, alternating which goes first) ``--repeat`` times; wall time and the child's peak RSS
(``os.wait4``), medians and spread, and the median of the per-pair ratios (targets: wall <= 0.5x, peak RSS
<= 1.2x slo-generator's). Beside it, the warm figure: all SLOs or KRs in one process after a warm-up.

    .venv/bin/python -m benchmarks.slo_compare [--count 200] [--repeat 7] [--no-warm] [--stages 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Child:
    """One fresh process: wall seconds, CPU seconds (user + system) and its peak RSS in MiB (``ru_maxrss``).

    CPU is the figure to compare on a loaded machine: wall time there is mostly waiting for a core."""

    wall: float
    cpu: float
    rss_mib: float


LAUNCHER = """
import json, os, subprocess, sys, time
started = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
err = child.stderr.read()
_, status, usage = os.wait4(child.pid, 0)
wall = time.perf_counter() - started
cpu = usage.ru_utime + usage.ru_stime
print(json.dumps([wall, cpu, usage.ru_maxrss, os.waitstatus_to_exitcode(status), err.decode(errors="replace")[-3000:]]))
"""
"""Starts one command and reports its wall time and ``os.wait4`` usage. It runs in a bare interpreter (``-S``,
~9 MiB) because Linux counts the memory a child had before ``exec`` (a copy of whoever forked it) in its peak
RSS: forked from this benchmark's process (60 MiB and more), slo-generator's 38 MiB read as 61 MiB."""


BARE_EXEC = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"
"""Runs a command from a bare interpreter, its output passed through."""


def run_child(argv: list[str], env: dict[str, str]) -> Child:
    """Run ``argv`` to its end, output discarded, through ``LAUNCHER``: its wall time and its own peak RSS."""
    done = subprocess.run(
        [sys.executable, "-S", "-c", LAUNCHER, *argv], capture_output=True, text=True, env=env, cwd=REPO, check=True
    )
    wall, cpu, maxrss_kib, code, err = json.loads(done.stdout)
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {code}: {err}")
    return Child(wall, cpu, maxrss_kib / 1024)


def paired(ours: list[str], theirs: list[str], env: dict[str, str], repeat: int) -> list[tuple[Child, Child]]:
    """``repeat`` pairs after one unmeasured pair (file caches); the first of a pair alternates."""
    for argv in (ours, theirs):
        run_child(argv, env)
    pairs = []
    for i in range(repeat):
        if i % 2:
            b = run_child(theirs, env)
            a = run_child(ours, env)
        else:
            a = run_child(ours, env)
            b = run_child(theirs, env)
        pairs.append((a, b))
    return pairs


def spread(values: list[float], fmt: Callable[[float], str]) -> str:
    return f"{fmt(statistics.median(values))}  ({fmt(min(values))} - {fmt(max(values))})"


def print_paired(pairs: list[tuple[Child, Child]]) -> None:
    figures: list[tuple[str, Callable[[Child], float], Callable[[float], str]]] = [
        ("wall", lambda c: c.wall, fmt_s),
        ("CPU (user+sys)", lambda c: c.cpu, fmt_s),
        ("peak RSS", lambda c: c.rss_mib, lambda v: f"{v:.1f} MiB"),
    ]
    rows = [
        ["okrflow run", *(spread([get(a) for a, _ in pairs], fmt) for _, get, fmt in figures)],
        ["slo-generator compute", *(spread([get(b) for _, b in pairs], fmt) for _, get, fmt in figures)],
        [
            "okrflow / slo-generator (per pair)",
            *(spread([get(a) / get(b) for a, b in pairs], lambda v: f"{v:.2f}x") for _, get, _ in figures),
        ],
    ]
    print_table([f"whole process, {len(pairs)} pairs", *(f"{name}: median (spread)" for name, _, _ in figures)], rows)
    w = statistics.median(a.wall / b.wall for a, b in pairs)
    c = statistics.median(a.cpu / b.cpu for a, b in pairs)
    r = statistics.median(a.rss_mib / b.rss_mib for a, b in pairs)
    print(
        f"  okrflow run: {w:.2f}x slo-generator's wall (target <= 0.5x: {'ok' if w <= 0.5 else 'MISSED'}; "
        f"CPU {c:.2f}x), {r:.2f}x its peak RSS (target <= 1.2x: {'ok' if r <= 1.2 else 'MISSED'})"
    )


def stages(okr_config: Path, env: dict[str, str], repeat: int) -> None:
    """``benchmarks.run_stages`` in ``repeat`` fresh processes: CPU per stage of ``okrflow run``'s path, medians."""
    runs = []
    for _ in range(repeat):
        done = subprocess.run(  # through a bare interpreter, for the RSS (see LAUNCHER)
            [sys.executable, "-S", "-c", BARE_EXEC, PYTHON, "-m", "benchmarks.run_stages", str(okr_config)],
            capture_output=True, text=True, env=env, cwd=REPO,
        )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-3000:])
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    rows = []
    for i, (stage, _, _) in enumerate(runs[0]):
        cpu = [run[i][1] - (run[i - 1][1] if i else 0.0) for run in runs]
        rows.append([stage, fmt_s(statistics.median(cpu)), f"{statistics.median(run[i][2] for run in runs):.1f} MiB"])
    print_table([f"okrflow run, stage by stage ({repeat} processes)", "CPU: median", "peak RSS after"], rows)


def warm(okr_config: Path, env: dict[str, str], slo_python: Path, slo_args: list[str], repeat: int) -> None:
    """All KRs / SLOs in one process after a warm-up (the figure of the first sessions)."""
    done = subprocess.run(
        [PYTHON, "-m", "benchmarks.evaluation", "worker", str(okr_config), f"--repeat={repeat}"],
        capture_output=True, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    ours = json.loads(done.stdout.strip().splitlines()[-1])
    done = subprocess.run(
        [str(slo_python), str(REPO / "benchmarks" / "slo_runner.py"), *slo_args, str(repeat)],
        capture_output=True, text=True, env=bench_env(), cwd=REPO,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    theirs = json.loads(done.stdout.strip().splitlines()[-1])
    print_table(
        ["warm, in one process", "median", "spread", "n", ""],
        [
            Sample(f"okrflow: evaluate {ours['krs']} KRs", tuple(ours["totals"])).row(),
            Sample(f"slo-generator: compute {theirs['slos']} SLOs", tuple(theirs["totals"])).row(),
        ],
    )
    ok = sum(v for k, v in ours["statuses"].items() if k.endswith(":ok"))
    ratio = statistics.median(theirs["totals"]) / statistics.median(ours["totals"])
    print(
        f"  okrflow read {ok} of {ours['krs']} values; slo-generator computed {theirs['valid']} valid of {theirs['slos']}"
    )
    print(f"  okrflow is {ratio:.1f}x faster warm (target >= 2x: {'ok' if ratio >= 2 else 'MISSED'})")
    print("  " + ", ".join(f"okrflow step {k} {fmt_s(v)}" for k, v in ours["phases"].items()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.slo_compare", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="SLOs / KRs (default 200)")
    parser.add_argument("--repeat", type=int, default=7, help="pairs of fresh processes, and warm repeats")
    parser.add_argument("--no-warm", action="store_true", help="only the whole-process pairs")
    parser.add_argument("--stages", type=int, default=3, help="processes of the stage-by-stage profile (0: none)")
    args = parser.parse_args(argv)
    section(f"okrflow vs slo-generator 2.6.0: {args.count} Prometheus SLIs")
    slo_python = ensure_slo_venv()
    if slo_python is None:
        raise SystemExit("benchmark 4 needs slo-generator; see the message above")
    with World(Mix(0, 0, 2 * args.count, 0, 0), name="slo") as world:
        workdir = world.workdir
        prom_url = world.urls.prometheus
        okr_config = write_okrflow(workdir, prom_url, args.count)
        slo_config, slo_dir = write_slo_generator(workdir, prom_url, args.count)
        store = workdir / "okrflow.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store}{suffix}").unlink(missing_ok=True)
        env = bench_env(OKRFLOW_STORE_URL=f"sqlite:///{store}")
        pairs = paired(
            [OKRFLOW, "-c", str(okr_config), "run", "--format", "json"],
            [str(SLO_VENV / "bin" / "slo-generator"), "compute", "-f", str(slo_dir), "-c", str(slo_config)],
            env,
            args.repeat,
        )
        print_paired(pairs)
        if args.stages:
            print()
            stages(okr_config, env, args.stages)
        if not args.no_warm:
            print()
            warm(okr_config, env, slo_python, [str(slo_config), str(slo_dir)], args.repeat)


if __name__ == "__main__":
    main()
