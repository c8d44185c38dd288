"""Helpers of the MLflow version and lifecycle tests: a private registry whose aliases a test may move, a config
around today's date (so slots are current, not past), and evaluation runs written to a real okrflow store."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from okrflow.connectors.base import ConnectorContext, Measurement
from okrflow.connectors.mlflow import MlflowConnector, MlflowMetric
from okrflow.connectors.registry import Registry
from okrflow.flows.pipeline import evaluate
from okrflow.okr_model.config import Config
from okrflow.okr_model.loader import parse_config

from okrflow.store import RunRecord, Store
from okrflow.store.alias_history import StoredAliasHistory
from okrflow.store.models import MeasurementRow, Run
from tests.fixtures.mlflow import SeededRegistry, seed_demo_registry

MODEL = "ticket-classifier"


def private_registry() -> Iterator[SeededRegistry]:
    """A freshly seeded SQLite store of its own (the session's is shared and must not change)."""
    shm = Path("/dev/shm")
    directory = Path(tempfile.mkdtemp(prefix="okrflow-mlflow-own-", dir=shm if shm.is_dir() else None))
    try:
        yield seed_demo_registry(f"sqlite:///{directory / 'mlflow.db'}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def config_for(
    tracking_uri: str,
    krs: list[dict[str, Any]],
    store: str = "sqlite:///:memory:",
    start: datetime | None = None,
    end: datetime | None = None,
) -> Config:
    """A one-objective config over an MLflow source; the cycle is around today unless given."""
    today = datetime.now(UTC).date()
    start_day = start.date() if start else today - timedelta(days=30)
    end_day = end.date() if end else today + timedelta(days=30)
    text = yaml.safe_dump(
        {
            "version": 1,
            "store": store,
            "cycle": {"name": "cycle", "start": start_day.isoformat(), "end": end_day.isoformat()},
            "sources": {"tracking": {"type": "mlflow", "tracking_uri": tracking_uri}},
            "objectives": [{"id": "ml", "title": "Ship models", "key_results": krs}],
        }
    )
    return parse_config(text, resolver=Registry())


def kr(kr_id: str, metric: dict[str, Any], kind: str = "increase", baseline: float = 0, target: float = 1) -> dict:
    return {
        "id": kr_id,
        "kind": kind,
        "baseline": baseline,
        "target": target,
        "metric": {"source": "tracking", **metric},
    }


def connector_for(config: Config, with_history: bool = True) -> MlflowConnector:
    history = StoredAliasHistory(config.store) if with_history else None
    return MlflowConnector("tracking", config.sources["tracking"], ConnectorContext(config, alias_history=history))


def measure(config: Config, kr_id: str, at: datetime, with_history: bool = True) -> Measurement:
    """One KR's measurement as of ``at``, as a run's connector reads it."""
    _, found = config.key_result(kr_id)
    assert isinstance(found.metric, MlflowMetric)
    with connector_for(config, with_history) as connector:
        return connector.fetch(found.metric, at)


def run_at(config: Config, at: datetime) -> RunRecord:
    """One evaluation run written to the config's store (what ``okrflow run --at`` does, without alerts)."""
    os.environ.pop("OKRFLOW_STORE_URL", None)  # the config's store is the one the run reads and writes
    with Store.open(config.store) as store:
        return evaluate(config, store, at, alerts=False)


def backdate_latest_run(store_url: str, by: timedelta) -> None:
    """Move the store's newest run (and its measurements) ``by`` into the past, as if it had run on time then."""
    from sqlalchemy import func, select, update

    with Store.open(store_url) as store, store.engine.begin() as conn:
        run_id, slot, started, finished = conn.execute(
            select(Run.id, Run.slot, Run.started_at, Run.finished_at).where(
                Run.id == select(func.max(Run.id)).scalar_subquery()
            )
        ).one()
        conn.execute(
            update(Run)
            .where(Run.id == run_id)
            .values(slot=slot - by, started_at=started - by, finished_at=finished - by)
        )
        conn.execute(update(MeasurementRow).where(MeasurementRow.run_id == run_id).values(slot=slot - by))


def move_alias(tracking_uri: str, alias: str, version: str) -> None:
    from mlflow import MlflowClient

    MlflowClient(tracking_uri=tracking_uri).set_registered_model_alias(MODEL, alias, version)


def register_version(tracking_uri: str, run_id: str) -> str:
    """A new version of the model logged from ``run_id``; its number."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    return str(client.create_model_version(MODEL, source=f"runs:/{run_id}/model", run_id=run_id).version)


def now_slot(minutes: int = 0) -> datetime:
    """A current slot (to the second) ``minutes`` from now: not a past slot for the connector."""
    return (datetime.now(UTC) + timedelta(minutes=minutes)).replace(microsecond=0)
