"""Read-only holds on every statement, against real SQLite, PostgreSQL and MariaDB (issue 11).

Two layers, each tested on its own:
- the parser (``okrflow.okr_model.sql_check``): ``okrflow validate`` and every ``fetch`` refuse a query that is not one
  read statement before anything reaches the server;
- the server: ``SqlConnector.execute_read`` (what ``fetch`` runs after the parser) starts every query in a
  read-only transaction and discards the connection after an error or a result that is not rows. Calling it
  directly shows what the server refuses when the parser is out of the way.
After each hostile attempt the table, its rows and the database must still be there.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pymysql
import pytest
import sqlalchemy as sa
from okrflow.connectors.base import ConnectorContext, Measurement
from okrflow.connectors.registry import Registry
from okrflow.connectors.sql import SqlConnector, SqlMetric
from okrflow.okr_model.errors import ConfigError
from okrflow.okr_model.loader import parse_config

from tests.fixtures.databases import free_port
from tests.integration.test_sql_connector import TICKETS, Warehouse, config_text, ticket_statements

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
READ_ONLY = "the warehouse connection is read-only; the query tried to write"
REFUSED = "refused before running: "
COUNT = "SELECT count(*) FROM tickets"


@pytest.fixture
def source() -> Iterator[Callable[[str], SqlConnector]]:
    """Factory: URL -> the connector of a source built like the pipeline builds it (YAML -> registry)."""
    opened: list[SqlConnector] = []

    def build(url: str, **options: Any) -> SqlConnector:
        config = parse_config(config_text(url, {"sql": COUNT}, **options), resolver=Registry())
        connector = SqlConnector("warehouse", config.sources["warehouse"], ConnectorContext(config))
        opened.append(connector)
        return connector

    yield build
    for connector in opened:
        connector.close()


def kr(sql: str) -> SqlMetric:
    """A metric binding as a later KR of the same source holds it (the validate-time check not applied)."""
    return SqlMetric(source="warehouse", sql=sql)


def intact(warehouse: Warehouse) -> None:
    assert warehouse.scalar(COUNT) == len(TICKETS)
    assert warehouse.scalar("SELECT sum(resolution_hours) FROM tickets") == 56


@pytest.fixture
def mariadb(make_mariadb_db: Callable[..., str]) -> Warehouse:
    return Warehouse("mariadb", make_mariadb_db(ticket_statements("mariadb")))


@pytest.fixture
def postgres(make_postgres_db: Callable[..., str]) -> Warehouse:
    return Warehouse("postgres", make_postgres_db(ticket_statements("postgres")))


def mariadb_global(name: str) -> Any:
    conn = pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"SELECT @@GLOBAL.{name}")
            return cursor.fetchone()[0]
    finally:
        conn.close()


# --- MariaDB: one KR opens the session, a later KR on the same source writes -----------------------------------------

SESSION_OPENERS = [
    ["SET SESSION TRANSACTION READ WRITE"],
    ["SET tx_read_only = 0"],
    ["SET SESSION TRANSACTION READ WRITE", "SET autocommit = 1"],
    ["SET tx_read_only = 0", "SET autocommit = 1"],
]
WRITES = ["DROP TABLE tickets", "DELETE FROM tickets", "UPDATE tickets SET resolution_hours = 0"]


@pytest.mark.parametrize("openers", SESSION_OPENERS, ids=" + ".join)
@pytest.mark.parametrize("write", WRITES)
def test_mariadb_a_kr_cannot_open_the_session_for_a_later_kr(
    mariadb: Warehouse, source, openers: list[str], write: str
) -> None:
    connector = source(mariadb.url)
    for sql in openers:
        measurement = connector.fetch(kr(sql), AT)
        assert measurement.status == "error"
        assert measurement.detail.startswith(REFUSED + "a SET statement cannot be a metric query"), measurement.detail
    written = connector.fetch(kr(write), AT)
    assert written.status == "error" and written.detail.startswith(REFUSED), written.detail
    intact(mariadb)
    assert connector.fetch(kr(COUNT), AT).value == len(TICKETS)  # the source still reads


def test_mariadb_drop_database_after_a_session_change_is_refused(mariadb: Warehouse, source) -> None:
    connector = source(mariadb.url)
    database = sa.make_url(mariadb.url).database
    for sql in ("SET SESSION TRANSACTION READ WRITE", "SET autocommit = 1", f"DROP DATABASE `{database}`"):
        assert connector.fetch(kr(sql), AT).detail.startswith(REFUSED)
    intact(mariadb)


@pytest.mark.parametrize("openers", SESSION_OPENERS, ids=" + ".join)
@pytest.mark.parametrize("write", [*WRITES, "CREATE TABLE sneaky (a INTEGER)"])
def test_mariadb_server_layer_refuses_the_write_without_the_parser(
    mariadb: Warehouse, source, openers: list[str], write: str
) -> None:
    connector = source(mariadb.url)
    for sql in openers:  # runs on the server: no result set, so the connection is discarded
        with pytest.raises(Exception, match="no result set"):
            connector.execute_read(sql, {})
    with pytest.raises(sa.exc.DBAPIError) as caught:
        connector.execute_read(write, {})
    assert connector._describe(caught.value) == READ_ONLY
    intact(mariadb)
    with pytest.raises(sa.exc.DBAPIError):
        mariadb.scalar("SELECT count(*) FROM sneaky")


def test_mariadb_a_row_returning_call_that_flips_the_session_cannot_open_the_next_query(
    make_mariadb_db: Callable[..., str], source
) -> None:
    """The per-query layer on its own: a procedure changes the session and returns rows (so the connection goes
    back to the pool); the next query still runs read-only. ``START TRANSACTION READ ONLY`` alone would not do:
    MariaDB's DDL commits the open transaction first, so the session is made read-only again too."""
    flip = "CREATE PROCEDURE flip() BEGIN SET SESSION TRANSACTION READ WRITE; SET autocommit = 1; SELECT 1; END"
    warehouse = Warehouse("mariadb", make_mariadb_db([*ticket_statements("mariadb"), flip]))
    connector = source(warehouse.url)
    assert connector.fetch(kr("CALL flip()"), AT).detail.startswith(REFUSED + "a CALL statement")
    (thread,) = connector.execute_read("SELECT CONNECTION_ID()", {})[1][0]
    assert connector.execute_read("CALL flip()", {})[1] == [(1,)]
    for write in ("DROP TABLE tickets", "DELETE FROM tickets"):
        with pytest.raises(sa.exc.DBAPIError) as caught:
            connector.execute_read(write, {})
        assert connector._describe(caught.value) == READ_ONLY
    assert connector.execute_read("SELECT CONNECTION_ID()", {})[1][0][0] != thread  # errors discarded it
    intact(warehouse)


