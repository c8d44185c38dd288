"""The parser layer of the warehouse's read-only promise: exactly one read statement, per dialect (issue 11)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from okrflow.okr_model.sql_check import read_query_problem, sql_dialect

DIALECTS = ["sqlite", "postgres", "mysql", None]

ACCEPTED = [
    (None, "SELECT 1"),
    (None, "SELECT 1;"),
    (None, "  -- a comment\nSELECT count(*) FROM tickets /* trailing */"),
    (None, "SELECT avg(hours) FROM tickets WHERE closed_at >= :cycle_start AND closed_at < :now AND team = :team"),
    (None, "WITH recent AS (SELECT * FROM tickets WHERE closed_at < :now) SELECT count(*) FROM recent"),
    (None, "SELECT count(*) FROM a UNION ALL SELECT count(*) FROM b"),
    (None, "SELECT 1 INTERSECT SELECT 1"),
    (None, "SELECT 1 EXCEPT SELECT 2"),
    (None, "(SELECT 1)"),
    (None, "VALUES (1)"),
    (None, "SELECT 'a;b' AS text_with_a_semicolon"),
    (None, "SELECT 100.0 * sum(deflected) / count(*) FROM tickets WHERE opened_at >= :cycle_start"),
    ("sqlite", "SELECT count(*) FROM tickets WHERE closed_at >= datetime(:now, '-7 days')"),
    ("sqlite", "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT count(*) FROM n"),
    ("sqlite", "SELECT 9e999"),
    ("postgres", "SELECT 'NaN'::float8"),
    ("postgres", "SELECT count(*) FROM t WHERE at >= :cycle_start::timestamptz"),
    ("postgres", "SELECT percentile_cont(0.95) WITHIN GROUP (ORDER BY latency) FROM requests"),
    ("postgres", "SELECT count(*) FROM pg_sleep(0)"),
    ("postgres", "SELECT $$dollar;quoted$$"),
    ("postgres", "TABLE tickets"),
    ("postgres", "SELECT * FROM (VALUES (1), (2)) AS v(a)"),
    ("mysql", "SELECT count(*) FROM `tickets` WHERE `closed_at` < :now"),
    ("mysql", "SELECT SLEEP(0)"),
    ("mysql", "SELECT 1 FROM DUAL"),
    ("mysql", "SELECT 1 --1"),  # MariaDB: '--' without a space is not a comment, and sqlglot agrees
    # what analysts write: dialect features must not be refused by mistake
    ("postgres", "SELECT count(*) FILTER (WHERE ok)::float / nullif(count(*), 0) FROM runs WHERE at >= :cycle_start"),
    (
        "postgres",
        "SELECT avg(extract(epoch FROM closed_at - opened_at) / 3600) FROM tickets WHERE at > now() - interval '7 days'",
    ),
    ("postgres", "SELECT count(*) FROM t WHERE payload->>'kind' = 'x' AND tags @> ARRAY['a'] AND name ~* '^ab'"),
    ("postgres", "SELECT count(*) FROM (SELECT DISTINCT ON (user_id) user_id FROM events ORDER BY user_id, at DESC) s"),
    ("postgres", "SELECT sum(v) FROM t, LATERAL (SELECT 1 AS v) l WHERE t.id = ANY(ARRAY[1, 2]) AND t.name ILIKE 'a%'"),
    (
        "postgres",
        "SELECT avg(s) OVER (PARTITION BY team ORDER BY at ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) FROM x LIMIT 1",
    ),
    ("postgres", 'SELECT count(*) FROM "Mixed Case"."Table" TABLESAMPLE SYSTEM (10)'),
    (
        "mysql",
        "SELECT avg(TIMESTAMPDIFF(HOUR, opened_at, closed_at)) FROM t WHERE closed_at >= DATE_SUB(:now, INTERVAL 7 DAY)",
    ),
    ("mysql", "SELECT IFNULL(SUM(IF(ok, 1, 0)) / COUNT(*), 0) FROM t WHERE name REGEXP '^a' AND a <=> b"),
    ("mysql", "SELECT COUNT(*) FROM t WHERE JSON_EXTRACT(doc, '$.kind') = 'x' AND doc->>'$.team' = :team"),
    ("mysql", "SELECT LENGTH(GROUP_CONCAT(name SEPARATOR ',')) FROM `db`.`t` USE INDEX (idx)"),
    ("sqlite", "SELECT avg((julianday(closed_at) - julianday(opened_at)) * 24) FROM tickets"),
    ("sqlite", "SELECT sum(iif(ok, 1, 0)) * 1.0 / count(*) FROM t WHERE date(at) >= date(:now, 'start of month')"),
    ("sqlite", "SELECT count(*) FROM t WHERE name GLOB 'a*' AND json_extract(doc, '$.kind') = 'x'"),
]

REFUSED = [
    # more or fewer than one statement
    (None, "SELECT 1; SELECT 2", "holds 2 statements"),
    ("sqlite", "SELECT 1; DELETE FROM tickets", "holds 2 statements"),
    ("postgres", "COMMIT; BEGIN READ WRITE; DELETE FROM tickets; COMMIT", "holds 4 statements"),
    ("mysql", "SELECT 1; DROP TABLE tickets", "holds 2 statements"),
    (None, "", "holds no statement"),
    (None, " ; ", "holds no statement"),
    (None, "-- only a comment", "holds no statement"),
    # writes, DDL, session and transaction control
    (None, "DELETE FROM tickets", "a DELETE statement cannot be"),
    (None, "UPDATE tickets SET x = 1", "an UPDATE statement cannot be"),
    (None, "INSERT INTO tickets VALUES (1)", "an INSERT statement cannot be"),
    (None, "DROP TABLE tickets", "a DROP statement cannot be"),
    (None, "CREATE TABLE x (a INT)", "a CREATE statement cannot be"),
    (None, "ALTER TABLE tickets ADD COLUMN y INT", "an ALTER statement cannot be"),
    ("postgres", "TRUNCATE tickets", "a TRUNCATE statement cannot be"),
    ("postgres", "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", "a MERGE statement cannot be"),
    ("mysql", "SET SESSION TRANSACTION READ WRITE", "a SET statement cannot be"),
    ("mysql", "SET tx_read_only = 0", "a SET statement cannot be"),
    ("mysql", "SET autocommit = 1", "a SET statement cannot be"),
    ("mysql", "SET GLOBAL max_connections = 1", "a SET statement cannot be"),
    ("postgres", "SET TRANSACTION READ WRITE", "a SET statement cannot be"),
    ("postgres", "RESET ALL", "cannot be a metric query"),
    ("mysql", "START TRANSACTION", "transaction control"),
    ("postgres", "COMMIT", "transaction control"),
    ("postgres", "BEGIN", "transaction control"),
    # COPY, CALL, DO and other commands
    ("postgres", "COPY (SELECT 1) TO PROGRAM 'touch /tmp/x'", "a COPY statement cannot be"),
    ("postgres", "COPY tickets TO '/tmp/file'", "a COPY statement cannot be"),
    ("postgres", "COPY tickets FROM '/tmp/file'", "a COPY statement cannot be"),
    ("postgres", "CALL refresh()", "a CALL statement cannot be"),
    ("mysql", "CALL refresh()", "a CALL statement cannot be"),
    ("postgres", "DO $$ BEGIN DELETE FROM tickets; END $$", "a DO statement cannot be"),
    ("postgres", "EXPLAIN ANALYZE DELETE FROM tickets", "an EXPLAIN statement cannot be"),
    ("postgres", "PREPARE p AS DELETE FROM tickets", "a PREPARE statement cannot be"),
    ("postgres", "EXECUTE p", "cannot be a metric query"),
    ("postgres", "LISTEN channel", "is not a SELECT"),
    ("mysql", "SHOW GRANTS", "the query is not a SELECT (it reads as SHOW)"),
    ("mysql", "HANDLER tickets OPEN", "cannot be parsed as mysql SQL"),
    ("mysql", "LOAD DATA INFILE '/etc/passwd' INTO TABLE t", "cannot be parsed as mysql SQL"),
    ("sqlite", "PRAGMA query_only = OFF", "a PRAGMA statement cannot be"),
    ("sqlite", "ATTACH DATABASE '/tmp/x.db' AS x", "an ATTACH statement cannot be"),
    ("sqlite", "DETACH DATABASE x", "cannot be a metric query"),
    ("sqlite", "ANALYZE", "an ANALYZE statement cannot be"),
    ("sqlite", "VACUUM INTO '/tmp/copy.db'", "a VACUUM statement cannot be"),
    ("sqlite", "REINDEX", "a REINDEX statement cannot be"),
    # a SELECT that writes or locks
    ("postgres", "WITH gone AS (DELETE FROM tickets RETURNING *) SELECT count(*) FROM gone", "contains a DELETE"),
    ("postgres", "WITH x AS (UPDATE t SET a = 1 RETURNING a) SELECT * FROM x", "contains an UPDATE"),
    ("postgres", "WITH x AS (INSERT INTO t VALUES (1) RETURNING a) SELECT * FROM x", "contains an INSERT"),
    ("postgres", "SELECT * INTO copy_of_tickets FROM tickets", "SELECT ... INTO"),
    ("mysql", "SELECT 1 INTO @v", "SELECT ... INTO"),
    ("mysql", "SELECT 1 INTO OUTFILE '/tmp/x'", "cannot be parsed as mysql SQL"),
    ("mysql", "SELECT 1 INTO DUMPFILE '/tmp/x'", "cannot be parsed as mysql SQL"),
    ("mysql", "SELECT * FROM tickets INTO OUTFILE '/tmp/x'", "cannot be parsed as mysql SQL"),
    ("postgres", "SELECT id FROM tickets FOR UPDATE", "locking clause"),
    ("postgres", "SELECT id FROM tickets FOR SHARE", "locking clause"),
    ("postgres", "SELECT id FROM tickets FOR NO KEY UPDATE SKIP LOCKED", "locking clause"),
    ("mysql", "SELECT id FROM tickets LOCK IN SHARE MODE", "locking clause"),
    ("mysql", "SELECT id FROM tickets FOR UPDATE", "locking clause"),
    # MariaDB/MySQL run executable comments; hints may set variables
    ("mysql", "SELECT 1 /*!50000 INTO OUTFILE '/tmp/x' */", "executable comments"),
    ("mysql", "SELECT 1 /*M! , sleep(100) */", "executable comments"),
    ("mysql", "SELECT /*+ SET_VAR(max_statement_time = 0) */ 1", "function set_var()"),
    # functions that reach files, other sessions, settings or run SQL text
    ("postgres", "SELECT lo_export(1234, '/tmp/x')", "function lo_export()"),
    ("postgres", "SELECT pg_read_file('/etc/passwd')", "function pg_read_file()"),
    ("postgres", "SELECT set_config('default_transaction_read_only', 'off', false)", "function set_config()"),
    ("postgres", "SELECT pg_terminate_backend(1)", "function pg_terminate_backend()"),
    ("postgres", "SELECT length(query_to_xml('DELETE FROM t', true, true, ''))", "function query_to_xml()"),
    ("postgres", "SELECT nextval('s')", "function nextval()"),
    ("mysql", "SELECT LOAD_FILE('/etc/passwd')", "function load_file()"),
    ("postgres", "SELECT pg_advisory_lock(42)", "function pg_advisory_lock()"),
    ("mysql", "SELECT GET_LOCK('etl', 10)", "function get_lock()"),
    # what the parser cannot read is refused (fail closed), with its reason
    (None, "SELEC 1", "cannot be parsed as generic SQL (Invalid expression / Unexpected token. Line 1, Col: 7.)"),
    (None, "SELECT `backticks` FROM t", "cannot be parsed as generic SQL"),
    ("postgres", "SELECT 'unterminated", "cannot be parsed as postgres SQL"),
]


@pytest.mark.parametrize(("dialect", "sql"), ACCEPTED)
def test_one_read_statement_is_accepted(dialect: str | None, sql: str) -> None:
    assert read_query_problem(sql, dialect) is None


@pytest.mark.parametrize(("dialect", "sql", "reason"), REFUSED)
def test_anything_else_is_refused_with_the_reason(dialect: str | None, sql: str, reason: str) -> None:
    problem = read_query_problem(sql, dialect)
    assert problem is not None and reason in problem, problem


@pytest.mark.parametrize(
    ("backend", "dialect"),
    [("sqlite", "sqlite"), ("postgresql", "postgres"), ("mysql", "mysql"), ("mariadb", "mysql"), ("oracle", None)],
)
def test_the_dialect_follows_the_url_backend(backend: str, dialect: str | None) -> None:
    assert sql_dialect(backend) == dialect
    assert sql_dialect(None) is None


def test_the_shipped_metric_queries_pass() -> None:
    """Every ``sql:`` and GX ``query:`` in config/ is one read statement in the dialect of its source."""
    import yaml

    found = 0
    for path in sorted(Path(__file__).parents[2].glob("config/**/*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if not isinstance(doc, dict):
            continue
        sources = doc.get("sources") or {}
        for objective in doc.get("objectives") or []:
            for kr in objective.get("key_results") or []:
                metric = kr.get("metric") or {}
                if "sql" in metric:
                    found += 1
                    url = str(sources[metric["source"]].get("url", ""))
                    assert read_query_problem(metric["sql"], sql_dialect(url.split(":")[0].split("+")[0])) is None
    assert found >= 5


# --- properties ------------------------------------------------------------------------------------------------------

identifier = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True).filter(
    lambda s: (
        s
        not in {
            "select",
            "from",
            "where",
            "and",
            "or",
            "not",
            "null",
            "is",
            "in",
            "as",
            "by",
            "on",
            "to",
            "of",
            "at",
            "if",
            "all",
            "any",
            "end",
            "set",
            "into",
            "for",
            "div",
            "mod",
            "xor",
            "like",
            "case",
            "when",
            "then",
            "else",
        }
    )
)
literal = st.one_of(
    st.integers(-(10**9), 10**9).map(str),
    st.text(st.characters(codec="ascii", exclude_characters="'\\\x00"), max_size=12).map(lambda s: f"'{s}'"),
    st.sampled_from([":now", ":cycle_start", ":cycle_end", ":team"]),
)


@st.composite
def read_queries(draw: st.DrawFn) -> str:
    column, table = draw(identifier), draw(identifier)
    aggregate = draw(st.sampled_from(["count", "sum", "avg", "min", "max"]))
    sql = f"SELECT {aggregate}({column}) FROM {table}"
    if draw(st.booleans()):
        sql += f" WHERE {draw(identifier)} {draw(st.sampled_from(['=', '<', '>=', '<>']))} {draw(literal)}"
    if draw(st.booleans()):
        sql = f"WITH {table}_cte AS ({sql}) SELECT * FROM {table}_cte"
    if draw(st.booleans()):
        sql += f" UNION ALL SELECT {draw(literal)}"
    if draw(st.booleans()):
        sql = f"-- {draw(identifier)}\n{sql} /* {draw(identifier)} */"
    return sql


WRITE_TEMPLATES = [
    "DELETE FROM {t}",
    "UPDATE {t} SET {c} = {v}",
    "INSERT INTO {t} ({c}) VALUES ({v})",
    "DROP TABLE {t}",
    "CREATE TABLE {t} ({c} INTEGER)",
    "SELECT {c} FROM {t} FOR UPDATE",
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(read_queries(), st.sampled_from(DIALECTS))
def test_generated_read_queries_are_accepted(sql: str, dialect: str | None) -> None:
    assert read_query_problem(sql, dialect) is None, sql


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    read_queries(),
    st.sampled_from(WRITE_TEMPLATES),
    identifier,
    identifier,
    literal,
    st.sampled_from(DIALECTS),
    st.sampled_from(["; ", ";\n", " ;", "; -- x\n"]),
)
def test_a_write_never_passes_alone_or_after_a_read(sql, template, table, column, value, dialect, separator) -> None:
    write = template.format(t=table, c=column, v=value)
    assert read_query_problem(write, dialect) is not None, write
    assert read_query_problem(f"{sql}{separator}{write}", dialect) is not None, f"{sql}{separator}{write}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200), st.sampled_from(DIALECTS))
def test_any_text_gets_an_answer_never_an_exception(text: str, dialect: str | None) -> None:
    problem = read_query_problem(text, dialect)
    assert problem is None or isinstance(problem, str)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from(
            [
                "SELECT",
                "1",
                ";",
                "DELETE",
                "FROM",
                "t",
                "'",
                "/*",
                "*/",
                "--",
                "\n",
                "INTO",
                "(",
                ")",
                "WITH",
                "x",
                "AS",
            ]
        ),
        max_size=14,
    ),
    st.sampled_from(DIALECTS),
)
def test_token_soup_with_a_write_keyword_is_never_accepted_as_a_write(words: list[str], dialect: str | None) -> None:
    """Whatever the parser accepts is a plain read: no DELETE slips through a comment or quote it misreads."""
    import sqlglot

    sql = " ".join(words)
    if read_query_problem(sql, dialect) is None:
        statements = [s for s in sqlglot.parse(sql, read=dialect) if s is not None]
        assert len(statements) == 1
        assert not any(type(node).__name__ in ("Delete", "Into") for node in statements[0].walk())


def test_importing_okr_model_does_not_import_sqlglot() -> None:
    code = "import sys, okrflow.okr_model.sql_check, okr_model.loader; print('sqlglot' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2]
    )
    assert out.stdout.strip() == "False"
