"""SQL warehouses (SQLite, PostgreSQL, MariaDB/MySQL): one parameterized, read-only query -> one number.

A metric is a query returning exactly one row with one numeric column, evaluated as of the run's
slot time through the binds ``:cycle_start``, ``:cycle_end`` (exclusive) and ``:now``, plus ``params``.
Datetimes are bound as naive UTC so they compare with ``TIMESTAMP`` columns and SQLite's
``'YYYY-MM-DD HH:MM:SS'`` text alike (PostgreSQL and MariaDB sessions run in UTC for that reason).

The warehouse is never written to, on three levels: the session is read-only (SQLite ``mode=ro`` +
``query_only``, PostgreSQL ``default_transaction_read_only``, MariaDB ``SET SESSION TRANSACTION READ
ONLY``), a query is one statement (psycopg prepares every statement, so ``COMMIT; BEGIN READ WRITE;
...`` is refused), and nothing is ever committed. A read-only database role is still the safest setup.

SQLAlchemy is imported inside functions: ``okrflow validate`` imports this module for its models.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import quote

from pydantic import ConfigDict, Field, SecretStr, StringConstraints, field_validator, model_validator

from connectors.base import Connector, ConnectorContext, Measurement, query_hash
from connectors.retry import retry_call
from okr_model.config import MetricBinding, SourceConfig

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

__all__ = ["BUILTIN_BINDS", "SqlConnector", "SqlMetric", "SqlSource"]

log = logging.getLogger(__name__)

BUILTIN_BINDS = ("cycle_start", "cycle_end", "now")
_DRIVERS = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
_URL_HELP = "expected sqlite:///PATH, postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB or mysql+pymysql://USER@HOST/DB"
_READ_ONLY = "the warehouse connection is read-only; the query tried to write"
_ONE_STATEMENT = "the query must be a single SQL statement (no ';'-separated batches)"
_PG_CONNECTION_STATES = ("08", "57P01", "57P02", "57P03", "53300")
_PG_LOGIN_REFUSED = re.compile(r"does not exist|authentication failed|pg_hba\.conf|permission denied")
_MYSQL_TIMEOUT, _MYSQL_READ_ONLY = {1969, 3024}, {1792, 1290}
_MYSQL_PERMISSION, _MYSQL_CONNECTION = {1044, 1142, 1143, 1227}, {1040, 1053, 2002, 2003, 2006, 2013}


class SqlSource(SourceConfig):
    """A SQL warehouse reached through a SQLAlchemy URL (the password belongs in ``${ENV}``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["sql"]
    url: SecretStr = Field(description="SQLAlchemy URL: sqlite:///PATH, postgresql+psycopg://..., mysql+pymysql://...")

    @field_validator("url")
    @classmethod
    def _known_database(cls, value: SecretStr) -> SecretStr:
        _parse_url(value.get_secret_value())
        return value


class SqlMetric(MetricBinding):
    """A query that returns one number; binds ``:cycle_start``, ``:cycle_end``, ``:now`` and ``params``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sql: str = Field(min_length=1, description="one SELECT returning one row with one numeric column")
    params: dict[Annotated[str, StringConstraints(pattern=r"^\w+$")], str | int | float | bool | None] = Field(
        default_factory=dict, description="extra named binds (:name) of the query"
    )

    @model_validator(mode="after")
    def _binds_defined(self) -> SqlMetric:
        clash = sorted(set(self.params) & set(BUILTIN_BINDS))
        if clash:
            raise ValueError(f"params may not redefine the built-in bind(s) {', '.join(clash)}")
        missing = sorted(_bind_names(self.sql) - set(BUILTIN_BINDS) - set(self.params))
        if missing:
            names = ", ".join(f":{name}" for name in missing)
            raise ValueError(
                f"the query uses {names} but params does not define it (built-in: :cycle_start, :cycle_end, :now)"
            )
        return self


class SqlConnector(Connector[SqlSource, SqlMetric]):
    """Runs metric queries on one warehouse; one lazily created engine (connection pool) per instance."""

    type_name = "sql"
    config_model = SqlSource
    metric_model = SqlMetric

    def __init__(self, name: str, config: SqlSource, context: ConnectorContext):
        super().__init__(name, config, context)
        self._url = _parse_url(config.url.get_secret_value())
        self._backend = self._url.get_backend_name()
        self._lock = threading.Lock()
        self._engine: Engine | None = None

    def fetch(self, metric: SqlMetric, at: datetime) -> Measurement:
        lineage = {"source": self.name, "query_hash": query_hash(metric)}
        try:
            return self._fetch(metric, at, lineage)
        except Exception as exc:  # a fetch never raises: the reason becomes the measurement's detail
            detail = self._scrub(self._describe(exc))
            log.debug("source %s: %s", self.name, detail)
            return Measurement.error(detail, **lineage)

    def close(self) -> None:
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()

    def _fetch(self, metric: SqlMetric, at: datetime, lineage: dict[str, Any]) -> Measurement:
        from sqlalchemy import text

        if self._backend == "sqlite":
            path = Path(_sqlite_path(self._url) or "")
            if not path.is_file():
                return Measurement.error(f"the SQLite file {path} does not exist", **lineage)
        now = at - metric.offset if metric.offset else at
        available = {
            "cycle_start": self._bind_time(self.context.cycle_start),
            "cycle_end": self._bind_time(self.context.cycle_end),
            "now": self._bind_time(now),
            **metric.params,
        }
        statement = text(metric.sql)
        used = _bind_names(metric.sql)
        if missing := sorted(used - available.keys()):
            return Measurement.error(f"the query uses unbound parameter(s) {', '.join(missing)}", **lineage)
        binds = {name: available[name] for name in used}
        engine = self._get_engine()
        columns, rows = retry_call(
            lambda: self._run(engine, statement, binds),
            retries=self.config.retries,
            is_transient=self._is_transient,
        )
        return _measurement(columns, rows, at, lineage)

    def _run(self, engine: Engine, statement: Any, binds: dict[str, Any]) -> tuple[list[str], list[Any]]:
        """Execute once and read at most two rows; leaving ``connect()`` rolls back (never commits)."""
        with engine.connect() as conn:
            raw = conn.connection.dbapi_connection if self._backend == "sqlite" else None
            if raw is not None:  # SQLite has no statement timeout: abort from the VM's progress callback
                deadline = time.monotonic() + self.config.timeout_s
                raw.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
            try:
                result = conn.execute(statement, binds)
                if not result.returns_rows:
                    raise _QueryShapeError("the statement returned no result set; a metric query must be a SELECT")
                return list(result.keys()), result.fetchmany(2)
            finally:
                if raw is not None:
                    raw.set_progress_handler(None, 0)

    def _get_engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = _create_engine(self._url, self.config.timeout_s)
            return self._engine

    def _bind_time(self, value: datetime) -> datetime | str:
        """Naive UTC; SQLite gets the text form its timestamps use (the sqlite3 adapter is deprecated)."""
        naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        return naive.isoformat(sep=" ") if self._backend == "sqlite" else naive

    def _is_transient(self, exc: BaseException) -> bool:
        return _classify(exc) == "connection"

    def _describe(self, exc: BaseException) -> str:
        kind = _classify(exc)
        message = _db_message(exc)
        if kind == "timeout":
            return f"query timed out after {self.config.timeout_s:g} s"
        if kind == "read_only":
            return _READ_ONLY
        if kind == "one_statement":
            return _ONE_STATEMENT
        if kind == "permission":
            return f"permission denied: {message}"
        if kind in ("connection", "login"):
            return f"cannot connect to {self._url.render_as_string(hide_password=True)}: {message}"
        if kind == "shape":
            return message
        if kind == "pool":
            return f"no free warehouse connection within {self.config.timeout_s:g} s (too many concurrent fetches)"
        if kind == "driver":
            return f"cannot load the database driver for {self._url.drivername}: {message}"
        if kind == "query":
            return f"query failed: {message}"
        return f"unexpected error: {type(exc).__name__}: {message}"

    def _scrub(self, detail: str) -> str:
        """Remove the password from a detail, even if a driver echoed it."""
        password = self._url.password
        if not password:
            return detail
        for secret in {password, quote(password, safe="")}:
            if len(secret) >= 4:
                detail = detail.replace(secret, "***")
            else:
                detail = re.sub(rf"(?<!\w){re.escape(secret)}(?!\w)", "***", detail)
        return detail


class _QueryShapeError(Exception):
    """The statement ran but cannot be a metric (it returned no result set)."""


def _measurement(columns: list[str], rows: list[Any], at: datetime, lineage: dict[str, Any]) -> Measurement:
    """Exactly one row with one finite number is a value; anything else says why not."""
    if len(columns) != 1:
        names = ", ".join(columns)
        return Measurement.error(
            f"query returned {len(columns)} columns ({names}); a metric query returns one", **lineage
        )
    if not rows:
        return Measurement.no_data("query returned no rows", **lineage)
    if len(rows) > 1:
        return Measurement.error("query returned more than one row; aggregate it to exactly one row", **lineage)
    value = rows[0][0]
    if value is None:
        return Measurement.no_data("query returned NULL", **lineage)
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        shown = repr(value)[:60]
        return Measurement.error(
            f"query returned a non-numeric value {shown} ({type(value).__name__}); expected a number", **lineage
        )
    try:
        number = float(value)
    except OverflowError:
        return Measurement.error("query returned a number too large for a float", **lineage)
    if math.isnan(number):
        return Measurement.no_data("query returned NaN", **lineage)
    if math.isinf(number):
        return Measurement.no_data(f"query returned {'+' if number > 0 else '-'}Inf", **lineage)
    return Measurement.ok(number, observed_at=at, rows=1, **lineage)


def _bind_names(sql: str) -> set[str]:
    """The ``:name`` binds of a query, as SQLAlchemy's ``text()`` reads them (``::cast`` is not one)."""
    from sqlalchemy import text

    return set(text(sql).compile().params)


def _parse_url(raw: str) -> URL:
    """A supported SQLAlchemy URL with a default driver; errors never echo the URL (it may hold a password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(raw)
    except (ArgumentError, ValueError, TypeError):
        raise ValueError(f"not a database URL; {_URL_HELP}") from None
    backend = url.get_backend_name()
    if backend not in _DRIVERS:
        raise ValueError(
            f"unsupported database {backend!r} (supported: sqlite, postgresql, mysql, mariadb); {_URL_HELP}"
        )
    if "+" not in url.drivername:
        url = url.set(drivername=_DRIVERS[backend])
    if backend == "sqlite" and not _sqlite_path(url):
        raise ValueError("a sqlite URL needs a database file: sqlite:///relative.db or sqlite:////absolute/path.db")
    return url


def _sqlite_path(url: URL) -> str | None:
    database = url.database or ""
    database = database.removeprefix("file:")
    return None if database in ("", ":memory:") else database


def _create_engine(url: URL, timeout_s: float) -> Engine:
    """An engine whose every connection is read-only and bounded by ``timeout_s``."""
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import QueuePool

    connect_s = max(2, math.ceil(min(timeout_s, 10)))
    backend = url.get_backend_name()
    if backend == "sqlite":
        import sqlite3

        uri = f"file:{quote(str(Path(_sqlite_path(url) or '').resolve()))}?mode=ro"

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


def _classify(exc: BaseException) -> str:
    """timeout | read_only | one_statement | permission | connection | login | shape | pool | driver | query | other."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, _QueryShapeError):
        return "shape"
    if isinstance(exc, (sa_exc.NoSuchModuleError, ImportError)):
        return "driver"
    if isinstance(exc, sa_exc.TimeoutError):
        return "pool"
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    module = type(orig).__module__.split(".")[0]
    message = str(orig)
    if module == "psycopg":
        state = getattr(orig, "sqlstate", None) or ""
        if state == "57014":
            return "timeout"
        if state == "25006":
            return "read_only"
        if state == "42501":
            return "permission"
        if state == "42601" and "multiple commands" in message:
            return "one_statement"
        if not state and _PG_LOGIN_REFUSED.search(message):  # libpq reports these without a SQLSTATE
            return "login"
        if state.startswith(_PG_CONNECTION_STATES) or (not state and type(orig).__name__ == "OperationalError"):
            return "connection"
        return "login" if state.startswith(("28", "3D")) else "query"
    if module == "pymysql":
        code = orig.args[0] if orig.args and isinstance(orig.args[0], int) else 0
        if code in _MYSQL_TIMEOUT or (code == 2013 and "timed out" in message):
            return "timeout"
        if code in _MYSQL_READ_ONLY:
            return "read_only"
        if code in _MYSQL_PERMISSION:
            return "permission"
        if code in _MYSQL_CONNECTION:
            return "connection"
        return "login" if code in (1045, 1049, 1698) else "query"
    if module in ("sqlite3", "_sqlite3"):
        name = getattr(orig, "sqlite_errorname", "") or ""
        if name == "SQLITE_INTERRUPT" or message == "interrupted":
            return "timeout"
        if name.startswith("SQLITE_READONLY") or "readonly database" in message:
            return "read_only"
        if "one statement at a time" in message:
            return "one_statement"
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            return "connection"
        return "login" if name.startswith("SQLITE_CANTOPEN") else "query"
    return "query" if isinstance(exc, sa_exc.DBAPIError) else "other"


def _db_message(exc: BaseException) -> str:
    """The driver's own words, first line only (no SQL echo, no parameters), capped."""
    from sqlalchemy import exc as sa_exc

    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    args = getattr(orig, "args", ())
    message = str(args[1]) if type(orig).__module__.startswith("pymysql") and len(args) >= 2 else str(orig)
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    first = lines[0] if lines else type(orig).__name__
    return first[:300]