def test_mariadb_set_global_is_refused(mariadb: Warehouse, source) -> None:
    before = mariadb_global("max_connections")
    connector = source(mariadb.url)
    for sql in (f"SET GLOBAL max_connections = {before + 7}", f"SET @@GLOBAL.max_connections = {before + 7}"):
        measurement = connector.fetch(kr(sql), AT)
        assert measurement.detail.startswith(REFUSED + "a SET statement"), measurement.detail
    assert mariadb_global("max_connections") == before
    intact(mariadb)


@pytest.mark.parametrize(
    "template",
    [
        "SELECT count(*) FROM tickets INTO OUTFILE '{path}'",
        "SELECT count(*) INTO OUTFILE '{path}' FROM tickets",
        "SELECT count(*) FROM tickets INTO DUMPFILE '{path}'",
        "SELECT count(*) FROM tickets /*!50000 INTO OUTFILE '{path}' */",
        "SELECT count(*) FROM tickets /*M! INTO OUTFILE '{path}' */",
    ],
)
def test_mariadb_select_into_outfile_is_refused(mariadb: Warehouse, source, template: str) -> None:
    path = Path(f"/tmp/okrflow-outfile-{uuid.uuid4().hex}")
    measurement = source(mariadb.url).fetch(kr(template.format(path=path)), AT)
    assert measurement.status == "error" and measurement.detail.startswith(REFUSED), measurement.detail
    assert not path.exists()
    intact(mariadb)


