"""The config contract as frozen pydantic models: what users write in ``okrflow.yaml``.

Field names are the public interface (see ARCHITECTURE.md): add, never rename. Sources and metric
bindings are validated in two steps: here they are read generically (``type`` plus whatever keys),
then the connector registered for that ``type`` validates them into its own model (see ``loader``).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time, timedelta, timezone
from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from okrflow.okr_model.addresses import blocked_host
from okrflow.okr_model.schedule import Schedule, check_schedule
from okrflow.okr_model.secrets import MIN_SIGNING_KEY_BYTES, signing_key, split_url
from okrflow.okr_model.types import MAINTAIN_KINDS, Band, Duration, Id, Target
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

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
    "Retention",
    "SlackChannel",
    "SourceConfig",
    "WebhookChannel",
]

EARLIEST_DATE, LATEST_DATE = date(2000, 1, 1), date(2100, 12, 31)
"""Config dates lie in this range: far from the ends of ``datetime``, so runs never overflow computing with them."""


def _sane_date(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"date {value} is outside {EARLIEST_DATE}..{LATEST_DATE}, the range okrflow computes with")
    return value


ConfigDate = Annotated[date, AfterValidator(_sane_date)]


Kind = Literal["increase", "decrease", "maintain_above", "maintain_below", "milestone", "manual"]
Track = Literal["committed", "aspirational"]


class Model(BaseModel):
    """Every config model is immutable and rejects unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Cycle(Model):
    """An OKR cycle (a quarter or six weeks) with its mid-cycle review date."""

    name: str
    start: ConfigDate
    end: ConfigDate = Field(description="last day of the cycle, inclusive")
    review: ConfigDate | None = Field(None, description="mid-cycle review; defaults to the midpoint")

    @model_validator(mode="after")
    def _check_dates(self) -> Cycle:
        if self.end <= self.start:
            raise ValueError(f"cycle end {self.end} must be after its start {self.start}")
        if self.review is not None and not self.start <= self.review <= self.end:
            raise ValueError(f"review date {self.review} must lie within the cycle {self.start}..{self.end}")
        return self

    @property
    def review_date(self) -> date:
        return self.review or self.start + (self.end - self.start) / 2

    def bounds(self, tz: timezone | ZoneInfo = UTC) -> tuple[datetime, datetime]:
        """Start (inclusive) and end (exclusive: midnight after the last day) in ``tz``, as UTC instants.

        UTC, because Python subtracts two datetimes of one zone on their wall clocks: a quarter across a DST
        change would be an hour short and elapsed shares would pass 1.0 before the end."""
        start = datetime.combine(self.start, time(), tz)
        end = datetime.combine(self.end + timedelta(days=1), time(), tz)
        return start.astimezone(UTC), end.astimezone(UTC)


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


_PERCENT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*$")

MaxDrop = Annotated[
    float | None,
    Field(gt=0, allow_inf_nan=False),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0},
                {"type": "string", "pattern": _PERCENT.pattern},
                {"type": "null"},
            ],
            "description": "a drop that fires: a percent of the reference (3%: relative) or metric units (0.03: "
            "absolute); default 3%",
        }
    ),
]


