"""Benchmark 6: the per-run overhead of a served run (``okrflow serve`` on a real Prefect server).

A one-KR config (a SQLite warehouse and store: the work is small, so what a run costs beyond it shows) served
by ``okrflow serve`` (the console script, as a user starts it) on a ``prefect server start`` of
``flows/local_prefect.py``. The benchmark asks the deployment for ``--runs`` flow runs one after the other, each
scheduled for now (so no prefetch hides the start-up: the Runner starts a scheduled run's process up to 10 s
early), and a watcher polls ``/proc`` every 50 ms for serve's child processes. Per run:

- pick-up: from the run's creation to its process appearing (the Runner polls every second here);
- start-up: from the process appearing to Prefect's Running state, which the engine sets just before it calls
  the flow function (the first line of okrflow work);
- work: Running to Completed (the flow function, as Prefect records it);
- tear-down: from Completed to the process's exit;
- per-run wall: from the process appearing to its exit; overhead: wall minus work;
- CPU: user + system seconds of the flow-run process (less at the mercy of a shared machine's load).

First (``--scheduled``), runs on the config's own ``@every`` schedule: how long before its slot each run's process
started, and how long after its slot its first line ran (Prefect's Running state; the run itself waits for its
slot). Then the import time of the flow's entrypoint module (``okrflow.flows.evaluate``) in a fresh interpreter, and of
Prefect alone for comparison.

    .venv/bin/python -m benchmarks.served_run [--runs 6] [--repeat 5] [--scheduled 5] [--every 40]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import OKRFLOW, PYTHON, REPO, WORK, Sample, bench_env, print_table, repeat, section

CONFIG = """version: 1
cycle: {{name: bench, start: {start}, end: {end}}}
schedule: "@every {every}s"
store: "sqlite:///{store}"
sources:
  warehouse: {{type: sql, url: "sqlite:///{warehouse}", timeout_s: 5, retries: 0}}
objectives:
  - id: team
    title: Team objective
    key_results:
      - id: hours
        kind: decrease
        baseline: 4
        target: 2
        metric: {{source: warehouse, sql: "SELECT value FROM metrics WHERE name = 'hours'"}}
"""
FIGURES = (
    "pick-up",
    "start-up",
    "work",
    "tear-down",
    "per-run wall",
    "overhead (wall - work)",
    "CPU of the run process",
)


@dataclass
class ChildWatcher:
    """Each child of ``root``: first and last time seen and CPU seconds then, polled from /proc."""

    root: int
    every_s: float = 0.05
    seen: dict[int, list[float]] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        while not self.stop.wait(self.every_s):
            now = time.time()
            for pid, fields in self.children():
                cpu = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
                self.seen.setdefault(pid, [now, now, cpu])[1:] = [now, cpu]

    def children(self) -> list[tuple[int, list[str]]]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()  # from the state on
                    if int(fields[1]) == self.root:
                        found.append((int(entry.name), fields))
        return found


def write_world(workdir: Path, every_s: int = 3600) -> Path:
    """The warehouse and the config; hourly by default, so that only the benchmark's own runs happen."""
    warehouse = workdir / "warehouse.db"
    with contextlib.closing(sqlite3.connect(warehouse)) as conn, conn:
        conn.execute("CREATE TABLE metrics (name TEXT, value REAL)")
        conn.execute("INSERT INTO metrics VALUES ('hours', 3.0)")
    today = datetime.now(UTC).date()
    config = workdir / "bench-served.yaml"
    config.write_text(
        CONFIG.format(
            start=today - timedelta(days=30),
            end=today + timedelta(days=60),
            every=every_s,
            store=workdir / "history.db",
            warehouse=warehouse,
        )
    )
    return config


def state_times(client: Any, run_id: Any) -> dict[str, float] | None:
    """Epoch seconds of a completed run's states, by state type; None while it is not final."""
    run = client.read_flow_run(run_id)
    if not (run.state and run.state.is_final()):
        return None
    if not run.state.is_completed():
        raise RuntimeError(f"flow run {run.name} ended {run.state.type.value}: {run.state.message}")
    return {s.type.value: s.timestamp.timestamp() for s in client.read_flow_run_states(run_id)}


def measure_runs(runs: int) -> list[Sample]:
    from okrflow.flows.local_prefect import local_prefect_server
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    WORK.mkdir(parents=True, exist_ok=True)
    values: dict[str, list[float]] = {name: [] for name in FIGURES}
    with tempfile.TemporaryDirectory(dir=WORK, prefix="served-run-") as tmp:
        workdir = Path(tmp)
        config = write_world(workdir)
        with local_prefect_server(workdir / "prefect-home") as server:
            env = bench_env(
                PREFECT_API_URL=server.api_url,
                PREFECT_HOME=str(workdir / "client-home"),
                PREFECT_RUNNER_POLL_FREQUENCY="1",
            )
            log = workdir / "serve.log"
            with log.open("wb") as out:
                serve = subprocess.Popen(
                    [OKRFLOW, "-c", str(config), "serve"], env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT
                )
            watcher = ChildWatcher(serve.pid)
            threading.Thread(target=watcher.run, daemon=True).start()
            settings = temporary_settings(updates={PREFECT_API_URL: server.api_url})
            try:
                with settings, get_client(sync_client=True) as client:
                    deployment = wait(lambda: _deployment(client, config.stem), serve, log, 180)
                    for _ in range(runs):
                        before = set(watcher.seen)
                        created = time.time()
                        run_id = client.create_flow_run_from_deployment(deployment).id
                        states = wait(lambda: state_times(client, run_id), serve, log, 180)  # noqa: B023
                        new = wait(lambda: _exited(watcher, before), serve, log, 60)  # noqa: B023
                        first, last, cpu = watcher.seen[new]
                        running, completed = states["RUNNING"], states["COMPLETED"]
                        for name, value in zip(
                            FIGURES,
                            (
                                first - created,
                                running - first,
                                completed - running,
                                last - completed,
                                last - first,
                                (last - first) - (completed - running),
                                cpu,
                            ),
                            strict=True,
                        ):
                            values[name].append(value)
            finally:
                watcher.stop.set()
                serve.send_signal(signal.SIGINT)
                serve.wait(timeout=60)
    return [Sample(name, tuple(v)) for name, v in values.items()]


