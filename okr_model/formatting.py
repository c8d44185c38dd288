"""How values, units, targets and scores read to people, written once for every surface that shows them.

The status and history tables, the HTML report, alert messages, alert explanations and drift descriptions all
call these; none formats a value, a target or a score on its own. Pure string functions, no I/O.

Two precisions, on purpose:

- ``number``: four significant digits, what a person scans in a table or a sentence (231.456 -> ``231.5``);
  from 10,000 up the whole number (12345.6 -> ``12346``, not ``1.235e+04``).
- ``exact_number``: an alert carries the value someone acts on: whole numbers whole, two decimals from 1 up,
  six significant digits below 1 (0.4123 -> ``0.4123``, 12345.678 -> ``12345.68``, 1e-07 -> ``1e-07``).

Machine-readable output (the report's chart data) uses ``rounded``: a float to five significant digits, an
int when whole, None when not finite (JSON has no spelling for NaN or infinity).

A unit follows its number after a space (``231.5 ms``), except ``%``, which is written against it (``99.9%``).
A missing number is a word the caller picks (``-`` in tables, ``no data`` in sentences), never 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from okrflow.okr_model.types import Band

__all__ = ["exact_number", "number", "quantity", "rounded", "score", "target", "target_words", "with_unit"]

Digits = Callable[[float], str]


def number(x: float) -> str:
    """Four significant digits; the whole number from 10,000 up."""
    return f"{x:.0f}" if abs(x) >= 1e4 else f"{x:.4g}"


def exact_number(x: float) -> str:
    """Short and exact enough to act on: 0.4123 -> 0.4123, 12345.678 -> 12345.68, 1e-07 -> 1e-07."""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    if 1e-3 <= abs(x) < 1e6:
        return f"{x:.6g}" if abs(x) < 1 else f"{x:.2f}".rstrip("0").rstrip(".")
    return f"{x:.4g}"


def with_unit(text: str, unit: str | None) -> str:
    """``text`` followed by ``unit``: after a space, except ``%``."""
    if not unit:
        return text
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}"


def quantity(x: float | None, unit: str | None = None, *, missing: str = "-", digits: Digits = number) -> str:
    """A value with its unit, or ``missing`` when there is none."""
    return missing if x is None else with_unit(digits(x), unit)


def _ends(value: Band | Sequence[float]) -> tuple[float, float]:
    if isinstance(value, Band):
        return value.low, value.high
    low, high = value
    return low, high


def target(value: float | Band | Sequence[float] | None, unit: str | None = None, *, missing: str = "-") -> str:
    """A target in a table cell: one threshold (``200 ms``), or a band with the unit once (``0.87-0.92``)."""
    if value is None:
        return missing
    if isinstance(value, (int, float)):
        return quantity(value, unit)
    low, high = _ends(value)
    return with_unit(f"{number(low)}-{number(high)}", unit)


def target_words(
    value: float | Band | Sequence[float] | None,
    unit: str | None = None,
    *,
    missing: str = "none",
    digits: Digits = number,
) -> str:
    """A target in a sentence: one threshold, or a band as ``0.87 to 0.92`` with the unit on both ends."""
    if value is None:
        return missing
    if isinstance(value, (int, float)):
        return quantity(value, unit, digits=digits)
    low, high = _ends(value)
    return f"{quantity(low, unit, digits=digits)} to {quantity(high, unit, digits=digits)}"


def score(value: float | None, missing: str = "-") -> str:
    """A score (0..1) with two decimals."""
    return missing if value is None else f"{value:.2f}"


def rounded(value: float, digits: int = 5) -> float | int | None:
    """``value`` to ``digits`` significant digits for JSON: an int when whole (the shortest spelling), None (a
    gap in a chart's line) when not finite."""
    if not math.isfinite(value):
        return None
    near = float(f"{value:.5g}" if digits == 5 else f"{value:.{digits}g}")  # a fixed spec: 0.5 us, not 0.8
    return int(near) if near.is_integer() and abs(near) < 1e15 else near
