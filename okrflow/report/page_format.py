"""A KR's numbers, times and statuses as the report's page shows them, formatted once per KR in Python (one
template call per row instead of one per cell; each call through Jinja2 costs more than the formatting)."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from okrflow.connectors.mlflow_lineage import describe_model
from okrflow.okr_model import formatting
from okrflow.okr_model.config import Config, KeyResult
from okrflow.okr_model.scoring import describe_gates
from okrflow.okr_model.types import MAINTAIN_KINDS
from okrflow.store import KRResult

__all__ = ["STATUSES", "Facts", "Formatter"]

STATUSES = ("on_track", "at_risk", "off_track", "no_data")


class Facts(NamedTuple):
    """A KR's result as its tree row and its card show it, formatted once: one call from the template per row
    instead of one per cell (each call through Jinja2 costs more than the formatting)."""

    status: str
    label: str  # the status as words
    baseline: str
    target: str
    value: str
    score: str
    expected: str
    forecast: str
    note: str


class Formatter:
    """Numbers, times and statuses as people read them; times in the config's time zone."""

    def __init__(self, config: Config):
        self.tz = config.tz
        self.zone = config.timezone

    def time(self, value: datetime | None) -> str:
        return value.astimezone(self.tz).strftime("%Y-%m-%d %H:%M") if value else "-"

    def axis(self, value: datetime) -> str:
        """Plotly reads naive date strings (it drops zones), so chart times are written in the config's zone."""
        return value.astimezone(self.tz).strftime("%Y-%m-%d %H:%M:%S")

    num = staticmethod(formatting.quantity)  # value with unit, "-" when missing
    score = staticmethod(formatting.score)

    @staticmethod
    def status(value: str | None) -> str:
        """A known status (it names a CSS class), else no_data."""
        return value if value in STATUSES else "no_data"

    def value(self, result: KRResult | None, unit: str | None) -> str:
        return self.num(result.value if result and result.measurement == "ok" else None, unit)

    def target(self, kr: KeyResult) -> str:
        return formatting.target(kr.target, kr.unit)

    def expected(self, kr: KeyResult, result: KRResult | None) -> str:
        """The score the KR is judged against: maintain KRs must hold their success score all cycle long."""
        if result is None:
            return "-"
        return self.score(kr.success_score if kr.kind in MAINTAIN_KINDS else result.expected)

    def forecast(self, result: KRResult | None) -> str:
        fc = result.forecast if result else None
        return f"{self.score(fc['score'])} ({self.score(fc['low'])}-{self.score(fc['high'])})" if fc else "-"

    def facts(self, kr: KeyResult, r: KRResult | None) -> Facts:
        status = self.status(r.status if r else None)
        return Facts(
            status,
            status.replace("_", " "),
            self.num(kr.baseline, kr.unit),
            self.target(kr),
            self.value(r, kr.unit),
            self.score(r.score if r else None),
            self.expected(kr, r),
            self.forecast(r),
            self.note(r),
        )

    def note(self, r: KRResult | None) -> str:
        """Why the status, and why a score is not simply the rules applied to the value: overrides, gates, held
        scores, missing data."""
        if r is None:
            return "not evaluated yet"
        parts = [r.reason] if r.reason else []  # why the status (results read from history have none)
        if r.overridden:
            parts.append(f"override (computed {self.score(r.computed_score)})")
        if r.gates:
            parts.append(describe_gates(r.gates, r.held))
        elif r.held:
            parts.append("score held")
        if r.measurement != "ok" and r.detail:
            parts.append(f"{r.measurement}: {r.detail}")
        model = describe_model(r.lineage)  # which model version produced the value (MLflow KRs)
        if model:
            parts.append(f"model {model}")
        return "; ".join(parts)
