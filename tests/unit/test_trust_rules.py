"""Small things that break trust (issue 12): gates that did not cap, bands across the baseline, abandon dates,
``requires_production`` where no production exists. Config parsing and scoring, no servers."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from okrflow.connectors.base import Measurement
from okrflow.connectors.registry import default_registry
from okrflow.okr_model.config import KeyResult
from okrflow.okr_model.errors import ConfigError
from okrflow.okr_model.evaluation import ScoringInputs, score_run
from okrflow.okr_model.loader import parse_config
from okrflow.okr_model.scoring import GateInputs, describe_gates, score_key_result

F1 = {"id": "f1", "kind": "increase", "baseline": 0.0, "target": 1.0, "metric": {"source": "src"}}


def kr(**fields) -> KeyResult:
    return KeyResult.model_validate({**F1, **fields})


# -- gates list only what changed the score ------------------------------------------------------------------------


def test_a_cap_that_did_not_lower_the_score_is_not_listed() -> None:
    result = score_key_result(kr(requires_production=True), 0.49, gates=GateInputs(in_production=False))
    assert (result.score, result.gates) == (0.49, ())
    capped = score_key_result(kr(requires_production=True), 0.9, gates=GateInputs(in_production=False))
    assert (capped.score, capped.gates) == (0.5, ("requires_production",))


def test_a_failed_quality_gate_below_its_cap_is_untrusted_but_not_capped() -> None:
    gate = {"source": "gx", "suite": "s"}
    result = score_key_result(kr(quality_gate=gate), 0.1, gates=GateInputs(quality="failed"))
    assert (result.score, result.gates, result.trusted) == (0.1, (), False)


def test_a_held_score_says_held_not_capped() -> None:
    held_kr = kr(quality_gate={"source": "gx", "suite": "s", "on_fail": "hold"}, requires_production=True)
    result = score_key_result(held_kr, 0.9, gates=GateInputs(quality="failed", in_production=False, previous_score=0.3))
    assert (result.score, result.held) == (0.3, True)
    assert describe_gates(result.gates, result.held) == "capped by requires_production; held by quality_gate"
    assert describe_gates(("quality_gate",), False) == "capped by quality_gate"
    assert describe_gates(("abandoned",), False) == "abandoned"


# -- a band lies on one side of the baseline -------------------------------------------------------------------------

BASE = """
cycle: {name: q, start: 2026-10-01, end: 2026-12-31}
objectives:
  - id: o
    title: t
    key_results:
      - id: k
        kind: manual
        baseline: 5
"""


def test_a_manual_band_across_the_baseline_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"target band \[3.0, 8.0\] straddles the baseline 5.0"):
        parse_config(BASE + "        target: [3, 8]\n")
    assert parse_config(BASE + "        target: [6, 8]\n")  # both above: fine
    assert parse_config(BASE + "        target: [4, 2]\n")  # both below: fine


# -- abandoned: natural spellings, the date honoured ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "since", "reason"),
    [
        ("{on: 2026-11-15}", date(2026, 11, 15), ""),  # YAML reads a bare `on` as true
        ("2026-11-15", date(2026, 11, 15), ""),
        ("{since: 2026-11-15, reason: data limitation}", date(2026, 11, 15), "data limitation"),
        ("{reason: bad bet}", None, "bad bet"),
    ],
)
def test_abandoned_accepts_the_natural_spellings(written: str, since: date | None, reason: str) -> None:
    config = parse_config(BASE + f"        target: 8\n        abandoned: {written}\n")
    abandoned = config.key_result("k")[1].abandoned
    assert abandoned is not None and (abandoned.since, abandoned.reason) == (since, reason)


SQL_CONFIG = """
cycle: {name: q, start: 2026-10-01, end: 2026-12-31}
timezone: Europe/Paris
sources:
  db: {type: sql, url: "sqlite:///x.db"}
  prom: {type: prometheus, url: "http://127.0.0.1:9090"}
  ml: {type: mlflow, tracking_uri: "sqlite:///mlflow.db"}
objectives:
  - id: o
    title: t
    key_results:
      - id: k
        kind: increase
        baseline: 0
        target: 10
        metric: {source: db, sql: "SELECT 1"}
"""


def test_an_abandon_counts_from_its_date_in_the_config_time_zone() -> None:
    config = parse_config(SQL_CONFIG + "        abandoned: {since: 2026-11-15, reason: bad bet}\n")
    measurements = {"k": Measurement.ok(6.0)}

    def scored(at: datetime):
        (result,), _ = score_run(config, at, measurements, {}, ScoringInputs())
        return result.score, result.gates

    assert scored(datetime(2026, 10, 10, tzinfo=UTC)) == (0.6, ())
    assert scored(datetime(2026, 11, 14, 22, 59, tzinfo=UTC)) == (0.6, ())  # 23:59 in Paris
    assert scored(datetime(2026, 11, 14, 23, 0, tzinfo=UTC)) == (0.4, ("abandoned",))


# -- requires_production only where production exists ------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "kind"),
    [
        ('{source: db, sql: "SELECT 1"}', "sql"),
        ("{source: prom, query: up}", "prometheus"),
    ],
)
def test_requires_production_is_refused_where_the_source_has_no_production(metric: str, kind: str) -> None:
    text = SQL_CONFIG.replace('{source: db, sql: "SELECT 1"}', metric) + "        requires_production: true\n"
    with pytest.raises(ConfigError) as error:
        parse_config(text, "okrflow.yaml", default_registry())
    assert "objectives[0].key_results[0].requires_production: requires_production needs a source" in str(error.value)
    assert f"is {kind}: only mlflow sources do" in str(error.value)


def test_requires_production_is_accepted_on_an_mlflow_model() -> None:
    text = SQL_CONFIG.replace('{source: db, sql: "SELECT 1"}', "{source: ml, model: m, alias: champion, name: f1}")
    assert parse_config(text + "        requires_production: true\n", "okrflow.yaml", default_registry())


def test_the_json_schema_offers_the_bare_date_for_editors() -> None:
    import jsonschema
    from okrflow.connectors.registry import Registry

    from okrflow.schema import config_schema

    validator = jsonschema.Draft202012Validator(config_schema(Registry()))
    doc = {
        "version": 1,
        "cycle": {"name": "q", "start": "2026-10-01", "end": "2026-12-31"},
        "objectives": [{"id": "o", "title": "t", "key_results": [{"id": "k", "kind": "manual", "target": 3}]}],
    }
    for written in ("2026-11-15", {"since": "2026-11-15", "reason": "bad bet"}):
        doc["objectives"][0]["key_results"][0]["abandoned"] = written
        assert not list(validator.iter_errors(doc)), written
