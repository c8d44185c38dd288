"""Store failures after open, as one line: which store (never its password), what failed, why.

A killed connection, a full disk or a read-only file used to surface as a SQLAlchemy traceback of up
to 142 KB, with the SQL and its parameters. ``guarded`` wraps every public method of a store class:

- ``OperationalError`` whose connection was invalidated (the server dropped it: a restart, a
  failover, ``pg_terminate_backend``) is retried once on a fresh connection. Every store operation is
  one transaction that rolled back with the connection, and writes are idempotent per slot, so the
  retry cannot apply anything twice. (``pool_pre_ping`` already replaces connections that died idle.)
- Any other ``SQLAlchemyError`` (or the second failure) becomes ``StoreError`` raised ``from None``;
  the CLI prints it and exits 1. Except ``IntegrityError``: a violated constraint is a bug in okrflow,
  not a state of the database, and keeps its type and traceback (it holds run data, no credentials).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from okrflow.okr_model.errors import OkrflowError
from okrflow.okr_model.secrets import Redactor

__all__ = ["StoreError", "guarded", "store_error"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class StoreError(OkrflowError):
    """The history store cannot be opened, read or written (the message never contains a password)."""


def store_error(engine: Engine | None, url: str, what: str, exc: BaseException) -> StoreError:
    """``history store <url without password>: <what> failed: <type>: <first line of the driver's reason>``."""
    from okrflow.okr_model.secrets import database_url, hide_password

    try:
        parsed = engine.url if engine is not None else database_url(url)
        shown, password = parsed.render_as_string(hide_password=True), parsed.password
    except Exception:  # an unparseable URL: show what the string-level rule allows
        shown, password = hide_password(url), None
    reason = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(reason).strip().splitlines()
    detail = Redactor([str(password) if password else None])(lines[0] if lines else "")[:300]
    return StoreError(f"history store {shown}: {what} failed: {type(exc).__name__}: {detail}".rstrip(": "))


def _guard(method: Callable[..., T]) -> Callable[..., T]:
    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> T:
        for attempt in (1, 2):
            try:
                return method(self, *args, **kwargs)
            except OperationalError as exc:
                if attempt == 1 and exc.connection_invalidated:
                    log.warning("history store: the connection was dropped during %s; retrying once", method.__name__)
                    continue
                raise store_error(self.engine, "", method.__name__, exc) from None
            except IntegrityError:
                raise
            except SQLAlchemyError as exc:
                raise store_error(self.engine, "", method.__name__, exc) from None
        raise AssertionError("unreachable")

    return call


def guarded(cls: type[T]) -> type[T]:
    """Wrap each public method defined on ``cls`` (instances have ``engine``) with ``_guard``."""
    for name, member in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(member):
            setattr(cls, name, _guard(member))
    return cls