def _deployment(client: Any, name: str) -> Any:
    from prefect.exceptions import ObjectNotFound

    try:
        return client.read_deployment_by_name(f"okrflow-evaluate/{name}").id
    except ObjectNotFound:
        return None


def _exited(watcher: ChildWatcher, before: set[int]) -> int | None:
    """The flow-run process that appeared since ``before`` and has exited (the longest-lived such child: a
    long-lived helper such as multiprocessing's resource tracker never exits)."""
    exited = [pid for pid in watcher.seen if pid not in before and not Path(f"/proc/{pid}").exists()]
    return max(exited, key=lambda pid: watcher.seen[pid][1] - watcher.seen[pid][0]) if exited else None


def wait(probe: Callable[[], Any], serve: subprocess.Popen[bytes], log: Path, timeout_s: float) -> Any:
    """Poll ``probe`` until it returns something, while serve runs."""
    deadline = time.monotonic() + timeout_s
    while (found := probe()) is None:
        if serve.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"okrflow serve (exit {serve.poll()}):\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    return found


def measure_scheduled(runs: int, every_s: int) -> list[Sample]:
    """``runs`` runs on the config's own ``@every`` schedule: how far before its slot each run's process
    started (the Runner's prefetch) and how late after its slot its first line ran (Prefect's Running)."""
    from okrflow.flows.local_prefect import local_prefect_server
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.settings import PREFECT_API_URL, temporary_settings

    WORK.mkdir(parents=True, exist_ok=True)
    lead, late = [], []
    with tempfile.TemporaryDirectory(dir=WORK, prefix="served-scheduled-") as tmp:
        workdir = Path(tmp)
        config = write_world(workdir, every_s)
        with local_prefect_server(workdir / "prefect-home") as server:
            env = bench_env(PREFECT_API_URL=server.api_url, PREFECT_HOME=str(workdir / "client-home"))
            log = workdir / "serve.log"
            with log.open("wb") as out:
                serve = subprocess.Popen(
                    [OKRFLOW, "-c", str(config), "serve"], env=env, cwd=workdir, stdout=out, stderr=subprocess.STDOUT
                )
            watcher = ChildWatcher(serve.pid)
            threading.Thread(target=watcher.run, daemon=True).start()
            by_name = DeploymentFilter(name=DeploymentFilterName(any_=[config.stem]))
            settings = temporary_settings(updates={PREFECT_API_URL: server.api_url})
            try:
                with settings, get_client(sync_client=True) as client:

                    def completed() -> list[Any] | None:
                        done = [r for r in client.read_flow_runs(deployment_filter=by_name) if r.state.is_completed()]
                        return done if len(done) >= runs + 1 else None  # the first may be picked up late

                    done = wait(completed, serve, log, 120 + (runs + 2) * every_s)
                    time.sleep(1)  # the last process's exit
                    for run in sorted(done, key=lambda r: r.expected_start_time)[1 : runs + 1]:
                        slot, running = run.expected_start_time.timestamp(), run.start_time.timestamp()
                        starts = [first for first, last, _ in watcher.seen.values() if first <= running <= last]
                        if starts:
                            lead.append(slot - max(starts))
                        late.append(running - slot)
            finally:
                watcher.stop.set()
                serve.send_signal(signal.SIGINT)
                serve.wait(timeout=60)
    return [Sample("process started before the slot", tuple(lead)), Sample("first line after the slot", tuple(late))]


def import_samples(times: int) -> list[Sample]:
    """The entrypoint module, and Prefect alone, imported in a fresh interpreter."""

    def importing(module: str) -> None:
        subprocess.run([PYTHON, "-c", f"import {module}"], check=True, cwd=REPO, env=bench_env())

    return [
        repeat("import okrflow.flows.evaluate", lambda: importing("okrflow.flows.evaluate"), times),
        repeat("import prefect (alone)", lambda: importing("prefect"), times),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.served_run", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6, help="served runs measured, one after the other (default 6)")
    parser.add_argument("--repeat", type=int, default=5, help="fresh-interpreter imports timed (default 5; 0: none)")
    parser.add_argument("--scheduled", type=int, default=5, help="runs on a schedule measured (default 5; 0: none)")
    parser.add_argument("--every", type=int, default=40, help="the schedule of those runs, seconds (default 40)")
    args = parser.parse_args(argv)

    if args.scheduled:
        section(f"6. Scheduled runs: {args.scheduled} runs @every {args.every}s, their slot and their first line")
        print_table(
            ["figure", "median", "min - max", "n", ""], [s.row() for s in measure_scheduled(args.scheduled, args.every)]
        )
    if args.runs:
        section(f"6. A served run's overhead: {args.runs} runs of a one-KR config, one after the other")
        print_table(["figure", "median", "min - max", "n", ""], [s.row() for s in measure_runs(args.runs)])
    if args.repeat:
        section("Import of the flow's entrypoint module in a fresh interpreter")
        print_table(["figure", "median", "min - max", "n", ""], [s.row() for s in import_samples(args.repeat)])


if __name__ == "__main__":
    main()