# --- PostgreSQL: COPY TO is allowed in read-only transactions, so the parser is what stops it ------------------------


@pytest.fixture
def server_file() -> Iterator[Path]:
    """A path the database server (another OS user) may write to; removed afterwards."""
    path = Path(f"/tmp/okrflow-copy-{uuid.uuid4().hex}")
    yield path
    path.unlink(missing_ok=True)


@pytest.mark.parametrize(
    "template", ["COPY (SELECT 1) TO PROGRAM 'touch {path}'", "COPY tickets TO '{path}'", "COPY (SELECT 1) TO '{path}'"]
)
def test_postgres_copy_to_a_file_or_program_is_refused(postgres: Warehouse, source, server_file: Path, template):
    sql = template.format(path=server_file)
    measurement = source(postgres.url).fetch(kr(sql), AT)
    assert measurement.status == "error"
    assert measurement.detail.startswith(REFUSED + "a COPY statement cannot be a metric query"), measurement.detail
    assert not server_file.exists()
    with pytest.raises(ConfigError) as caught:
        parse_config(config_text(postgres.url, {"sql": sql}), resolver=Registry())
    assert [i.path for i in caught.value.issues] == ["objectives[0].key_results[0].metric.sql"]
    intact(postgres)


def test_postgres_read_only_transactions_allow_copy_to_so_the_parser_must_stop_it(
    postgres: Warehouse, source, server_file: Path
) -> None:
    """Why the parser stays: with it out of the way, the server writes the file inside a read-only transaction."""
    with pytest.raises(Exception, match="no result set"):
        source(postgres.url).execute_read(f"COPY tickets TO '{server_file}'", {})
    assert server_file.exists() and len(server_file.read_text().splitlines()) == len(TICKETS)


@pytest.mark.parametrize(
    "sql",
    [
        "WITH gone AS (DELETE FROM tickets RETURNING 1) SELECT count(*) FROM gone",
        "SELECT set_config('default_transaction_read_only', 'off', false)",
        "SELECT count(*) FROM tickets FOR UPDATE",
        "SELECT * INTO copy_of_tickets FROM tickets",
        "COMMIT; BEGIN READ WRITE; DELETE FROM tickets; COMMIT",
        "DO $$ BEGIN DELETE FROM tickets; END $$",
        "CALL no_such_procedure()",
    ],
)
def test_postgres_hostile_queries_are_refused_before_running(postgres: Warehouse, source, sql: str) -> None:
    measurement = source(postgres.url).fetch(kr(sql), AT)
    assert measurement.status == "error" and measurement.detail.startswith(REFUSED), measurement.detail
    intact(postgres)


@pytest.mark.parametrize(
    "sql",
    [
        "WITH gone AS (DELETE FROM tickets RETURNING 1) SELECT count(*) FROM gone",
        "SELECT id FROM tickets FOR UPDATE",
        "SELECT * INTO copy_of_tickets FROM tickets",
        "DO $$ BEGIN DELETE FROM tickets; END $$",
        "DROP TABLE tickets",
    ],
)
def test_postgres_server_layer_refuses_writes_without_the_parser(postgres: Warehouse, source, sql: str) -> None:
    with pytest.raises(sa.exc.DBAPIError) as caught:
        source(postgres.url).execute_read(sql, {})
    assert source(postgres.url)._describe(caught.value) == READ_ONLY
    intact(postgres)


def test_postgres_every_query_runs_in_its_own_read_only_transaction_with_the_timeout(
    postgres: Warehouse, source
) -> None:
    connector = source(postgres.url, timeout_s=7)
    # a session default turned off (and committed, as a hostile function could) does not reach the next query
    connector.execute_read("SELECT set_config('default_transaction_read_only', 'off', false)", {})
    for _ in range(2):
        _, rows = connector.execute_read(
            "SELECT current_setting('transaction_read_only') || ' ' || current_setting('statement_timeout')", {}
        )
        assert rows == [("on 7s",)]
    intact(postgres)


