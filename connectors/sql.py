"""SQL warehouses (SQLite, PostgreSQL, MariaDB/MySQL): one parameterized, read-only query -> one number.

A metric is a query returning exactly one row with one numeric column, evaluated as of the run's
slot time through the binds ``:cycle_start``, ``:cycle_end`` (exclusive) and ``:now``, plus ``params``.
Datetimes are bound as naive UTC so they compare with ``TIMESTAMP`` columns and SQLite's
``'YYYY-MM-DD HH:MM:SS'`` text alike (PostgreSQL and MariaDB sessions run in UTC for that reason).

The warehouse is never written to, on two layers (the README's "Security" section). The belt: a SQL
parser (``okrflow.okr_model.sql_check``) accepts only one read statement, at ``okrflow validate`` (``check``) and
again before every fetch. The braces, on the server for every query (``execute_read``): a fresh read-only
transaction (PostgreSQL ``SET TRANSACTION READ ONLY``; MariaDB/MySQL ``SET SESSION TRANSACTION READ ONLY``
then ``START TRANSACTION READ ONLY``, since MariaDB's DDL commits the open transaction first; SQLite
``mode=ro`` + ``query_only``), one statement per call, never a commit, and a connection whose query failed
or returned no rows is discarded from the pool (its session may have been changed). A read-only database
role is still the safest setup: ``okrflow validate --online`` warns when the role can write.

SQLAlchemy is imported inside functions: ``okrflow validate`` imports this module for its models.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext, suppress
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from okrflow.connectors.base import Connector, ConnectorContext, Measurement, OnlineFinding, Probe, query_hash
from okrflow.connectors.retry import retry_call
from okrflow.connectors.sql_errors import QueryShapeError, SqlReadError, classify, db_message, unwrap_pandas
from okrflow.connectors.sql_session import create_read_engine, read_only_transaction, sqlite_deadline, sqlite_path
from okrflow.connectors.sql_url import bind_names, parse_url, url_backend
from okrflow.okr_model.config import Config, MetricBinding, SourceConfig
from okrflow.okr_model.errors import ConfigIssue
from okrflow.okr_model.paths import anchor_sqlite_url
from okrflow.okr_model.secrets import Redactor
from okrflow.okr_model.sql_check import read_query_problem, sql_dialect
from pydantic import ConfigDict, Field, SecretStr, StringConstraints, field_validator, model_validator

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = ["BUILTIN_BINDS", "SqlConnector", "SqlMetric", "SqlSource", "query_problem"]

log = logging.getLogger(__name__)

BUILTIN_BINDS = ("cycle_start", "cycle_end", "now")
_READ_ONLY = "the warehouse connection is read-only; the query tried to write"
_ONE_STATEMENT = "the query must be a single SQL statement (no ';'-separated batches)"
_REFUSED = "refused before running: "


class SqlSource(SourceConfig):
    """A SQL warehouse reached through a SQLAlchemy URL (the password belongs in ``${ENV}``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["sql"]
    url: SecretStr = Field(description="SQLAlchemy URL: sqlite:///PATH, postgresql+psycopg://..., mysql+pymysql://...")

    @field_validator("url")
    @classmethod
    def _known_database(cls, value: SecretStr) -> SecretStr:
        url_backend(value.get_secret_value())
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
        missing = sorted(bind_names(self.sql) - set(BUILTIN_BINDS) - set(self.params))
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
        self._url = parse_url(config.url.get_secret_value())
        self._backend = self._url.get_backend_name()
        self._dialect = sql_dialect(self._backend)
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

    @classmethod
    def check(cls, name: str, config: SqlSource, full: Config) -> list[ConfigIssue]:
        """``okrflow validate`` refuses a metric query on this source that is not one read statement."""
        issues = []
        for o_index, objective in enumerate(full.objectives):
            for k_index, kr in enumerate(objective.key_results):
                metric = kr.metric
                if not (isinstance(metric, SqlMetric) and metric.source == name):
                    continue
                if problem := query_problem(metric.sql, config):
                    path = f"objectives[{o_index}].key_results[{k_index}].metric.sql"
                    issues.append(ConfigIssue(path, f"refused: {problem}"))
        return issues

    @classmethod
    def anchor(cls, config: SqlSource, base: Path) -> SqlSource:
        """A relative SQLite file is relative to the config file's folder."""
        url = config.url.get_secret_value()
        anchored = anchor_sqlite_url(url, base)
        return config if anchored == url else config.model_copy(update={"url": SecretStr(anchored)})

    def check_online(self) -> list[OnlineFinding]:
        """``okrflow validate --online``: the source answers, and its role cannot write (else a warning)."""
        from okrflow.connectors.sql_privileges import role_findings

        try:
            with self.reading() as conn:
                return role_findings(self._backend, conn)
        except Exception as exc:
            return [OnlineFinding("error", self._scrub(self._describe(exc)))]

    def probe(self, metric: SqlMetric, at: datetime, kr: Any = None) -> Probe:
        """``okrflow probe``: the query's columns and first row (``okrflow.connectors.sql_probe``), then the value."""
        from okrflow.connectors.sql_probe import probe_sql

        return probe_sql(self, metric, at)

    def close(self) -> None:
        with self._lock:
            engine, self._engine = self._engine, None
        if engine is not None:
            engine.dispose()

    def execute_read(self, sql: str, binds: Mapping[str, Any]) -> tuple[list[str], list[Any]]:
        """The server layer alone: run ``sql`` once in a fresh read-only transaction and read at most two rows.

        ``fetch`` checks the query with the parser first; calling this directly shows what the server refuses.
        """
        from sqlalchemy import text

        with self.reading() as conn:
            result = conn.execute(text(sql), dict(binds))
            if not result.returns_rows:
                raise QueryShapeError("the statement returned no result set; a metric query must be a SELECT")
            return list(result.keys()), result.fetchmany(2)

    def read_frame(self, query: str | None = None, table: str | None = None, now: datetime | None = None) -> Any:
        """A read ``query`` (binds :cycle_start, :cycle_end, :now) or a whole ``[schema.]table`` as a pandas
        dataframe, read as a metric query is: parser-checked, read-only, bounded, retried when the connection
        drops. Great Expectations suites validate it. Raises ``SqlReadError`` saying why, free of secrets."""
        import pandas as pd
        from sqlalchemy import literal_column, select, text
        from sqlalchemy import table as named

        if self._backend == "sqlite" and not Path(sqlite := sqlite_path(self._url) or "").is_file():
            raise SqlReadError(f"the SQLite file {sqlite} of source {self.name!r} does not exist")
        statement: Any = text(query or "")
        binds = {k: v for k, v in self._time_binds(now).items() if k in bind_names(query or "")}
        if table is not None:
            schema, _, name = table.rpartition(".")
            statement, binds = select(literal_column("*")).select_from(named(name, schema=schema or None)), {}
        elif problem := read_query_problem(query or "", self._dialect):
            raise SqlReadError(_REFUSED + problem)

        def read() -> Any:
            with self.reading() as conn:
                return pd.read_sql(statement, conn, params=binds or None)

        try:
            transient = lambda exc: self._is_transient(unwrap_pandas(exc))  # noqa: E731
            return retry_call(read, retries=self.config.retries, is_transient=transient)
        except Exception as exc:
            raise SqlReadError(self._scrub(self._describe(unwrap_pandas(exc)))) from exc

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """A pooled connection inside a fresh read-only transaction, bounded by ``timeout_s``.

        Leaving rolls back (never commits); an error discards the connection instead of pooling it again.
        """
        with self._get_engine().connect() as conn:
            failed = True
            try:
                # SQLite has no statement timeout: its deadline aborts from the VM (ended before any invalidate)
                raw = conn.connection.dbapi_connection if self._backend == "sqlite" else None
                with sqlite_deadline(raw, self.config.timeout_s) if raw is not None else nullcontext():
                    for statement in read_only_transaction(self._backend, self.config.timeout_s):
                        conn.exec_driver_sql(statement)
                    yield conn
                failed = False
            finally:
                if failed:  # its session may have been changed: never hand it to the next query
                    with suppress(Exception):  # an already broken connection: the original error matters
                        conn.invalidate()

    def _fetch(self, metric: SqlMetric, at: datetime, lineage: dict[str, Any]) -> Measurement:
        if self._backend == "sqlite":
            path = Path(sqlite_path(self._url) or "")
            if not path.is_file():
                return Measurement.error(f"the SQLite file {path} does not exist", **lineage)
        if problem := read_query_problem(metric.sql, self._dialect):
            return Measurement.error(_REFUSED + problem, **lineage)
        available = {**self._time_binds(at - metric.offset if metric.offset else at), **metric.params}
        used = bind_names(metric.sql)
        if missing := sorted(used - available.keys()):
            return Measurement.error(f"the query uses unbound parameter(s) {', '.join(missing)}", **lineage)
        binds = {name: available[name] for name in used}
        columns, rows = retry_call(
            lambda: self.execute_read(metric.sql, binds),
            retries=self.config.retries,
            is_transient=self._is_transient,
        )
        return _measurement(columns, rows, at, lineage)

    def _get_engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = create_read_engine(self._url, self.config.timeout_s)
            return self._engine

    def _time_binds(self, now: datetime | None) -> dict[str, datetime | str]:
        times = {"cycle_start": self.context.cycle_start, "cycle_end": self.context.cycle_end, "now": now}
        return {key: self._bind_time(value) for key, value in times.items() if value is not None}

    def _bind_time(self, value: datetime) -> datetime | str:
        """Naive UTC; SQLite gets the text form its timestamps use (the sqlite3 adapter is deprecated)."""
        naive = value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value
        return naive.isoformat(sep=" ") if self._backend == "sqlite" else naive

    def _is_transient(self, exc: BaseException) -> bool:
        return classify(exc) == "connection"

    def _describe(self, exc: BaseException) -> str:
        kind = classify(exc)
        message = db_message(exc)
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
        """Remove the password from a detail, even if a driver echoed it (in any shape: ``okrflow.okr_model.secrets``)."""
        return Redactor([self._url.password])(detail)


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


def query_problem(sql: str, source: SourceConfig | None) -> str | None:
    """Why ``sql`` is not one read statement in ``source``'s dialect (generic SQL when the source is unknown)."""
    url = getattr(source, "url", None)
    try:
        backend = url_backend(url.get_secret_value()) if isinstance(url, SecretStr) else None
    except ValueError:
        backend = None
    return read_query_problem(sql, sql_dialect(backend))
