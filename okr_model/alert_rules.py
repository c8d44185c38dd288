"""When alerts fire: the drift rule (``drift:`` on a KR and in ``defaults``) and ``defaults.alerts``."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from okrflow.okr_model.types import Duration, Id, Model
from pydantic import ConfigDict, Field, WithJsonSchema, model_validator

__all__ = ["DEFAULT_DRIFT", "AlertDefaults", "DriftRule"]


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
