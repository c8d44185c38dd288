"""MLflow plumbing shared by the connector's modules: the client, its errors, and per-run answers.

- ``create_client``: one ``MlflowClient`` per source, with HTTP timeouts and retries set for the process
  (MLflow reads them from environment variables) and a bearer token scoped to this connector's calls;
- ``Once``: each distinct lookup asked once per evaluation run, shared by the run's fetch threads;
- ``network_failure``/``error_code``: what kind of failure an MLflow exception is;
- ``NoData``/``Failed``: a missing piece (``no_data``) or an error whose message is the whole detail.

Importing this module does not import MLflow (``import_mlflow`` does, when a connector opens).
"""

from __future__ import annotations

import contextvars
import math
import os
import threading
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote

from okrflow.okr_model.errors import SourceError
from okrflow.okr_model.secrets import database_url, split_url

if TYPE_CHECKING:
    from okrflow.connectors.mlflow import MlflowSource

__all__ = [
    "NOT_FOUND",
    "Failed",
    "NoData",
    "Once",
    "create_client",
    "error_code",
    "import_mlflow",
    "is_transient",
    "ms",
    "network_failure",
    "quoted",
    "scoped_token",
    "time_of",
]

T = TypeVar("T")
NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}
_TRANSIENT_CODES = {"TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "DEADLINE_EXCEEDED"}
_DB_SCHEMES = {"postgresql", "mysql", "mariadb", "mssql"}
"""Tracking/registry URI schemes that MLflow hands to SQLAlchemy (``quoted`` fixes their password quoting)."""


class NoData(SourceError):
    """Something the binding names is not there: a ``no_data`` measurement with ``detail``."""

    def __init__(self, detail: str):
        self.detail = detail


class Failed(SourceError):
    """A failure whose message is already the whole detail (bad filter, missing store file)."""


class Once:
    """Per-key answers shared by one connector's fetch threads: each key is computed once per run.

    The first caller of a key computes it while later callers wait for its outcome. A value (unless
    ``keep`` declines it), or a ``NoData`` answer (something is not there), is kept until ``clear``;
    any other failure is handed to the callers waiting at the time and then dropped, so it is never
    the answer for later KRs: they ask the source again, with their own retries.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Hashable, Entry] = {}

    def get(self, key: Hashable, compute: Callable[[], T], keep: Callable[[T], bool] | None = None) -> T:
        with self._lock:
            entry = self._entries.get(key)
            leader = entry is None
            if entry is None:
                entry = self._entries[key] = Entry()
        if not leader:
            entry.done.wait()
            if entry.failure is not None:
                raise entry.failure.with_traceback(None)  # a replay must not grow the shared traceback
            return entry.value
        try:
            entry.value = value = compute()
            if keep is not None and not keep(value):
                self._forget(key, entry)
            return value
        except BaseException as exc:
            entry.failure = exc
            if not isinstance(exc, NoData):
                self._forget(key, entry)
            raise
        finally:
            entry.done.set()

    def _forget(self, key: Hashable, entry: Entry) -> None:
        with self._lock:
            if self._entries.get(key) is entry:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Entry:
    """One key's outcome; ``done`` is set once ``value`` or ``failure`` is."""

    __slots__ = ("done", "failure", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.failure: BaseException | None = None
        self.value: Any = None


_token: contextvars.ContextVar[str | None] = contextvars.ContextVar("okrflow_mlflow_token", default=None)
_setup_lock = threading.Lock()
_provider_registered = False


def quoted(uri: str | None) -> str | None:
    """A database URI with its password percent-encoded: MLflow's own parse would end it at its first '@'."""
    if not uri or split_url(uri).password is None or uri.partition("://")[0].split("+")[0] not in _DB_SCHEMES:
        return uri
    return database_url(uri).render_as_string(hide_password=False)


def import_mlflow() -> None:
    """Import MLflow and the modules this connector uses, on the calling thread and under no lock.

    Called when a connector opens, before the run's fetch threads start: two threads importing MLflow at once
    (one the ``mlflow`` package, the other a submodule such as the request-header registry) each hold an import
    lock the other needs, which Python reports as ``_DeadlockError`` or a partially initialised module.
    """
    import mlflow
    import mlflow.tracking.request_header.abstract_request_header_provider
    import mlflow.tracking.request_header.registry  # noqa: F401


def _register_token_provider() -> None:
    """Install (once per process) a header provider that adds this call's bearer token, if any (MLflow is
    already imported: ``import_mlflow``; this runs under ``_setup_lock``)."""
    global _provider_registered
    from mlflow.tracking.request_header.abstract_request_header_provider import RequestHeaderProvider
    from mlflow.tracking.request_header.registry import _request_header_provider_registry

    class _ScopedToken(RequestHeaderProvider):
        def in_context(self) -> bool:
            return _token.get() is not None

        def request_headers(self) -> dict[str, str]:
            return {"Authorization": f"Bearer {_token.get()}"}

    if not _provider_registered:
        _request_header_provider_registry.register(_ScopedToken)
        _provider_registered = True


def network_failure(exc: BaseException) -> str | None:
    """``timeout``, ``unreachable`` (refused, DNS, exhausted 429/5xx retries), or None for anything else."""
    import requests
    import urllib3

    chain: list[BaseException] = []
    node: BaseException | None = exc
    while node is not None and len(chain) < 20:  # MLflow wraps requests' errors, which wrap urllib3's
        chain.append(node)
        for inner in (getattr(node, "reason", None), *getattr(node, "args", ())):
            if isinstance(inner, BaseException) and inner not in chain:
                chain.append(inner)
        node = node.__cause__ or node.__context__
    timeouts = (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError)
    refused = urllib3.exceptions.NewConnectionError  # a ConnectTimeoutError subclass in urllib3, yet no timeout
    if any(isinstance(e, timeouts) and not isinstance(e, refused) for e in chain):
        return "timeout"
    unreachable = (
        requests.ConnectionError,
        requests.exceptions.RetryError,
        urllib3.exceptions.HTTPError,
        ConnectionError,
    )
    if any(isinstance(e, unreachable) for e in chain):
        return "unreachable"
    return "unreachable" if error_code(exc) in _TRANSIENT_CODES else None


def is_transient(exc: BaseException) -> bool:
    return network_failure(exc) is not None


def error_code(exc: BaseException) -> str | None:
    """MLflow's error code (``RESOURCE_DOES_NOT_EXIST``, ...) of an ``MlflowException``/``RestException``."""
    return getattr(exc, "error_code", None)


def sqlite_path(uri: str) -> str | None:
    """The file of a ``sqlite:///`` URI (None for other schemes and in-memory databases)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = unquote(uri[len("sqlite:///") :].split("?", 1)[0])
    return None if path in ("", ":memory:") else path


def ms(at: datetime) -> int:
    """MLflow's timestamps: milliseconds since the epoch."""
    return int(at.timestamp() * 1000)


def time_of(stamp: int) -> datetime:
    return datetime.fromtimestamp(stamp / 1000, UTC)


def create_client(config: MlflowSource) -> Any:
    """An ``MlflowClient`` for a source (MLflow already imported: ``import_mlflow``).

    A missing SQLite store is an error, not created: MLflow would create an empty store on a typo'd path.
    """
    uris = [config.tracking_uri, config.registry_uri or config.tracking_uri]
    for uri in uris:
        path = sqlite_path(uri)
        if path is not None and not os.path.exists(path):
            raise Failed(f"MLflow SQLite store {path} does not exist (check tracking_uri/registry_uri)")
    with _setup_lock:
        if any(uri.startswith(("http://", "https://")) for uri in uris):
            os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(max(1, math.ceil(config.timeout_s)))
            os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
            os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "0"
        if config.token is not None:
            _register_token_provider()
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=quoted(config.tracking_uri), registry_uri=quoted(config.registry_uri))


@contextmanager
def scoped_token(token: str | None) -> Iterator[None]:
    """Send ``token`` as ``Authorization: Bearer`` on the MLflow requests made inside the block (this thread)."""
    reset = _token.set(token)
    try:
        yield
    finally:
        _token.reset(reset)
