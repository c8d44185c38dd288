"""What a notification says, independent of how it is delivered: ``Alert`` and ``Message``.

A ``Message`` is what the outbox stores (as JSON, see ``to_json``) and what every channel renders;
it is built once per owner per run by the alert state machine, so a retry sends exactly the same
content with the same ``id`` (receivers dedupe on it). Both classes are frozen and validate their
invariants on construction, so a message that cannot be serialised never reaches the outbox.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta, timezone
from typing import Any, Literal, get_args

__all__ = ["STORAGE_VERSION", "Alert", "AlertKind", "AlertState", "Forecast", "Message", "WorstKR"]

AlertKind = Literal["off_track", "at_risk", "drift", "no_data", "source_error"]
AlertState = Literal["firing", "resolved"]

STORAGE_VERSION = 1
"""Version of the outbox JSON written by ``Message.to_json``; ``from_json`` refuses others."""

_KIND_PHRASE = {
    "off_track": "is off track",
    "at_risk": "is at risk",
    "drift": "drifted",
    "no_data": "has no data",
    "source_error": "cannot be read",
}


def _finite(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number or None, not {type(value).__name__}")
    try:
        finite = math.isfinite(value)
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
        raise ValueError(f"{name} must be finite (a missing value is None), got {value!r}")
    return float(value)


def _fixed_offset(name: str, value: datetime | None) -> datetime | None:
    """Aware, and on a fixed UTC offset: what ISO 8601 can carry, so that JSON round trips compare equal.

    (A ``ZoneInfo`` datetime in a DST fold compares unequal to any other zone's datetime, PEP 495.)
    """
    if value is None:
        return None
    offset = value.utcoffset()
    if offset is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value.isoformat()}")
    return value.replace(tzinfo=timezone(offset), fold=0)


@dataclass(frozen=True)
class WorstKR:
    """One of an objective's lowest-scoring key results, named in the objective's alert."""

    kr_id: str
    score: float | None
    status: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "score", _finite("score", self.score))


@dataclass(frozen=True)
class Forecast:
    """The end-of-cycle projection of a KR's score, with its interval."""

    score: float
    low: float
    high: float

    def __post_init__(self) -> None:
        for name in ("score", "low", "high"):
            object.__setattr__(self, name, _finite(name, getattr(self, name)))


@dataclass(frozen=True)
class Alert:
    """One key result's (or one source's) alert as of this run.

    ``target`` is a number or a ``[low, high]`` band; a list or a ``Band`` is stored as a tuple so
    that alerts stay hashable. ``change`` says what moved since the last message in words,
    ``query`` is the metric binding rendered without secrets, ``grouped`` lists child KRs folded
    under this alert by the cascade rule, and ``grouped_under`` names the objective whose alert carries this
    one to that objective's owner (the KR's own owner gets this copy). ``detail`` is why, in words; the fields
    after ``source`` are the facts it rests on.
    """

    fingerprint: str
    kind: AlertKind
    state: AlertState
    kr_id: str | None  # None for a source_error or an objective's own alert
    kr_title: str | None
    objective_id: str | None
    objective_title: str | None
    owner: str | None
    value: float | None
    unit: str | None
    target: float | tuple[float, ...] | None
    score: float | None
    status: str
    change: str
    query: str
    detail: str
    grouped: tuple[str, ...] = ()
    since: datetime | None = None
    source: str | None = None  # the source id of the binding; names a source_error
    expected: float | None = None  # the score expected at this point of the cycle
    forecast: Forecast | None = None  # the end-of-cycle projection, when the KR has one
    forecast_drove: bool = False  # the forecast, not today's pace, made the status
    held_share: float | None = None  # maintain KRs: share of the cycle's time the threshold held
    level_before: float | None = None  # drift: the level the metric moved from (reference)
    level_after: float | None = None  # drift: where it is now
    model_version: str | None = None  # MLflow: the registered model version measured
    model_version_before: str | None = None  # MLflow: the version at the last message, when it differs
    worst: tuple[WorstKR, ...] = ()  # objective alerts: its lowest-scoring key results
    grouped_under: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in get_args(AlertKind):
            raise ValueError(f"alert kind must be one of {get_args(AlertKind)}, got {self.kind!r}")
        if self.state not in get_args(AlertState):
            raise ValueError(f"alert state must be one of {get_args(AlertState)}, got {self.state!r}")
        if not (self.kr_id or self.objective_id or self.source):
            raise ValueError(f"a {self.kind} alert must name a key result, an objective or a source")
        for name in ("value", "score"):
            object.__setattr__(self, name, _finite(name, getattr(self, name)))
        if isinstance(self.target, list | tuple):
            object.__setattr__(self, "target", tuple(_finite("target", t) for t in self.target))
        else:
            object.__setattr__(self, "target", _finite("target", self.target))
        object.__setattr__(self, "grouped", tuple(self.grouped))
        object.__setattr__(self, "since", _fixed_offset("since", self.since))
        for name in ("expected", "held_share", "level_before", "level_after"):
            object.__setattr__(self, name, _finite(name, getattr(self, name)))
        if isinstance(self.forecast, dict):
            object.__setattr__(self, "forecast", Forecast(**self.forecast))
        object.__setattr__(self, "worst", tuple(WorstKR(**w) if isinstance(w, dict) else w for w in self.worst))

    @property
    def subject(self) -> str:
        """What the alert is about, as a person says it: the KR id, else the source or the objective."""
        if self.kr_id:
            return self.kr_id
        if self.source and (self.kind == "source_error" or not self.objective_id):
            return f"source {self.source}"
        return f"objective {self.objective_id}"

    @property
    def is_objective(self) -> bool:
        """An objective's own alert: it has a score and worst KRs, not a value and a target."""
        return self.kr_id is None and self.kind != "source_error"

    @property
    def headline(self) -> str:
        """``p95-latency is off track`` / ``p95-latency resolved``."""
        if self.state == "resolved":
            return f"{self.subject} resolved"
        return f"{self.subject} {_KIND_PHRASE[self.kind]}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["target"] = list(self.target) if isinstance(self.target, tuple) else self.target
        data["grouped"] = list(self.grouped)
        data["since"] = self.since.isoformat() if self.since else None
        data["worst"] = [asdict(w) for w in self.worst]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Alert:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown alert fields {sorted(unknown)}")
        values = dict(data)
        values["grouped"] = tuple(values.get("grouped") or ())
        since = values.get("since")
        values["since"] = datetime.fromisoformat(since) if since else None
        values["worst"] = tuple(WorstKR(**w) for w in values.get("worst") or ())
        forecast = values.get("forecast")
        values["forecast"] = Forecast(**forecast) if forecast else None
        return cls(**values)


@dataclass(frozen=True)
class Message:
    """One notification to one owner on one channel for one run slot."""

    id: str
    created_at: datetime
    slot: datetime
    owner: str
    channel: str
    alerts: tuple[Alert, ...]
    link: str | None = None
    valid_for: timedelta | None = None
    """How long its firing alerts stay valid without a newer message (Alertmanager's ``endsAt``: the schedule's lease)."""

    def __post_init__(self) -> None:
        if not self.id:
            raise ValueError("a message needs a non-empty id (receivers dedupe on it)")
        if not self.alerts:
            raise ValueError("a message needs at least one alert")
        object.__setattr__(self, "created_at", _fixed_offset("created_at", self.created_at))
        object.__setattr__(self, "slot", _fixed_offset("slot", self.slot))
        object.__setattr__(self, "alerts", tuple(self.alerts))

    @property
    def firing(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.state == "firing")

    @property
    def resolved(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.state == "resolved")

    @property
    def title(self) -> str:
        """One line for a subject or a header: what needs attention, for whom."""
        if len(self.alerts) == 1:
            return f"okrflow: {self.alerts[0].headline}"
        firing, resolved = len(self.firing), len(self.resolved)
        parts = []
        if firing:
            parts.append(f"{firing} key result{'s' if firing > 1 else ''} need{'' if firing > 1 else 's'} attention")
        if resolved:
            noun = "" if firing else f" key result{'s' if resolved > 1 else ''}"
            parts.append(f"{resolved}{noun} resolved")
        return f"okrflow: {', '.join(parts)} (owner {self.owner})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "storage_version": STORAGE_VERSION,
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "slot": self.slot.isoformat(),
            "owner": self.owner,
            "channel": self.channel,
            "alerts": [alert.to_dict() for alert in self.alerts],
            "link": self.link,
            "valid_for_s": self.valid_for.total_seconds() if self.valid_for is not None else None,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Message:
        version = data.get("storage_version")
        if version != STORAGE_VERSION:
            raise ValueError(
                f"cannot read a stored message of version {version!r} (this okrflow reads {STORAGE_VERSION})"
            )
        return cls(
            id=data["id"],
            created_at=datetime.fromisoformat(data["created_at"]),
            slot=datetime.fromisoformat(data["slot"]),
            owner=data["owner"],
            channel=data["channel"],
            alerts=tuple(Alert.from_dict(alert) for alert in data["alerts"]),
            link=data.get("link"),
            valid_for=timedelta(seconds=data["valid_for_s"]) if data.get("valid_for_s") is not None else None,
        )

    def to_json(self) -> str:
        """Strict JSON (no NaN), stable key order: what the outbox stores."""
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Message:
        return cls.from_dict(json.loads(text))
