"""The config's ``schedule``: the one place that reads it. Pure.

A schedule is a 5-field cron (read by cronsim, in the config's time zone), a cron macro (``@daily``: cronsim
reads none, so they are spelled out here) or ``@every DURATION``. One parse answers everything asked of it:
is it valid (config validation), which slots lie in a span (catch-up), what is the longest gap between two
runs (maintain time, the Alertmanager lease) and what Prefect is given (a cron string or an interval).

``@every`` slots sit on whole multiples of the interval from ``INTERVAL_ANCHOR`` in the config's zone, as
Prefect's ``Interval(anchor_date=...)`` lays them out: whole days on the zone's wall clock (a daily run stays at
its hour across DST), shorter intervals in real time. So catch-up finds the very slots ``okrflow serve`` ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property, lru_cache
from zoneinfo import ZoneInfo

from okrflow.okr_model.types import parse_duration
from pydantic_core import PydanticCustomError

__all__ = ["INTERVAL_ANCHOR", "INTERVAL_PREFIX", "MACROS", "SCHEDULE_SAMPLE", "Schedule", "check_schedule"]

INTERVAL_PREFIX = "@every"
INTERVAL_ANCHOR = (2026, 1, 1)
"""``@every`` slots fall on whole multiples of the interval from this date (in the config's zone), so the slots of
a restarted ``serve`` line up with the earlier ones instead of shifting with the start time."""
SCHEDULE_SAMPLE = 200
"""Fires of a cron schedule read to find its longest gap (a weekday schedule's weekend is inside 200 fires)."""
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_FIELDS = (  # name as cronsim says it, name for people, lowest, highest, names allowed in place of numbers
    ("minute", "minute", 0, 59, ()),
    ("hour", "hour", 0, 23, ()),
    ("day-of-month", "day of month", 1, 31, ()),
    ("month", "month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")),
    ("day-of-week", "day of week", 0, 7, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")),
)
_EXPECTED = (
    "expected a 5-field cron (minute hour day-of-month month day-of-week, e.g. '*/15 * * * *'), "
    "a macro such as @daily, or '@every 10m'"
)


def _parse_every(value: str, text: str) -> timedelta:
    """``@every DURATION``: whole seconds, at least one."""
    try:
        interval = parse_duration(text.removeprefix(INTERVAL_PREFIX).strip())
    except PydanticCustomError:
        raise ValueError(f"{value!r}: expected @every DURATION such as '@every 10m' or '@every 30s'") from None
    seconds = interval.total_seconds()
    if seconds < 1 or seconds != int(seconds):
        raise ValueError(f"{value!r}: @every needs a whole number of seconds, at least 1s")
    return interval


def _explain(value: str, fields: list[str], reason: str) -> str:
    """Why cronsim refused a cron, for people: the field it named, with its allowed values."""
    for text, (cronsim_name, name, low, high, names) in zip(fields, _FIELDS, strict=True):
        if cronsim_name not in reason.lower():
            continue
        allowed = f"{low}-{high}" + (f" or {names[0]}..{names[-1]}" if names else "")
        for item in text.lower().split(","):
            bounds, _, step = item.partition("/")
            if step == "0" or (step and not step.isdigit()):
                return f"{value!r}: {name} field {text!r}: expected *, N, N-M or */STEP"
            for bound in bounds.split("-") if bounds != "*" else ():
                if bound not in names and not (bound.isdigit() and low <= int(bound) <= high):
                    return f"{value!r}: {name} {bound!r} is not in {allowed}"
        return f"{value!r}: {name} field {text!r} never matches or is malformed (expected *, N, N-M or */STEP in {allowed})"
    return f"{value!r}: {reason}"


@dataclass(frozen=True)
class Schedule:
    """A valid schedule in a time zone: ``cron`` (five fields) or ``interval`` is set, never both."""

    text: str
    timezone: str = "UTC"

    @classmethod
    def parse(cls, value: str, timezone: str = "UTC") -> Schedule:
        """Validate ``value``; a ValueError says what is wrong and what is expected."""
        return cls(check_schedule(value), timezone)

    @cached_property
    def interval(self) -> timedelta | None:
        """The interval of an ``@every`` schedule; None for a cron."""
        return _parse_every(self.text, self.text) if self.text.startswith(INTERVAL_PREFIX) else None

    @property
    def cron(self) -> str | None:
        """The cron as five fields (macros spelled out); None for ``@every``."""
        return None if self.text.startswith(INTERVAL_PREFIX) else MACROS.get(self.text.lower(), self.text)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def anchor(self) -> datetime:
        """Where ``@every`` slots are counted from (Prefect's ``anchor_date``)."""
        return datetime(*INTERVAL_ANCHOR, tzinfo=self.tz)

    def slots(self, after: datetime, until: datetime, limit: int = 100_000) -> list[datetime]:
        """The slots in (after, until), oldest first, in UTC (so subtracting two gives real time, not wall clock)."""
        slots: list[datetime] = []
        fires = self._every_after(after) if self.interval is not None else self._cron_after(after)
        for slot in fires:
            if slot >= until or len(slots) >= limit:
                break
            slots.append(slot.astimezone(UTC))
        return slots

    def longest_gap(self, start: datetime) -> timedelta:
        """The longest time between two runs: an ``@every`` its interval, a cron its widest gap from ``start``."""
        return self.interval if self.interval is not None else _cron_gap(self.cron or "", self.timezone, start)

    def _cron_after(self, after: datetime) -> Iterator[datetime]:
        from cronsim import CronSim

        return CronSim(self.cron or "", after.astimezone(self.tz))

    def _every_after(self, after: datetime) -> Iterator[datetime]:
        after = after.astimezone(UTC)  # compared in UTC: one zone's datetimes compare by wall clock
        count = (after - self.anchor) // (self.interval or timedelta(1))  # exact for real time, close for days
        while self._every_slot(count) > after:
            count -= 1
        while True:
            count += 1
            slot = self._every_slot(count)
            if slot > after:
                yield slot

    def _every_slot(self, count: int) -> datetime:
        """The ``count``-th slot from the anchor, in UTC: whole days added on the wall clock, the rest in real time."""
        step = self.interval or timedelta(0)
        wall = self.anchor.replace(tzinfo=None) + timedelta(days=count * step.days)
        return wall.replace(tzinfo=self.tz).astimezone(UTC) + count * (step - timedelta(days=step.days))


@lru_cache(maxsize=64)
def _cron_gap(cron: str, tz_name: str, start: datetime) -> timedelta:
    from cronsim import CronSim

    fires = CronSim(cron, start.astimezone(ZoneInfo(tz_name)))
    previous = next(fires)
    widest = timedelta(0)
    for _ in range(SCHEDULE_SAMPLE):
        fire = next(fires)
        widest = max(widest, fire.astimezone(UTC) - previous.astimezone(UTC))  # real time, not wall clock
        previous = fire
    return widest


def check_schedule(value: str) -> str:
    """The schedule as written, normalized (cron fields single-spaced), or a ValueError saying what is expected.

    cronsim decides whether a cron is valid (so a cron that validates is one every reader can walk: ``0 0 31 2 *``
    never fires and is refused); the field table only explains its refusals."""
    text = value.strip()
    if text.startswith(INTERVAL_PREFIX):
        _parse_every(value, text)
        return text
    if text.lower() in MACROS:
        return text
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"{value!r}: {_EXPECTED}")
    from cronsim import CronSim, CronSimError

    try:
        CronSim(" ".join(fields), datetime(*INTERVAL_ANCHOR))
    except CronSimError as exc:
        raise ValueError(_explain(value, fields, str(exc))) from None
    return " ".join(fields)
