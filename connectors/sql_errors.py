"""How a SQL warehouse error reads: its kind (timeout, read-only refusal, login...) and the driver's own words.

SQLAlchemy is imported inside functions, as in ``okrflow.connectors.sql``.
"""

from __future__ import annotations

import re

from okrflow.okr_model.errors import SourceError

__all__ = ["QueryShapeError", "SqlReadError", "classify", "db_message", "unwrap_pandas"]

_PG_CONNECTION_STATES = ("08", "57P01", "57P02", "57P03", "53300")
_PG_LOGIN_REFUSED = re.compile(r"does not exist|authentication failed|pg_hba\.conf|permission denied")
_MYSQL_TIMEOUT, _MYSQL_READ_ONLY = {1969, 3024}, {1792, 1290}
_MYSQL_PERMISSION, _MYSQL_CONNECTION = {1044, 1142, 1143, 1227}, {1040, 1053, 2002, 2003, 2006, 2013}


class QueryShapeError(SourceError):
    """The statement ran but cannot be a metric (it returned no result set)."""


class SqlReadError(SourceError):
    """``SqlConnector.read_frame`` could not read: the message says why, without secrets."""


def unwrap_pandas(exc: BaseException) -> BaseException:
    """The database error behind pandas' ``DatabaseError`` wrapper (whose text repeats the whole query)."""
    while type(exc).__module__.startswith("pandas") and exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def classify(exc: BaseException) -> str:
    """timeout | read_only | one_statement | permission | connection | login | shape | pool | driver | query | other."""
    from sqlalchemy import exc as sa_exc

    if isinstance(exc, QueryShapeError):
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


def db_message(exc: BaseException) -> str:
    """The driver's own words, first line only (no SQL echo, no parameters), capped."""
    from sqlalchemy import exc as sa_exc

    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    args = getattr(orig, "args", ())
    message = str(args[1]) if type(orig).__module__.startswith("pymysql") and len(args) >= 2 else str(orig)
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    first = lines[0] if lines else type(orig).__name__
    return first[:300]
