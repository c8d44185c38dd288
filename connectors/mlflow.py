"""MLflow connector: a key result reads a metric of a registered model's aliased version, or of an experiment's run.

Two metric forms (exactly one per binding):

- ``{model, alias, name}``: metric ``name`` of the run behind the version of registered model ``model``
  that holds ``alias`` (MLflow 3 aliases, not the deprecated stages);
- ``{experiment, name, run: latest|best, filter}``: the latest run (by start time) or the best run
  (max, or min for ``decrease``/``maintain_below`` KRs) matching an MLflow filter string.

Metadata only: the connector calls ``get_model_version_by_alias``, ``get_registered_model``,
``search_model_versions``, ``get_experiment_by_name``, ``search_runs`` and ``get_metric_history``; it never loads a model or downloads an artifact.

Per run: a connector lives for one evaluation run (or one backfill), so each distinct lookup (an
experiment by name, a run search, a model alias, the registered versions of a run, a metric history) is
asked once and its answer reused by every KR of the run (``_Once``). Failures other than a "not
there" answer are not kept: KRs waiting on the same lookup share its retried outcome, later KRs ask again.

As of a time: the value is the last metric-history entry logged at or before ``at - offset`` and runs
started after that time are not considered, so a backfill reads what was there then. Aliases have no
history in MLflow: a past evaluation of the model form reads the run the alias points to *now*.

HTTP tracking servers: MLflow's REST client reads its timeout and retries from process-global
environment variables (default: 120 s timeout, 7 retries with backoff, minutes for a down server).
Creating the client of an ``http(s)`` source therefore sets ``MLFLOW_HTTP_REQUEST_TIMEOUT`` to the
source's ``timeout_s`` (whole seconds, rounded up) and ``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` to 0 for the
whole process (and the backoff factor to 0); the source's ``retries`` are done here with ``retry_call``. With several MLflow
servers of different ``timeout_s`` the last client created sets the value. The optional ``token`` is
sent as ``Authorization: Bearer`` (what ``MLFLOW_TRACKING_TOKEN`` does) only on this connector's
requests, through a request-header provider scoped by a context variable. A local SQLite store is
read in-process, where ``timeout_s`` does not apply.
"""

from __future__ import annotations

import bisect
import contextvars
import math
import os
import re
import threading
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import unquote

from pydantic import ConfigDict, Field, SecretStr, model_validator

from connectors.base import Connector, ConnectorContext, Measurement, apply_max_age, query_hash
from connectors.retry import retry_call
from okr_model.config import KeyResult, MetricBinding, SourceConfig
from okr_model.errors import OkrflowError
from okr_model.paths import anchor_sqlite_url
from okr_model.secrets import Redactor, database_url, hide_password, split_url

__all__ = ["MlflowConnector", "MlflowFetchError", "MlflowMetric", "MlflowSource"]

T = TypeVar("T")
BEST_CANDIDATES = 100
"""How many runs (ranked by MLflow on the metric) the ``best`` form compares as of the evaluation time."""
KEPT_HISTORY_POINTS = 100_000
"""Metric-history entries a connector keeps for its run (~1 KB each); longer histories are read per KR."""
_NOT_FOUND = {"RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"}
_TRANSIENT_CODES = {"TEMPORARILY_UNAVAILABLE", "REQUEST_LIMIT_EXCEEDED", "DEADLINE_EXCEEDED"}
_DB_SCHEMES = {"postgresql", "mysql", "mariadb", "mssql"}
"""Tracking/registry URI schemes that MLflow hands to SQLAlchemy (``_quoted`` fixes their password quoting)."""


