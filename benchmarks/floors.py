"""What the design's libraries alone cost a command, next to the command: the floor under issue 18's targets.

Each of ``validate``, ``status``, ``history`` and ``run`` must import libraries the design names (pydantic for the
config models, typer for the CLI, PyYAML, sqlglot for the SQL metrics' read-only check, SQLAlchemy for the store,
requests through prometheus-api-client). This runs, in fresh processes (through ``slo_compare``'s bare launcher,
so peak RSS is the process's own), a one-liner that imports exactly those libraries and does the least a command
does with them (one pydantic model validated, one sqlglot parse, one SQLite query through a SQLAlchemy engine, one
``PrometheusConnect`` built), and then the real command. "okrflow's own" is the difference: what okrflow's code,
its config models and the work itself add. Where the floor alone exceeds a target, no change inside okrflow
reaches it while the command imports those libraries. Medians over ``--repeat`` alternating rounds. ``fetch``: the
run's 200 Prometheus queries alone through okrflow's connector, on one thread and on four (client CPU per query).

    .venv/bin/python -m benchmarks.floors [--scale S] [--repeat N] [--count N] [--only libraries,cli,run,fetch]
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Sequence
from pathlib import Path

from benchmarks.cli_latency import prepare
from benchmarks.common import OKRFLOW, PYTHON, bench_env, fmt_s, print_table, section
from benchmarks.slo_compare import SLO_VENV, Child, ensure_slo_venv, run_child, write_okrflow, write_slo_generator
from benchmarks.world import Mix, World

LIBRARIES = {
    "python": "pass",
    "pydantic": "from pydantic import BaseModel\nclass M(BaseModel):\n    x: int\nM.model_validate({'x': 1})",
    "typer": "import typer",
    "yaml": "import yaml\nyaml.CSafeLoader('a: 1').get_single_data()",
    "sqlglot": "import sqlglot\nsqlglot.parse('select 1', read='postgres')",
    "sqlalchemy": (
        "import sqlalchemy\nwith sqlalchemy.create_engine('sqlite://').connect() as c:\n"
        "    c.execute(sqlalchemy.text('select 1')).all()"
    ),
    "prometheus-api-client": (
        "from prometheus_api_client.prometheus_connect import PrometheusConnect\n"
        "PrometheusConnect('http://127.0.0.1:9', disable_ssl=True)"
    ),
}
"""The least each library does on a command's path, as code run by ``python -c``."""

FLOORS = {
    "validate": ("python", "pydantic", "typer", "yaml", "sqlglot"),
    "status": ("python", "pydantic", "typer", "yaml", "sqlalchemy"),
    "run": ("python", "pydantic", "typer", "yaml", "sqlalchemy", "prometheus-api-client"),
}
"""The libraries each command cannot do without (``history`` shares ``status``'s)."""

TARGETS = {"validate": "< 0.25 s", "status": "< 0.3 s", "history": "< 1.0 s"}


def floor_argv(command: str) -> list[str]:
    return [PYTHON, "-c", "\n".join(LIBRARIES[name] for name in FLOORS[command])]


def medians(children: Sequence[Child]) -> tuple[float, float, float]:
    return tuple(statistics.median(getattr(c, f) for c in children) for f in ("wall", "cpu", "rss_mib"))  # type: ignore[return-value]


def rounds(argvs: dict[str, list[str]], env: dict[str, str], repeat: int) -> dict[str, tuple[float, float, float]]:
    """Every argv once as a warm-up, then ``repeat`` rounds (the order reversed every other round)."""
    names = list(argvs)
    for name in names:
        run_child(argvs[name], env)
    runs: dict[str, list[Child]] = {name: [] for name in names}
    for index in range(repeat):
        for name in names if index % 2 == 0 else reversed(names):
            runs[name].append(run_child(argvs[name], env))
    return {name: medians(children) for name, children in runs.items()}


def row(name: str, figures: tuple[float, float, float], extra: str = "") -> list[str]:
    wall, cpu, rss = figures
    return [name, fmt_s(wall), fmt_s(cpu), f"{rss:.1f} MiB", extra]


def libraries(env: dict[str, str], repeat: int) -> None:
    """Each library on its own, above bare Python: what it adds to any command that imports it."""
    got = rounds(
        {name: [PYTHON, "-c", f"{LIBRARIES['python']}\n{code}"] for name, code in LIBRARIES.items()}, env, repeat
    )
    base = got["python"]
    rows = [row(name, figures, "" if name == "python" else f"+{fmt_s(figures[1] - base[1])} CPU, "
                f"+{figures[2] - base[2]:.1f} MiB") for name, figures in got.items()]  # fmt: skip
    print_table([f"one library in a fresh process ({repeat} rounds)", "wall", "CPU", "peak RSS", "above python"], rows)


