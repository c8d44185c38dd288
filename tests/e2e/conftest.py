"""End-to-end set-up: a Prefect test harness for the session, and small warehouses with known numbers."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa

WAREHOUSE_ROWS = [
    # name, value, at
    ("signups", 14.0, "2026-10-05 10:00:00"),
    ("signups", 16.0, "2026-11-01 10:00:00"),
    ("signups", 40.0, "2026-12-20 10:00:00"),  # after the evaluation time: excluded by :now
    ("f1", 0.895, "2026-11-10 10:00:00"),
    ("hours", 3.0, "2026-11-10 10:00:00"),
    ("latency", 0.15, "2026-11-10 10:00:00"),
]


def fill_warehouse(url: str) -> str:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE metrics (name VARCHAR(32), value FLOAT, at TIMESTAMP)"))
        conn.execute(
            sa.text("INSERT INTO metrics (name, value, at) VALUES (:name, :value, :at)"),
            [{"name": n, "value": v, "at": a} for n, v, a in WAREHOUSE_ROWS],
        )
    engine.dispose()
    return url


@pytest.fixture
def sqlite_warehouse(tmp_path: Path) -> str:
    path = tmp_path / "warehouse.db"
    sqlite3.connect(path).close()
    return fill_warehouse(f"sqlite:///{path}")


@pytest.fixture
def postgres_warehouse(make_postgres_db) -> str:
    return fill_warehouse(make_postgres_db())


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory):
    """One ephemeral Prefect API for the whole session (entering it costs ~14 s)."""
    os.environ["PREFECT_HOME"] = str(tmp_path_factory.mktemp("prefect-home"))
    os.environ.pop("PREFECT_API_URL", None)
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield
