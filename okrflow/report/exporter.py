"""The Prometheus exporter: the latest run's KR and objective scores as gauges on ``/metrics``.

Every scrape reads the store (``Store.status()``), so what Prometheus sees is what the store holds now:
no cache to go stale, and a new run shows up on the next scrape. A key result without a score exports no
score sample at all (a gap in the graph), never a 0. Targets, baselines and labels come from the config;
scores, values and statuses from the latest run. No Prefect, MLflow or Great Expectations here.

Labels: ``key_result``, ``objective``, ``team`` (the objective's, else its nearest ancestor's) and ``owner``
(the KR's, else its objective's); state sets (``*_status``, ``*_measurement``) export one sample per state,
1 for the current one and 0 for the others, so ``okrflow_key_result_status{status="off_track"} == 1`` selects.
``okrflow_key_result_model_info`` adds ``model``, ``version``, ``alias`` and ``run_id`` for MLflow KRs: a
separate gauge, so a new model version does not split the score series.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from okrflow.connectors.mlflow_lineage import model_of
from okrflow.okr_model.config import Config, KeyResult, Objective
from okrflow.okr_model.errors import OkrflowError
from okrflow.okr_model.rollup import ancestors
from okrflow.okr_model.types import Band
from okrflow.store import KRResult, StatusSnapshot, Store, StoreError

__all__ = [
    "KR_STATUSES",
    "METRICS",
    "METRIC_NAMES",
    "ExporterError",
    "ExporterServer",
    "Gauge",
    "StoreCollector",
    "metric_families",
    "serve_exporter",
    "start_exporter",
]

log = logging.getLogger("okrflow.exporter")

KR_LABELS = ("key_result", "objective", "team", "owner")
OBJECTIVE_LABELS = ("objective", "team", "owner")
KR_STATUSES = ("on_track", "at_risk", "off_track", "no_data")
MEASUREMENTS = ("ok", "no_data", "error")
RUN_STATUSES = ("completed", "partial", "failed")


class Gauge(NamedTuple):
    labels: tuple[str, ...]
    help: str


METRICS: Mapping[str, Gauge] = {
    "okrflow_key_result_score": Gauge(
        KR_LABELS, "Score of the key result in the latest run (0-1); absent when it has no score."
    ),
    "okrflow_key_result_value": Gauge(
        KR_LABELS, "Measured value of the key result in the latest run; absent unless it was measured ok."
    ),
    "okrflow_key_result_target": Gauge(
        (*KR_LABELS, "bound"), 'Target of the key result from the config: bound="target", or "low"/"high" of a band.'
    ),
    "okrflow_key_result_baseline": Gauge(KR_LABELS, "Baseline of the key result from the config."),
    "okrflow_key_result_expected_score": Gauge(KR_LABELS, "Score the key result should have by now at an even pace."),
    "okrflow_key_result_forecast": Gauge(
        (*KR_LABELS, "bound"), 'Projected end-of-cycle score: bound="score", "low" and "high" of its interval.'
    ),
    "okrflow_key_result_status": Gauge(
        (*KR_LABELS, "status"), "1 for the key result's current pacing status, 0 for the other statuses."
    ),
    "okrflow_key_result_measurement": Gauge(
        (*KR_LABELS, "measurement"), "1 for how the latest fetch went (ok, no_data, error), 0 for the others."
    ),
    "okrflow_key_result_info": Gauge(
        (*KR_LABELS, "title", "kind", "track", "unit"), "Always 1: descriptive labels of the key result."
    ),
    "okrflow_key_result_model_info": Gauge(
        (*KR_LABELS, "model", "version", "alias", "run_id"),
        "Always 1: the MLflow model version (and run) behind the key result's latest value; a new series per version.",
    ),
    "okrflow_objective_score": Gauge(
        OBJECTIVE_LABELS, "Rolled-up score of the objective in the latest run (0-1); absent without one."
    ),
    "okrflow_objective_status": Gauge(
        (*OBJECTIVE_LABELS, "status"), "1 for the objective's current pacing status, 0 for the other statuses."
    ),
    "okrflow_objective_key_results_scored": Gauge(
        OBJECTIVE_LABELS, "Key results under the objective that had a score in the latest run (scored k of n)."
    ),
    "okrflow_objective_key_results": Gauge(
        OBJECTIVE_LABELS, "Key results under the objective (the n of scored k of n)."
    ),
    "okrflow_objective_info": Gauge(
        (*OBJECTIVE_LABELS, "title", "parent", "level"), "Always 1: descriptive labels of the objective."
    ),
    "okrflow_run_timestamp_seconds": Gauge(("deployment",), "Slot time of the latest run (Unix seconds)."),
    "okrflow_run_status": Gauge(
        ("deployment", "status"), "1 for the latest run's status (completed, partial, failed), 0 for the others."
    ),
    "okrflow_store_up": Gauge((), "1 when this scrape could read the history store, 0 when it could not."),
}
"""Every gauge the exporter serves: name -> labels and help (the dashboard test checks its queries against it)."""
METRIC_NAMES = frozenset(METRICS)


class ExporterError(OkrflowError):
    """The exporter cannot listen on its address."""


def _gauge(name: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, METRICS[name].help, labels=list(METRICS[name].labels))


def _finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def _team(objective: Objective | None, by_id: Mapping[str, Objective]) -> str:
    """The objective's team, else the nearest ancestor's (a cycle in parents cannot loop forever)."""
    return next((o.team for o in ancestors(objective, by_id, include_self=True) if o.team), "")


@dataclass(frozen=True)
class _Labels:
    """Label values of every objective and KR of the config (KRs of older configs fall back to ``""``)."""

    objectives: Mapping[str, tuple[str, ...]]
    key_results: Mapping[str, tuple[str, ...]]

    @classmethod
    def of(cls, config: Config) -> _Labels:
        by_id = {o.id: o for o in config.objectives}
        objectives = {o.id: (o.id, _team(o, by_id), o.owner or "") for o in config.objectives}
        key_results = {
            kr.id: (kr.id, o.id, _team(o, by_id), kr.owner or o.owner or "") for o, kr in config.key_results()
        }
        return cls(objectives, key_results)

    def kr(self, result: KRResult) -> list[str]:
        known = self.key_results.get(result.kr_id)
        if known is not None:
            return list(known)
        _, team, owner = self.objectives.get(result.objective_id, (result.objective_id, "", ""))
        return [result.kr_id, result.objective_id, team, owner]

    def objective(self, objective_id: str) -> list[str]:
        return list(self.objectives.get(objective_id, (objective_id, "", "")))


def _state_set(family: GaugeMetricFamily, labels: list[str], states: Iterable[str], current: str) -> None:
    for state in states:
        family.add_metric([*labels, state], 1.0 if state == current else 0.0)


def _config_families(config: Config, labels: _Labels) -> list[GaugeMetricFamily]:
    """What the config says of each KR: target, baseline, descriptive info."""
    target = _gauge("okrflow_key_result_target")
    baseline = _gauge("okrflow_key_result_baseline")
    kr_info = _gauge("okrflow_key_result_info")
    objective_info = _gauge("okrflow_objective_info")
    for _, kr in config.key_results():
        kr_labels = list(labels.key_results[kr.id])
        for bound, value in _targets(kr):
            target.add_metric([*kr_labels, bound], value)
        if kr.baseline is not None:
            baseline.add_metric(kr_labels, kr.baseline)
        kr_info.add_metric([*kr_labels, kr.title or "", kr.kind, kr.track, kr.unit or ""], 1.0)
    for objective in config.objectives:
        objective_info.add_metric(
            [*labels.objective(objective.id), objective.title, objective.parent or "", objective.level or ""], 1.0
        )
    return [target, baseline, kr_info, objective_info]


def _targets(kr: KeyResult) -> list[tuple[str, float]]:
    if isinstance(kr.target, Band):
        return [("low", kr.target.low), ("high", kr.target.high)]
    return [("target", float(kr.target))]


def _run_families(snapshot: StatusSnapshot, labels: _Labels) -> list[GaugeMetricFamily]:
    """What the latest run measured and scored."""
    score = _gauge("okrflow_key_result_score")
    value = _gauge("okrflow_key_result_value")
    expected = _gauge("okrflow_key_result_expected_score")
    forecast = _gauge("okrflow_key_result_forecast")
    status = _gauge("okrflow_key_result_status")
    measurement = _gauge("okrflow_key_result_measurement")
    model_info = _gauge("okrflow_key_result_model_info")
    for result in snapshot.key_results:
        kr_labels = labels.kr(result)
        if _finite(result.score):
            score.add_metric(kr_labels, result.score)
        if result.measurement == "ok" and _finite(result.value):
            value.add_metric(kr_labels, result.value)
        if _finite(result.expected):
            expected.add_metric(kr_labels, result.expected)
        for bound in ("score", "low", "high"):
            projected = (result.forecast or {}).get(bound)
            if _finite(projected):
                forecast.add_metric([*kr_labels, bound], projected)
        _state_set(status, kr_labels, KR_STATUSES, result.status)
        _state_set(measurement, kr_labels, MEASUREMENTS, result.measurement)
        model = model_of(result.lineage)
        if model is not None:  # a separate info gauge: a version label on the scores would split their series
            model_info.add_metric(
                [*kr_labels, model.model or "", model.version or "", model.alias or "", model.run_id or ""], 1.0
            )
    objective_score = _gauge("okrflow_objective_score")
    objective_status = _gauge("okrflow_objective_status")
    scored = _gauge("okrflow_objective_key_results_scored")
    of = _gauge("okrflow_objective_key_results")
    for objective in snapshot.objectives:
        objective_labels = labels.objective(objective.objective_id)
        if _finite(objective.score):
            objective_score.add_metric(objective_labels, objective.score)
        _state_set(objective_status, objective_labels, KR_STATUSES, objective.status)
        if objective.scored is not None and objective.of is not None:  # runs stored before 0006 did not count
            scored.add_metric(objective_labels, objective.scored)
            of.add_metric(objective_labels, objective.of)
    run = snapshot.run
    run_time = _gauge("okrflow_run_timestamp_seconds")
    run_time.add_metric([run.deployment], run.slot.timestamp())
    run_status = _gauge("okrflow_run_status")
    _state_set(run_status, [run.deployment], RUN_STATUSES, run.status)
    return [
        score,
        value,
        expected,
        forecast,
        status,
        measurement,
        model_info,
        objective_score,
        objective_status,
        scored,
        of,
        run_time,
        run_status,
    ]


def metric_families(config: Config, snapshot: StatusSnapshot | None) -> list[GaugeMetricFamily]:
    """Every gauge for one scrape; an empty store (``None``) exports only what the config says."""
    labels = _Labels.of(config)
    families = _config_families(config, labels)
    if snapshot is not None:
        families += _run_families(snapshot, labels)
    return families


class StoreCollector(Collector):
    """Reads ``Store.status()`` on every scrape; a store that cannot be read exports ``okrflow_store_up 0``."""

    def __init__(self, config: Config, store: Store):
        self.config = config
        self.store = store
        self._failing = False
        self._lock = threading.Lock()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = _gauge("okrflow_store_up")
        try:
            snapshot = self.store.status()
        except (SQLAlchemyError, StoreError) as exc:
            self._note_failure(exc)
            up.add_metric([], 0.0)
            yield up
            return
        self._note_recovery()
        yield from metric_families(self.config, snapshot)
        up.add_metric([], 1.0)
        yield up

    def _note_failure(self, exc: Exception) -> None:
        with self._lock:
            first, self._failing = not self._failing, True
        if first:  # once per outage, not on every scrape
            reason = getattr(exc, "orig", None) or exc
            summary = str(reason).strip().splitlines()[0] if str(reason).strip() else ""
            log.warning("cannot read the history store: %s: %s", type(exc).__name__, summary)

    def _note_recovery(self) -> None:
        with self._lock:
            recovered, self._failing = self._failing, False
        if recovered:
            log.warning("the history store answers again")


@dataclass
class ExporterServer:
    """A running exporter: ``url`` of its ``/metrics``; ``close()`` stops it and closes the store."""

    httpd: Any  # wsgiref WSGIServer
    thread: threading.Thread
    store: Store
    host: str

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def close(self) -> None:
        if self.thread.is_alive():  # shutdown() waits for the serving loop: never call it on a dead one
            self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
        self.store.close()

    def __enter__(self) -> ExporterServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_store(store_url: str) -> Store:
    """Open (and migrate) the store; if it does not answer yet, serve anyway and report ``okrflow_store_up 0``."""
    try:
        return Store.open(store_url)
    except StoreError as exc:
        log.warning("%s; serving okrflow_store_up 0 until it answers", exc)
        return Store.open(store_url, migrate=False)  # builds the engine only: no connection is made here


def start_exporter(config: Config, store_url: str, port: int = 9465, host: str = "127.0.0.1") -> ExporterServer:
    """Serve ``/metrics`` in a background thread (``port=0`` picks a free port); returns at once."""
    store = _open_store(store_url)
    registry = CollectorRegistry()  # no process/platform collectors: only okrflow's gauges
    registry.register(StoreCollector(config, store))
    try:
        httpd, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        store.close()
        raise ExporterError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return ExporterServer(httpd, thread, store, host)


def serve_exporter(config: Config, store_url: str, port: int = 9465, host: str = "127.0.0.1") -> None:
    """Serve ``/metrics`` until Ctrl-C or SIGTERM (``docker stop``)."""
    server = start_exporter(config, store_url, port=port, host=host)
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):  # a timed wait keeps Ctrl-C responsive
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
