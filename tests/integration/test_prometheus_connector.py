"""The Prometheus connector against a real Prometheus (fixtures in tests/fixtures/prometheus.py).

Connectors are built as the pipeline builds them: config text -> ``parse_config`` with the registry ->
``PrometheusConnector(name, config.sources[name], ConnectorContext(config))``.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from okrflow.connectors.base import ConnectorContext, Measurement
from okrflow.connectors.prometheus import (
    MAX_POINTS,
    PrometheusConnector,
    PrometheusMetric,
    SourceQueryError,
    range_step,
)
from okrflow.connectors.registry import Registry
from okrflow.okr_model.errors import ConfigError, OkrflowError
from okrflow.okr_model.loader import parse_config

from tests.fixtures.loopback import QuietHandler, serving
from tests.fixtures.prometheus import free_port

P95 = "histogram_quantile(0.95, sum(rate(request_latency_seconds_bucket[1m])) by (le))"
TOKEN = "s3cr3t-token-0123456789"


def build(source: dict[str, Any], query: str = "vector(1)") -> PrometheusConnector:
    """Parse a one-KR config holding ``source`` as ``prom`` and build its connector."""
    text = yaml.safe_dump(
        {
            "cycle": {"name": "2026-Q4", "start": "2026-10-01", "end": "2026-12-31"},
            "sources": {"prom": {"type": "prometheus", **source}},
            "objectives": [
                {
                    "id": "serving",
                    "title": "Serve the model fast",
                    "key_results": [
                        {
                            "id": "p95",
                            "kind": "maintain_below",
                            "target": 0.2,
                            "metric": {"source": "prom", "query": query},
                        }
                    ],
                }
            ],
        }
    )
    config = parse_config(text, "test.yaml", resolver=Registry())
    connector = PrometheusConnector("prom", config.sources["prom"], ConnectorContext(config))
    assert isinstance(config.key_result("p95")[1].metric, PrometheusMetric)
    return connector


def metric(query: str, **extra: Any) -> PrometheusMetric:
    return PrometheusMetric.model_validate({"source": "prom", "query": query, **extra})


def all_text(m: Measurement) -> str:
    return f"{m.detail} {dict(m.lineage)!r} {m!r}"


@pytest.fixture(scope="module")
def prom(prometheus_server) -> Iterator[PrometheusConnector]:
    connector = build({"url": prometheus_server.url, "timeout_s": 5, "retries": 1})
    yield connector
    connector.close()


# --- values from a real Prometheus -------------------------------------------------------------


def test_p95_latency_from_histogram(prometheus_server, prom):
    prometheus_server.wait_for(P95)
    at = datetime.now(UTC)
    m = prom.fetch(metric(P95), at)
    assert m.status == "ok", m.detail
    # 90% of observations at 0.07 s, 10% at 0.4 s: P95 interpolates inside the (0.3, 0.5] bucket.
    assert 0.3 < m.value <= 0.5
    assert m.lineage["source"] == "prom"
    assert len(m.lineage["query_hash"]) == 12
    assert m.lineage["series"] == {}
    assert abs((m.observed_at - at).total_seconds()) < 0.01


def test_uptime_is_one(prometheus_server, prom):
    m = prom.fetch(metric("avg_over_time(model_serving_up[1m])"), datetime.now(UTC))
    assert m.status == "ok", m.detail
    assert m.value == 1.0
    assert m.lineage["series"]["job"] == "okrflow-test"


@pytest.mark.parametrize(("query", "expected"), [("scalar(sum(model_serving_up))", 1.0), ("vector(7)", 7.0)])
def test_scalar_and_label_free_vector(prom, query, expected):
    m = prom.fetch(metric(query), datetime.now(UTC))
    assert (m.status, m.value, m.lineage["series"]) == ("ok", expected, {})


def test_offset_evaluates_earlier(prom):
    at = datetime.now(UTC).replace(microsecond=0)
    m = prom.fetch(metric("time()", offset="1h"), at)
    assert m.status == "ok", m.detail
    assert m.value == pytest.approx((at - timedelta(hours=1)).timestamp(), abs=0.01)
    assert m.observed_at == at - timedelta(hours=1)
    assert m.lineage["evaluated_at"] == (at - timedelta(hours=1)).isoformat()


def test_max_age_makes_old_observation_stale(prom):
    """Judged from the slot time: the sample is stamped at ``at - offset``, 10 minutes before (module docstring)."""
    at = datetime.now(UTC).replace(microsecond=0)
    m = prom.fetch(metric("time()", offset="10m", max_age="5m"), at)
    assert m.status == "no_data"
    observed = (at - timedelta(minutes=10)).isoformat()
    assert m.detail == f"stale: last observation at {observed} is older than max_age 5m (as of {at.isoformat()})"
    assert m.lineage["evaluated_at"] == observed, "the lineage of the query stays"
    assert prom.fetch(metric("time()", offset="10m", max_age="10m"), at).status == "ok", "exactly max_age old counts"


def test_several_series_is_an_error_naming_the_count(prom):
    m = prom.fetch(metric("model_queue_depth"), datetime.now(UTC))
    assert m.status == "error" and m.value is None
    assert "query returned 2 series; aggregate it to one (e.g. sum(...) or avg(...))" in m.detail
    assert 'instance="a"' in m.detail and 'instance="b"' in m.detail


def test_no_series_is_no_data(prom):
    at = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    m = prom.fetch(metric('metric_that_does_not_exist{job="none"}'), at)
    assert (m.status, m.value) == ("no_data", None)
    assert m.detail == "query returned no series at 2026-11-02T12:00:00+00:00"


@pytest.mark.parametrize(
    ("query", "shown"), [("vector(0) / 0", "NaN"), ("0 / 0", "NaN"), ("vector(1) / 0", "+Inf"), ("-1 / 0", "-Inf")]
)
def test_non_finite_is_no_data(prom, query, shown):
    m = prom.fetch(metric(query), datetime.now(UTC))
    assert (m.status, m.value) == ("no_data", None)
    assert f"query returned {shown} at" in m.detail


def test_range_vector_is_an_error(prom):
    m = prom.fetch(metric("model_serving_up[1m]"), datetime.now(UTC))
    assert m.status == "error"
    assert "range vector" in m.detail and "avg_over_time" in m.detail


def test_bad_promql_is_an_error_with_prometheus_message(prom):
    m = prom.fetch(metric("sum(rate(request_latency_seconds_bucket[1m])"), datetime.now(UTC))
    assert m.status == "error"
    assert m.detail.startswith(f"prometheus at {prom.config.url} rejected the query (HTTP 400): ")
    assert "parse error" in m.detail and "(bad_data)" in m.detail


def test_concurrent_fetches_share_one_client(prometheus_server, prom):
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: prom.fetch(metric("vector(3)"), datetime.now(UTC)), range(32)))
    assert [(m.status, m.value) for m in results] == [("ok", 3.0)] * 32


# --- failure modes ------------------------------------------------------------------------------


def test_down_server_fails_fast_after_retries():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    connector = build({"url": url, "timeout_s": 5, "retries": 2})
    start = time.monotonic()
    m = connector.fetch(metric("up"), datetime.now(UTC))
    elapsed = time.monotonic() - start
    assert m.status == "error"
    assert m.detail == f"prometheus at {url}: connection refused (after 3 attempts)"
    assert elapsed < 2.0  # backoff at most 0.2 + 0.4 s, no client-side retries of 6 s
    with pytest.raises(SourceQueryError, match="connection refused"):
        connector.fetch_range(metric("up"), datetime.now(UTC) - timedelta(minutes=5), datetime.now(UTC))


def test_hanging_server_times_out_after_timeout_s(hanging_http_server):
    timeout_s, retries = 1, 2
    connector = build({"url": hanging_http_server, "timeout_s": timeout_s, "retries": retries})
    start = time.monotonic()
    m = connector.fetch(metric("up"), datetime.now(UTC))
    elapsed = time.monotonic() - start
    assert m.status == "error"
    assert m.detail == f"prometheus at {hanging_http_server} did not answer within 1 s"
    assert timeout_s * 0.9 <= elapsed < timeout_s * (retries + 1) + 1.0
    assert elapsed < timeout_s + 1.0, "a slow query is not retried (it would only be slow again)"
    connector.close()


# --- headers, auth and secrets (a tiny local server that records requests) -----------------------


@dataclass
class Recorder:
    url: str
    expected_auth: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """An HTTP/1.1 server answering /api/v1/query like Prometheus (value 42), or 401 echoing a bad credential."""
    state = Recorder("")

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(parsed.query))
            auth = self.headers.get("Authorization")
            state.requests.append({"path": parsed.path, "params": params, "auth": auth, "port": self.client_address[1]})
            if state.expected_auth is not None and auth != state.expected_auth:
                # A careless proxy that echoes the credential: it must never reach a detail.
                status, body = 401, {"status": "error", "errorType": "unauthorized", "error": f"bad credential {auth}"}
            else:
                sample = {"metric": {"job": "fake"}, "value": [float(params.get("time", time.time())), "42"]}
                status, body = 200, {"status": "success", "data": {"resultType": "vector", "result": [sample]}}
            self.answer(status, json.dumps(body).encode())

    with serving(Handler) as state.url:
        yield state


def test_headers_from_env_are_sent_and_never_shown(recorder, monkeypatch):
    monkeypatch.setenv("PROM_TEST_TOKEN", TOKEN)
    recorder.expected_auth = f"Bearer {TOKEN}"
    connector = build({"url": recorder.url, "timeout_s": 7, "headers": {"Authorization": "Bearer ${PROM_TEST_TOKEN}"}})
    at = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    m = connector.fetch(metric("up", offset="5m"), at)
    assert (m.status, m.value, m.lineage["series"]) == ("ok", 42.0, {"job": "fake"})
    sent = recorder.requests[0]
    assert sent["auth"] == f"Bearer {TOKEN}"
    assert sent["path"] == "/api/v1/query"
    assert float(sent["params"]["time"]) == (at - timedelta(minutes=5)).timestamp()
    assert sent["params"]["timeout"] == "7"
    assert TOKEN not in repr(connector.config)
    connector.close()

    monkeypatch.setenv("PROM_TEST_TOKEN", "wrong-token-abcdef")
    wrong = build({"url": recorder.url, "headers": {"Authorization": "Bearer ${PROM_TEST_TOKEN}"}})
    m = wrong.fetch(metric("up"), at)
    assert m.status == "error"
    assert m.detail.startswith(f"prometheus at {recorder.url} refused the credentials (HTTP 401)")
    assert "wrong-token-abcdef" not in all_text(m)
    with pytest.raises(SourceQueryError) as info:
        wrong.fetch_range(metric("up"), at - timedelta(minutes=1), at)
    assert "wrong-token-abcdef" not in str(info.value) and "HTTP 401" in str(info.value)
    wrong.close()


def test_basic_auth_is_sent_and_password_never_shown(recorder):
    good = build({"url": recorder.url, "username": "okr", "password": "pa55word-good"})
    recorder.expected_auth = recorder_auth = "Basic b2tyOnBhNTV3b3JkLWdvb2Q="  # okr:pa55word-good
    assert good.fetch(metric("up"), datetime.now(UTC)).status == "ok"
    assert recorder.requests[-1]["auth"] == recorder_auth
    bad = build({"url": recorder.url, "username": "okr", "password": "pa55word-bad"})
    m = bad.fetch(metric("up"), datetime.now(UTC))
    assert m.status == "error" and "HTTP 401" in m.detail
    assert "pa55word-bad" not in all_text(m) and "b2tyOnBhNTV3b3JkLWJhZA==" not in all_text(m)


def test_one_connection_is_reused(recorder):
    connector = build({"url": recorder.url})
    for _ in range(5):
        assert connector.fetch(metric("up"), datetime.now(UTC)).value == 42.0
    assert len({r["port"] for r in recorder.requests}) == 1
    connector.close()


# --- range queries (backfill) -------------------------------------------------------------------


def test_fetch_range_returns_recent_points(prometheus_server, prom):
    prometheus_server.wait_for("count_over_time(model_serving_up[20s]) >= 7")  # the server may be only seconds old
    end = datetime.now(UTC)
    start = end - timedelta(seconds=20)
    points = prom.fetch_range(metric("max(model_serving_up)"), start, end, step=timedelta(seconds=1))
    assert len(points) >= 5
    assert all(value == 1.0 for _, value in points)
    times = [t for t, _ in points]
    assert times == sorted(times) and start <= times[0] and times[-1] <= end
    assert {(b - a).total_seconds() for a, b in itertools.pairwise(times)} == {1.0}


def test_fetch_range_applies_offset_per_point(prom):
    end = datetime.now(UTC).replace(microsecond=0)
    points = prom.fetch_range(metric("time()", offset="1h"), end - timedelta(seconds=10), end, timedelta(seconds=2))
    assert len(points) == 6
    assert all(value == t.timestamp() - 3600 for t, value in points)


def test_fetch_range_skips_nan_and_rejects_several_series(prom):
    end = datetime.now(UTC)
    assert prom.fetch_range(metric("vector(0) / 0"), end - timedelta(seconds=10), end, timedelta(seconds=1)) == []
    with pytest.raises(SourceQueryError, match="query returned 2 series"):
        prom.fetch_range(metric("model_queue_depth"), end - timedelta(seconds=10), end, timedelta(seconds=1))
    with pytest.raises(SourceQueryError, match="parse error") as info:
        prom.fetch_range(metric("sum("), end - timedelta(seconds=10), end)
    assert isinstance(info.value, OkrflowError)


def test_step_is_widened_to_stay_under_the_point_limit(prom):
    end = datetime.now(UTC)
    start = end - timedelta(days=30)
    step = range_step(start, end, timedelta(seconds=1))
    assert step.total_seconds() >= 30 * 86400 / MAX_POINTS
    assert range_step(end - timedelta(minutes=5), end, timedelta(seconds=1)) == timedelta(seconds=1)
    # Without widening Prometheus refuses this ("exceeded maximum resolution of 11,000 points").
    points = prom.fetch_range(metric("vector(1)"), start, end, step=timedelta(seconds=1))
    assert 10_000 < len(points) <= MAX_POINTS
    assert (points[1][0] - points[0][0]) == step


# --- config and import cost ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"url": "ftp://example.com"}, "expected an http:// or https:// URL"),
        ({"url": "http://okr:hunter2-secret@example.com"}, "not in the URL"),
        ({"url": "http://example.com", "username": "okr"}, "needs both username and password"),
        ({"url": "http://example.com", "verify_tls": False, "ca_file": "/ca.pem"}, "ca_file has no effect"),
        ({"url": "http://example.com", "token": "x"}, "sources.prom.token: unknown key"),
    ],
)
def test_invalid_source_config_is_rejected(source, message):
    with pytest.raises(ConfigError) as info:
        build(source)
    assert message in str(info.value)
    assert "hunter2-secret" not in str(info.value)


def test_import_stays_light():
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import okrflow.connectors.prometheus"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    for heavy in ("prometheus_api_client", "requests", "pandas", "mlflow", "great_expectations"):
        assert f" {heavy}\n" not in out and f" {heavy}." not in out, heavy
