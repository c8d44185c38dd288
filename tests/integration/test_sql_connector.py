"""The SQL connector against real SQLite, PostgreSQL and MariaDB: values, as-of binds, every failure mode.

Connectors are built the way the pipeline builds them: YAML -> ``parse_config`` with the registry as
resolver (two-step validation) -> ``SqlConnector(name, source, ConnectorContext(config))``.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from okrflow.connectors.base import ConnectorContext, Measurement, query_hash
from okrflow.connectors.registry import Registry
from okrflow.connectors.sql import SqlConnector, SqlMetric, SqlSource
from okrflow.okr_model.errors import ConfigError
from okrflow.okr_model.loader import parse_config

from tests.fixtures.databases import free_port

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
DIALECTS = ["sqlite", "postgres", "mariadb"]
READ_ONLY = "the warehouse connection is read-only; the query tried to write"
ONE_STATEMENT = "the query must be a single SQL statement (no ';'-separated batches)"
TIMESTAMP = {"sqlite": "TEXT", "postgres": "TIMESTAMP", "mariadb": "DATETIME"}
TICKETS = [
    (1, "a", "2026-09-30 23:00:00", 10.0),  # before the cycle
    (2, "a", "2026-10-01 00:00:00", 2.0),  # the first instant of the cycle (inclusive)
    (3, "a", "2026-10-15 12:00:00", 4.0),
    (4, "b", "2026-10-20 08:00:00", 6.0),  # another team
    (5, "a", "2026-11-10 09:00:00", 6.0),
    (6, "a", "2026-12-31 23:59:59", 8.0),  # the last second of the cycle
    (7, "a", "2027-01-01 00:00:00", 20.0),  # the cycle end (exclusive)
    (8, "a", None, None),  # still open
]
TEAM_AVERAGE = (
    "SELECT avg(resolution_hours) FROM tickets WHERE closed_at >= :cycle_start AND closed_at < :now AND team = :team"
)


def ticket_statements(dialect: str) -> list[str]:
    def literal(value: Any) -> str:
        return "NULL" if value is None else repr(value)

    rows = ", ".join(f"({', '.join(literal(v) for v in row)})" for row in TICKETS)
    return [
        f"CREATE TABLE tickets (id INTEGER PRIMARY KEY, team VARCHAR(20) NOT NULL, "
        f"closed_at {TIMESTAMP[dialect]} NULL, resolution_hours NUMERIC(10, 2) NULL)",
        f"INSERT INTO tickets (id, team, closed_at, resolution_hours) VALUES {rows}",
    ]


@dataclass(frozen=True)
class Warehouse:
    dialect: str
    url: str

    def scalar(self, sql: str) -> Any:
        """Read with a plain (writable) connection, independent of the connector under test."""
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as conn:
                return conn.execute(sa.text(sql)).scalar()
        finally:
            engine.dispose()


@pytest.fixture(params=DIALECTS)
def warehouse(request: pytest.FixtureRequest, make_sqlite_warehouse: Callable[..., str]) -> Warehouse:
    dialect = request.param
    statements = ticket_statements(dialect)
    if dialect == "sqlite":
        return Warehouse(dialect, make_sqlite_warehouse(statements))
    factory = request.getfixturevalue("make_postgres_db" if dialect == "postgres" else "make_mariadb_db")
    return Warehouse(dialect, factory(statements))


def config_text(url: str, metric: dict[str, Any], **source: Any) -> str:
    doc = {
        "version": 1,
        "cycle": {"name": "2026-Q4", "start": "2026-10-01", "end": "2026-12-31"},
        "sources": {"warehouse": {"type": "sql", "url": url, **source}},
        "objectives": [
            {
                "id": "support",
                "title": "Resolve support tickets faster",
                "key_results": [
                    {
                        "id": "resolution-hours",
                        "kind": "decrease",
                        "baseline": 4,
                        "target": 2,
                        "metric": {"source": "warehouse", **metric},
                    }
                ],
            }
        ],
    }
    return yaml.safe_dump(doc, sort_keys=False)


@pytest.fixture
def connect() -> Iterator[Callable[..., tuple[SqlConnector, SqlMetric]]]:
    """Factory: (url, sql, metric/source options) -> a connector built like the pipeline does, and its metric."""
    opened: list[SqlConnector] = []

    def build(url: str, sql: str, *, source: dict[str, Any] | None = None, **metric: Any):
        config = parse_config(config_text(url, {"sql": sql, **metric}, **(source or {})), resolver=Registry())
        connector = SqlConnector("warehouse", config.sources["warehouse"], ConnectorContext(config))
        opened.append(connector)
        _, kr = config.key_result("resolution-hours")
        return connector, kr.metric

    yield build
    for connector in opened:
        connector.close()


def fetch(connect: Callable[..., tuple[SqlConnector, SqlMetric]], url: str, sql: str, at: datetime = AT, **kw: Any):
    connector, metric = connect(url, sql, **kw)
    return connector.fetch(metric, at)


def assert_detail(measurement: Measurement, expected: str | re.Pattern[str]) -> None:
    if isinstance(expected, re.Pattern):
        assert expected.search(measurement.detail), measurement.detail
    else:
        assert measurement.detail == expected


# --- values ------------------------------------------------------------------------------------------------------


def test_the_yaml_builds_a_sql_source_and_binding(make_sqlite_warehouse: Callable[..., str]) -> None:
    url = make_sqlite_warehouse(ticket_statements("sqlite"))
    text = f"""
