"""A world at scale for the benchmarks: N key results over real SQL, Prometheus, MLflow and Great Expectations.

``write_config`` generates the okrflow config (objectives of five KRs under twenty team objectives under one
company objective, sources interleaved). ``World`` builds and runs what the config points at, all on loopback:

- SQL: one ``events`` table (indexed by group and time) in a SQLite file and in a fresh PostgreSQL database;
  each SQL KR averages its group's values up to ``:now``.
- Prometheus: Debian's binary (``okrflow.localprom.LocalPrometheus``) scraping a ``prometheus_client``
  exporter that runs in its own process (so its feed and scrapes do not compete for this process's GIL):
  one latency histogram per shard and one queue-depth gauge per KR.
- MLflow: one local SQLite tracking store (built in /dev/shm, cached under ``benchmarks/.work``) with
  registered models (champion/challenger aliases) and experiments of runs logging ten metrics each.
- Great Expectations: suites of three expectations over one group of the SQLite warehouse each.

Run as ``python -m benchmarks.world exporter --port P --shards S --gauges G`` it is the exporter process.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from benchmarks.common import PYTHON, REPO, WORK, bench_env

__all__ = ["FULL_MIX", "PG_SERVER", "Mix", "World", "kr_ids", "write_config"]

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
CYCLE_START = datetime(2026, 10, 1, tzinfo=UTC)
CYCLE = {"name": "2026-Q4", "start": "2026-10-01", "end": "2026-12-31"}
ROWS_PER_GROUP = 200
MLFLOW_METRICS = 10
KRS_PER_OBJECTIVE = 5
TEAMS = 20


@dataclass(frozen=True)
class Mix:
    """How many KRs each source kind measures (GX: one KR per suite)."""

    sqlite: int = 190
    postgres: int = 190
    prometheus: int = 400
    mlflow: int = 200
    gx: int = 20

    @property
    def total(self) -> int:
        return self.sqlite + self.postgres + self.prometheus + self.mlflow + self.gx

    def scaled(self, factor: float) -> Mix:
        def part(n: int) -> int:
            return 0 if n == 0 else max(1, round(n * factor))

        return Mix(*(part(getattr(self, f)) for f in ("sqlite", "postgres", "prometheus", "mlflow", "gx")))

    @property
    def key(self) -> str:
        return f"{self.sqlite}-{self.postgres}-{self.prometheus}-{self.mlflow}-{self.gx}"


FULL_MIX = Mix()
"""The issue's evaluation at scale: 1,000 KRs, 380 SQL (SQLite + PostgreSQL), 400 Prometheus, 200 MLflow, 20 GX."""


def kr_ids(total: int) -> list[str]:
    return [f"kr-{i:05d}" for i in range(total)]


# -- the config -----------------------------------------------------------------------------------


@dataclass
class Urls:
    sqlite: str = "sqlite:///warehouse.db"
    postgres: str = f"{PG_SERVER}/okrflow_bench_warehouse"
    prometheus: str = "http://127.0.0.1:9090"
    mlflow: str = "sqlite:///mlflow.db"
    webhook: str = "http://127.0.0.1:9/okr"
    store: str = "sqlite:///okrflow.db"


def _sql_kr(group: int, source: str, rng: random.Random) -> dict[str, Any]:
    metric = {
        "source": source,
        "sql": "SELECT avg(value) FROM events WHERE grp = :g AND ts >= :cycle_start AND ts < :now",
        "params": {"g": group},
    }
    if rng.random() < 0.25:
        return {"kind": "maintain_above", "target": 45, "metric": metric}
    return {"kind": "increase", "baseline": 40, "target": 60, "unit": "pts", "metric": metric}


