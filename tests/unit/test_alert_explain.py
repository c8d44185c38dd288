"""Why an alert fires, from one run's numbers (``okrflow.alerts.explain``) to what every medium shows (``render``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from okrflow.okr_model.config import KeyResult
from okrflow.okr_model.drift import DriftResult

from okrflow.alerts.explain import kr_facts
from okrflow.alerts.message import Alert
from okrflow.alerts.render import facts
from okrflow.store import KRResult

T0 = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
F1 = KeyResult.model_validate(
    {"id": "f1", "kind": "increase", "baseline": 0.79, "target": 0.9, "metric": {"source": "tracking"}}
)
LATENCY = KeyResult.model_validate(
    {"id": "p95", "kind": "maintain_below", "target": 0.2, "unit": "s", "metric": {"source": "prom"}}
)


def result(**fields: Any) -> KRResult:
    base: dict[str, Any] = dict(
        kr_id="f1",
        objective_id="o",
        value=0.85,
        measurement="ok",
        detail="",
        observed_at=T0,
        lineage={},
        score=0.55,
        computed_score=0.55,
        progress=0.55,
        status="on_track",
        expected=0.5,
    )
    return KRResult(**{**base, **fields})


def alert_of(kind: str, kr: KeyResult, r: KRResult, **facts_: Any) -> Alert:
    found = kr_facts(kind, True, kr, r, **facts_)
    fields = {name: getattr(found, name) for name in found.__dataclass_fields__}
    return Alert(
        "fp", kind, "firing", kr.id, None, "o", None, None, r.value, kr.unit, 0.9, r.score, r.status, "", "", **fields
    )


def rows(alert: Alert) -> dict[str, str]:
    return dict(facts(alert))


def test_the_forecast_is_named_when_it_set_the_status():
    """Pace alone: 0.40 against 0.50 expected is on track; the forecast's whole interval below 1.0 made it worse."""
    r = result(score=0.40, status="at_risk", forecast={"score": 0.62, "low": 0.55, "high": 0.71})
    found = kr_facts("at_risk", True, F1, r)
    assert found.forecast_drove and found.forecast is not None and found.forecast.high == 0.71
    assert "the forecast 0.62 (interval 0.55-0.71) ends below the success score 1.00" in found.detail
    assert rows(alert_of("at_risk", F1, r))["Forecast"] == "0.62 at the end of the cycle, interval 0.55-0.71"


def test_a_forecast_that_did_not_set_the_status_is_kept_but_not_shown():
    r = result(score=0.10, status="off_track", forecast={"score": 0.3, "low": 0.0, "high": 1.0})
    found = kr_facts("off_track", True, F1, r)
    assert found.forecast is not None and not found.forecast_drove and "forecast" not in found.detail
    assert "Forecast" not in rows(alert_of("off_track", F1, r))
    assert "score 0.10 against 0.50 expected at 50% of the cycle" in found.detail


def test_the_scorers_own_reason_is_used_and_placed_in_the_cycle():
    r = result(score=0.10, status="off_track", reason="score 0.10 is below expected 0.50 by more than 0.25")
    assert kr_facts("off_track", True, F1, r).detail == (
        "value 0.85 against target 0.9; at 50% of the cycle, score 0.10 is below expected 0.50 by more than 0.25"
    )


def test_a_maintain_kr_says_the_share_of_time_held():
    r = result(kr_id="p95", value=0.35, score=0.93, computed_score=0.93, status="off_track", expected=1.0)
    found = kr_facts("off_track", True, LATENCY, r)
    assert found.held_share == 0.93 and "threshold held 93% of the time this cycle" in found.detail
    assert rows(alert_of("off_track", LATENCY, r))["Held"] == "threshold held 93% of the time this cycle"


def test_drift_says_the_level_before_and_after_and_the_model_version_it_moved_between():
    drift = DriftResult("max_drop", T0, 0.85, 0.9, -0.05, "f1 dropped 0.05 (5.6%) below its 7-day mean 0.9")
    r = result(lineage={"model": "m", "alias": "champion", "model_version": "4"})
    found = kr_facts("drift", True, F1, r, drift, before=None, lineage_before={"model_version": "3"})
    assert (found.level_before, found.level_after) == (0.9, 0.85)
    assert found.detail == "f1 dropped 0.05 (5.6%) below its 7-day mean 0.9: 0.9 -> 0.85; model version 3 -> 4"
    shown = rows(alert_of("drift", F1, r, drift=drift, before=None, lineage_before={"model_version": "3"}))
    assert shown["Level"] == "0.9 -> 0.85" and shown["Model version"] == "4 (was 3)"


def test_the_version_at_the_last_message_counts_when_the_run_before_is_unknown():
    r = result(lineage={"model_version": "4"})
    found = kr_facts("off_track", True, F1, r, before={"model_version": "2"})
    assert (found.model_version, found.model_version_before) == ("4", "2")
    same = kr_facts("off_track", True, F1, r, before={"model_version": "4"}, lineage_before={"model_version": "4"})
    assert same.model_version_before is None and same.detail.endswith("; model version 4")


def test_no_data_says_the_sources_reason():
    r = result(value=None, score=None, measurement="no_data", detail="no run in experiment 'churn'", status="no_data")
    assert kr_facts("no_data", True, F1, r).detail == "no usable value this run: no run in experiment 'churn'"
