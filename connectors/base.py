"""The connector interface: one source kind, one module, one small class.

A connector turns a metric binding into one ``Measurement`` as of a point in time. A failed, empty or
non-finite fetch is a measurement with ``status`` ``no_data`` or ``error`` and a reason, never a number
and never an exception that escapes ``fetch``.
"""

from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar, runtime_checkable

from okrflow.okr_model.config import Config, KeyResult, MetricBinding, SourceConfig
from okrflow.okr_model.errors import ConfigIssue
from okrflow.okr_model.types import duration_text
from pydantic import BaseModel

__all__ = [
    "AliasHistory",
    "Connector",
    "ConnectorContext",
    "GateOutcome",
    "Measurement",
    "MeasurementStatus",
    "OnlineFinding",
    "Probe",
    "QualityGateProvider",
    "apply_max_age",
    "query_hash",
]

MeasurementStatus = Literal["ok", "no_data", "error"]

S = TypeVar("S", bound=SourceConfig)
M = TypeVar("M", bound=MetricBinding)


@dataclass(frozen=True)
class Measurement:
    """One observation of a metric: a finite ``value`` with ``status="ok"``, or no value and a reason."""

    value: float | None
    status: MeasurementStatus
    observed_at: datetime | None = None
    detail: str = ""
    lineage: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.status == "ok" and (self.value is None or not math.isfinite(self.value)):
            raise ValueError("an ok measurement needs a finite value")
        if self.status != "ok" and self.value is not None:
            raise ValueError("a no_data/error measurement carries no value")
        object.__setattr__(self, "lineage", MappingProxyType(dict(self.lineage)))

    def __reduce__(self) -> tuple[Any, ...]:
        """Picklable (a read-only lineage view is not), so worker processes can send measurements back."""
        return (Measurement, (self.value, self.status, self.observed_at, self.detail, dict(self.lineage)))

    @classmethod
    def ok(cls, value: float, observed_at: datetime | None = None, **lineage: Any) -> Measurement:
        return cls(float(value), "ok", observed_at, "", lineage)

    @classmethod
    def no_data(cls, detail: str, **lineage: Any) -> Measurement:
        return cls(None, "no_data", None, detail, lineage)

    @classmethod
    def error(cls, detail: str, **lineage: Any) -> Measurement:
        return cls(None, "error", None, detail, lineage)


def apply_max_age(measurement: Measurement, max_age: timedelta | None, as_of: datetime) -> Measurement:
    """``measurement``, or ``no_data`` saying so when its observation is older than ``max_age`` as of ``as_of``.

    The one staleness rule, used by the pipeline for every source and by connectors that read past values
    themselves: only an ``ok`` measurement with an ``observed_at`` can be stale, exactly ``max_age`` old still
    counts, and the lineage stays (which query, which run) so the user can find the silent producer.
    """
    if max_age is None or measurement.status != "ok" or measurement.observed_at is None:
        return measurement
    if as_of - measurement.observed_at <= max_age:
        return measurement
    return Measurement.no_data(
        f"stale: last observation at {measurement.observed_at.isoformat(timespec='seconds')} is older than "
        f"max_age {duration_text(max_age)} (as of {as_of.isoformat(timespec='seconds')})",
        **measurement.lineage,
    )


@dataclass(frozen=True)
class GateOutcome:
    """The result of a quality gate: the suite ``passed``, ``failed``, or could not run (``error``)."""

    status: Literal["passed", "failed", "error"]
    detail: str = ""


@dataclass(frozen=True)
class OnlineFinding:
    """What ``okrflow validate --online`` learned from a live source: a ``warning`` (exit 0) or an ``error``
    (the source cannot be checked, e.g. unreachable: exit 1). The message never holds a secret."""

    level: Literal["warning", "error"]
    message: str


@dataclass(frozen=True)
class Probe:
    """What ``okrflow probe`` shows of one binding: what it reads, what else the source holds there (``holds``:
    heading -> lines), the measurement it gives now, and findings: an ``error`` means the binding cannot be read
    (exit 1), a ``warning`` that it reads but may mislead (e.g. a target no histogram bucket can resolve)."""

    reads: str
    holds: tuple[tuple[str, tuple[str, ...]], ...] = ()
    measurement: Measurement | None = None
    findings: tuple[OnlineFinding, ...] = ()

    @classmethod
    def of(
        cls,
        reads: str,
        measurement: Measurement,
        holds: Mapping[str, Sequence[str]] | None = None,
        findings: Sequence[OnlineFinding] = (),
    ) -> Probe:
        """A probe whose measurement, when it is an ``error``, is also its first finding."""
        found = [OnlineFinding("error", measurement.detail)] if measurement.status == "error" else []
        shown = tuple((k, tuple(v)) for k, v in (holds or {}).items())
        return cls(reads, shown, measurement, (*found, *findings))


