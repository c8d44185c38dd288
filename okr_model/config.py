"""The config contract as frozen pydantic models: what users write in ``okrflow.yaml``.

Field names are the public interface (see ARCHITECTURE.md): add, never rename. Sources and metric
bindings are validated in two steps: here they are read generically (``type`` plus whatever keys),
then the connector registered for that ``type`` validates them into its own model (see ``loader``).

The parts a newcomer looks for by name have their own modules, re-exported here: ``cycles`` (the cycle),
``schedule`` (the schedule), ``channels`` (channels and owners), ``alert_rules`` (drift and alert defaults).
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timezone
from functools import cached_property
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from okrflow.okr_model.alert_rules import DEFAULT_DRIFT, AlertDefaults, DriftRule
from okrflow.okr_model.channels import (
    AlertmanagerChannel,
    Channel,
    EmailChannel,
    Owner,
    SlackChannel,
    WebhookChannel,
)
from okrflow.okr_model.cycles import Cycle
from okrflow.okr_model.report_config import ReportSettings
from okrflow.okr_model.schedule import Schedule, check_schedule
from okrflow.okr_model.types import MAINTAIN_KINDS, Band, ConfigDate, Duration, Id, Model, Target
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = [
    "DEFAULT_DRIFT",
    "Abandoned",
    "AlertDefaults",
    "AlertmanagerChannel",
    "Caps",
    "Channel",
    "Config",
    "Cycle",
    "Defaults",
    "DriftRule",
    "EmailChannel",
    "FetchSettings",
    "KeyResult",
    "MetricBinding",
    "Objective",
    "Owner",
    "QualityGate",
    "ReportSettings",
    "Retention",
    "SlackChannel",
    "SourceConfig",
    "WebhookChannel",
]

Kind = Literal["increase", "decrease", "maintain_above", "maintain_below", "milestone", "manual"]
Track = Literal["committed", "aspirational"]


class SourceConfig(BaseModel):
    """A data source as read generically; its connector validates it into its own subclass."""

    model_config = ConfigDict(frozen=True, extra="allow")

    type: str = Field(description="connector kind: sql, prometheus, mlflow, great_expectations, ...")
    timeout_s: float = Field(30, gt=0, le=3600, description="per-query timeout in seconds")
    retries: int = Field(2, ge=0, le=10, description="retries with backoff after a failed query")


class MetricBinding(BaseModel):
    """What measures a key result; its source's connector validates the remaining keys."""

    model_config = ConfigDict(frozen=True, extra="allow")

    source: Id
    offset: Duration | None = Field(None, description="read data as of slot time minus this (late-settling data)")
    max_age: Duration | None = Field(None, description="an observation older than this is stale (no_data)")


class QualityGate(Model):
    """A Great Expectations suite over the data behind a metric; a failure caps or holds the score."""

    source: Id
    suite: Id
    on_fail: Literal["cap", "hold"] = "cap"


class Abandoned(Model):
    """A person stopped this key result on purpose; from ``since`` on it scores the ``abandoned`` value (0.4).

    Written ``abandoned: 2026-11-15`` or ``abandoned: {since: 2026-11-15, reason: ...}``. The older ``on:`` key is
    still read, also unquoted (YAML reads a bare ``on`` as the boolean true).
    """

    since: ConfigDate | None = Field(
        None, description="first day (in timezone) it counts as abandoned; before it, it scores normally"
    )
    reason: str = Field("", description="what was learned (e.g. a data limitation)")

    @model_validator(mode="before")
    @classmethod
    def _natural_spellings(cls, data: Any) -> Any:
        if isinstance(data, (date, str)):
            return {"since": data}
        if isinstance(data, dict) and (True in data or "on" in data):
            data = dict(data)
            data.setdefault("since", data.pop(True, None) if True in data else data.pop("on"))
            data.pop("on", None)
        return data

    def active(self, at: datetime, tz: timezone | ZoneInfo) -> bool:
        """Whether it counts at ``at``: from midnight of ``since`` in ``tz`` on (always without ``since``)."""
        return self.since is None or at >= datetime.combine(self.since, time(), tz)