class MlflowSource(SourceConfig):
    """An MLflow tracking server or store; ``production_aliases`` decide ``requires_production``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["mlflow"]
    tracking_uri: str = Field(min_length=1, description="e.g. sqlite:///mlflow.db or http://127.0.0.1:5000")
    registry_uri: str | None = Field(None, description="model registry URI; defaults to the tracking URI")
    production_aliases: list[str] = Field(
        default_factory=lambda: ["champion", "production"],
        description="a model version holding one of these aliases is in production",
    )
    token: SecretStr | None = Field(None, description="bearer token for the tracking server (never logged)")


class MlflowMetric(MetricBinding):
    """``{model, alias, name}`` or ``{experiment, name, run, filter}``; ``goal`` comes from the KR kind."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(min_length=1, description="metric key, e.g. f1")
    model: str | None = Field(None, min_length=1, description="registered model name")
    alias: str | None = Field(None, min_length=1, description="alias of the version to read, e.g. champion")
    experiment: str | None = Field(None, min_length=1, description="experiment name")
    run: Literal["latest", "best"] = Field("latest", description="latest run by start time, or best by the metric")
    filter: str | None = Field(None, description="MLflow search filter, e.g. \"params.algo = 'bert'\"")
    goal: Literal["max", "min"] | None = Field(None, description="best = max or min; default from the KR kind")

    @model_validator(mode="after")
    def _one_form(self) -> MlflowMetric:
        if self.model is not None and self.experiment is not None:
            raise ValueError(
                "an mlflow metric reads either a registered model (model, alias) or an experiment "
                "(experiment, run, filter), not both"
            )
        if self.model is None and self.experiment is None:
            raise ValueError(
                "an mlflow metric needs model + alias (a registered model version) or experiment (its latest or best run)"
            )
        if self.model is not None:
            if self.alias is None:
                raise ValueError(
                    f"model {self.model!r} needs alias (e.g. alias: champion); MLflow 3 selects versions by alias"
                )
            extra = sorted({"run", "filter", "goal"} & self.model_fields_set)
            if extra:
                raise ValueError(f"{', '.join(extra)} apply to the experiment form only, not to model + alias")
        elif self.alias is not None:
            raise ValueError("alias applies to the model form: add model (the registered model name) or drop alias")
        return self


class MlflowFetchError(OkrflowError):
    """``fetch_history`` could not read: ``status`` is ``no_data`` (something is missing) or ``error``."""

    def __init__(self, status: Literal["no_data", "error"], detail: str):
        self.status = status
        self.detail = detail
        super().__init__(detail)


class _NoData(Exception):
    def __init__(self, detail: str):
        self.detail = detail


class _Failed(Exception):
    """A failure whose message is already the whole detail (bad filter, missing store file)."""


class _Once:
    """Per-key answers shared by one connector's fetch threads: each key is computed once per run.

    The first caller of a key computes it while later callers wait for its outcome. A value (unless
    ``keep`` declines it), or a ``_NoData`` answer (something is not there), is kept until ``clear``;
    any other failure is handed to the callers waiting at the time and then dropped, so it is never
    the answer for later KRs: they ask the source again, with their own retries.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Hashable, _Entry] = {}

    def get(self, key: Hashable, compute: Callable[[], T], keep: Callable[[T], bool] | None = None) -> T:
        with self._lock:
            entry = self._entries.get(key)
            leader = entry is None
            if entry is None:
                entry = self._entries[key] = _Entry()
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
            if not isinstance(exc, _NoData):
                self._forget(key, entry)
            raise
        finally:
            entry.done.set()

    def _forget(self, key: Hashable, entry: _Entry) -> None:
        with self._lock:
            if self._entries.get(key) is entry:
                del self._entries[key]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class _Entry:
    """One key's outcome; ``done`` is set once ``value`` or ``failure`` is."""

    __slots__ = ("done", "failure", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.failure: BaseException | None = None
        self.value: Any = None


_token: contextvars.ContextVar[str | None] = contextvars.ContextVar("okrflow_mlflow_token", default=None)
_setup_lock = threading.Lock()
_provider_registered = False


def _quoted(uri: str | None) -> str | None:
    """A database URI with its password percent-encoded: MLflow's own parse would end it at its first '@'."""
    if not uri or split_url(uri).password is None or uri.partition("://")[0].split("+")[0] not in _DB_SCHEMES:
        return uri
    return database_url(uri).render_as_string(hide_password=False)


def _import_mlflow() -> None:
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
    already imported: ``_import_mlflow``; this runs under ``_setup_lock``)."""
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


def _network_failure(exc: BaseException) -> str | None:
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
    return "unreachable" if _error_code(exc) in _TRANSIENT_CODES else None


def _is_transient(exc: BaseException) -> bool:
    return _network_failure(exc) is not None


def _error_code(exc: BaseException) -> str | None:
    """MLflow's error code (``RESOURCE_DOES_NOT_EXIST``, ...) of an ``MlflowException``/``RestException``."""
    return getattr(exc, "error_code", None)