class DriftRule(Model):
    """How a metric drop is judged (issue: drift detection); see ``Config.drift_rule`` for how rules combine.

    ``max_drop`` is relative when written as a percent (``3%``: 3% of the reference level) or with
    ``relative: true``, absolute in metric units when written as a plain number (``0.03``: 3 points of an F1).
    The detector's ``delta`` and ``threshold`` are in the metric's units (fractions of its level when relative);
    left unset they follow ``max_drop`` (max_drop / 4 and 2 x max_drop). See ``okrflow.okr_model.drift``.
    """

    max_drop: MaxDrop = None
    relative: bool = False
    reference: Literal["mean", "best"] = "mean"
    window: Duration = Field(timedelta(days=7), description="reference window")
    detector: Literal["page_hinkley", "cusum"] | None = None
    delta: float | None = Field(
        None,
        ge=0,
        allow_inf_nan=False,
        description="detector: change per run it tolerates (Page-Hinkley delta, CUSUM k); default max_drop / 4, "
        "or threshold / 8",
    )
    threshold: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description="detector: alarm level of its cumulative statistic (Page-Hinkley lambda, CUSUM h); "
        "default 2 x max_drop",
    )
    min_samples: int = Field(
        10, ge=2, le=10000, description="detector: warm-up runs before it may fire (CUSUM's baseline is their mean)"
    )

    @model_validator(mode="before")
    @classmethod
    def _max_drop_form(cls, data: Any) -> Any:
        """``3%`` is max_drop 0.03 relative; a plain number is absolute unless ``relative: true`` says otherwise.

        Either way ``relative`` travels with ``max_drop``, so a KR's ``max_drop: 0.03`` overrides a relative default
        as the absolute limit it reads as.
        """
        if not isinstance(data, dict) or data.get("max_drop") is None:
            return data
        raw = data["max_drop"]
        if isinstance(raw, str) and "%" in raw:
            match = _PERCENT.match(raw)
            if match is None:
                raise ValueError(f"max_drop {raw!r}: expected a percent such as 3% or a number such as 0.03")
            if data.get("relative") is False:
                raise ValueError(f"max_drop {raw!r} is relative; write a plain number for an absolute limit")
            return {**data, "max_drop": float(match.group(1)) / 100, "relative": True}
        return data if "relative" in data else {**data, "relative": False}

    @model_validator(mode="after")
    def _detector_has_scale(self) -> DriftRule:
        if self.detector is not None and self.max_drop is None and self.threshold is None and self._complete:
            raise ValueError(
                f"detector {self.detector} needs a scale: set max_drop (the detector then fires at 2 x max_drop) "
                "or threshold"
            )
        return self

    @property
    def _complete(self) -> bool:
        """Whether max_drop was decided here (written, or merged), rather than left to the defaults."""
        return "max_drop" in self.model_fields_set

    def over(self, base: DriftRule) -> DriftRule:
        """This rule's written fields over ``base``'s, field by field (``max_drop`` and ``relative`` together)."""
        fields = {name: getattr(base, name) for name in type(self).model_fields}
        fields.update({name: getattr(self, name) for name in self.model_fields_set})  # `relative` alone: a share
        return DriftRule.model_validate(fields)

    @property
    def limit_text(self) -> str:
        """``3%`` or ``0.03``: the limit as a person writes it."""
        if self.max_drop is None:
            return "none"
        return f"{100 * self.max_drop:g}%" if self.relative else f"{self.max_drop:g}"


DEFAULT_DRIFT = DriftRule(max_drop=0.03, relative=True)
"""Where a drift block leaves ``max_drop`` unset: any drop of more than 3% of the 7-day mean fires at once."""


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


def _url_host(url: str) -> str | None:
    """The host of a URL whose user info may hold any character (see ``okrflow.okr_model.secrets.split_url``)."""
    from urllib.parse import urlsplit

    parts = split_url(url)
    try:
        return urlsplit(f"{parts.prefix}{parts.rest}").hostname
    except ValueError:
        return None


def _http_url(value: SecretStr) -> SecretStr:
    """Alert URLs must be http(s); the message never repeats the URL (a Slack URL is a secret)."""
    url = value.get_secret_value()
    if url.partition("://")[0].lower() not in ("http", "https") or not _url_host(url):
        raise ValueError(
            "expected an http:// or https:// URL with a host (the value is not shown: it may hold a token)"
        )
    return value


HttpSecretUrl = Annotated[SecretStr, AfterValidator(_http_url)]
_ALLOW_PRIVATE = "send to link-local and cloud metadata addresses too (169.254.0.0/16, fe80::/10, metadata.google.internal)"


def _allowed_destination(host: str | None, allow_private: bool) -> None:
    """Refuse link-local and metadata hosts (literal addresses and known names: no DNS here)."""
    reason = None if allow_private or not host else blocked_host(host)
    if reason:
        raise ValueError(
            f"the host {host} is {reason}; alerts are not sent there unless the channel sets allow_private: true"
        )


