"""How each warehouse dialect is made read-only and bounded in time: the engine's connections, the statements
that open every query's transaction, and SQLite's query deadline.

- SQLite: the file opened ``mode=ro`` with ``query_only`` and no ``ATTACH``; it has no statement timeout, so a
  query is aborted from the VM's progress callback once ``timeout_s`` has passed (``sqlite_deadline``).
- PostgreSQL: ``default_transaction_read_only``, ``statement_timeout`` and UTC as connection options; every
  query's transaction is ``READ ONLY`` with a local timeout.
- MariaDB/MySQL: the session is read-only, in UTC, with ``max_statement_time``/``max_execution_time``; every
  query starts ``START TRANSACTION READ ONLY`` (MariaDB's DDL commits an open transaction first).

SQLAlchemy is imported inside functions: ``okrflow validate`` imports the SQL connector for its models.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

__all__ = ["create_read_engine", "read_only_transaction", "sqlite_deadline", "sqlite_path"]


def sqlite_path(url: URL) -> str | None:
    """The database file of a SQLite URL (None for in-memory)."""
    database = url.database or ""
    database = database.removeprefix("file:")
    return None if database in ("", ":memory:") else database


@contextmanager
def sqlite_deadline(raw: Any, timeout_s: float) -> Iterator[None]:
    """Abort any statement on the sqlite3 connection ``raw`` running past ``timeout_s`` from now ("interrupted").

    The one place SQLite queries are bounded: it has no statement timeout of its own.
    """
    deadline = time.monotonic() + timeout_s
    raw.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)


def read_only_transaction(backend: str, timeout_s: float) -> tuple[str, ...]:
    """What starts every query: a read-only transaction (and PostgreSQL's timeout, local to it)."""
    if backend == "postgresql":
        return ("SET TRANSACTION READ ONLY", f"SET LOCAL statement_timeout = {int(timeout_s * 1000)}")
    if backend in ("mysql", "mariadb"):
        return ("SET SESSION TRANSACTION READ ONLY", "START TRANSACTION READ ONLY")
    return ("PRAGMA query_only = ON",)


def create_read_engine(url: URL, timeout_s: float) -> Engine:
    """An engine whose every connection is read-only and bounded by ``timeout_s``."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import QueuePool

    connect_s = max(2, math.ceil(min(timeout_s, 10)))
    backend = url.get_backend_name()
    if backend == "sqlite":
        import sqlite3

        uri = f"file:{quote(str(Path(sqlite_path(url) or '').resolve()))}?mode=ro"

        def connect() -> sqlite3.Connection:
            conn = sqlite3.connect(uri, uri=True, timeout=connect_s, check_same_thread=False)
            conn.execute("PRAGMA query_only=ON")
            conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
            return conn

        return create_engine("sqlite://", creator=connect, poolclass=QueuePool, pool_timeout=timeout_s)
    if backend == "postgresql":
        options = f"-c default_transaction_read_only=on -c statement_timeout={int(timeout_s * 1000)} -c TimeZone=UTC"
        args = {"options": options, "connect_timeout": connect_s, "prepare_threshold": 0}
        return create_engine(url, connect_args=args, pool_pre_ping=True, pool_timeout=timeout_s)
    args = {"connect_timeout": connect_s, "read_timeout": timeout_s + 2, "write_timeout": timeout_s + 2}
    engine = create_engine(url, connect_args=args, pool_pre_ping=True, pool_timeout=timeout_s)

    @event.listens_for(engine, "connect")
    def _read_only_session(dbapi_conn: Any, _record: Any) -> None:
        mariadb = "mariadb" in str(dbapi_conn.get_server_info()).lower()
        limit = f"max_statement_time = {timeout_s:.3f}" if mariadb else f"max_execution_time = {int(timeout_s * 1000)}"
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
            cursor.execute(f"SET SESSION time_zone = '+00:00', SESSION {limit}")
        finally:
            cursor.close()

    return engine
