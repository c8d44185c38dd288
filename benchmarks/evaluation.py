"""Benchmark 2: one evaluation at scale, against the same queries issued one by one with the raw clients.

The world (``benchmarks.world``): 1,000 KRs over SQL (SQLite + PostgreSQL, 380 KRs), a real Prometheus (400),
MLflow on a local SQLite tracking store (200) and Great Expectations (20 suites), all on loopback. A worker
process evaluates the config with ``okrflow.flows.pipeline.evaluate`` (the path of ``okrflow run`` without a Prefect
API, alerts included) several times after one warm-up, in a warm process as ``okrflow serve`` runs it, and
reports for each evaluation:

- total wall time, and the time spent waiting on sources (the concurrent fetch of every source, measured
  through ``evaluate``'s ``map_sources`` hook);
- okrflow's own time per KR: (total - source wait) / KRs, with a breakdown by step of one evaluation;
- peak memory: the worker's RSS high-water mark (``resource.getrusage``).

``benchmarks.baseline_raw`` then issues the same queries sequentially (target: okrflow's total at most 0.5x
the baseline). A 10,000-KR variant over SQL and Prometheus gives the memory figure (target: < 600 MB).

    .venv/bin/python -m benchmarks.evaluation [--scale 0.1] [--repeat 5] [--history-days 0] [--skip-10k]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from okrflow.okr_model.config_text import DEFAULT_MAX_CONFIG_BYTES, MAX_BYTES_ENV

from benchmarks.common import PYTHON, REPO, Sample, bench_env, fmt_s, print_table, section
from benchmarks.world import FULL_MIX, Mix, World

TEN_K = Mix(sqlite=5000, postgres=0, prometheus=5000, mlflow=0, gx=0)


def worker(
    config_path: str, repeats: int, history_days: float, profile: str | None = None, processes: int = 0
) -> dict[str, object]:
    """Runs in its own process: evaluations of the config, timed; returns the figures as JSON-able data.

    With ``processes``, the config's ``fetch: {processes: N}`` is set: sources are fetched in worker processes.
    """
    import resource

    from okrflow.connectors.registry import default_registry
    from okrflow.flows import workers
    from okrflow.flows.pipeline import (
        evaluate,
        load_scoring_inputs,
        map_in_threads,
        normalize_slot,
        run_record,
        score_run,
        start_fetch,
    )
    from okrflow.okr_model.config import FetchSettings
    from okrflow.okr_model.loader import load_config
    from okrflow.okr_model.paths import store_url

    from okrflow.alerts.notify import notify
    from okrflow.store import Store

    started = time.perf_counter()
    config = load_config(config_path, default_registry())
    load_s = time.perf_counter() - started
    if processes:
        config = config.model_copy(update={"fetch": FetchSettings(processes=processes)})
    url = store_url(config)
    krs = len(config.key_results())
    with Store.open(url) as store:
        if history_days > 0:
            from benchmarks.history import fill_history

            runs = int(history_days * 96)
            end = normalize_slot(None) - timedelta(minutes=15)
            fill_history(store, config, runs, timedelta(minutes=15), end)
        waits: list[float] = []

        def timed_sources(jobs):  # the whole concurrent fetch of every source: time spent waiting on them
            begun = time.perf_counter()
            try:
                return map_in_threads(jobs)
            finally:
                waits.append(time.perf_counter() - begun)

        collect = workers.collect

        def timed_collect(submitted):  # with worker processes: the time the run waits for them (after its reads)
            begun = time.perf_counter()
            try:
                return collect(submitted)
            finally:
                waits.append(time.perf_counter() - begun)

        workers.collect = timed_collect  # type: ignore[assignment]
        mapping = {} if processes else {"map_sources": timed_sources}
        record = evaluate(config, store, **mapping)  # warm-up: imports, clients, first queries
        waits.clear()
        totals = []
        for _ in range(repeats):
            begun = time.perf_counter()
            record = evaluate(config, store, **mapping)
            totals.append(time.perf_counter() - begun)
        workers.collect = collect  # type: ignore[assignment]
        statuses = Counter(f"{r.lineage.get('source', '?')}:{r.measurement}" for r in record.key_results)
        if profile:  # one more evaluation under pyinstrument (main thread: okrflow's own steps and the waits)
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001)
            profiler.start()
            evaluate(config, store)
            profiler.stop()
            Path(profile).write_text(profiler.output_text(unicode=False, color=False))
        # one more evaluation, step by step as ``evaluate`` does it, to see where okrflow's own time goes
        phases: dict[str, float] = {}
        mark = time.perf_counter()

        def step(name: str) -> None:
            nonlocal mark
            now = time.perf_counter()
            phases[name] = now - mark
            mark = now

        slot = normalize_slot(None)
        inputs = load_scoring_inputs(store, config, slot)
        step("read history (scoring inputs)")
        measurements, gates = start_fetch(config, slot)(inputs.annotations)
        step("fetch (sources)")
        results, objectives = score_run(config, slot, measurements, gates, inputs)
        step("score, roll up, pace, forecast")
        run = run_record(config, slot, datetime.now(UTC), results, objectives)
        step("run record")
        notify(config, store, run)  # the run's write and its judging share one transaction (issue 13)
        step("write run + alerts (judge, outbox, deliver)")
    return {
        "krs": krs,
        "load_s": load_s,
        "totals": totals,
        "waits": waits,
        "phases": phases,
        "statuses": dict(statuses),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "worker_rss_mb": [_peak_rss_mb(pid) for executor in workers._executors.values() for pid in executor._processes],
    }


def _peak_rss_mb(pid: int) -> float:
    """A live process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _subprocess_json(args: list[str], env: dict[str, str]) -> dict[str, object]:
    done = subprocess.run([PYTHON, *args], capture_output=True, text=True, env=env, cwd=REPO)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_worker(
    world: World, repeats: int, history_days: float = 0, profile: str | None = None, processes: int = 0
) -> dict[str, object]:
    store = world.workdir / "okrflow.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store}{suffix}").unlink(missing_ok=True)
    # 10,000 KRs make a config of ~3 MB, over the 2 MiB default limit: raised as a user would (MAX_BYTES_ENV)
    limit = max(DEFAULT_MAX_CONFIG_BYTES, 2 * world.config_path.stat().st_size)
    env = bench_env(OKRFLOW_STORE_URL=f"sqlite:///{store}", **{MAX_BYTES_ENV: str(limit)})
    return _subprocess_json(
        [
            "-m",
            "benchmarks.evaluation",
            "worker",
            str(world.config_path),
            f"--repeat={repeats}",
            f"--history-days={history_days}",
            f"--processes={processes}",
            *([f"--profile={profile}"] if profile else []),
        ],
        env,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.evaluation", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    work = sub.add_parser("worker", help="(internal) evaluate a config in this process and print JSON")
    work.add_argument("config")
    work.add_argument("--repeat", type=int, default=5)
    work.add_argument("--history-days", type=float, default=0)
    work.add_argument("--profile", help="write a pyinstrument profile of one evaluation here")
    work.add_argument("--processes", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the 1,000-KR mix (default 1)")
    parser.add_argument("--repeat", type=int, default=5, help="measured evaluations (default 5)")
    parser.add_argument("--history-days", type=float, default=0, help="15-minute history in the store first")
    parser.add_argument("--skip-10k", action="store_true", help="skip the 10,000-KR memory variant")
    parser.add_argument("--profile", help="write a pyinstrument profile of one 1,000-KR evaluation to this file")
    parser.add_argument(
        "--processes", type=int, default=4, help="fetch: {processes: N} (default 4; 0 fetches in threads)"
    )
    args = parser.parse_args(argv)
    if args.command == "worker":
        print(json.dumps(worker(args.config, args.repeat, args.history_days, args.profile, args.processes)))
        return

    mix = FULL_MIX.scaled(args.scale)
    section(f"Evaluation at scale: {mix.total} KRs ({mix.sqlite} SQLite + {mix.postgres} PostgreSQL SQL, "
            f"{mix.prometheus} Prometheus, {mix.mlflow} MLflow, {mix.gx} Great Expectations)")  # fmt: skip
    started = time.perf_counter()
    with World(mix, name="eval") as world:
        print(f"world up in {time.perf_counter() - started:.1f} s: {world.config_path}")
        profile = args.profile and str(Path(args.profile).resolve())
        ours = run_worker(world, args.repeat, args.history_days, profile, args.processes)
        base = _subprocess_json(
            ["-m", "benchmarks.baseline_raw", str(world.config_path), f"--repeat={args.repeat}"], bench_env()
        )
    report(mix.total, ours, base, args.history_days)
    if not args.skip_10k:
        section(f"Memory at 10,000 KRs ({TEN_K.sqlite} SQLite SQL + {TEN_K.prometheus} Prometheus)")
        with World(TEN_K, name="eval10k") as world:
            big = run_worker(world, 1, processes=args.processes)
        total = statistics.median(big["totals"])  # type: ignore[arg-type]
        wait = statistics.median(big["waits"])  # type: ignore[arg-type]
        print_table(
            ["figure", "value", "target"],
            [
                [
                    "peak RSS (run process + fetch workers)",
                    rss_text(big),
                    f"< 600 MB: {'ok' if total_rss(big) < 600 else 'OVER'}",
                ],
                ["evaluation wall", fmt_s(total), ""],
                ["source wait", fmt_s(wait), ""],
                ["okrflow own time per KR", f"{1000 * (total - wait) / big['krs']:.2f} ms", ""],  # type: ignore[operator]
                ["measurements", ", ".join(f"{k} {v}" for k, v in sorted(big["statuses"].items())), ""],  # type: ignore[union-attr]
            ],
        )


def total_rss(figures: dict) -> float:
    """Peak RSS of the run's process plus that of each fetch worker process (an upper bound of the total)."""
    return figures["peak_rss_mb"] + sum(figures.get("worker_rss_mb", ()))


def rss_text(figures: dict) -> str:
    workers = figures.get("worker_rss_mb") or []
    if not workers:
        return f"{figures['peak_rss_mb']:.0f} MB"
    each = " + ".join(f"{mb:.0f}" for mb in workers)
    return f"{total_rss(figures):.0f} MB ({figures['peak_rss_mb']:.0f} + workers {each})"


def report(krs: int, ours: dict, base: dict, history_days: float) -> None:
    totals, waits = (
        Sample("okrflow evaluate (total)", tuple(ours["totals"])),
        Sample("source wait", tuple(ours["waits"])),
    )
    own = Sample("okrflow own time", tuple(t - w for t, w in zip(ours["totals"], ours["waits"], strict=True)))
    baseline = Sample("raw clients, sequential (baseline)", tuple(base["totals"]))
    ratio = totals.median / baseline.median
    per_kr = own.median / krs
    print(f"store: fresh SQLite{f' with {history_days:g} days of 15-minute history' if history_days else ''}; "
          f"config load {fmt_s(ours['load_s'])} (once per process)")  # fmt: skip
    print_table(
        ["figure", "median", "spread", "n", "target"],
        [
            totals.row(target=f"<= 0.5x baseline: {ratio:.2f}x {'ok' if ratio <= 0.5 else 'OVER'}"),
            waits.row(),
            own.row(),
            [
                "okrflow own time per KR",
                f"{1000 * per_kr:.2f} ms",
                "",
                "",
                f"< 2 ms: {'ok' if per_kr < 0.002 else 'OVER'}",
            ],
            baseline.row(),
            ["peak RSS (run process + fetch workers)", rss_text(ours), "", "", ""],
        ],
    )
    per_source = Counter()
    for seconds in base["per_source"]:
        per_source.update(seconds)
    print(
        "  baseline per source (mean): "
        + ", ".join(f"{k} {fmt_s(v / len(base['per_source']))}" for k, v in per_source.items())
    )
    print(f"  values read: okrflow {sum(v for k, v in ours['statuses'].items() if k.endswith(':ok'))} ok of {krs} "
          f"({', '.join(f'{k} {v}' for k, v in sorted(ours['statuses'].items()))}); baseline {base['values'][-1]}")  # fmt: skip
    print("  one evaluation step by step: " + ", ".join(f"{k} {fmt_s(v)}" for k, v in ours["phases"].items()))


if __name__ == "__main__":
    main()