version: 1
cycle: {{name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}}
sources:
  warehouse: {{type: sql, url: "{url}", timeout_s: 5, retries: 1}}
objectives:
  - id: support
    title: Resolve support tickets faster
    key_results:
      - id: resolution-hours
        kind: decrease
        baseline: 4
        target: 2
        metric: {{source: warehouse, sql: "{TEAM_AVERAGE}", params: {{team: a}}, offset: 1d}}
"""
    config = parse_config(text, resolver=Registry())
    source = config.sources["warehouse"]
    _, kr = config.key_result("resolution-hours")
    assert Registry().get("sql") is SqlConnector
    assert isinstance(source, SqlSource) and (source.timeout_s, source.retries) == (5, 1)
    assert isinstance(kr.metric, SqlMetric) and kr.metric.params == {"team": "a"}
    assert kr.metric.offset == timedelta(days=1)


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (datetime(2026, 10, 10, tzinfo=UTC), 2.0),  # only the ticket closed at the cycle start
        (AT, 3.0),  # (2 + 4) / 2: team b and later tickets excluded
        (datetime(2026, 12, 15, tzinfo=UTC), 4.0),  # (2 + 4 + 6) / 3
        # 09:30 at UTC+1 is 08:30 UTC, before ticket 5 (09:00 UTC): binds are compared in UTC
        (datetime(2026, 11, 10, 9, 30, tzinfo=timezone(timedelta(hours=1))), 3.0),
        (datetime(2026, 11, 10, 9, 30, tzinfo=UTC), 4.0),
    ],
)
def test_average_as_of_now_within_the_cycle(warehouse: Warehouse, connect, at: datetime, expected: float) -> None:
    connector, metric = connect(warehouse.url, TEAM_AVERAGE, params={"team": "a"})
    measurement = connector.fetch(metric, at)
    assert (measurement.status, measurement.detail) == ("ok", "")
    assert measurement.value == pytest.approx(expected)
    assert measurement.observed_at == at
    assert dict(measurement.lineage) == {"source": "warehouse", "query_hash": query_hash(metric), "rows": 1}


def test_offset_reads_as_of_an_earlier_now(warehouse: Warehouse, connect) -> None:
    at = datetime(2026, 11, 16, tzinfo=UTC)
    late = fetch(connect, warehouse.url, TEAM_AVERAGE, at, params={"team": "a"}, offset="7d")
    current = fetch(connect, warehouse.url, TEAM_AVERAGE, at, params={"team": "a"})
    assert (late.status, late.value) == ("ok", pytest.approx(3.0))  # now = Nov 9: ticket 5 not yet closed
    assert (current.status, current.value) == ("ok", pytest.approx(4.0))
    assert late.observed_at == at


def test_postgres_timestamptz_compares_in_utc_whatever_the_database_zone(
    make_postgres_db: Callable[..., str], connect
) -> None:
    import psycopg

    statements = [s.replace("TIMESTAMP", "TIMESTAMPTZ") for s in ticket_statements("postgres")]
    statements[1] = statements[1].replace(":00'", ":00+00'").replace(":59'", ":59+00'")
    url = make_postgres_db(statements)
    database = sa.make_url(url).database
    conninfo = url.replace("postgresql+psycopg://", "postgresql://").rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(conninfo, autocommit=True) as admin:  # naive binds would be read as New York time
        admin.execute(f"ALTER DATABASE \"{database}\" SET TimeZone = 'America/New_York'")
    at = datetime(2026, 11, 10, 8, 30, tzinfo=UTC)  # before ticket 5 (09:00 UTC); in New York it is 03:30
    measurement = fetch(connect, url, TEAM_AVERAGE, at, params={"team": "a"})
    assert (measurement.status, measurement.value) == ("ok", pytest.approx(3.0))
    later = fetch(connect, url, TEAM_AVERAGE, at + timedelta(hours=1), params={"team": "a"})
    assert (later.status, later.value) == ("ok", pytest.approx(4.0))


def test_cycle_end_is_exclusive_midnight_after_the_last_day(warehouse: Warehouse, connect) -> None:
    sql = "SELECT count(*) FROM tickets WHERE closed_at >= :cycle_start AND closed_at < :cycle_end"
    measurement = fetch(connect, warehouse.url, sql)
    assert (measurement.status, measurement.value) == ("ok", 5.0)


def test_only_the_binds_a_query_uses_are_passed(warehouse: Warehouse, connect) -> None:
    params = {"team": "b", "unused": 7, "flag": True, "nothing": None}
    measurement = fetch(
        connect, warehouse.url, "SELECT max(resolution_hours) FROM tickets WHERE team = :team", params=params
    )
    assert (measurement.status, measurement.value) == ("ok", 6.0)
    plain = fetch(connect, warehouse.url, "SELECT 42", params=params)
    assert (plain.status, plain.value) == ("ok", 42.0)


def test_concurrent_fetches_from_threads(warehouse: Warehouse, connect) -> None:
    connector, metric = connect(warehouse.url, TEAM_AVERAGE, params={"team": "a"})
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda _: connector.fetch(metric, AT), range(18)))
    assert [(m.status, m.value) for m in results] == [("ok", pytest.approx(3.0))] * 18


def test_postgres_connections_are_reused_and_closed(make_postgres_db: Callable[..., str], connect) -> None:
    url = make_postgres_db(ticket_statements("postgres"))
    database = sa.make_url(url).database
    connector, metric = connect(url, TEAM_AVERAGE, params={"team": "a"})
    for _ in range(5):
        assert connector.fetch(metric, AT).status == "ok"
    admin = Warehouse("postgres", url.rsplit("/", 1)[0] + "/postgres")
    sessions = f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}'"
    assert admin.scalar(sessions) == 1
    connector.close()
    deadline = time.monotonic() + 5
    while admin.scalar(sessions) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert admin.scalar(sessions) == 0
    assert connector.fetch(metric, AT).value == pytest.approx(3.0)  # a closed connector reconnects lazily


# --- results that are not one finite number ------------------------------------------------------------------------

ALL = "*"
RESULT_CASES = [
    ("no rows", ALL, "SELECT resolution_hours FROM tickets WHERE id = -1", "no_data", "query returned no rows"),
    ("null", ALL, "SELECT avg(resolution_hours) FROM tickets WHERE team = 'z'", "no_data", "query returned NULL"),
    ("null row", ALL, "SELECT resolution_hours FROM tickets WHERE id = 8", "no_data", "query returned NULL"),
    ("nan", "postgres", "SELECT 'NaN'::float8", "no_data", "query returned NaN"),
    ("numeric nan", "postgres", "SELECT 'NaN'::numeric", "no_data", "query returned NaN"),
    ("inf", "postgres", "SELECT 'Infinity'::float8", "no_data", "query returned +Inf"),
    ("-inf", "postgres", "SELECT '-Infinity'::numeric", "no_data", "query returned -Inf"),
    ("inf", "sqlite", "SELECT 9e999", "no_data", "query returned +Inf"),
    ("-inf", "sqlite", "SELECT -9e999", "no_data", "query returned -Inf"),
    (
        "rows",
        ALL,
        "SELECT resolution_hours FROM tickets WHERE resolution_hours IS NOT NULL",
        "error",
        "query returned more than one row; aggregate it to exactly one row",
    ),
    (
        "columns",
        ALL,
        "SELECT count(*) AS n, max(id) AS top FROM tickets",
        "error",
        "query returned 2 columns (n, top); a metric query returns one",
    ),
    (
        "columns, no rows",
        ALL,
        "SELECT id, team FROM tickets WHERE id = -1",
        "error",
        re.compile(r"^query returned 2 columns"),
    ),
    (
        "text",
        ALL,
        "SELECT max(team) FROM tickets",
        "error",
        "query returned a non-numeric value 'b' (str); expected a number",
    ),
    (
        "timestamp",
        ALL,
        "SELECT max(closed_at) FROM tickets",
        "error",
        re.compile(r"^query returned a non-numeric value"),
    ),
    ("bool", "postgres", "SELECT true", "error", "query returned a non-numeric value True (bool); expected a number"),
    (
        "missing table",
        ALL,
        "SELECT count(*) FROM no_such_table",
        "error",
        re.compile(r"^query failed: .*no_such_table"),
    ),
]


@pytest.mark.parametrize(
    ("warehouse", "sql", "status", "detail"),
    [
        pytest.param(dialect, sql, status, detail, id=f"{dialect}-{case}")
        for case, only, sql, status, detail in RESULT_CASES
        for dialect in DIALECTS
        if only in (ALL, dialect)  # NaN and Inf exist only where the database has them
    ],
    indirect=["warehouse"],
)
def test_result_that_is_not_one_finite_number(warehouse: Warehouse, connect, sql, status, detail) -> None:
    measurement = fetch(connect, warehouse.url, sql)
    assert (measurement.status, measurement.value, measurement.observed_at) == (status, None, None)
    assert_detail(measurement, detail)
    assert measurement.lineage["source"] == "warehouse"


def test_decimal_and_integer_results_become_floats(warehouse: Warehouse, connect) -> None:
    decimal = fetch(connect, warehouse.url, "SELECT sum(resolution_hours) FROM tickets WHERE team = 'a'")
    integer = fetch(connect, warehouse.url, "SELECT count(*) FROM tickets")
    assert (decimal.status, decimal.value, type(decimal.value)) == ("ok", 50.0, float)
    assert (integer.status, integer.value, type(integer.value)) == ("ok", 8.0, float)


# --- writes, timeouts, unreachable servers ------------------------------------------------------------------------

WRITES = [
    "DELETE FROM tickets",
    "UPDATE tickets SET resolution_hours = 0",
    "INSERT INTO tickets (id, team) VALUES (99, 'x')",
    "DROP TABLE tickets",
    "CREATE TABLE sneaky (a INTEGER)",
]


def server_refusal(connect, url: str, sql: str) -> Measurement:
    """What the server layer says with the parser out of the way (``okrflow validate`` and ``fetch`` refuse
    these queries first; tests/integration/test_sql_readonly.py covers both layers)."""
    assert issues_of(config_text(url, {"sql": sql}))["objectives[0].key_results[0].metric.sql"].startswith("refused: ")
    connector, _ = connect(url, "SELECT 1")
    with pytest.raises(Exception) as caught:
        connector.execute_read(sql, {})
    return Measurement.error(connector._describe(caught.value))


@pytest.mark.parametrize("sql", WRITES)
def test_a_write_is_refused_and_the_table_unchanged(warehouse: Warehouse, connect, sql: str) -> None:
    before = warehouse.scalar("SELECT sum(resolution_hours) FROM tickets")
    measurement = server_refusal(connect, warehouse.url, sql)
    assert (measurement.status, measurement.detail) == ("error", READ_ONLY)
    assert warehouse.scalar("SELECT count(*) FROM tickets") == len(TICKETS)
    assert warehouse.scalar("SELECT sum(resolution_hours) FROM tickets") == before
    with pytest.raises(sa.exc.DBAPIError):
        warehouse.scalar("SELECT count(*) FROM sneaky")


BATCHES = {
    "sqlite": ("SELECT 1; DELETE FROM tickets", ONE_STATEMENT),
    # without one-statement enforcement this batch leaves the read-only transaction and deletes for real
    "postgres": ("COMMIT; BEGIN READ WRITE; DELETE FROM tickets; COMMIT", ONE_STATEMENT),
    "mariadb": ("SELECT 1; DELETE FROM tickets", re.compile(r"^query failed: .*syntax")),
}


def test_a_batch_cannot_escape_the_read_only_session(warehouse: Warehouse, connect) -> None:
    sql, detail = BATCHES[warehouse.dialect]
    measurement = server_refusal(connect, warehouse.url, sql)
    assert measurement.status == "error"
    assert_detail(measurement, detail)
    assert warehouse.scalar("SELECT count(*) FROM tickets") == len(TICKETS)


def test_postgres_data_modifying_cte_is_refused(make_postgres_db: Callable[..., str], connect) -> None:
    url = make_postgres_db(ticket_statements("postgres"))
    measurement = server_refusal(
        connect, url, "WITH gone AS (DELETE FROM tickets RETURNING 1) SELECT count(*) FROM gone"
    )
    assert (measurement.status, measurement.detail) == ("error", READ_ONLY)
    assert Warehouse("postgres", url).scalar("SELECT count(*) FROM tickets") == len(TICKETS)


SLOW = {
    "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 100000000) SELECT count(*) FROM n",
    "postgres": "SELECT count(*) FROM pg_sleep(20)",
    "mariadb": "SELECT SLEEP(20)",
}


def test_a_slow_query_is_stopped_at_timeout_s(warehouse: Warehouse, connect) -> None:
    connector, metric = connect(warehouse.url, SLOW[warehouse.dialect], source={"timeout_s": 1, "retries": 2})
    started = time.monotonic()
    measurement = connector.fetch(metric, AT)
    elapsed = time.monotonic() - started
    assert (measurement.status, measurement.detail) == ("error", "query timed out after 1 s")
    assert elapsed < 1 + 1.5  # stopped at the timeout, and a timeout is not retried (that would take 3 s)
    again, metric = connect(warehouse.url, "SELECT count(*) FROM tickets", source={"timeout_s": 1})
    assert again.fetch(metric, AT).value == len(TICKETS)


SECRET = "Sup3r-S3cret-Pw"


@pytest.mark.parametrize(
    ("scheme", "user"), [("postgresql+psycopg", "okr"), ("mysql+pymysql", "okr"), ("postgresql", "okr")]
)
def test_a_down_server_is_an_error_without_the_password(connect, scheme: str, user: str) -> None:
    port = free_port()
    url = f"{scheme}://{user}:{SECRET}@127.0.0.1:{port}/warehouse"
    connector, metric = connect(url, "SELECT 1", source={"retries": 2, "timeout_s": 5})
    started = time.monotonic()
    measurement = connector.fetch(metric, AT)
    elapsed = time.monotonic() - started
    assert measurement.status == "error"
    driver = scheme if "+" in scheme else "postgresql+psycopg"
    assert measurement.detail.startswith(f"cannot connect to {driver}://{user}:***@127.0.0.1:{port}/warehouse: ")
    assert SECRET not in measurement.detail and SECRET not in repr(connector.config)
    assert 0.3 < elapsed < 4  # refused at once, retried twice after 0.2 s + 0.4 s backoff, jittered to >= half


def test_a_refused_login_does_not_show_the_password(mariadb_server: str, connect) -> None:
    url = mariadb_server.replace("root@", f"root:{SECRET}@") + "/mysql"
    measurement = fetch(connect, url, "SELECT 1")
    assert measurement.status == "error"
    assert re.match(
        r"^cannot connect to mysql\+pymysql://root:\*\*\*@127\.0\.0\.1:\d+/mysql: Access denied", measurement.detail
    )
    assert SECRET not in measurement.detail


@pytest.mark.parametrize("server", ["postgres_server", "mariadb_server"])
def test_an_unknown_database_is_an_error_that_is_not_retried(request: pytest.FixtureRequest, connect, server) -> None:
    url = request.getfixturevalue(server) + "/okrflow_no_such_db"
    connector, metric = connect(url, "SELECT 1", source={"retries": 2})
    started = time.monotonic()
    measurement = connector.fetch(metric, AT)
    assert measurement.status == "error"
    assert re.search(
        r"^cannot connect to .*/okrflow_no_such_db: .*(does not exist|Unknown database)", measurement.detail
    )
    assert time.monotonic() - started < 0.5  # a retry would first sleep 0.2 s + 0.4 s


def test_a_missing_sqlite_file_is_an_error_and_not_created(tmp_path: Path, connect) -> None:
    path = tmp_path / "missing" / "warehouse.db"
    measurement = fetch(connect, f"sqlite:///{path}", "SELECT 1")
    assert (measurement.status, measurement.detail) == ("error", f"the SQLite file {path} does not exist")
    assert not path.exists() and not path.parent.exists()


# --- config validation ----------------------------------------------------------------------------------------------


def issues_of(text: str) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, resolver=Registry())
    return {issue.path: issue.message for issue in caught.value.issues}


def test_unknown_source_key_names_its_path() -> None:
    text = config_text("sqlite:///w.db", {"sql": "SELECT 1"}).replace("url:", "urll:")
    issues = issues_of(text)
    assert issues["sources.warehouse.urll"].startswith("unknown key")
    assert issues["sources.warehouse.url"] == "required key is missing"


def test_unknown_metric_key_names_its_path() -> None:
    issues = issues_of(config_text("sqlite:///w.db", {"sqll": "SELECT 1"}))
    assert issues["objectives[0].key_results[0].metric.sqll"].startswith("unknown key")
    assert issues["objectives[0].key_results[0].metric.sql"] == "required key is missing"


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ({"sql": TEAM_AVERAGE}, "the query uses :team but params does not define it"),
        ({"sql": "SELECT :now", "params": {"now": "x"}}, "params may not redefine the built-in bind(s) now"),
        ({"sql": ""}, "at least 1 character"),
        ({"sql": "SELEC 1"}, "refused: the query cannot be parsed as sqlite SQL"),
    ],
)
def test_metric_binds_are_checked_when_the_config_loads(metric: dict[str, Any], message: str) -> None:
    issues = issues_of(config_text("sqlite:///w.db", metric))
    assert any(
        path.startswith("objectives[0].key_results[0].metric") and message in text for path, text in issues.items()
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (f"oracle://scott:{SECRET}@db:1521/x", "unsupported database 'oracle'"),
        (f"no url at all {SECRET}", "not a database URL"),
        ("sqlite://", "a sqlite URL needs a database file"),
    ],
)
def test_an_unusable_url_is_a_config_error_without_the_password(url: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config_text(url, {"sql": "SELECT 1"}), resolver=Registry())
    issues = {issue.path: issue.message for issue in caught.value.issues}
    assert message in issues["sources.warehouse.url"]
    assert SECRET not in str(caught.value)


def test_importing_the_module_stays_light() -> None:
    code = "import sys, okrflow.connectors.sql; print(sorted(m for m in ('sqlalchemy', 'pandas', 'mlflow') if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2]
    )
    assert out.stdout.strip() == "[]"
