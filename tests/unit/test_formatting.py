"""Values, units, targets and scores read the same in the table, the report, alerts and drift descriptions.

Issue 14 ("say things once"): views, the HTML report, alert rendering, alert explanations, message composing and
drift each formatted numbers on their own, with different unit rules (``99.5 %`` in the table, ``99.5%`` in
alerts). ``okrflow.okr_model.formatting`` is now the one place.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from okrflow.okr_model import formatting
from okrflow.okr_model.types import Band

ROOT = Path(__file__).resolve().parents[2]

finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300, max_value=1e300)


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (231.456, "231.5"),
        (0.12345, "0.1235"),
        (200.0, "200"),
        (12345.6, "12346"),
        (-12345.6, "-12346"),
        (1e-7, "1e-07"),
    ],
)
def test_number_reads_four_significant_digits_and_whole_numbers_from_ten_thousand(x: float, text: str) -> None:
    assert formatting.number(x) == text


@pytest.mark.parametrize(
    ("x", "text"),
    [
        (0.4123, "0.4123"),
        (12345.678, "12345.68"),
        (1e-07, "1e-07"),
        (3.0, "3"),
        (0.123456789, "0.123457"),
        (2.5, "2.5"),
    ],
)
def test_exact_number_keeps_what_an_alert_reader_acts_on(x: float, text: str) -> None:
    assert formatting.exact_number(x) == text


@pytest.mark.parametrize(
    ("x", "unit", "text"),
    [(231.456, "ms", "231.5 ms"), (99.91, "%", "99.91%"), (3.0, None, "3"), (3.0, "", "3"), (None, "ms", "-")],
)
def test_a_unit_follows_after_a_space_except_percent(x: float | None, unit: str | None, text: str) -> None:
    assert formatting.quantity(x, unit) == text


@pytest.mark.parametrize(
    ("target", "unit", "cell", "words"),
    [
        (200.0, "ms", "200 ms", "200 ms"),
        (Band(0.87, 0.92), None, "0.87-0.92", "0.87 to 0.92"),
        ((90.0, 95.0), "%", "90-95%", "90% to 95%"),
        ([0.5, 0.75], "s", "0.5-0.75 s", "0.5 s to 0.75 s"),
        (None, "s", "-", "none"),
    ],
)
def test_a_target_reads_as_a_cell_or_in_words(target: object, unit: str | None, cell: str, words: str) -> None:
    assert formatting.target(target, unit) == cell  # type: ignore[arg-type]
    assert formatting.target_words(target, unit) == words  # type: ignore[arg-type]


def test_a_missing_value_is_a_word_never_a_zero() -> None:
    assert formatting.quantity(None, "ms", missing="no data") == "no data"
    assert formatting.score(None) == "-" and formatting.score(None, missing="not scored") == "not scored"
    assert formatting.score(0.0) == "0.00" and formatting.score(0.695) == "0.69"


@given(finite)
def test_number_is_close_to_the_value(x: float) -> None:
    shown = float(formatting.number(x))
    assert math.isclose(shown, x, rel_tol=5e-4, abs_tol=0.5 if abs(x) >= 1e4 else 0.0)


@given(finite)
def test_exact_number_is_closer_still(x: float) -> None:
    shown = float(formatting.exact_number(x))
    assert math.isclose(shown, x, rel_tol=5e-4, abs_tol=0.005)


@given(finite, st.sampled_from([None, "", "%", "ms", "req/s"]))
def test_quantity_is_the_number_and_its_unit(x: float, unit: str | None) -> None:
    text = formatting.quantity(x, unit)
    assert text.startswith(formatting.number(x))
    assert text.endswith(unit or formatting.number(x))


SURFACES = [
    *sorted((ROOT / "okrflow" / "views").glob("*.py")),
    *sorted((ROOT / "okrflow" / "report").glob("*.py")),
    *sorted((ROOT / "okrflow" / "alerts").glob("*.py")),
    ROOT / "okr_model" / "drift.py",
]


def test_no_surface_formats_values_on_its_own() -> None:
    """Significant-digit formats (``:.4g``) and local number/unit helpers live only in ``okrflow.okr_model.formatting``."""
    own = re.compile(r"\{[^{}]*:\.\d+g\}|def (_fmt|_num|num|format_number|_with_unit|_short)\(")
    found = {p.name: own.findall(p.read_text()) for p in SURFACES if own.search(p.read_text())}
    assert not found, found


def test_a_maintain_reason_writes_its_threshold_as_the_table_does() -> None:
    """A sibling: pacing's reason wrote ``99.5 %`` while the table's value column wrote ``99.91%``."""
    from okrflow.okr_model.config import KeyResult
    from okrflow.okr_model.pacing import kr_pace

    uptime = KeyResult.model_validate(
        {"id": "uptime", "kind": "maintain_above", "unit": "%", "target": 99.5, "metric": {"source": "s"}}
    )
    assert kr_pace(uptime, 0.5, 99.2, 0.5).reason == "latest value 99.2 is below the threshold 99.5%"
    assert kr_pace(uptime, 1.0, 99.91, 0.5).reason.endswith("latest value 99.91 holds the threshold 99.5%")