# --- what the parser cannot see: a function that writes --------------------------------------------------------------

WRITING_FUNCTION = {
    "postgres": "CREATE FUNCTION wipe_tickets() RETURNS integer LANGUAGE sql AS 'DELETE FROM tickets RETURNING 1'",
    "mariadb": "CREATE FUNCTION wipe_tickets() RETURNS INTEGER MODIFIES SQL DATA BEGIN DELETE FROM tickets; RETURN 1; END",
}


@pytest.mark.parametrize("dialect", ["postgres", "mariadb"])
def test_a_function_that_writes_passes_the_parser_and_the_server_refuses_it(request, source, dialect: str) -> None:
    """Why the braces stay: ``SELECT wipe_tickets()`` is one read statement to any parser."""
    factory = request.getfixturevalue("make_postgres_db" if dialect == "postgres" else "make_mariadb_db")
    warehouse = Warehouse(dialect, factory([*ticket_statements(dialect), WRITING_FUNCTION[dialect]]))
    measurement = source(warehouse.url).fetch(kr("SELECT wipe_tickets()"), AT)
    assert (measurement.status, measurement.detail) == ("error", READ_ONLY)
    intact(warehouse)


# --- every dialect: discarded after errors, reused after rows; writes refused on the server -------------------------

SESSION_ID = {
    "sqlite": None,
    "postgres": "SELECT pg_backend_pid()",
    "mariadb": "SELECT CONNECTION_ID()",
}


@pytest.mark.parametrize("dialect", ["postgres", "mariadb"])
def test_a_connection_is_discarded_after_an_error_and_reused_after_rows(request, source, dialect: str) -> None:
    warehouse = request.getfixturevalue(dialect)
    connector = source(warehouse.url)
    session = SESSION_ID[dialect]
    first = connector.execute_read(session, {})[1][0][0]
    assert connector.execute_read(session, {})[1][0][0] == first  # rows: the same pooled connection
    with pytest.raises(sa.exc.DBAPIError):
        connector.execute_read("SELECT count(*) FROM no_such_table", {})
    second = connector.execute_read(session, {})[1][0][0]
    assert second != first
    with pytest.raises(Exception, match="no result set"):
        connector.execute_read("SET @x = 1" if dialect == "mariadb" else "SET search_path = public", {})
    assert connector.execute_read(session, {})[1][0][0] not in (first, second)


def test_sqlite_stays_read_only_after_pragma_query_only_off(make_sqlite_warehouse, source) -> None:
    warehouse = Warehouse("sqlite", make_sqlite_warehouse(ticket_statements("sqlite")))
    connector = source(warehouse.url)
    assert connector.fetch(kr("PRAGMA query_only = OFF"), AT).detail.startswith(REFUSED + "a PRAGMA statement")
    with pytest.raises(Exception, match="no result set"):
        connector.execute_read("PRAGMA query_only = OFF", {})
    for write in ("DELETE FROM tickets", "DROP TABLE tickets"):
        with pytest.raises(sa.exc.DBAPIError) as caught:
            connector.execute_read(write, {})
        assert connector._describe(caught.value) == READ_ONLY
    intact(warehouse)


def test_the_run_time_check_comes_before_any_connection(source) -> None:
    """A server that does not answer: a refused query says so, not 'cannot connect' (nothing was attempted)."""
    connector = source(f"postgresql+psycopg://okr@127.0.0.1:{free_port()}/warehouse", retries=0)
    refused = connector.fetch(kr("COPY tickets TO PROGRAM 'id'"), AT)
    assert refused.detail.startswith(REFUSED + "a COPY statement"), refused.detail
    assert connector._engine is None  # no engine, no pool, no connection
    assert connector.fetch(kr(COUNT), AT).detail.startswith("cannot connect to ")


# --- validate time ----------------------------------------------------------------------------------------------------


