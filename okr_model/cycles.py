"""A cycle's edges: which instants a run may be scored at, and how a time the user typed is read. Pure.

A cycle is [start, end) in the config's time zone: its first day's midnight to the midnight after its last day,
held as UTC instants so that lengths and elapsed shares count real time across a DST change. A run belongs to
the cycle that contains its slot; one outside it is refused (the config holds one cycle), so nothing after the
end changes the cycle's stored result: the result freezes when the cycle ends.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from okrflow.okr_model.config import Config
from okrflow.okr_model.errors import OkrflowError

__all__ = ["OutsideCycle", "check_in_cycle", "describe_instant", "read_instant"]


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
