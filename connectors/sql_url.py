"""A SQL source's URL and a query's ``:name`` binds: checked without SQLAlchemy when a config loads (``validate``
is a pre-commit hook, and importing SQLAlchemy costs it ~0.15 s), parsed by SQLAlchemy when an engine is made.

Errors never echo the URL: it may hold a password.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from okrflow.connectors.sql_session import sqlite_path
from okrflow.okr_model.secrets import database_url, split_url

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = ["bind_names", "parse_url", "url_backend"]

_DRIVERS = {
    "sqlite": "sqlite",
    "postgresql": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}
_URL_HELP = "expected sqlite:///PATH, postgresql+psycopg://USER:PASSWORD@HOST:PORT/DB or mysql+pymysql://USER@HOST/DB"
_SQLITE_FILE = "a sqlite URL needs a database file: sqlite:///relative.db or sqlite:////absolute/path.db"

_BIND = re.compile(r"(?<![:\w\x5c]):(\w+)(?![:\w])", re.UNICODE)
"""A ``:name`` bind as SQLAlchemy's ``text()`` finds one (``TextClause``'s pattern in SQLAlchemy 2.0): not ``::cast``,
not ``\\:escaped``, not ``a:b:c``. Matching here spares a validate importing SQLAlchemy (~0.15 s CPU) per SQL metric;
test_sql_binds compares the two."""


def bind_names(sql: str) -> set[str]:
    """The ``:name`` binds of a query, as SQLAlchemy's ``text()`` reads them (``::cast`` is not one)."""
    return set(_BIND.findall(sql))


_URL_SHAPE = re.compile(
    r"""
    (?P<name>[\w+]+)://
    (?:[^:/]*(?::[^@]*)?@)?
    (?:(?:\[[^/?]+\]|[^/:?]+)?(?::(?P<port>[^/?]*))?)?
    (?:/(?P<database>[^?]*))?
    (?:\?.*)?
    """,
    re.X,
)
"""The URL pattern SQLAlchemy's ``make_url`` matches (2.0): ``dialect[+driver]://[user[:pw]@][host][:port][/db][?q]``."""


def url_backend(raw: str) -> str:
    """The database of a URL whose shape ``make_url`` accepts, checked without importing SQLAlchemy (validate does
    this per SQL source and query); ``parse_url`` builds the SQLAlchemy ``URL`` when an engine is made. Errors are
    ``parse_url``'s and never echo the URL."""
    parts = split_url(raw)  # the user info ends at the last '@': a password may hold any character
    match = _URL_SHAPE.match(raw if parts.username is None else f"{parts.prefix}{parts.rest}")
    if match is None or not _port_ok(match["port"]):
        raise ValueError(f"not a database URL; {_URL_HELP}")
    backend = match["name"].split("+")[0]
    _check_backend(backend)
    if backend == "sqlite" and (match["database"] or "").removeprefix("file:") in ("", ":memory:"):
        raise ValueError(_SQLITE_FILE)
    return backend


def _port_ok(port: str | None) -> bool:
    """``make_url`` reads a port with ``int()``; an empty one (``host:/db``) is refused as not an integer."""
    if port is None:
        return True
    try:
        int(port)
    except ValueError:
        return False
    return True


def _check_backend(backend: str) -> None:
    if backend not in _DRIVERS:
        raise ValueError(
            f"unsupported database {backend!r} (supported: sqlite, postgresql, mysql, mariadb); {_URL_HELP}"
        )


def parse_url(raw: str) -> URL:
    """A supported SQLAlchemy URL with a default driver; errors never echo the URL (it may hold a password)."""
    from sqlalchemy.exc import ArgumentError

    try:
        url = database_url(raw)  # the user info ends at the last '@': a password may hold any character
    except (ArgumentError, ValueError, TypeError):
        raise ValueError(f"not a database URL; {_URL_HELP}") from None
    backend = url.get_backend_name()
    _check_backend(backend)
    if "+" not in url.drivername:
        url = url.set(drivername=_DRIVERS[backend])
    if backend == "sqlite" and not sqlite_path(url):
        raise ValueError(_SQLITE_FILE)
    return url