class KeyResult(Model):
    """One measurable key result bound to a metric query."""

    id: Id
    title: str | None = None
    kind: Kind = "increase"
    baseline: float | None = Field(None, strict=True, allow_inf_nan=False)  # strict: `true` is not 1.0
    target: Target
    track: Track = "committed"
    weight: float = Field(1.0, gt=0, strict=True, allow_inf_nan=False)
    owner: str | None = None
    unit: str | None = None
    metric: MetricBinding | None = None
    requires_production: bool = False
    quality_gate: QualityGate | None = None
    drift: DriftRule | None = None
    abandoned: Abandoned | None = Field(
        None,
        description="stopped on purpose: a date (abandoned: 2026-11-15) or {since, reason}",
        json_schema_extra=lambda schema: schema["anyOf"].insert(1, {"type": "string", "format": "date"}),  # bare date
    )

    @model_validator(mode="after")
    def _check_kind(self) -> KeyResult:
        band = isinstance(self.target, Band)
        if self.kind in MAINTAIN_KINDS and band:
            raise ValueError(f"kind {self.kind} takes one threshold as target, not a band")
        if self.kind in ("increase", "decrease") and self.baseline is None:
            raise ValueError(f"kind {self.kind} needs a baseline (the value at the start of the cycle)")
        if self.kind == "manual" and self.metric is not None:
            raise ValueError("kind manual takes check-ins (okrflow checkin), not a metric binding")
        if self.kind not in ("manual",) and self.metric is None:
            raise ValueError(f"kind {self.kind} needs a metric binding (or kind: manual for check-ins)")
        if self.kind in ("increase", "decrease", "milestone", "manual"):
            start = self.start_value
            ends = self.target if band else (self.target,)
            shown = list(self.target) if band else self.target  # as the user wrote it: [0.87, 0.92], not Band(...)
            if any(end == start for end in ends):
                raise ValueError(f"target {shown} must differ from the baseline {start}")
            if not all(math.isfinite(end - start) for end in ends) or (band and not math.isfinite(ends[1] - ends[0])):
                raise ValueError(
                    f"target {shown} and baseline {start} are too far apart: their distance overflows a float, "
                    "so progress cannot be computed (use a larger unit)"
                )
            if self.kind == "increase" and any(end < start for end in ends):
                raise ValueError(f"kind increase needs a target above the baseline {start} (got {shown})")
            if self.kind == "decrease" and any(end > start for end in ends):
                raise ValueError(f"kind decrease needs a target below the baseline {start} (got {shown})")
            if self.kind == "milestone" and any(end < start for end in ends):
                raise ValueError(f"kind milestone needs a target above {start} (got {shown})")
            if band and (ends[0] - start) * (ends[1] - start) < 0:
                raise ValueError(
                    f"target band {shown} straddles the baseline {start}: a band must lie on one side of it "
                    "(both ends above to increase, both below to decrease)"
                )
        return self

    @property
    def start_value(self) -> float:
        """Where progress starts: the baseline, or 0 for milestones and manual KRs without one."""
        return self.baseline if self.baseline is not None else 0.0

    @property
    def direction(self) -> Literal["up", "down"]:
        """Whether a larger value is better."""
        if self.kind in ("decrease", "maintain_below"):
            return "down"
        if self.kind == "manual":
            end = self.target.low if isinstance(self.target, Band) else self.target
            return "down" if end < self.start_value else "up"
        return "up"

    @property
    def success_score(self) -> float:
        """The score at which this KR counts as a success: 1.0 committed, 0.7 aspirational; 0.7 for a
        confidence band whatever the track, since its low end (scored 0.7) is the committed outcome."""
        return 0.7 if self.track == "aspirational" or isinstance(self.target, Band) else 1.0


class Objective(Model):
    """An objective in the tree company -> team -> individual; non-roots name their parent."""

    id: Id
    title: str
    parent: Id | None = None
    team: str | None = None
    owner: str | None = None
    level: Literal["company", "team", "individual"] | None = None
    weight: float = Field(1.0, gt=0, strict=True, allow_inf_nan=False, description="weight in the parent's rollup")
    key_results: list[KeyResult] = Field(default_factory=list)


class Caps(Model):
    """Score caps and fixed scores of the gates (the AI-OKR scoring table)."""

    quality_gate: float = Field(0.2, ge=0, le=1)
    requires_production: float = Field(0.5, ge=0, le=1)
    abandoned: float = Field(0.4, ge=0, le=1)


class Retention(Model):
    """How long the history store keeps every run (``okrflow compact`` applies it)."""

    raw_days: int | None = Field(
        None,
        ge=1,
        strict=True,
        description="keep every run this many days; older runs keep the last run of each day. None keeps everything",
    )