class WebhookChannel(Model):
    type: Literal["webhook"]
    url: HttpSecretUrl
    secret: SecretStr | None = Field(
        None,
        description="signing key (Standard Webhooks headers webhook-id/-timestamp/-signature): whsec_<base64> "
        f"or any text, at least {MIN_SIGNING_KEY_BYTES} bytes either way; omit to send unsigned",
    )
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    timeout_s: float = Field(10, gt=0)
    allow_private: bool = Field(False, description=_ALLOW_PRIVATE)

    @field_validator("secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        """A short or empty key (an unset ``${VAR:-}``) would let anyone forge messages: refuse it."""
        if value is None:
            return value
        key = signing_key(value.get_secret_value())
        if len(key) < MIN_SIGNING_KEY_BYTES:
            what = "is empty (an unset ${VAR:-} default?)" if not key else f"has {len(key)} bytes"
            raise ValueError(
                f"the signing secret {what}; use at least {MIN_SIGNING_KEY_BYTES} random bytes, e.g. "
                "whsec_ + the output of: openssl rand -base64 32 (or remove secret to send unsigned)"
            )
        return value

    @model_validator(mode="after")
    def _destination(self) -> WebhookChannel:
        _allowed_destination(_url_host(self.url.get_secret_value()), self.allow_private)
        return self


class SlackChannel(Model):
    type: Literal["slack"]
    url: HttpSecretUrl
    timeout_s: float = Field(10, gt=0)
    allow_private: bool = Field(False, description=_ALLOW_PRIVATE)

    @model_validator(mode="after")
    def _destination(self) -> SlackChannel:
        _allowed_destination(_url_host(self.url.get_secret_value()), self.allow_private)
        return self


class EmailChannel(Model):
    type: Literal["email"]
    host: str
    port: int = Field(587, ge=1, le=65535)
    sender: str
    to: list[str] = Field(min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = True
    timeout_s: float = Field(10, gt=0)
    allow_private: bool = Field(False, description=_ALLOW_PRIVATE)

    @model_validator(mode="after")
    def _destination(self) -> EmailChannel:
        _allowed_destination(self.host, self.allow_private)
        return self


class AlertmanagerChannel(Model):
    """A Prometheus Alertmanager: okrflow posts its alerts to ``<url>/api/v2/alerts`` (labels ``alertname``,
    ``okr_objective``, ``okr_key_result``, ``owner``, ``severity``, ``kind``), so Alertmanager's routing, silences,
    inhibition and receivers take over. Firing alerts are posted again on every run with ``endsAt`` one lease
    ahead, as Prometheus does; a resolved alert is posted with its ``endsAt`` at the resolving run."""

    type: Literal["alertmanager"]
    url: HttpSecretUrl = Field(description="Alertmanager's base URL, e.g. http://alertmanager:9093")
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="extra headers, e.g. Authorization")
    username: str | None = Field(None, description="basic auth user (with password)")
    password: SecretStr | None = Field(None, description="basic auth password, e.g. ${ALERTMANAGER_PASSWORD}")
    timeout_s: float = Field(10, gt=0)
    lease: Duration | None = Field(
        None,
        description="how long a firing alert stays firing in Alertmanager without being posted again (its endsAt); "
        "default 4 x the longest gap between two scheduled runs (1h for */15)",
    )
    allow_private: bool = Field(False, description=_ALLOW_PRIVATE)

    @model_validator(mode="after")
    def _destination(self) -> AlertmanagerChannel:
        if (self.username is None) != (self.password is None):
            raise ValueError("basic auth needs both username and password")
        _allowed_destination(_url_host(self.url.get_secret_value()), self.allow_private)
        return self


Channel = Annotated[WebhookChannel | SlackChannel | EmailChannel | AlertmanagerChannel, Field(discriminator="type")]


class Owner(Model):
    """A person or team that receives alerts on the named channels."""

    channels: list[Id] = Field(default_factory=list)


class AlertDefaults(Model):
    """When alerts fire and repeat, and where unowned ones go.

    ``for`` is how long a condition must hold, in slot time from the first run that saw it (as in Prometheus
    alerting rules); ``for_runs`` counts consecutive runs instead. With both set, both must hold; with only
    ``for_runs`` set, ``for`` is 0s (the count alone decides, as it did before ``for`` existed).
    Drift and source errors fire on the first run that sees them.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    for_: Duration = Field(
        timedelta(minutes=30),
        alias="for",
        description="how long (slot time) a condition must hold before it fires; 0s when only for_runs is set",
    )
    for_runs: int | None = Field(None, ge=1, description="consecutive runs a condition must also hold")
    repeat_interval: Duration = Field(timedelta(hours=24))
    channels: list[Id] = Field(default_factory=list, description="channels used when no owner has any")
    retry_backoff: Duration = Field(timedelta(seconds=30), description="first retry delay of a failed delivery")
    max_backoff: Duration = Field(timedelta(hours=1), description="longest delay between delivery retries")
    link: str | None = Field(None, description="URL put in messages, e.g. where the HTML report is published")
    group: str | None = Field(
        None,
        min_length=1,
        max_length=160,
        description="alert group: configs sharing a store with their own alert state name distinct groups",
    )

    @model_validator(mode="before")
    @classmethod
    def _for_runs_alone(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("for_runs") is not None and "for" not in data and "for_" not in data:
            return {**data, "for": timedelta(0)}
        return data


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