@runtime_checkable
class QualityGateProvider(Protocol):
    """A connector that can run a named data-quality suite (Great Expectations) for a quality gate."""

    def check_suite(self, suite: str, at: datetime) -> GateOutcome:
        """Run (or reuse this run's result of) ``suite``; never raises."""


def query_hash(metric: BaseModel) -> str:
    """A short, stable hash of a metric binding: lineage says which query produced a number."""
    blob = json.dumps(metric.model_dump(mode="json", exclude={"source"}), sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@runtime_checkable
class AliasHistory(Protocol):
    """okrflow's own record of where model aliases pointed (MLflow keeps none): the version each measurement of
    an alias-bound KR saw, kept in its lineage. Implemented over the history store (``okrflow.store``)."""

    def alias_versions(
        self, kr_ids: Sequence[str], model: str, alias: str, until: datetime
    ) -> list[tuple[datetime, str]]:
        """(slot, model version) of the scheduled runs before ``until`` in which these KRs saw the alias, oldest first."""


@dataclass(frozen=True)
class ConnectorContext:
    """What a connector may know about the run besides its own source: the cycle, sibling sources, and
    ``alias_history`` (earlier observations of model aliases; None when there is no store to read)."""

    config: Config
    alias_history: AliasHistory | None = None

    @property
    def cycle_start(self) -> datetime:
        return self.config.cycle_bounds()[0]

    @property
    def cycle_end(self) -> datetime:
        return self.config.cycle_bounds()[1]


class Connector(ABC, Generic[S, M]):
    """Base of all connectors. Subclasses set ``config_model`` and ``metric_model`` and implement ``fetch``.

    One instance serves one source for one run, so it may keep clients and connections open until
    ``close``. ``fetch`` must honour the source's ``timeout_s`` and must not raise.
    """

    type_name: ClassVar[str]
    config_model: ClassVar[type[SourceConfig]]
    metric_model: ClassVar[type[MetricBinding]]

    def __init__(self, name: str, config: S, context: ConnectorContext):
        self.name = name
        self.config = config
        self.context = context

    @classmethod
    def bind(cls, raw: dict[str, Any], kr: KeyResult) -> M:
        """Validate a KR's metric binding; override to derive defaults from the KR (e.g. best = min)."""
        return cls.metric_model.model_validate(raw)  # type: ignore[return-value]

    @classmethod
    def check(cls, name: str, config: S, full: Config) -> list[ConfigIssue]:
        """Checks that need the whole config (run by ``okrflow validate``); none by default."""
        return []

    @classmethod
    def anchor(cls, config: S, base: Path) -> S:
        """The source with its relative file paths (SQLite files, data files) joined to ``base``, the config
        file's folder (``okrflow.okr_model.paths``); none by default."""
        return config

    knows_production: ClassVar[bool] = False
    """Whether its measurements say if the model behind them is in production (lineage ``in_production``):
    ``requires_production`` is refused at validate on a source that does not."""

    keeps_history: ClassVar[bool] = True
    """Whether ``fetch`` as of a past time reads what the source said then (False: only the present)."""

    @abstractmethod
    def fetch(self, metric: M, at: datetime) -> Measurement:
        """One measurement of ``metric`` as of ``at`` (an aware datetime: the run's slot time)."""

    def check_online(self) -> list[OnlineFinding]:
        """Checks against the live source (run by ``okrflow validate --online``): e.g. a role that can write.
        None by default; a connector that overrides it connects, checks, and never raises."""
        return []

    def probe(self, metric: M, at: datetime, kr: KeyResult | None = None) -> Probe:
        """``okrflow probe``: what the binding of ``kr`` reads and what else the source holds; connectors that can
        list more (metric names, series, columns) override it. By default: the measurement as of ``at``."""
        reads = f"{self.type_name} binding {metric.model_dump(mode='json', exclude_none=True)}"
        return Probe.of(reads, self.fetch(metric, at))

    @classmethod
    def history_gap(cls, name: str, config: Any, metric: Any) -> str | None:
        """Why ``fetch`` as of a past slot cannot read what ``metric`` said then (None: it can); backfill stores
        such KRs as no_data with this reason. By default from ``keeps_history``."""
        if cls.keeps_history:
            return None
        return f"source {name!r} ({config.type}) keeps no history: it can only measure the data as it is now"

    def fetch_series(self, metric: M, slots: Sequence[datetime]) -> dict[datetime, Measurement]:
        """Measurements as of each past slot, for backfill and catch-up. The default asks ``fetch`` once
        per slot; sources with a range API override it to read the whole window in one request."""
        return {slot: self.fetch(metric, slot) for slot in slots}

    def close(self) -> None:
        """Release clients and connections."""

    def __enter__(self) -> Connector[S, M]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