class FetchSettings(Model):
    """Where a run's fetches execute: threads of the run's process, or worker processes kept across runs."""

    processes: int = Field(
        0,
        ge=0,
        le=64,
        strict=True,
        description="0 fetches every source in threads of the run's process; N fetches each source in one of N "
        "worker processes that stay up between runs (a source always goes to the same one), so client-side CPU "
        "of MLflow, Great Expectations and many Prometheus queries runs on several cores",
    )
    threads_per_source: int = Field(
        4, ge=1, le=64, strict=True, description="concurrent queries of one source (remote sources: more overlap)"
    )


class Defaults(Model):
    drift: DriftRule | None = Field(
        None,
        description="drift rule of every KR with a metric (a KR's own drift block overrides it field by field); "
        "unset, only KRs with a drift block are judged for drift",
    )
    alerts: AlertDefaults = Field(default_factory=AlertDefaults)
    caps: Caps = Field(default_factory=Caps)


class Config(Model):
    """A whole okrflow config file."""

    version: Literal[1] = 1
    cycle: Cycle
    timezone: str = Field("UTC", description="IANA time zone of the cycle dates and the schedule")
    schedule: str = Field(
        "*/15 * * * *",
        description="when okrflow serve evaluates: a 5-field cron (in timezone), a macro such as @daily, or @every 30s",
    )
    store: str = Field("sqlite:///okrflow.db", description="history store URL; OKRFLOW_STORE_URL overrides")
    catchup: Literal["none", "latest", "all"] = Field(
        "latest",
        description="after downtime or failed runs: evaluate no missed slot, only the latest, or all (bounded)",
    )
    max_catchup_runs: int = Field(24, ge=1, le=10000, description="at most this many missed slots with catchup: all")
    defaults: Defaults = Field(default_factory=Defaults)
    retention: Retention = Field(default_factory=Retention, description="history kept by okrflow compact")
    fetch: FetchSettings = Field(default_factory=FetchSettings, description="threads or worker processes")
    report: ReportSettings = Field(
        default_factory=ReportSettings, description="the HTML report each served run rewrites"
    )
    sources: dict[Id, SourceConfig] = Field(default_factory=dict)
    channels: dict[Id, Channel] = Field(default_factory=dict)
    owners: dict[str, Owner] = Field(default_factory=dict)
    objectives: list[Objective] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (expected an IANA name such as UTC or Europe/Paris)"
            ) from None
        return value

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        return check_schedule(value)

    @property
    def parsed_schedule(self) -> Schedule:
        """The schedule in the config's zone: its slots, its longest gap, what Prefect is given. (Not cached:
        ``model_copy(update={"schedule": ...})`` copies cached values.)"""
        return Schedule(self.schedule, self.timezone)

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def drift_rule(self, kr: KeyResult) -> DriftRule | None:
        """The KR's drift rule: its own block over ``defaults.drift`` over ``DEFAULT_DRIFT``, field by field.

        None when neither the KR nor the defaults write a drift block, or the merged rule has no limit and no
        detector (``max_drop: null``): that KR is not judged for drift."""
        if kr.drift is None and self.defaults.drift is None:
            return None
        rule = DEFAULT_DRIFT
        for layer in (self.defaults.drift, kr.drift):
            if layer is not None:
                rule = layer.over(rule)
        return rule if rule.max_drop is not None or rule.detector is not None else None

    @model_validator(mode="after")
    def _drift_rules_combine(self) -> Config:
        for _, kr in self.key_results():
            try:
                self.drift_rule(kr)
            except ValidationError as exc:
                reason = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
                raise ValueError(f"key result {kr.id}: its drift block over defaults.drift: {reason}") from None
        return self

    def key_results(self) -> list[tuple[Objective, KeyResult]]:
        """Every key result with its objective, in file order."""
        return [(objective, kr) for objective in self.objectives for kr in objective.key_results]

    def key_result(self, kr_id: str) -> tuple[Objective, KeyResult]:
        for objective, kr in self.key_results():
            if kr.id == kr_id:
                return objective, kr
        raise KeyError(kr_id)

    def cycle_bounds(self) -> tuple[datetime, datetime]:
        return self.cycle.bounds(self.tz)

    def raw_metric(self, kr: KeyResult) -> dict[str, Any]:
        """A metric binding as plain data (for hashing and display)."""
        return kr.metric.model_dump(mode="json") if kr.metric else {}