def two_kr_config(url: str, second_sql: str) -> str:
    text = config_text(url, {"sql": COUNT})
    return text + (
        "- id: second\n"
        "  title: A later objective\n"
        "  key_results:\n"
        "  - id: hostile\n"
        "    kind: maintain_above\n"
        "    target: 1\n"
        "    metric:\n"
        "      source: warehouse\n"
        f"      sql: {second_sql!r}\n"
    )


@pytest.mark.parametrize(
    ("dialect", "sql", "reason"),
    [
        ("mariadb", "SET SESSION TRANSACTION READ WRITE", "a SET statement cannot be a metric query"),
        ("mariadb", "SELECT 1 INTO OUTFILE '/tmp/x'", "the query cannot be parsed as mysql SQL"),
        ("postgres", "COPY (SELECT 1) TO PROGRAM 'id'", "a COPY statement cannot be a metric query"),
        ("postgres", "SELECT 1; DROP TABLE tickets", "the query holds 2 statements"),
        ("sqlite", "ATTACH DATABASE '/tmp/x.db' AS x", "an ATTACH statement cannot be a metric query"),
    ],
)
def test_validate_refuses_with_the_key_path_and_exit_2(request, tmp_path, dialect, sql, reason) -> None:
    from typer.testing import CliRunner

    from okrflow.cli import app

    warehouse = request.getfixturevalue(dialect) if dialect != "sqlite" else None
    url = warehouse.url if warehouse else f"sqlite:///{tmp_path / 'w.db'}"
    config = tmp_path / "okrflow.yaml"
    config.write_text(two_kr_config(url, sql))
    result = CliRunner().invoke(app, ["-c", str(config), "validate"])
    assert result.exit_code == 2, result.output
    line = next(line for line in result.output.splitlines() if "metric.sql" in line)
    assert line.startswith(f"{config}:")
    assert f"objectives[1].key_results[0].metric.sql: refused: {reason}" in line
    assert "Traceback" not in result.output
    if warehouse:
        intact(warehouse)


def test_gx_query_is_checked_at_validate_and_before_it_runs(make_sqlite_warehouse, tmp_path) -> None:
    from okrflow.connectors.great_expectations import GreatExpectationsConnector, GxMetric

    url = make_sqlite_warehouse(ticket_statements("sqlite"))
    text = config_text(url, {"sql": COUNT}) + (
        "- id: quality\n"
        "  title: Clean data\n"
        "  key_results:\n"
        "  - id: gx\n"
        "    kind: maintain_above\n"
        "    target: 90\n"
        "    metric: {source: gx, suite: tickets}\n"
    )
    suite = "      tickets:\n        data: {source: warehouse, query: %r}\n        expectations: [{expect_table_row_count_to_be_between: {min_value: 1}}]\n"
    gx = "  gx:\n    type: great_expectations\n    suites:\n" + suite
    hostile = text.replace("objectives:\n", gx % "DELETE FROM tickets" + "objectives:\n", 1)
    with pytest.raises(ConfigError) as caught:
        parse_config(hostile, resolver=Registry())
    issues = {i.path: i.message for i in caught.value.issues}
    assert issues["sources.gx.suites.tickets.data.query"].startswith("refused: a DELETE statement")

    config = parse_config(text.replace("objectives:\n", gx % COUNT + "objectives:\n", 1), resolver=Registry())
    bad = config.sources["gx"].model_copy(deep=True)
    query = bad.suites["tickets"].data.model_copy(update={"query": "PRAGMA query_only = OFF"})
    bad = bad.model_copy(update={"suites": {"tickets": bad.suites["tickets"].model_copy(update={"data": query})}})
    connector = GreatExpectationsConnector("gx", bad, ConnectorContext(config))
    try:
        measurement: Measurement = connector.fetch(GxMetric(source="gx", suite="tickets"), AT)
    finally:
        connector.close()
    assert measurement.status == "error"
    assert REFUSED + "a PRAGMA statement" in measurement.detail, measurement.detail
