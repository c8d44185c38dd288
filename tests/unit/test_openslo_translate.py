"""The OpenSLO -> okrflow translation rules, document by document (no Prometheus needed)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from okrflow.connectors.registry import default_registry
from okrflow.okr_model.loader import load_config

from okrflow.openslo import Document, prometheus_range, translate
from okrflow.openslo_yaml import current_quarter, render_config


def slo(indicator: dict, objectives: list[dict], method: str = "Occurrences", window: dict | None = None) -> dict:
    return {
        "apiVersion": "openslo/v1",
        "kind": "SLO",
        "metadata": {"name": "s"},
        "spec": {
            "service": "svc",
            "indicator": {"metadata": {"name": "i"}, "spec": indicator},
            "timeWindow": [window or {"duration": "28d", "isRolling": True}],
            "budgetingMethod": method,
            "objectives": objectives,
        },
    }


def prom(query: str) -> dict:
    return {"metricSource": {"type": "Prometheus", "spec": {"query": query}}}


def one(*bodies: dict):
    return translate([Document("f.yaml", i, b) for i, b in enumerate(bodies, start=1)])


@pytest.mark.parametrize(
    ("op", "kind"),
    [("lt", "maintain_below"), ("lte", "maintain_below"), ("gt", "maintain_above"), ("gte", "maintain_above")],
)
def test_threshold_ops_choose_the_maintain_kind(op: str, kind: str) -> None:
    result = one(slo({"thresholdMetric": prom("up")}, [{"op": op, "value": 3, "target": 0.99}]))
    kr = result.key_results[0].key_result
    assert (kr["kind"], kr["target"], kr["metric"]["query"]) == (kind, 3.0, "up")
    assert any("strict" in n for n in result.key_results[0].notes) == (op in ("lt", "gt"))


def test_ratio_forms_and_target_percent() -> None:
    good = one(slo({"ratioMetric": {"good": prom("g"), "total": prom("t")}}, [{"targetPercent": 99.5}]))
    assert good.key_results[0].key_result["metric"]["query"] == "sum(rate(g[28d])) / sum(rate(t[28d]))"
    assert good.key_results[0].key_result["target"] == pytest.approx(0.995)
    bad = one(slo({"ratioMetric": {"counter": False, "bad": prom("b"), "total": prom("t")}}, [{"target": 0.9}]))
    assert (
        bad.key_results[0].key_result["metric"]["query"]
        == "1 - sum(avg_over_time(b[28d])) / sum(avg_over_time(t[28d]))"
    )
    raw = one(slo({"ratioMetric": {"rawType": "failure", "raw": prom("rate(e[5m])")}}, [{"target": 0.9}]))
    assert raw.key_results[0].key_result["metric"]["query"] == "1 - avg_over_time((rate(e[5m]))[28d:])"


def test_windows_calendar_and_quarters() -> None:
    assert prometheus_range("1Q") == ("90d", "1Q read as 90d (PromQL has no Q)")
    assert prometheus_range("4w") == ("4w", None)
    with pytest.raises(ValueError, match="duration-shorthand"):
        prometheus_range("1 month")
    window = {"duration": "1M", "calendar": {"startTime": "2026-01-01 00:00:00", "timeZone": "Asia/Tokyo"}}
    result = one(slo({"ratioMetric": {"good": prom("g"), "total": prom("t")}}, [{"target": 0.9}], window=window))
    assert "[30d]" in result.key_results[0].key_result["metric"]["query"]
    assert result.timezones == {"Asia/Tokyo"}
    assert any("calendar-aligned" in n for n in result.key_results[0].notes)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            slo({"ratioMetric": {"good": prom("g"), "total": prom("t")}}, [{"target": 0.9}], "RatioTimeslices"),
            "RatioTimeslices",
        ),
        (
            slo({"thresholdMetric": prom("up")}, [{"op": "lt", "value": 1, "target": 0.9, "indicatorRef": "x"}]),
            "composite",
        ),
        (
            slo({"thresholdMetric": {"metricSource": {"type": "Datadog", "spec": {"query": "q"}}}}, [{"target": 0.9}]),
            "'Datadog'",
        ),
        (slo({"thresholdMetric": prom("up")}, [{"target": 0.9}]), "needs op"),
        (slo({"ratioMetric": {"good": prom("g")}}, [{"target": 0.9}]), "good/total"),
        (
            slo({"ratioMetric": {"good": prom("g"), "total": prom("t")}}, [{"op": "gt"}]),
            "neither target nor targetPercent",
        ),
        ({"apiVersion": "openslo/v1alpha", "kind": "SLO", "metadata": {"name": "old"}}, "not openslo/v1"),
        (
            {"apiVersion": "openslo/v1", "kind": "SLO", "metadata": {"name": "r"}, "spec": {"indicatorRef": "nope"}},
            "names no SLI",
        ),
    ],
)
def test_what_cannot_be_translated_is_listed_with_its_reason(body: dict, reason: str) -> None:
    result = one(body)
    assert result.key_results == []
    assert len(result.skipped) == 1 and reason in result.skipped[0].reason, result.skipped


def test_refs_resolve_and_unused_documents_are_listed() -> None:
    sli = {
        "apiVersion": "openslo/v1",
        "kind": "SLI",
        "metadata": {"name": "i1"},
        "spec": {"thresholdMetric": {"metricSource": {"metricSourceRef": "p", "spec": {"query": "up"}}}},
    }
    source = {
        "apiVersion": "openslo/v1",
        "kind": "DataSource",
        "metadata": {"name": "p"},
        "spec": {"type": "Prometheus", "connectionDetails": {"url": "http://prom:9090"}},
    }
    unused = {"apiVersion": "openslo/v1", "kind": "SLI", "metadata": {"name": "lonely"}, "spec": {}}
    body = slo({}, [{"op": "gte", "value": 1, "target": 0.9}])
    del body["spec"]["indicator"]
    body["spec"]["indicatorRef"] = "i1"
    result = one(body, sli, source, unused)
    assert [(k.source, k.source_url) for k in result.key_results] == [("p", "http://prom:9090")]
    assert [s.reason for s in result.skipped] == ["no SLO in the input refers to this SLI"]


def test_the_written_config_validates_and_names_its_sources(tmp_path: Path) -> None:
    a = slo({"thresholdMetric": prom("up")}, [{"op": "gte", "value": 1, "target": 0.9}])
    b = slo({"thresholdMetric": prom("up")}, [{"op": "gte", "value": 1, "target": 0.9}])  # same name: renamed
    result = one(a, b, {"apiVersion": "openslo/v1", "kind": "Service", "metadata": {"name": "svc"}})
    text = render_config(result, ["in.yaml"], date(2026, 12, 7))
    path = tmp_path / "okrflow.yaml"
    path.write_text(text)  # validates without PROMETHEUS_URL: the source URL has a default
    config = load_config(path, default_registry())
    assert [kr.id for _, kr in config.key_results()] == ["s", "s-2"]
    assert "# - f.yaml #3 (Service svc): kind Service holds no measurement to translate" in text
    assert "id 's' was taken by another SLO: renamed 's-2'" in text
    assert yaml.safe_load(text)["cycle"] == {"name": "2026-Q4", "start": "2026-10-01", "end": "2026-12-31"}
    assert current_quarter(date(2026, 2, 28)) == {"name": "2026-Q1", "start": "2026-01-01", "end": "2026-03-31"}


def test_ids_are_valid_okrflow_ids_and_each_objective_is_a_kr() -> None:
    from okrflow.openslo import slug

    assert slug("_.Checkout / p95 (EU)", "slo") == "Checkout-p95-EU"
    assert slug("///", "slo") == "slo"
    assert len(slug("x" * 300, "slo")) == 120
    body = slo(
        {"ratioMetric": {"good": prom("g"), "total": prom("t")}},
        [{"displayName": "Internal objective", "target": 0.995}, {"displayName": "SLA", "target": 0.99}],
    )
    ids = [(k.key_result["id"], k.key_result["target"]) for k in one(body).key_results]
    assert ids == [("s-internal-objective", 0.995), ("s-sla", 0.99)]
