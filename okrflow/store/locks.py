"""Writers of the history store and the locks that serialise them.

Every writing transaction takes SQLite's one write lock when it begins (``BEGIN IMMEDIATE``) and waits for it
up to the connection's busy timeout: a deferred transaction that reads first and writes later cannot wait (its
snapshot is stale once another writer commits) and fails with "database is locked" at once. PostgreSQL
writers take transaction-scoped advisory locks: one per (deployment, slot) for a run's rows, one per alert
group for its alert states, so concurrent runs of one slot (two Prefect workers, a cron job and a manual run)
judge one after the other and the second sees what the first decided.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

__all__ = ["advisory_lock", "group_lock_key", "slot_lock_key", "sqlite_begin", "write_connection"]


def _key(text_: str) -> int:
    """A signed 64-bit advisory-lock key."""
    return int.from_bytes(hashlib.sha256(text_.encode()).digest()[:8], "big", signed=True)


def slot_lock_key(deployment: str, slot: datetime) -> int:
    """The lock of one run: (deployment, slot)."""
    return _key(f"{deployment}|{slot.isoformat()}")


def group_lock_key(group: str) -> int:
    """The lock of one alert group's states and judged slot (a different namespace from runs' keys)."""
    return _key(f"alert-group|{group}")


def advisory_lock(conn: Connection, key: int) -> None:
    """Hold a PostgreSQL advisory lock until the transaction ends (SQLite: its write lock is already held)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """A connection in one writing transaction (committed on success); SQLite's write lock is taken up front.

    Core statements only: the run path (``Store.write_run``, the alert repository) never imports the ORM."""
    with engine.connect() as conn:
        conn.info["begin_immediate"] = True  # the info dict outlives this checkout: always reset it
        try:
            with conn.begin():
                yield conn
        finally:
            conn.info.pop("begin_immediate", None)


def sqlite_begin(conn: Any) -> None:
    """Writers take SQLite's write lock when their transaction begins, not at their first write."""
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("begin_immediate") else "BEGIN")
