"""The demo's small world: a ticket warehouse, an MLflow registry with a champion and a challenger, and
a Prometheus history of serving latency and uptime. Numbers improve over the cycle, with some noise,
so a few evaluations over simulated time give a history worth looking at.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from okrflow.okr_model import formatting

__all__ = [
    "LATENCY_BUCKETS",
    "DemoExporter",
    "DemoWebhook",
    "describe",
    "make_warehouse",
    "move_alias",
    "prometheus_history",
    "restore_alias",
    "seed_mlflow",
    "seed_mlflow_file",
]

LATENCY_BUCKETS = (0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.5, 1.0)


def make_warehouse(path: Path, start: datetime, days: int, seed: int = 7, per_day: int = 40) -> int:
    """Write a tickets table whose metrics improve over the cycle; returns the row count.

    A shrinking share of tickets lacks ``resolution_hours`` (a data-quality problem being fixed).
    """
    rng = random.Random(seed)
    path.unlink(missing_ok=True)
    rows = []
    for day in range(days):
        progress = day / max(1, days - 1)
        for _ in range(per_day):
            opened = start + timedelta(days=day, seconds=rng.uniform(0, 86400))
            hours = max(0.2, rng.gauss(4.3 - 2.2 * progress, 0.8))
            closed = opened + timedelta(hours=hours)
            ai_resolved = rng.random() < 0.3 + 0.3 * progress
            csat = min(5.0, max(1.0, rng.gauss(4.05 + 0.35 * progress, 0.4))) if ai_resolved else None
            missing = rng.random() < 0.10 - 0.09 * progress
            rows.append(
                (
                    opened.strftime("%Y-%m-%d %H:%M:%S"),
                    closed.strftime("%Y-%m-%d %H:%M:%S"),
                    None if missing else round(hours, 3),
                    int(rng.random() < 0.58 + 0.2 * progress),
                    round(max(3.0, rng.gauss(12.6 - 4.0 * progress, 1.5)), 2),
                    None if csat is None else round(csat, 2),
                    int(rng.random() < 0.1 + 0.2 * progress),
                    int(ai_resolved),
                )
            )
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE tickets (id INTEGER PRIMARY KEY, opened_at TEXT, closed_at TEXT, resolution_hours REAL,"
            " first_contact_resolved INTEGER, cost_usd REAL, csat REAL, deflected INTEGER, ai_resolved INTEGER)"
        )
        db.executemany(
            "INSERT INTO tickets (opened_at, closed_at, resolution_hours, first_contact_resolved, cost_usd, csat,"
            " deflected, ai_resolved) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


def seed_mlflow_file(path: Path, start: datetime, end: datetime) -> None:
    """Seed a SQLite MLflow store at ``path``. MLflow's schema creation is fsync-heavy (about 10 s on
    disk), so the store is built in memory-backed /dev/shm when there is one and then copied."""
    import shutil
    import tempfile

    scratch = Path(tempfile.mkdtemp(dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    try:
        seed_mlflow(f"sqlite:///{scratch / 'mlflow.db'}", start, end)
        shutil.copyfile(scratch / "mlflow.db", path)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def seed_mlflow(tracking_uri: str, start: datetime, end: datetime, seed: int = 7) -> dict[str, str]:
    """A ``ticket-classifier`` experiment and registered model: v1 (challenger) and v2 (champion).

    The champion's run logs F1 daily from 0.80 towards 0.89, with timestamps across the cycle, so a
    run as of a past slot reads the F1 of that day. Reads metadata only: no model artifact is logged.
    """
    from mlflow import MlflowClient
    from mlflow.entities import Metric

    rng = random.Random(seed)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    experiment_id = client.create_experiment("ticket-classifier")
    run_ids = {}
    days = max(1, (end - start).days)
    for name, first, last in (("challenger", 0.79, 0.84), ("champion", 0.80, 0.89)):
        run = client.create_run(experiment_id, run_name=f"{name}-training", start_time=int(start.timestamp() * 1000))
        history = [
            Metric(
                "f1",
                round(first + (last - first) * day / days + rng.gauss(0, 0.004), 4),
                int((start + timedelta(days=day)).timestamp() * 1000),
                day,
            )
            for day in range(days + 1)
        ]
        client.log_batch(run.info.run_id, metrics=history)
        client.set_terminated(run.info.run_id)
        run_ids[name] = run.info.run_id
    client.create_registered_model("ticket-classifier")
    for name in ("challenger", "champion"):
        version = client.create_model_version(
            "ticket-classifier", source=f"runs:/{run_ids[name]}/model", run_id=run_ids[name]
        )
        client.set_registered_model_alias("ticket-classifier", name, str(version.version))
    return run_ids


def prometheus_history(
    slots: Sequence[datetime], start: datetime, end: datetime, window_s: int = 3600, step_s: int = 30, seed: int = 7
) -> Iterator[str]:
    """OpenMetrics lines for promtool: a latency histogram (P95 from about 0.27 s down to 0.17 s over the
    cycle ``start``..``end``) and an uptime gauge with short outages, every ``step_s`` seconds during the
    ``window_s`` before each slot. Only those windows are written, which keeps the import to a few blocks."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t0, t1 = start.timestamp(), end.timestamp()
    stamps = np.unique(
        np.concatenate([np.arange(int(s.timestamp()) - window_s, int(s.timestamp()) + 1, step_s) for s in slots])
    )
    progress = np.clip((stamps - t0) / max(1.0, t1 - t0), 0, 1)
    medians = 0.13 - 0.06 * progress
    draws = rng.lognormal(np.log(medians)[:, None], 0.35, size=(len(stamps), 100))
    bounds = np.array([*LATENCY_BUCKETS, np.inf])
    cumulative = (draws[:, :, None] <= bounds).sum(axis=1).cumsum(axis=0)
    sums = draws.sum(axis=1).cumsum()
    up = (rng.random(len(stamps)) > 0.001).astype(int)
    labels = 'job="okrflow-demo",instance="history"'
    yield "# HELP request_latency_seconds Model serving latency."
    yield "# TYPE request_latency_seconds histogram"
    for i, ts in enumerate(stamps):
        for bound, count in zip(bounds, cumulative[i], strict=True):
            le = "+Inf" if np.isinf(bound) else f"{bound:g}"
            yield f'request_latency_seconds_bucket{{{labels},le="{le}"}} {int(count)} {int(ts)}'
        yield f"request_latency_seconds_sum{{{labels}}} {sums[i]:.3f} {int(ts)}"
        yield f"request_latency_seconds_count{{{labels}}} {int(cumulative[i][-1])} {int(ts)}"
    yield "# HELP model_serving_up Whether the model endpoint answers health checks."
    yield "# TYPE model_serving_up gauge"
    for i, ts in enumerate(stamps):
        yield f"model_serving_up{{{labels}}} {up[i]} {int(ts)}"
    yield "# EOF"


class DemoExporter:
    """A real ``prometheus_client`` exporter serving live latency and uptime while the demo runs."""

    def __init__(self, median_latency: float = 0.095):
        from prometheus_client import CollectorRegistry, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "request_latency_seconds", "Model serving latency.", buckets=LATENCY_BUCKETS, registry=self.registry
        )
        self.up = Gauge("model_serving_up", "Whether the model endpoint answers health checks.", registry=self.registry)
        self.up.set(1)
        self.median_latency = median_latency
        self._stop = threading.Event()
        self._server = None
        self.port = 0

    def __enter__(self) -> DemoExporter:
        from prometheus_client import start_http_server

        from okrflow.localprom import free_port

        self.port = free_port()
        self._server, _ = start_http_server(self.port, addr="127.0.0.1", registry=self.registry)
        threading.Thread(target=self._traffic, daemon=True, name="demo-traffic").start()
        return self

    def _traffic(self) -> None:
        rng = random.Random(11)
        while not self._stop.is_set():
            for _ in range(30):
                self.latency.observe(rng.lognormvariate(0, 0.35) * self.median_latency)
            time.sleep(0.1)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class DemoWebhook:
    """A local webhook receiver standing in for the team's alert endpoint: it keeps what arrives."""

    def __init__(self, port: int = 0):
        import json
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.messages: list[dict] = []
        received = self.messages

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/okr"

    def __enter__(self) -> DemoWebhook:
        threading.Thread(target=self._server.serve_forever, daemon=True, name="demo-webhook").start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def describe(message: dict) -> list[str]:
    """One line per alert of a webhook message, as a person would skim it."""
    lines = []
    for alert in message["alerts"]:
        subject = alert.get("kr_id") or alert.get("objective_id") or alert.get("source")
        value = "" if alert.get("value") is None else f" value {formatting.quantity(alert['value'], alert.get('unit'))}"
        lines.append(
            f"-> {message['owner']}: {subject} {alert['kind']} {alert['state']}{value}, score "
            f"{'-' if alert.get('score') is None else format(alert['score'], '.2f')}: {alert.get('detail') or alert.get('change')}"
        )
    return lines


def move_alias(tracking_uri: str, alias: str, to_alias: str) -> str:
    """Point ``alias`` of the demo model at the version that holds ``to_alias``; returns the old version."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    old = str(client.get_model_version_by_alias("ticket-classifier", alias).version)
    new = str(client.get_model_version_by_alias("ticket-classifier", to_alias).version)
    client.set_registered_model_alias("ticket-classifier", alias, new)
    return old


def restore_alias(tracking_uri: str, alias: str, version: str) -> None:
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri).set_registered_model_alias(
        "ticket-classifier", alias, version
    )
