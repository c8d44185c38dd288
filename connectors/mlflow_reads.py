"""The MLflow reads of one evaluation run, each asked once and shared by the run's KRs.

``MlflowReads`` is the base of ``MlflowConnector``: it resolves a binding to the run it reads (the version
behind an alias or a pinned version, or an experiment's latest or best run as of a time) and reads metric
histories, runs and registered models through one ``MlflowClient``, with bounded retries. Each distinct
lookup is asked once per run (``Once``); a "not there" answer becomes a ``NoData`` whose detail names what
is missing and what is there instead (a run's metric names, a model's aliases or versions).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from okrflow.connectors.mlflow_client import (
    NOT_FOUND,
    Failed,
    NoData,
    Once,
    create_client,
    error_code,
    import_mlflow,
    is_transient,
    ms,
    network_failure,
    scoped_token,
    time_of,
)
from okrflow.connectors.retry import retry_call
from okrflow.okr_model.secrets import Redactor, hide_password, split_url

if TYPE_CHECKING:
    from okrflow.connectors.mlflow import MlflowMetric, MlflowSource

__all__ = ["BEST_CANDIDATES", "KEPT_HISTORY_POINTS", "MlflowReads"]

T = TypeVar("T")
BEST_CANDIDATES = 100
"""How many runs (ranked by MLflow on the metric) the ``best`` form compares as of the evaluation time."""
KEPT_HISTORY_POINTS = 100_000
"""Metric-history entries a connector keeps for its run (~1 KB each); longer histories are read per KR."""
LISTED_NAMES = 20
"""Most names a "not there" detail lists (a run may log hundreds of metrics)."""


def listing(names: list[str]) -> str:
    """Sorted names, at most ``LISTED_NAMES`` of them, saying how many more there are."""
    names = sorted(names)
    more = f", ... ({len(names) - LISTED_NAMES} more)" if len(names) > LISTED_NAMES else ""
    return ", ".join(names[:LISTED_NAMES]) + more if names else "none"


class MlflowReads:
    """The cached reads one connector makes during one run; ``config`` is the source."""

    config: MlflowSource

    def __init__(self, client: Any = None) -> None:
        if client is None:
            import_mlflow()  # at open, on the run's thread: fetch threads never import MLflow
        self._client = client
        self._lock = threading.Lock()
        self._once = Once()
        self._kept_points = 0

    # -- client and calls -------------------------------------------------------------------------

    def client(self) -> Any:
        """The lazily created ``MlflowClient`` (shared by this connector's threads)."""
        import_mlflow()  # a no-op after open; never under a lock
        with self._lock:
            if self._client is None:
                self._client = self._create_client()
            return self._client

    def _create_client(self) -> Any:
        return create_client(self.config)

    def _forget_client(self) -> None:
        with self._lock:
            self._client = None
            self._kept_points = 0
        self._once.clear()

    def _call(self, fn: Callable[[Any], T], missing: Callable[[], str] | None = None) -> T:
        """Call ``fn(client)`` with bounded retries; a not-found error becomes no_data via ``missing``."""
        client = self.client()
        token = self.config.token.get_secret_value() if self.config.token else None
        try:
            with scoped_token(token):
                return retry_call(lambda: fn(client), retries=self.config.retries, is_transient=is_transient)
        except Exception as exc:
            if missing is not None and error_code(exc) in NOT_FOUND:
                raise NoData(missing()) from None
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

    def _run(self, run_id: str) -> Any:
        """A run's info and final metrics (start and end times, the names it logged)."""
        return self._once.get(
            ("run", run_id), lambda: self._call(lambda c: c.get_run(run_id), missing=lambda: f"run {run_id} not found")
        )

    # -- resolving a binding to a run -------------------------------------------------------------

    def _resolve(self, metric: MlflowMetric, as_of: datetime) -> tuple[str, dict[str, Any]]:
        """The run a binding reads as of a time, and what lineage says about it."""
        if metric.model is not None:
            return self._resolve_version(metric.model, metric.alias, metric.version)
        assert metric.experiment is not None  # the binding's validator guarantees one form
        return self._resolve_experiment(metric, metric.experiment, as_of)

    def _resolve_version(self, model: str, alias: str | None, version: int | None) -> tuple[str, dict[str, Any]]:
        key = ("alias", model, alias) if alias is not None else ("version", model, version)
        run_id, lineage = self._once.get(key, lambda: self._read_version(model, alias, version))
        return run_id, {**lineage, "aliases": list(lineage["aliases"])}

    def _version_entity(self, model: str, alias: str | None, version: int | None) -> Any:
        """The registered version behind an alias (now: MLflow keeps no alias history) or a pinned number."""
        key = ("alias-version", model, alias) if alias is not None else ("pinned-version", model, version)
        return self._once.get(key, lambda: self._read_version_entity(model, alias, version))

    def _read_version_entity(self, model: str, alias: str | None, version: int | None) -> Any:
        if alias is not None:
            return self._call(
                lambda c: c.get_model_version_by_alias(model, alias), missing=lambda: self._missing_alias(model, alias)
            )
        return self._call(
            lambda c: c.get_model_version(model, str(version)), missing=lambda: self._missing_version(model, version)
        )

    def _read_version(self, model: str, alias: str | None, version: int | None) -> tuple[str, dict[str, Any]]:
        found = self._version_entity(model, alias, version)
        aliases = sorted(found.aliases or [])
        run_id = found.run_id
        held = f"alias {alias!r}" if alias is not None else "pinned"
        if not run_id:
            raise NoData(f"model {model!r} version {found.version} ({held}) was not logged from a run")
        lineage = {
            "run_id": run_id,
            "model": model,
            "alias": alias,
            "model_version": str(found.version),
            "aliases": aliases,
            "in_production": any(a in self.config.production_aliases for a in aliases),
        }
        return run_id, lineage

    def _missing_alias(self, model: str, alias: str) -> str:
        try:
            registered = self._registered_model(model)
        except Exception as exc:
            if error_code(exc) in NOT_FOUND:
                return f"registered model {model!r} not found"
            raise
        held = ", ".join(sorted(registered.aliases or {})) or "none"
        return f"model {model!r} has no version with alias {alias!r} (its aliases: {held})"

    def _missing_version(self, model: str, version: int | None) -> str:
        numbers = [str(v.version) for v in self._call(lambda c: list(c.search_model_versions(f"name = '{model}'")))]
        if not numbers:
            return f"registered model {model!r} not found (or it has no versions)"
        return f"model {model!r} has no version {version} (its versions: {', '.join(sorted(numbers, key=int))})"

    def _experiment_id(self, name: str) -> str:
        experiment = self._once.get(("experiment", name), lambda: self._call(lambda c: c.get_experiment_by_name(name)))
        if experiment is None:
            raise NoData(f"experiment {name!r} not found")
        if experiment.lifecycle_stage == "deleted":
            raise NoData(f"experiment {name!r} is deleted")
        return str(experiment.experiment_id)

    def _search(self, metric: MlflowMetric, experiment_id: str, where: str, order: str, limit: int) -> list[Any]:
        """One page of runs matching ``where``, asked once per run of okrflow; a bad filter names itself."""
        try:
            return self._once.get(
                ("runs", experiment_id, where, order, limit),
                lambda: self._call(
                    lambda c: list(
                        c.search_runs([experiment_id], filter_string=where, order_by=[order], max_results=limit)
                    )
                ),
            )
        except Exception as exc:
            if metric.filter and error_code(exc) == "INVALID_PARAMETER_VALUE":
                raise Failed(f"invalid filter {metric.filter!r} for experiment {metric.experiment!r}: {exc}") from None
            raise

    def _resolve_experiment(self, metric: MlflowMetric, name: str, as_of: datetime) -> tuple[str, dict[str, Any]]:
        experiment_id = self._experiment_id(name)
        clauses = [metric.filter] if metric.filter else []
        clauses.append(f"attributes.start_time <= {ms(as_of)}")
        where = " and ".join(clauses)
        desc = "DESC" if (metric.goal or "max") == "max" else "ASC"
        best = metric.run == "best"
        order = f"metrics.`{metric.name}` {desc}" if best else "attributes.start_time DESC"
        runs = self._search(metric, experiment_id, where, order, BEST_CANDIDATES if best else 1)
        if not runs:
            matches = f" matches filter {metric.filter!r}" if metric.filter else ""
            raise NoData(f"no run in experiment {name!r}{matches} (runs started by {as_of.isoformat()})")
        run = self._best(runs, metric, as_of) if best else runs[0]
        if run is None:
            matching = f" matching filter {metric.filter!r}" if metric.filter else ""
            raise NoData(
                f"no run in experiment {name!r}{matching} has metric {metric.name!r} as of {as_of.isoformat()}"
                + self._latest_has(metric, experiment_id, where)
            )
        registered = self._once.get(("registered", run.info.run_id), lambda: self._registered(run.info.run_id))
        lineage = {"experiment": name, "run_id": run.info.run_id, **registered, "aliases": list(registered["aliases"])}
        return run.info.run_id, lineage

    def _latest_has(self, metric: MlflowMetric, experiment_id: str, where: str) -> str:
        """``; the latest run (ID) has: ...``: the names a best-run binding could have meant."""
        latest = self._search(metric, experiment_id, where, "attributes.start_time DESC", 1)
        if not latest:
            return ""
        return f"; the latest run ({latest[0].info.run_id}) has: {listing(list(latest[0].data.metrics))}"

    def _best(self, runs: list[Any], metric: MlflowMetric, as_of: datetime) -> Any | None:
        """The best run by its value as of ``as_of``; runs that ended by then are ranked by their final value."""
        assert metric.name is not None  # the binding's validator: best needs a metric name
        cutoff = ms(as_of)
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

    def _missing_metric(self, run_id: str, name: str, history: list[Any], as_of: datetime) -> str:
        """Why a run has no value: the metric was never logged (and which ones were), or only after ``as_of``."""
        if history:
            first = time_of(min(m.timestamp for m in history))
            return (
                f"run {run_id} has no metric {name!r} as of {as_of.isoformat()} (first logged at {first.isoformat()})"
            )
        try:
            names = list(self._run(run_id).data.metrics)
        except Exception:  # the listing is a courtesy: the answer stays "not there"
            return f"run {run_id} has no metric {name!r}"
        return f"run {run_id} has no metric {name!r}; it has: {listing(names)}"

    def _describe(self, exc: BaseException) -> str:
        where = hide_password(self.config.tracking_uri)
        attempts = f"{self.config.retries + 1} attempt" + ("s" if self.config.retries else "")
        failure = network_failure(exc)
        if isinstance(exc, Failed):
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
        """Remove the token and any password in the source's URIs from a message (``okrflow.okr_model.secrets``)."""
        uris = (self.config.tracking_uri, self.config.registry_uri)
        secrets = [split_url(uri).password for uri in uris if uri]
        secrets.append(self.config.token.get_secret_value() if self.config.token else None)
        return Redactor(secrets)(text)