def _sqlite_path(uri: str) -> str | None:
    """The file of a ``sqlite:///`` URI (None for other schemes and in-memory databases)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = unquote(uri[len("sqlite:///") :].split("?", 1)[0])
    return None if path in ("", ":memory:") else path


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _time(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class MlflowConnector(Connector[MlflowSource, MlflowMetric]):
    """Reads MLflow metric histories as of the run's slot time; one ``MlflowClient`` per instance."""

    type_name = "mlflow"
    config_model = MlflowSource
    metric_model = MlflowMetric
    knows_production = True  # a version holding one of production_aliases (model form, or the run's version)

    @classmethod
    def anchor(cls, config: MlflowSource, base: Path) -> MlflowSource:
        """A relative ``sqlite:///`` tracking or registry store is relative to the config file's folder."""
        uris = {"tracking_uri": config.tracking_uri, "registry_uri": config.registry_uri}
        anchored = {key: anchor_sqlite_url(uri, base) for key, uri in uris.items() if uri is not None}
        return config.model_copy(update=anchored)

    def __init__(self, name: str, config: MlflowSource, context: ConnectorContext, client: Any = None):
        super().__init__(name, config, context)
        if client is None:
            _import_mlflow()  # at open, on the run's thread: fetch threads never import MLflow
        self._client = client
        self._lock = threading.Lock()
        self._once = _Once()
        self._kept_points = 0

    @classmethod
    def bind(cls, raw: dict[str, Any], kr: KeyResult) -> MlflowMetric:
        """The experiment form's ``best`` is the minimum for KRs where lower is better, unless ``goal`` says."""
        if raw.get("experiment") is not None and raw.get("goal") is None and "model" not in raw:
            raw = {**raw, "goal": "min" if kr.direction == "down" else "max"}
        return MlflowMetric.model_validate(raw)

    # -- public interface -------------------------------------------------------------------------

    def fetch(self, metric: MlflowMetric, at: datetime) -> Measurement:
        as_of = at - (metric.offset or timedelta(0))
        base = {"source": self.name, "query_hash": query_hash(metric)}
        try:
            run_id, found = self._resolve(metric, as_of)
            history = self._history(run_id, metric.name)
            lineage = {**base, **found}
            cutoff = _ms(as_of)
            before = [m for m in history if m.timestamp <= cutoff]
            if not before:
                return Measurement.no_data(self._missing_metric(run_id, metric.name, history, as_of), **lineage)
            last = max(before, key=lambda m: (m.timestamp, m.step))
            observed_at = _time(last.timestamp)
            lineage["step"] = int(last.step)
            if not math.isfinite(last.value):
                return Measurement.no_data(
                    f"run {run_id} logged {metric.name!r} = {last.value} at {observed_at.isoformat()}", **lineage
                )
            return apply_max_age(Measurement.ok(last.value, observed_at, **lineage), metric.max_age, as_of)
        except _NoData as exc:
            return Measurement.no_data(exc.detail, **base)
        except Exception as exc:
            return Measurement.error(self._describe(exc), **base)

    def fetch_history(self, metric: MlflowMetric, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
        """The metric's logged values in [start, end], oldest first, from the run it resolves to as of ``end``.

        One metric-history read; raises ``MlflowFetchError`` (``no_data`` or ``error``) instead of
        returning a partial or made-up series.
        """
        try:
            run_id, _ = self._resolve(metric, end)
            history = self._history(run_id, metric.name)
        except _NoData as exc:
            raise MlflowFetchError("no_data", exc.detail) from None
        except Exception as exc:
            raise MlflowFetchError("error", self._describe(exc)) from None
        low, high = _ms(start), _ms(end)
        points = sorted((m.timestamp, m.step, m.value) for m in history if low <= m.timestamp <= high)
        return [(_time(ts), float(value)) for ts, _, value in points if math.isfinite(value)]

    def fetch_series(self, metric: MlflowMetric, slots: Sequence[datetime]) -> dict[datetime, Measurement]:
        """Measurements as of each slot from one run resolution and ONE metric-history read (backfill).

        The run is resolved once, as of the last slot (minus ``offset``): the model form reads the run
        behind the alias now (MLflow keeps no alias history), the experiment form the latest or best
        run as of the last slot, for every slot. Each slot then takes the last entry logged at or
        before ``slot - offset``, as ``fetch`` does (same NaN and ``max_age`` rules and lineage).
        Unlike ``fetch_history`` this keeps the run's lineage (``in_production`` for the gate).
        """
        if not slots:
            return {}
        shift = metric.offset or timedelta(0)
        last_as_of = max(slots) - shift
        base = {"source": self.name, "query_hash": query_hash(metric)}
        try:
            run_id, found = self._resolve(metric, last_as_of)
            history = sorted(self._history(run_id, metric.name), key=lambda m: (m.timestamp, m.step))
        except _NoData as exc:
            return {slot: Measurement.no_data(exc.detail, **base) for slot in slots}
        except Exception as exc:
            return {slot: Measurement.error(self._describe(exc), **base) for slot in slots}
        lineage = {**base, **found}
        chosen = ""
        if metric.experiment is not None:
            chosen = f" (the {metric.run} run as of {last_as_of.isoformat()}; backfill reads one run for all slots)"
        stamps = [m.timestamp for m in history]
        out: dict[datetime, Measurement] = {}
        for slot in slots:
            as_of = slot - shift
            i = bisect.bisect_right(stamps, _ms(as_of))
            if i == 0:
                out[slot] = Measurement.no_data(
                    f"no value of metric {metric.name!r} before {as_of.isoformat()} in run {run_id}{chosen}", **lineage
                )
                continue
            entry = history[i - 1]
            observed_at = _time(entry.timestamp)
            found_lineage = {**lineage, "step": int(entry.step)}
            if not math.isfinite(entry.value):
                out[slot] = Measurement.no_data(
                    f"run {run_id} logged {metric.name!r} = {entry.value} at {observed_at.isoformat()}",
                    **found_lineage,
                )
            else:
                out[slot] = apply_max_age(Measurement.ok(entry.value, observed_at, **found_lineage), metric.max_age, as_of)
        return out

    def close(self) -> None:
        with self._lock:
            self._client = None
            self._kept_points = 0
        self._once.clear()

    # -- client and calls -------------------------------------------------------------------------

    def client(self) -> Any:
        """The lazily created ``MlflowClient`` (shared by this connector's threads)."""
        _import_mlflow()  # a no-op after open; never under a lock
        with self._lock:
            if self._client is None:
                self._client = self._create_client()
            return self._client

    def _create_client(self) -> Any:
        uris = [self.config.tracking_uri, self.config.registry_uri or self.config.tracking_uri]
        for uri in uris:
            path = _sqlite_path(uri)
            if path is not None and not os.path.exists(path):
                # MLflow would create an empty store on a typo'd path; a reader must not.
                raise _Failed(f"MLflow SQLite store {path} does not exist (check tracking_uri/registry_uri)")
        with _setup_lock:
            if any(uri.startswith(("http://", "https://")) for uri in uris):
                os.environ["MLFLOW_HTTP_REQUEST_TIMEOUT"] = str(max(1, math.ceil(self.config.timeout_s)))
                os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
                os.environ["MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"] = "0"
            if self.config.token is not None:
                _register_token_provider()
        from mlflow import MlflowClient

        return MlflowClient(
            tracking_uri=_quoted(self.config.tracking_uri), registry_uri=_quoted(self.config.registry_uri)
        )

    @contextmanager
    def _scope(self) -> Iterator[None]:
        token = self.config.token.get_secret_value() if self.config.token else None
        reset = _token.set(token)
        try:
            yield
        finally:
            _token.reset(reset)

    def _call(self, fn: Callable[[Any], T], missing: Callable[[], str] | None = None) -> T:
        """Call ``fn(client)`` with bounded retries; a not-found error becomes no_data via ``missing``."""
        client = self.client()
        try:
            with self._scope():
                return retry_call(lambda: fn(client), retries=self.config.retries, is_transient=_is_transient)
        except Exception as exc:
            if missing is not None and _error_code(exc) in _NOT_FOUND:
                raise _NoData(missing()) from None
            raise

    def _history(self, run_id: str, name: str) -> list[Any]:
        """A run's metric history, read once per run (callers only read the shared list)."""
        return self._once.get(
            ("history", run_id, name), lambda: self._call(lambda c: c.get_metric_history(run_id, name)), self._room_for
        )

    def _room_for(self, history: list[Any]) -> bool:
        """Whether a history fits in this run's ``KEPT_HISTORY_POINTS`` (a run logging every step can be long)."""
        with self._lock:
            if self._kept_points + len(history) > KEPT_HISTORY_POINTS:
                return False
            self._kept_points += len(history)
            return True

    def _registered_model(self, model: str) -> Any:
        return self._once.get(("model", model), lambda: self._call(lambda c: c.get_registered_model(model)))

    # -- resolving a binding to a run -------------------------------------------------------------

    def _resolve(self, metric: MlflowMetric, as_of: datetime) -> tuple[str, dict[str, Any]]:
        """The run a binding reads as of a time, and what lineage says about it."""
        if metric.model is not None and metric.alias is not None:
            return self._resolve_alias(metric.model, metric.alias)
        assert metric.experiment is not None  # the binding's validator guarantees one form
        return self._resolve_experiment(metric, metric.experiment, as_of)

    def _resolve_alias(self, model: str, alias: str) -> tuple[str, dict[str, Any]]:
        run_id, lineage = self._once.get(("alias", model, alias), lambda: self._read_alias(model, alias))
        return run_id, {**lineage, "aliases": list(lineage["aliases"])}

    def _read_alias(self, model: str, alias: str) -> tuple[str, dict[str, Any]]:
        version = self._call(
            lambda c: c.get_model_version_by_alias(model, alias), missing=lambda: self._missing_alias(model, alias)
        )
        aliases = sorted(version.aliases or [])
        run_id = version.run_id
        if not run_id:
            raise _NoData(f"model {model!r} version {version.version} (alias {alias!r}) was not logged from a run")
        lineage = {
            "run_id": run_id,
            "model": model,
            "alias": alias,
            "model_version": str(version.version),
            "aliases": aliases,
            "in_production": any(a in self.config.production_aliases for a in aliases),
        }
        return run_id, lineage

    def _missing_alias(self, model: str, alias: str) -> str:
        try:
            registered = self._registered_model(model)
        except Exception as exc:
            if _error_code(exc) in _NOT_FOUND:
                return f"registered model {model!r} not found"
            raise
        held = ", ".join(sorted(registered.aliases or {})) or "none"
        return f"model {model!r} has no version with alias {alias!r} (its aliases: {held})"

    def _resolve_experiment(self, metric: MlflowMetric, name: str, as_of: datetime) -> tuple[str, dict[str, Any]]:
        experiment = self._once.get(("experiment", name), lambda: self._call(lambda c: c.get_experiment_by_name(name)))
        if experiment is None:
            raise _NoData(f"experiment {name!r} not found")
        if experiment.lifecycle_stage == "deleted":
            raise _NoData(f"experiment {name!r} is deleted")
        clauses = [metric.filter] if metric.filter else []
        clauses.append(f"attributes.start_time <= {_ms(as_of)}")
        where = " and ".join(clauses)
        desc = "DESC" if (metric.goal or "max") == "max" else "ASC"
        order = ["attributes.start_time DESC"] if metric.run == "latest" else [f"metrics.`{metric.name}` {desc}"]
        limit = 1 if metric.run == "latest" else BEST_CANDIDATES
        try:
            runs = self._once.get(
                ("runs", experiment.experiment_id, where, order[0], limit),
                lambda: self._call(
                    lambda c: list(
                        c.search_runs(
                            [experiment.experiment_id], filter_string=where, order_by=order, max_results=limit
                        )
                    )
                ),
            )
        except Exception as exc:
            if metric.filter and _error_code(exc) == "INVALID_PARAMETER_VALUE":
                raise _Failed(f"invalid filter {metric.filter!r} for experiment {name!r}: {exc}") from None
            raise
        if not runs:
            matches = f" matches filter {metric.filter!r}" if metric.filter else ""
            raise _NoData(f"no run in experiment {name!r}{matches} (runs started by {as_of.isoformat()})")
        if metric.run == "latest":
            run = runs[0]
        else:
            run = self._best(runs, metric, as_of)
            if run is None:
                matching = f" matching filter {metric.filter!r}" if metric.filter else ""
                raise _NoData(
                    f"no run in experiment {name!r}{matching} has metric {metric.name!r} as of {as_of.isoformat()}"
                )
        registered = self._once.get(("registered", run.info.run_id), lambda: self._registered(run.info.run_id))
        lineage = {"experiment": name, "run_id": run.info.run_id, **registered, "aliases": list(registered["aliases"])}
        return run.info.run_id, lineage

    def _best(self, runs: list[Any], metric: MlflowMetric, as_of: datetime) -> Any | None:
        """The best run by its value as of ``as_of``; runs that ended by then are ranked by their final value."""
        cutoff = _ms(as_of)
        scored = []
        for run in runs:
            if metric.name not in run.data.metrics:
                continue
            if run.info.end_time is not None and run.info.end_time <= cutoff:
                value = run.data.metrics[metric.name]
            else:
                before = [m for m in self._history(run.info.run_id, metric.name) if m.timestamp <= cutoff]
                if not before:
                    continue
                value = max(before, key=lambda m: (m.timestamp, m.step)).value
            if math.isfinite(value):
                scored.append((value, run))
        if not scored:
            return None
        pick = max if (metric.goal or "max") == "max" else min
        return pick(scored, key=lambda pair: pair[0])[1]

    def _registered(self, run_id: str) -> dict[str, Any]:
        """Lineage of the registered version logged from a run: a production one first, then the newest."""
        aliases_of: dict[str, dict[str, Any]] = {}
        best: tuple[bool, int, str | None, list[str]] = (False, -1, None, [])
        for v in self._call(lambda c: list(c.search_model_versions(f"run_id = '{run_id}'"))):
            if v.name not in aliases_of:  # search results do not carry aliases on every store
                aliases_of[v.name] = self._registered_model(v.name).aliases or {}
            aliases = sorted(a for a, n in aliases_of[v.name].items() if str(n) == str(v.version))
            best = max(
                best, (any(a in self.config.production_aliases for a in aliases), int(v.version), v.name, aliases)
            )
        live, version, model, aliases = best
        return {
            "model": model,
            "model_version": str(version) if model else None,
            "aliases": aliases,
            "in_production": live,
        }

    # -- details a user reads ---------------------------------------------------------------------

    @staticmethod
    def _missing_metric(run_id: str, name: str, history: list[Any], as_of: datetime) -> str:
        if not history:
            return f"run {run_id} has no metric {name!r}"
        first = _time(min(m.timestamp for m in history))
        return f"run {run_id} has no metric {name!r} as of {as_of.isoformat()} (first logged at {first.isoformat()})"

    def _describe(self, exc: BaseException) -> str:
        where = hide_password(self.config.tracking_uri)
        attempts = f"{self.config.retries + 1} attempt" + ("s" if self.config.retries else "")
        failure = _network_failure(exc)
        if isinstance(exc, _Failed):
            text = str(exc)
        elif failure == "timeout":
            text = f"MLflow at {where} did not answer within {self.config.timeout_s:g}s ({attempts})"
        elif failure == "unreachable":
            errno = re.search(r"\[Errno -?\d+\] [^\"')]+", str(exc))
            text = f"MLflow at {where} is unreachable ({errno.group(0) if errno else exc}; {attempts})"
        else:
            text = f"MLflow at {where} failed: {type(exc).__name__}: {exc}"
        text = self._redact(text)
        return text if len(text) <= 500 else text[:497] + "..."

    def _redact(self, text: str) -> str:
        """Remove the token and any password in the source's URIs from a message (``okr_model.secrets``)."""
        uris = (self.config.tracking_uri, self.config.registry_uri)
        secrets = [split_url(uri).password for uri in uris if uri]
        secrets.append(self.config.token.get_secret_value() if self.config.token else None)
        return Redactor(secrets)(text)