def cli(scale: float, env: dict[str, str], repeat: int) -> None:
    config, store_url, _ = prepare(scale)
    kr = "kr-00001"
    env = {**env, "OKRFLOW_STORE_URL": store_url}
    argvs = {
        "floor of validate": floor_argv("validate"),
        "okrflow validate": [OKRFLOW, "-c", config, "validate"],
        "floor of status / history": floor_argv("status"),
        "okrflow status": [OKRFLOW, "-c", config, "status"],
        "okrflow history": [OKRFLOW, "-c", config, "history", kr, "--format", "csv"],
    }
    got = rounds(argvs, env, repeat)
    rows = []
    for command in ("validate", "status", "history"):
        floor = "floor of validate" if command == "validate" else "floor of status / history"
        ours, lib = got[f"okrflow {command}"], got[floor]
        if command != "history":
            rows.append(row(f"{floor}: {' + '.join(FLOORS[command])}", lib))
        own = f"{fmt_s(ours[0] - lib[0])} wall, {fmt_s(ours[1] - lib[1])} CPU, {ours[2] - lib[2]:.1f} MiB"
        rows.append(row(f"okrflow {command}", ours, f"target {TARGETS[command]}; above the floor: {own}"))
    print_table([f"1,000 KRs, 2.2M rows ({repeat} rounds, medians)", "wall", "CPU", "peak RSS", ""], rows)


def run(count: int, env: dict[str, str], repeat: int) -> None:
    if ensure_slo_venv() is None:
        print("slo-generator is not installed (see above): the run's floor is measured without it")
    with World(Mix(0, 0, 2 * count, 0, 0), name="slo") as world:
        okr_config = write_okrflow(world.workdir, world.urls.prometheus, count)
        slo_config, slo_dir = write_slo_generator(world.workdir, world.urls.prometheus, count)
        store = world.workdir / "okrflow.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store}{suffix}").unlink(missing_ok=True)
        env = {**env, "OKRFLOW_STORE_URL": f"sqlite:///{store}"}
        argvs = {
            "floor of run": floor_argv("run"),
            "okrflow run": [OKRFLOW, "-c", str(okr_config), "run", "--format", "json"],
        }
        if (SLO_VENV / "bin" / "slo-generator").exists():
            slo = [str(SLO_VENV / "bin" / "slo-generator"), "compute", "-f", str(slo_dir), "-c", str(slo_config)]
            argvs["slo-generator compute"] = slo
        got = rounds(argvs, env, repeat)
    theirs = got.get("slo-generator compute")

    def versus(figures: tuple[float, float, float]) -> str:
        if theirs is None:
            return ""
        return f"{figures[0] / theirs[0]:.2f}x its wall, {figures[2] / theirs[2]:.2f}x its RSS"

    rows = [row(f"floor of run: {' + '.join(FLOORS['run'])}", got["floor of run"], versus(got["floor of run"]))]
    rows.append(row("okrflow run", got["okrflow run"], versus(got["okrflow run"])))
    if theirs is not None:
        rows.append(row("slo-generator compute", theirs, "targets: okrflow <= 0.5x its wall, <= 1.2x its RSS"))
    print_table([f"{count} Prometheus KRs / SLOs ({repeat} rounds, medians)", "wall", "CPU", "peak RSS", ""], rows)


def fetch(count: int, repeat: int, threads: Sequence[int] = (1, 4)) -> None:
    """The run's queries alone, in this process: ``fetch_source`` of ``count`` Prometheus KRs (client CPU, wall)."""
    import resource
    import time
    from datetime import UTC, datetime

    from okrflow.connectors.registry import default_registry
    from okrflow.flows.fetching import close_connectors, fetch_source, open_connectors
    from okrflow.okr_model.loader import load_config

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    with World(Mix(0, 0, 2 * count, 0, 0), name="slo") as world:
        config = load_config(write_okrflow(world.workdir, world.urls.prometheus, count), default_registry())
        krs = [kr for _, kr in config.key_results()]
        connectors = open_connectors(config, sorted({kr.metric.source for kr in krs if kr.metric}))
        (connector,) = connectors.values()
        at, rows = datetime.now(UTC), []
        try:
            fetch_source(connector, krs, at, max(threads))  # connections opened, caches warm
            for n in threads:
                walls, cpus = [], []
                for _ in range(repeat):
                    started, used = time.perf_counter(), cpu()
                    fetch_source(connector, krs, at, n)
                    walls.append(time.perf_counter() - started)
                    cpus.append(cpu() - used)
                wall, used = statistics.median(walls), statistics.median(cpus)
                rows.append([f"{n} thread{'s' if n > 1 else ''}", fmt_s(wall), fmt_s(used), fmt_s(used / len(krs))])
        finally:
            close_connectors(connectors)
    print_table([f"{len(krs)} instant queries, fetch_source ({repeat} rounds)", "wall", "CPU", "CPU per query"], rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.floors", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="benchmark 1's world (default 1: 1,000 KRs)")
    parser.add_argument("--count", type=int, default=200, help="Prometheus KRs of the run (default 200)")
    parser.add_argument("--repeat", type=int, default=7, help="rounds of fresh processes (default 7)")
    parser.add_argument("--only", default="libraries,cli,run,fetch", help="a subset of libraries,cli,run,fetch")
    args = parser.parse_args(argv)
    env, parts = bench_env(), set(args.only.split(","))
    section(f"The floor: the design's libraries alone (load average {', '.join(f'{x:.1f}' for x in os.getloadavg())})")
    if "libraries" in parts:
        libraries(env, args.repeat)
    if "cli" in parts:
        print()
        cli(args.scale, env, args.repeat)
    if "run" in parts:
        print()
        run(args.count, env, args.repeat)
    if "fetch" in parts:
        print()
        fetch(args.count, args.repeat)


if __name__ == "__main__":
    main()
