"""``okrflow probe`` of a SQL binding: the columns the query returns and its first row (read-only, as of the slot),
so a query that returns two columns or no row shows what it returns instead of only "not one number"."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from okrflow.connectors.base import Probe

if TYPE_CHECKING:
    from okrflow.connectors.sql import SqlConnector, SqlMetric

__all__ = ["probe_sql"]


def probe_sql(sql: SqlConnector, metric: SqlMetric, at: datetime) -> Probe:
    """Never raises: a query that cannot run is the measurement's error."""
    from okrflow.connectors.sql_url import bind_names

    holds: dict[str, list[str]] = {}
    now = at - metric.offset if metric.offset else at
    binds = {**sql._time_binds(now), **metric.params}
    try:
        columns, rows = sql.execute_read(metric.sql, {k: v for k, v in binds.items() if k in bind_names(metric.sql)})
        holds["columns"] = list(columns) or ["none"]
        holds["first row"] = (
            [", ".join(f"{c}={v!r}" for c, v in zip(columns, rows[0], strict=False))] if rows else ["none"]
        )
    except Exception:  # the measurement below says why (scrubbed of secrets)
        pass
    return Probe.of(f"SQL on source {sql.name!r}: {' '.join(metric.sql.split())}", sql.fetch(metric, at), holds)
