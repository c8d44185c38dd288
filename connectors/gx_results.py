"""A suite's validation as plain data (no GX objects outlive a validation), and the rules that read it.

Inline suites, project checkpoints and suites, and stored project results all end up as one ``SuiteRun``:
the gate and the metric forms read that, whatever produced it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from okrflow.connectors.base import GateOutcome, Measurement
from okrflow.connectors.gx_catalog import describe

__all__ = [
    "Outcome",
    "SuiteRun",
    "broken",
    "exception_text",
    "first_line",
    "gate",
    "number",
    "outcomes_of",
    "plain",
    "pydantic_text",
]


@dataclass(frozen=True)
class Outcome:
    """One expectation's result."""

    label: str
    success: bool
    figures: dict[str, Any]
    exception: str | None = None

    def summary(self) -> str:
        if self.exception:
            return f"{self.label} [raised: {self.exception}]"
        if isinstance(self.figures.get("unexpected_percent"), (int, float)):
            return f"{self.label} [{self.figures['unexpected_percent']:.4g}% unexpected]"
        if "observed_value" in self.figures:
            return f"{self.label} [observed {str(self.figures['observed_value'])[:60]}]"
        return self.label


@dataclass(frozen=True)
class SuiteRun:
    """A suite's validation, or why it could not run (``error``); ``validated_at`` is when a stored result ran."""

    data: str
    error: str | None = None
    rows: int | None = 0
    success_percent: float | None = None
    outcomes: tuple[Outcome, ...] = ()
    validated_at: datetime | None = None
    lineage: tuple[tuple[str, Any], ...] = ()
    """What produced it beyond the suite (checkpoint, project suite, stored run time), for the measurement."""
    missing: bool = False
    """Nothing to read (no stored result as of the slot): ``error`` says so; a metric is no_data, a gate an error."""


def outcomes_of(results: Iterable[Any]) -> tuple[Outcome, ...]:
    """GX ``ExpectationValidationResult`` objects -> outcomes, in the order given."""
    out = []
    for r in results:
        config = r.expectation_config
        figures = {k: plain(r.result[k]) for k in ("unexpected_percent", "observed_value") if k in (r.result or {})}
        label = describe(config.type, {k: v for k, v in config.kwargs.items() if k != "batch_id"})
        out.append(Outcome(label, bool(r.success), figures, exception_text(r.exception_info)))
    return tuple(out)


def gate(suite: str, run: SuiteRun) -> GateOutcome:
    """A quality gate's verdict on one validation."""
    if run.error is not None:
        return GateOutcome("error", f"suite {suite!r} could not run: {run.error}")
    if problem := broken(suite, run):
        return GateOutcome("error", problem)
    on = f"on {run.rows} rows of {run.data}" if run.rows is not None else f"on {run.data}"
    failed = [o for o in run.outcomes if not o.success]
    if not failed:
        return GateOutcome("passed", f"all {len(run.outcomes)} expectations passed {on}")
    return GateOutcome(
        "failed",
        f"{len(failed)} of {len(run.outcomes)} expectations failed {on}: " + "; ".join(o.summary() for o in failed),
    )


def number(value: Any, what: str, at: datetime, lineage: dict[str, Any]) -> Measurement:
    if value is None:
        return Measurement.no_data(f"{what} is empty (no rows it applies to)", **lineage)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return Measurement.no_data(f"{what} is not a finite number (got {str(value)[:60]!r})", **lineage)
    return Measurement.ok(float(value), observed_at=at, **lineage)


def plain(value: Any) -> Any:
    """numpy scalars -> Python numbers, so results compare, hash and serialise plainly."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (list, dict, str)):
        try:
            return item()
        except (TypeError, ValueError):
            return value
    return value


def broken(suite: str, run: SuiteRun) -> str | None:
    """Why a suite is a broken check (an expectation raised, e.g. it names a missing column), or None."""
    raised = [o.summary() for o in run.outcomes if o.exception is not None]
    if not raised:
        return None
    return (
        f"suite {suite!r} is a broken check, not bad data: {len(raised)} of {len(run.outcomes)} expectations "
        f"could not be evaluated on {run.data}: " + "; ".join(raised)
    )


def exception_text(info: Any) -> str | None:
    """The first exception message GX recorded for an expectation (flat or keyed by metric)."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "raised an exception")
    for nested in info.values():
        if isinstance(nested, dict) and nested.get("raised_exception"):
            return str(nested.get("exception_message") or "raised an exception")
    return None


def pydantic_text(exc: BaseException) -> str:
    """A GX (pydantic v1) validation error as ``field: message; ...`` instead of its multi-line text."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors())[:300]
        except (TypeError, KeyError):
            pass
    return first_line(exc)


def first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]
