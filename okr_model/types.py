"""Small value types shared by the config schema: durations, targets and confidence bands."""

from __future__ import annotations

import math
import re
from datetime import date, timedelta
from typing import Annotated, Any, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

__all__ = [
    "EARLIEST_DATE",
    "LATEST_DATE",
    "MAINTAIN_KINDS",
    "Band",
    "ConfigDate",
    "Duration",
    "Id",
    "Model",
    "Target",
    "duration_text",
    "parse_duration",
    "parse_target",
]

MAINTAIN_KINDS = ("maintain_above", "maintain_below")
"""Kinds that hold a threshold all cycle long (scored by the share of time held), not progress toward a target."""

Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$", max_length=128)]
"""An identifier users type on the command line: letters, digits, ``_ . : -``."""

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """Read ``90s``, ``15m``, ``24h``, ``7d``, ``2w`` or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return timedelta(seconds=value)
        if isinstance(value, str) and (match := _DURATION.match(value)):
            return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    except (OverflowError, ValueError):  # inf, nan or beyond timedelta's ~2.7 million years
        pass
    raise PydanticCustomError(
        "duration", "expected a duration such as 30s, 15m, 24h or 7d (got {value})", {"value": repr(value)}
    )


def _format_duration(value: timedelta) -> str:
    return f"{value.total_seconds():g}s"


def duration_text(value: timedelta) -> str:
    """A duration for messages, as a config writes it: ``15m``, ``2h``, ``7d``, ``90s`` (the largest whole unit)."""
    seconds = value.total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(_format_duration, return_type=str),
    WithJsonSchema({"type": ["string", "number"], "pattern": _DURATION.pattern, "description": "e.g. 15m, 24h, 7d"}),
]


class Band(NamedTuple):
    """A confidence band: ``low`` is the committed outcome, ``high`` the stretch."""

    low: float
    high: float


def _finite_number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        return float(value) if math.isfinite(value) else None
    except OverflowError:  # an integer literal too large for a float
        return None


def parse_target(value: Any) -> float | Band:
    """A target is one finite number or a ``[low, high]`` pair of finite numbers."""
    if isinstance(value, Band):
        return value
    number = _finite_number(value)
    if number is not None:
        return number
    if isinstance(value, (list, tuple)) and len(value) == 2:
        low, high = (_finite_number(v) for v in value)
        if low is not None and high is not None:
            if low == high:
                raise PydanticCustomError(
                    "band", "a [low, high] band needs two different numbers (got {value})", {"value": repr(value)}
                )
            return Band(low, high)
    raise PydanticCustomError(
        "target", "expected a number or a [low, high] pair of numbers (got {value})", {"value": repr(value)}
    )


Target = Annotated[
    float | Band,
    BeforeValidator(parse_target),
    PlainSerializer(lambda v: list(v) if isinstance(v, Band) else v),
    WithJsonSchema(
        {
            "oneOf": [
                {"type": "number"},
                {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2},
            ],
            "description": "a number, or a [low, high] confidence band (low = committed, high = stretch)",
        }
    ),
]


class Model(BaseModel):
    """Every config model is immutable and rejects unknown keys."""

    model_config = ConfigDict(frozen=True, extra="forbid")


EARLIEST_DATE, LATEST_DATE = date(2000, 1, 1), date(2100, 12, 31)
"""Config dates lie in this range: far from the ends of ``datetime``, so runs never overflow computing with them."""


def _sane_date(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"date {value} is outside {EARLIEST_DATE}..{LATEST_DATE}, the range okrflow computes with")
    return value


ConfigDate = Annotated[date, AfterValidator(_sane_date)]
