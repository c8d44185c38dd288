"""A cycle's edges: which instants a run may be scored at, and how a time the user typed is read. Pure.

A cycle is [start, end) in the config's time zone: its first day's midnight to the midnight after its last day,
held as UTC instants so that lengths and elapsed shares count real time across a DST change. A run belongs to
the cycle that contains its slot; one outside it is refused (the config holds one cycle), so nothing after the
end changes the cycle's stored result: the result freezes when the cycle ends. ``Cycle`` is the config's
``cycle:`` block (re-exported by ``okr_model.config``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from okrflow.okr_model.errors import OkrflowError
from okrflow.okr_model.types import ConfigDate, Model
from pydantic import Field, model_validator

if TYPE_CHECKING:
    from okrflow.okr_model.config import Config

__all__ = ["Cycle", "OutsideCycle", "check_in_cycle", "describe_instant", "read_instant"]


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


class OutsideCycle(OkrflowError):
    """A run's slot lies outside the config's cycle: before it starts, or after it ended (its result is frozen)."""


def read_instant(value: datetime, tz: tzinfo) -> datetime:
    """A time the user wrote, as an aware UTC instant: a naive one is read in the config's time zone."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=tz)
    return aware.astimezone(UTC)


def describe_instant(at: datetime, tz: tzinfo) -> str:
    """``2026-10-01T00:00:00-07:00 (2026-10-01T07:00:00Z)``: the local time and the UTC instant it resolves to."""
    local = at.astimezone(tz).isoformat()
    utc = at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return local if local.endswith("+00:00") else f"{local} ({utc})"


def check_in_cycle(config: Config, slot: datetime) -> None:
    """Raise ``OutsideCycle`` unless ``slot`` lies in [cycle start, cycle end)."""
    start, end = config.cycle_bounds()
    cycle = config.cycle
    when = describe_instant(slot, config.tz)
    if slot < start:
        raise OutsideCycle(
            f"{when} is before cycle {cycle.name}, which starts on {cycle.start} ({config.timezone}); "
            "a run is scored in the cycle that contains it: this config holds only that cycle"
        )
    if slot >= end:
        raise OutsideCycle(
            f"cycle {cycle.name} ended on {cycle.end} ({config.timezone}); its result is frozen "
            f"(okrflow status shows it), so a run at {when} is not scored into it; "
            "start the next cycle by changing cycle: in the config"
        )
