"""Where model aliases pointed, as okrflow saw them: the record MLflow does not keep.

Every measurement of an alias-bound MLflow KR stores the version it read in its lineage (``model``, ``alias``,
``model_version``). ``StoredAliasHistory`` reads those back for the MLflow connector
(``okrflow.connectors.base.AliasHistory``): deployments and rollbacks are moves between consecutive observations,
and an alias that moved since the last run is said so in the measurement. Only runs made at their slot count
(started within ``ON_TIME`` of it): a backfill, a catch-up or ``run --at`` for a past slot reads the alias as it
is now, not as it was at that slot.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Text, cast, create_engine, inspect, select
from sqlalchemy.pool import NullPool

from okrflow.okr_model.paths import sqlite_file
from okrflow.okr_model.secrets import database_url
from okrflow.store.tables import measurements, runs

__all__ = ["ON_TIME", "StoredAliasHistory"]

ON_TIME = timedelta(minutes=15)
"""A run started this long after its slot still saw the alias as it was at the slot (the connector's PAST_SLOT)."""


class StoredAliasHistory:
    """Alias observations read from the history store at ``url`` (read-only; a store not created yet has none).

    Picklable (the URL travels, the engine is made where it is used), so fetch worker processes can read it.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"url": self.url, "_engine": None}

    def _connect(self) -> Engine | None:
        if self._engine is None:
            path = sqlite_file(self.url)
            if path is not None and not path.exists():
                return None  # reading must not create the store: the first run has seen nothing yet
            # one query per alias per run: no pool to keep open between runs (the context is never closed)
            engine = create_engine(database_url(self.url), poolclass=NullPool)
            if not inspect(engine).has_table(measurements.name):
                engine.dispose()
                return None  # an empty database: no run has been written yet
            self._engine = engine
        return self._engine

    def alias_versions(
        self, kr_ids: Sequence[str], model: str, alias: str, until: datetime
    ) -> list[tuple[datetime, str]]:
        """(slot, version) of the scheduled runs before ``until`` in which these KRs saw ``model@alias``.

        One observation per slot (several KRs on one alias agree within a run: they share one lookup).
        """
        engine = self._connect()
        if engine is None or not kr_ids:
            return []
        m, run = measurements.c, runs.c
        query = (
            select(m.slot, cast(m.lineage, Text), run.started_at)
            .join(runs, run.id == m.run_id)
            .where(m.kr_id.in_(list(kr_ids)), m.slot < until, run.backfilled.is_(False))
            .order_by(m.slot, m.id)
        )
        seen: dict[datetime, str] = {}
        decoded: dict[str | None, dict[str, Any]] = {}  # a KR's lineage repeats run after run: decode each once
        with engine.connect() as conn:
            for slot, text, started_at in conn.execute(query):
                if started_at - slot > ON_TIME:
                    continue  # a late run read the alias as it was then, not at its slot
                lineage = decoded.get(text)
                if lineage is None:
                    lineage = decoded[text] = (json.loads(text) if text else None) or {}
                version = lineage.get("model_version")
                if lineage.get("model") == model and lineage.get("alias") == alias and version is not None:
                    seen[slot] = str(version)
        return sorted(seen.items())

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
