"""Is a metric query exactly one read statement? Decided by a real SQL parser (sqlglot), per dialect.

This is the belt of okrflow's read-only promise: ``okrflow validate`` and every fetch refuse a query that
is not one ``SELECT``, ``WITH ... SELECT``, set operation of selects or ``VALUES`` before it reaches the
database. The braces are on the server (a read-only transaction per query, see ``okrflow.connectors.sql``); the
parser is what stops what read-only transactions allow: PostgreSQL's ``COPY ... TO``, MariaDB's
``SELECT ... INTO OUTFILE`` and ``SET GLOBAL``. A query the parser cannot read is refused (fail closed).

sqlglot is imported on first use, so ``okrflow validate`` pays for it only when a config has SQL.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from typing import Any

__all__ = ["READ_QUERY_RULE", "read_query_problem", "sql_dialect"]

READ_QUERY_RULE = "a metric query is one SELECT, WITH ... SELECT, UNION of SELECTs or VALUES"

_DIALECTS = {"sqlite": "sqlite", "postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}

_REFUSED_FUNCTIONS = frozenset(
    {
        # PostgreSQL: server files, other sessions, settings, SQL run from a string
        "lo_export",
        "lo_import",
        "lo_unlink",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_ls_dir",
        "pg_stat_file",
        "pg_file_write",
        "pg_file_rename",
        "pg_file_unlink",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_promote",
        "pg_switch_wal",
        "set_config",
        "setval",
        "nextval",
        "query_to_xml",
        "query_to_xmlschema",
        "query_to_xml_and_xmlschema",
        "dblink",
        "dblink_exec",
        "dblink_connect",
        "dblink_send_query",
        "pg_advisory_lock",  # session-level locks outlive the query on a pooled connection
        "pg_advisory_lock_shared",
        "pg_try_advisory_lock",
        "pg_try_advisory_lock_shared",
        # MariaDB/MySQL: server files, per-statement settings (optimizer hint)
        "load_file",
        "set_var",
        "get_lock",
    }
)
"""Functions a SELECT can call that read or write server files, run SQL text, change settings or other sessions,
or take locks that outlive the query. The read-only role is the real guard; this list only names the obvious."""


def sql_dialect(backend: str | None) -> str | None:
    """sqlglot's dialect for a SQLAlchemy backend name (``postgresql``, ``mariadb``...); None: generic SQL."""
    return _DIALECTS.get((backend or "").lower())


def read_query_problem(sql: str, dialect: str | None = None) -> str | None:
    """None when ``sql`` is exactly one read statement in ``dialect``; else why it is refused."""
    return _problem(sql, dialect)


@lru_cache(maxsize=4096)
def _problem(sql: str, dialect: str | None) -> str | None:
    from sqlglot.dialects.dialect import Dialect
    from sqlglot.errors import ParseError, TokenError

    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # its "falling back to a Command" notes are ours to word
    reader = Dialect.get_or_raise(dialect)
    name = dialect or "generic"
    try:
        tokens = reader.tokenize(sql)
        statements = [s for s in reader.parser().parse(tokens, sql) if s is not None]
    except (ParseError, TokenError) as exc:
        return f"the query cannot be parsed as {name} SQL ({_first_line(exc)}); {READ_QUERY_RULE}"
    except RecursionError:
        return f"the query is nested too deeply to be checked; {READ_QUERY_RULE}"
    except Exception as exc:  # whatever else the parser trips on: refused, never a crash (fail closed)
        return f"the query cannot be parsed as {name} SQL ({type(exc).__name__}); {READ_QUERY_RULE}"
    if any(comment.lstrip().startswith(("!", "M!")) for token in tokens for comment in token.comments or ()):
        return "executable comments (/*! ... */) run as SQL on MariaDB/MySQL and are not allowed in a metric query"
    if not statements:
        return f"the query holds no statement; {READ_QUERY_RULE}"
    if len(statements) > 1:
        return f"the query holds {len(statements)} statements; {READ_QUERY_RULE} (no ';'-separated batches)"
    return _statement_problem(statements[0])


def _statement_problem(statement: Any) -> str | None:
    from sqlglot import exp

    top = statement.unnest() if isinstance(statement, exp.Subquery) else statement
    refused = (
        exp.DML,
        exp.DDL,
        exp.Drop,
        exp.Alter,
        exp.TruncateTable,
        exp.Copy,
        exp.Command,
        exp.Set,
        exp.Pragma,
        exp.Transaction,
        exp.Commit,
        exp.Rollback,
        exp.Attach,
        exp.Detach,
        exp.Analyze,
        exp.LoadData,
        exp.Use,
        exp.Kill,
        exp.Grant,
        exp.Revoke,
        exp.Comment,
        exp.Execute,
        exp.Declare,
    )
    if not isinstance(top, (exp.Select, exp.SetOperation, exp.Values)):
        if isinstance(top, refused):
            return f"{_kind(top)} cannot be a metric query; {READ_QUERY_RULE}"
        return f"the query is not a SELECT (it reads as {top.key.upper()}); {READ_QUERY_RULE}"
    for node in top.walk():
        if isinstance(node, exp.Into):
            return "SELECT ... INTO writes its result (to a table, a file or variables); a metric query only reads"
        if isinstance(node, exp.Lock):
            return "a locking clause (FOR UPDATE, FOR SHARE, LOCK IN SHARE MODE) is not allowed in a metric query"
        if isinstance(node, refused):
            return f"the query contains {_kind(node)}; a metric query only reads"
        if isinstance(node, exp.Func):
            function = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if function in _REFUSED_FUNCTIONS:
                return (
                    f"function {function}() is not allowed in a metric query "
                    "(it reads or writes server files, runs SQL text or changes the server)"
                )
    return None


def _kind(node: Any) -> str:
    """``a DELETE statement``, ``a COPY statement``, ``a CALL statement`` (sqlglot's Command keeps the word)."""
    from sqlglot import exp

    if isinstance(node, (exp.Transaction, exp.Commit, exp.Rollback)):
        return "transaction control (BEGIN, COMMIT, ROLLBACK)"
    if isinstance(node, exp.Command):
        word = (str(node.this).split() or ["unknown"])[0].upper()
    else:
        word = {"truncatetable": "TRUNCATE", "loaddata": "LOAD DATA"}.get(node.key, node.key.upper())
    return f"{'an' if word[0] in 'AEIOU' else 'a'} {word} statement"


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:200]