def prom_query(j: int, gauges: int, shards: int) -> tuple[str, dict[str, Any]]:
    """The j-th Prometheus KR's query and scoring (histogram quantiles and gauge averages alternate)."""
    if j % 2 == 0:
        shard = (j // 2) % shards
        quantile = 0.95 if j < 2 * shards else 0.50 + (j // (2 * shards)) % 50 / 100
        query = (
            f'histogram_quantile({quantile:g}, sum by (le) (rate(bench_latency_seconds_bucket{{shard="{shard}"}}[1m])))'
        )
        return query, {"kind": "maintain_below", "target": 0.5, "unit": "s"}
    gauge = (j // 2) % gauges
    window = 1 + (j // (2 * gauges)) % 5
    return f'avg_over_time(bench_queue_depth{{kr="{gauge}"}}[{window}m])', {
        "kind": "decrease",
        "baseline": 8,
        "target": 2,
    }


def _mlflow_kr(j: int, models: int) -> dict[str, Any]:
    metric_name = f"m{(j // 2) // models % MLFLOW_METRICS}"
    if j % 2 == 0:
        metric = {"source": "tracking", "model": f"bench-model-{(j // 2) % models}", "alias": "champion"}
    else:
        metric = {"source": "tracking", "experiment": f"bench-exp-{(j // 2) % models}", "run": "latest"}
        if j % 20 == 1:
            metric["run"] = "best"
    metric["name"] = metric_name
    return {"kind": "increase", "baseline": 0.6, "target": [0.85, 0.95], "track": "aspirational", "metric": metric}


def mlflow_models(mix: Mix) -> int:
    """Registered models (and experiments) of the MLflow world: ten metric names each, read by two KRs per name."""
    return max(1, -(-mix.mlflow // (2 * MLFLOW_METRICS)))


def prom_shape(mix: Mix) -> tuple[int, int]:
    """(shards, gauges) of the exporter: one histogram shard and one gauge per two Prometheus KRs, at most 500/1000."""
    half = max(1, -(-mix.prometheus // 2))
    return min(half, 500), min(half, 1000)


def build_config(mix: Mix, urls: Urls, seed: int = 7) -> dict[str, Any]:
    """The config as data: sources interleaved over objectives of five KRs; a tenth of the KRs watch drift."""
    rng = random.Random(seed)
    shards, gauges = prom_shape(mix)
    models = mlflow_models(mix)
    kinds = (
        [("wh_sqlite", i) for i in range(mix.sqlite)]
        + [("wh_postgres", i) for i in range(mix.postgres)]
        + [("prom", i) for i in range(mix.prometheus)]
        + [("tracking", i) for i in range(mix.mlflow)]
        + [("quality", i) for i in range(mix.gx)]
    )
    rng.shuffle(kinds)
    krs = []
    for index, (source, j) in enumerate(kinds):
        if source in ("wh_sqlite", "wh_postgres"):
            kr = _sql_kr(j, source, rng)
        elif source == "prom":
            query, scoring = prom_query(j, gauges, shards)
            kr = {**scoring, "metric": {"source": "prom", "query": query}}
        elif source == "tracking":
            kr = _mlflow_kr(j, models)
        else:
            kr = {
                "kind": "increase",
                "baseline": 50,
                "target": 100,
                "unit": "%",
                "metric": {"source": "quality", "suite": f"s{j}"},
            }
        kr = {"id": f"kr-{index:05d}", "title": f"Key result {index} ({source})", "owner": f"owner-{index % 10}", **kr}
        if index % 10 == 0:
            kr["drift"] = {"max_drop": 5 if source in ("wh_sqlite", "wh_postgres") else 0.05}
        krs.append(kr)
    objectives: list[dict[str, Any]] = [{"id": "company", "title": "Company objective", "level": "company"}]
    objectives += [
        {"id": f"team-{t}", "parent": "company", "level": "team", "title": f"Team {t} objective"} for t in range(TEAMS)
    ]
    for o, start in enumerate(range(0, len(krs), KRS_PER_OBJECTIVE)):
        objectives.append(
            {
                "id": f"obj-{o:04d}",
                "parent": f"team-{o % TEAMS}",
                "level": "individual",
                "title": f"Objective {o}",
                "owner": f"owner-{o % 10}",
                "key_results": krs[start : start + KRS_PER_OBJECTIVE],
            }
        )
    sources: dict[str, Any] = {}
    if mix.sqlite or mix.gx:
        sources["wh_sqlite"] = {"type": "sql", "url": urls.sqlite, "timeout_s": 10}
    if mix.postgres:
        sources["wh_postgres"] = {"type": "sql", "url": urls.postgres, "timeout_s": 10}
    if mix.prometheus:
        sources["prom"] = {"type": "prometheus", "url": urls.prometheus, "timeout_s": 10, "retries": 1}
    if mix.mlflow:
        sources["tracking"] = {"type": "mlflow", "tracking_uri": urls.mlflow, "production_aliases": ["champion"]}
    if mix.gx:
        sources["quality"] = {
            "type": "great_expectations",
            "suites": {
                f"s{g}": {
                    "data": {"source": "wh_sqlite", "query": f"SELECT grp, ts, value FROM events WHERE grp = {g}"},
                    "expectations": [
                        {"expect_column_values_to_not_be_null": {"column": "value"}},
                        {"expect_column_values_to_be_between": {"column": "value", "min_value": 0, "max_value": 100}},
                        {"expect_table_row_count_to_be_between": {"min_value": 10}},
                    ],
                }
                for g in range(mix.gx)
            },
        }
    return {
        "version": 1,
        "cycle": CYCLE,
        "schedule": "*/15 * * * *",
        "store": urls.store,
        "defaults": {"alerts": {"for_runs": 2, "repeat_interval": "24h", "channels": ["hook"]}},
        "channels": {"hook": {"type": "webhook", "url": urls.webhook, "timeout_s": 2}},
        "owners": {f"owner-{i}": {"channels": ["hook"]} for i in range(10)},
        "sources": sources,
        "objectives": objectives,
    }


def write_config(path: Path, mix: Mix, urls: Urls | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = build_config(mix, urls or Urls())
    path.write_text(
        f"# generated by benchmarks/world.py: {mix.total} key results\n"
        + yaml.safe_dump(data, sort_keys=False, width=200)
    )
    return path


# -- the sources ----------------------------------------------------------------------------------


def _events(groups: int, until: datetime, seed: int = 3) -> list[tuple[int, str, float]]:
    """ROWS_PER_GROUP rows per group from the cycle start to ``until``; values rise from ~40 to ~60."""
    rng = random.Random(seed)
    span = (until - CYCLE_START).total_seconds()
    rows = []
    for g in range(groups):
        for k in range(ROWS_PER_GROUP):
            share = k / ROWS_PER_GROUP
            ts = CYCLE_START + timedelta(seconds=span * share)
            rows.append(
                (g, ts.strftime("%Y-%m-%d %H:%M:%S"), round(min(100, max(0, rng.gauss(40 + 20 * share, 5))), 3))
            )
    return rows


def make_sqlite_warehouse(path: Path, groups: int, until: datetime) -> None:
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, grp INTEGER NOT NULL, ts TEXT NOT NULL, value REAL)")
        db.executemany("INSERT INTO events (grp, ts, value) VALUES (?, ?, ?)", _events(groups, until))
        db.execute("CREATE INDEX ix_events_grp_ts ON events (grp, ts)")
    db.close()


def make_postgres_warehouse(server: str, name: str, groups: int, until: datetime) -> str:
    """A fresh database ``name`` (dropped first) with the events table, filled with COPY."""
    import psycopg
    from psycopg import sql

    base = server.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(f"{base}/{name}") as conn:
        conn.execute(
            "CREATE TABLE events (id serial PRIMARY KEY, grp integer NOT NULL, ts timestamp NOT NULL, value double precision)"
        )
        with conn.cursor().copy("COPY events (grp, ts, value) FROM STDIN") as copy:
            for row in _events(groups, until):
                copy.write_row(row)
        conn.execute("CREATE INDEX ix_events_grp_ts ON events (grp, ts)")
        conn.execute("ANALYZE events")
    return f"{server}/{name}"


def drop_postgres_database(server: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    base = server.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def seed_mlflow_store(path: Path, models: int, until: datetime, seed: int = 5) -> None:
    """``models`` registered models (v1 challenger, v2 champion) and as many experiments of five runs,
    every run logging ``m0..m9`` daily. Built in /dev/shm (MLflow's schema creation is fsync-heavy)."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    rng = random.Random(seed)
    scratch = Path(tempfile.mkdtemp(dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    uri = f"sqlite:///{scratch / 'mlflow.db'}"
    try:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        days = max(1, (until - CYCLE_START).days)
        start_ms = int(CYCLE_START.timestamp() * 1000)

        def logged_run(experiment_id: str, offset_days: int) -> str:
            run = client.create_run(experiment_id, start_time=start_ms + offset_days * 86_400_000)
            metrics = [
                Metric(f"m{k}", round(0.7 + 0.2 * d / days + rng.gauss(0, 0.01), 4), start_ms + d * 86_400_000, d)
                for k in range(MLFLOW_METRICS)
                for d in range(offset_days, days + 1)
            ]
            for chunk in range(0, len(metrics), 1000):
                client.log_batch(run.info.run_id, metrics=metrics[chunk : chunk + 1000])
            client.set_terminated(run.info.run_id)
            return run.info.run_id

        for m in range(models):
            experiment = client.create_experiment(f"bench-exp-{m}")
            for r in range(5):
                logged_run(experiment, r)
            model_runs = client.create_experiment(f"bench-model-runs-{m}")
            name = f"bench-model-{m}"
            client.create_registered_model(name)
            for alias in ("challenger", "champion"):
                run_id = logged_run(model_runs, 0)
                version = client.create_model_version(name, source=f"runs:/{run_id}/model", run_id=run_id)
                client.set_registered_model_alias(name, alias, str(version.version))
        shutil.copyfile(scratch / "mlflow.db", path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def exporter_main(port: int, shards: int, gauges: int) -> None:
    """The exporter process: histograms fed every second, gauges that wander; stops on SIGTERM."""
    from prometheus_client import CollectorRegistry, Gauge, Histogram, start_http_server

    registry = CollectorRegistry()
    latency = Histogram(
        "bench_latency_seconds",
        "Request latency per shard.",
        ["shard"],
        buckets=(0.05, 0.1, 0.2, 0.3, 0.5, 1.0),
        registry=registry,
    )
    depth = Gauge("bench_queue_depth", "Queue depth per KR.", ["kr"], registry=registry)
    children = [latency.labels(shard=str(s)) for s in range(shards)]
    gauge_children = [depth.labels(kr=str(g)) for g in range(gauges)]
    server, _ = start_http_server(port, addr="127.0.0.1", registry=registry)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    rng = random.Random(1)
    print("ready", flush=True)
    while not stop.is_set():
        for child in children:
            for _ in range(5):
                child.observe(rng.lognormvariate(-2.0, 0.6))
        for child in gauge_children:
            child.set(rng.uniform(1, 9))
        stop.wait(1.0)
    server.shutdown()


@dataclass
class World:
    """Builds (cached under ``benchmarks/.work``) and runs every source of a generated config; stops them on exit."""

    mix: Mix
    name: str = "world"
    pg_server: str = PG_SERVER
    store_url: str | None = None
    cache: Path = field(init=False)
    workdir: Path = field(init=False)
    config_path: Path = field(init=False)
    urls: Urls = field(init=False)
    _stack: list[Any] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.cache = WORK / f"{self.name}-{self.mix.key}"  # warehouse and MLflow store, built once and kept
        self.workdir = self.cache / f"run-{os.getpid()}"  # this run's config, store, Prometheus: removed on exit
        self.config_path = self.workdir / "okrflow.yaml"

    def __enter__(self) -> World:
        try:
            self._start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self) -> None:
        from okrflow.demo_world import DemoWebhook
        from okrflow.localprom import LocalPrometheus, free_port

        self.workdir.mkdir(parents=True, exist_ok=True)
        self._stack.append(lambda: shutil.rmtree(self.workdir, ignore_errors=True))
        until = datetime.now(UTC) + timedelta(days=1)
        urls = Urls(store=self.store_url or f"sqlite:///{self.workdir / 'okrflow.db'}")
        groups = max(self.mix.sqlite, self.mix.postgres, self.mix.gx)
        warehouse = self.cache / "warehouse.db"
        if self.mix.sqlite or self.mix.gx:
            if not warehouse.exists():
                scratch = self.workdir / "warehouse.db"
                make_sqlite_warehouse(scratch, groups, until)
                os.replace(scratch, warehouse)  # whole or absent, if another run builds it too
            urls.sqlite = f"sqlite:///{warehouse}"
        if self.mix.postgres:
            db = f"okrflow_bench_{self.name.replace('-', '_')}_{os.getpid()}_wh"  # per run: runs may overlap
            urls.postgres = make_postgres_warehouse(self.pg_server, db, groups, until)
            self._stack.append(lambda: drop_postgres_database(self.pg_server, db))
        if self.mix.mlflow:
            store = self.cache / "mlflow.db"
            if not store.exists():
                scratch = self.workdir / "mlflow.db"
                seed_mlflow_store(scratch, mlflow_models(self.mix), until)
                os.replace(scratch, store)
            urls.mlflow = f"sqlite:///{store}"
        if self.mix.prometheus:
            shards, gauges = prom_shape(self.mix)
            port = free_port()
            exporter = subprocess.Popen(
                [
                    PYTHON,
                    "-m",
                    "benchmarks.world",
                    "exporter",
                    f"--port={port}",
                    f"--shards={shards}",
                    f"--gauges={gauges}",
                ],
                cwd=REPO,
                env=bench_env(),
                stdout=subprocess.PIPE,
                text=True,
            )
            self._stack.append(lambda: _stop(exporter))
            if exporter.stdout is None or exporter.stdout.readline().strip() != "ready":
                raise RuntimeError("the benchmark exporter did not start")
            prom = LocalPrometheus(self.workdir / "prometheus", [f"127.0.0.1:{port}"], scrape_interval="2s")
            prom.__enter__()
            self._stack.append(lambda: prom.__exit__())
            prom.wait_for(
                'histogram_quantile(0.95, sum by (le) (rate(bench_latency_seconds_bucket{shard="0"}[1m])))', 60
            )
            prom.wait_for(f'avg_over_time(bench_queue_depth{{kr="{gauges - 1}"}}[1m])', 60)
            urls.prometheus = prom.url
        hook = DemoWebhook()
        hook.__enter__()
        self._stack.append(lambda: hook.__exit__())
        urls.webhook = hook.url
        self.urls = urls
        write_config(self.config_path, self.mix, urls)

    def __exit__(self, *exc: object) -> None:
        while self._stack:
            try:
                self._stack.pop()()
            except Exception as error:  # keep stopping the others
                print(f"stopping a benchmark service failed: {error}", file=sys.stderr)


def _stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def iter_chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.world")
    sub = parser.add_subparsers(dest="command", required=True)
    exporter = sub.add_parser("exporter", help="run the benchmark exporter (used by World)")
    exporter.add_argument("--port", type=int, required=True)
    exporter.add_argument("--shards", type=int, default=200)
    exporter.add_argument("--gauges", type=int, default=200)
    args = parser.parse_args(argv)
    if args.command == "exporter":
        exporter_main(args.port, args.shards, args.gauges)


if __name__ == "__main__":
    main()
