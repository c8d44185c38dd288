"""The one ``max_age`` rule (connectors.base.apply_max_age), used by the pipeline, MLflow and Prometheus."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from okrflow.connectors.base import Measurement, apply_max_age
from okrflow.flows.fetching import _stale
from okrflow.okr_model.config import KeyResult

AS_OF = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("age", "max_age", "stale"),
    [
        (timedelta(minutes=5), timedelta(minutes=5), False),  # exactly max_age old still counts
        (timedelta(minutes=5, seconds=1), timedelta(minutes=5), True),
        (timedelta(days=3), None, False),  # no max_age: never stale
        (-timedelta(minutes=1), timedelta(0), False),  # observed after as_of (clock skew): not stale
    ],
)
def test_stale_only_when_older_than_max_age(age, max_age, stale):
    m = apply_max_age(Measurement.ok(1.0, AS_OF - age, source="s"), max_age, AS_OF)
    assert (m.status == "no_data") is stale
    assert m.lineage == {"source": "s"}


def test_the_message_names_the_observation_max_age_and_as_of():
    m = apply_max_age(Measurement.ok(1.0, AS_OF - timedelta(hours=3)), timedelta(minutes=90), AS_OF)
    assert m.detail == (
        "stale: last observation at 2026-11-02T09:00:00+00:00 is older than max_age 90m (as of 2026-11-02T12:00:00+00:00)"
    )


@pytest.mark.parametrize("m", [Measurement.no_data("nothing"), Measurement.error("boom"), Measurement.ok(1.0)], ids=str)
def test_only_an_ok_measurement_with_a_time_can_be_stale(m):
    assert apply_max_age(m, timedelta(0), AS_OF) is m


@given(
    age=st.timedeltas(min_value=timedelta(days=-2), max_value=timedelta(days=30)),
    max_age=st.none() | st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
)
def test_stale_exactly_when_age_exceeds_max_age(age, max_age):
    fresh = Measurement.ok(2.5, AS_OF - age, query_hash="abc")
    m = apply_max_age(fresh, max_age, AS_OF)
    if max_age is not None and age > max_age:
        assert (m.status, m.value, m.observed_at, dict(m.lineage)) == ("no_data", None, None, {"query_hash": "abc"})
        assert m.detail.startswith("stale: last observation at ")
    else:
        assert m is fresh


def test_the_pipeline_judges_age_as_of_slot_minus_offset():
    kr = KeyResult.model_validate(
        {"id": "k", "kind": "increase", "baseline": 0, "target": 1,
         "metric": {"source": "s", "offset": "1h", "max_age": "2h"}}
    )  # fmt: skip
    observed = AS_OF - timedelta(hours=3)  # 3 h before the slot, 2 h before the slot minus offset
    assert _stale(Measurement.ok(1.0, observed), kr, AS_OF).status == "ok"
    late = _stale(Measurement.ok(1.0, observed - timedelta(seconds=1)), kr, AS_OF)
    assert late.detail.endswith("older than max_age 2h (as of 2026-11-02T11:00:00+00:00)")
