"""The Prometheus connector's HTTP path: prometheus-api-client on one requests session per source.

connectors/prometheus_http.py configures ``PrometheusConnect`` through public options only (no retries in the
client, a keep-alive pool sized to the fetch threads, ``Accept-Encoding: identity``, a response hook for
non-200 answers); these tests hold it to what a requests user expects: connections reused, cookies kept,
redirects and environment proxies followed, TLS checked against ca_file, and the same messages for broken
answers. Servers are real, on loopback: the Prometheus fixture, or a small scripted HTTP(S) server below.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
import urllib.parse
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from okrflow.connectors.prometheus import POOL_SIZE, SourceQueryError

from tests.fixtures.loopback import QuietHandler, serving
from tests.fixtures.receivers import _self_signed
from tests.integration.test_prometheus_connector import build, metric


def answer_42(handler: QuietHandler, params: dict[str, str]) -> None:
    sample = {"metric": {"job": "fake"}, "value": [float(params.get("time", time.time())), "42"]}
    send(handler, 200, json.dumps({"status": "success", "data": {"resultType": "vector", "result": [sample]}}))


def send(handler: QuietHandler, status: int, body: str, **headers: str) -> None:
    handler.answer(status, body.encode(), None, **headers)


Reply = Callable[[QuietHandler, dict[str, str]], None]


@dataclass
class Scripted:
    """A loopback HTTP/1.1 server whose answers a test scripts (``reply``); it records every request."""

    url: str = ""
    reply: Reply = answer_42
    seen: list[dict[str, Any]] = field(default_factory=list)


def serve(tls: ssl.SSLContext | None = None) -> Iterator[Scripted]:
    state = Scripted()

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parsed = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(parsed.query))
            state.seen.append(
                {"target": self.path, "path": parsed.path, "params": params, "headers": dict(self.headers),
                 "port": self.client_address[1]}
            )  # fmt: skip
            state.reply(self, params)

    with serving(Handler, tls) as state.url:
        yield state


@pytest.fixture
def scripted() -> Iterator[Scripted]:
    yield from serve()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    return _self_signed(tmp_path_factory.mktemp("prom-tls"))


@pytest.fixture
def tls_scripted(certificate) -> Iterator[Scripted]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    yield from serve(context)


# --- one pool, reused --------------------------------------------------------------------------


def accepted_connections(prometheus_url: str) -> int:
    """Prometheus's own count of accepted HTTP connections (this read opens one more)."""
    with urllib.request.urlopen(f"{prometheus_url}/metrics", timeout=5) as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith('net_conntrack_listener_conn_accepted_total{listener_name="http"}'):
            return int(float(line.split()[-1]))
    raise AssertionError("Prometheus exposes no net_conntrack_listener_conn_accepted_total")


def test_queries_from_eight_threads_reuse_at_most_eight_connections(prometheus_server):
    connector = build({"url": prometheus_server.url, "timeout_s": 5})
    before = accepted_connections(prometheus_server.url)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: connector.fetch(metric(f"vector({i})"), datetime.now(UTC)), range(200)))
    after = accepted_connections(prometheus_server.url)
    connector.close()
    assert [(m.status, m.value) for m in results] == [("ok", float(i)) for i in range(200)]
    opened = after - before - 1  # less the second /metrics read
    assert 1 <= opened <= 8 <= POOL_SIZE, f"{opened} connections for 200 queries"


def test_a_connection_the_server_dropped_is_replaced_not_reported(scripted):
    def answer_then_hang_up(handler: BaseHTTPRequestHandler, params: dict[str, str]) -> None:
        answer_42(handler, params)  # keep-alive by HTTP/1.1 default, yet the server closes the socket
        handler.close_connection = True

    scripted.reply = answer_then_hang_up
    connector = build({"url": scripted.url, "retries": 0})
    values = []
    for _ in range(3):
        values.append(connector.fetch(metric("up"), datetime.now(UTC)).value)
        time.sleep(0.05)  # let the close reach the client
    connector.close()
    assert values == [42.0, 42.0, 42.0]
    assert len({r["port"] for r in scripted.seen}) == 3


def test_what_is_sent(scripted):
    connector = build({"url": f"{scripted.url}/prom/", "timeout_s": 2.5, "headers": {"X-Scope-OrgID": "team-a"}})
    at = datetime(2026, 11, 2, 12, 0, 0, 250000, tzinfo=UTC)
    assert connector.fetch(metric('sum(rate(x{a="b c"}[5m]))'), at).value == 42.0
    connector.close()
    sent = scripted.seen[0]
    assert sent["path"] == "/prom/api/v1/query"
    assert sent["params"] == {"query": 'sum(rate(x{a="b c"}[5m]))', "timeout": "2.5", "time": "1793620800.250"}
    assert float(sent["params"]["time"]) == at.timestamp()
    assert sent["headers"]["User-Agent"] == "okrflow"
    assert sent["headers"]["X-Scope-OrgID"] == "team-a"
    assert sent["headers"]["Accept-Encoding"] == "identity", "gzip costs more than it saves on a tiny answer"


def test_the_error_prometheus_gives_is_shown_as_written(scripted):
    """Quotes, backslashes and non-ASCII in Prometheus's error reach the user unchanged, from both query kinds."""
    error = "unknown label \"café\" in \\d+ it's {x='y'}"
    scripted.reply = lambda handler, params: send(
        handler, 422, json.dumps({"status": "error", "errorType": "execution", "error": error})
    )
    connector = build({"url": scripted.url, "retries": 2})
    m = connector.fetch(metric("up"), datetime.now(UTC))
    assert m.detail == f"prometheus at {scripted.url} rejected the query (HTTP 422): {error} (execution)"
    end = datetime.now(UTC)
    with pytest.raises(SourceQueryError) as info:
        connector.fetch_range(metric("up"), end - timedelta(minutes=5), end)
    connector.close()
    assert str(info.value) == m.detail
    assert len(scripted.seen) == 2, "an answer is not retried"


def test_range_queries_from_sixteen_threads_keep_their_connections(prometheus_server, caplog):
    """A backfill fetches several KRs' ranges at once: no connection is opened only to be thrown away."""
    connector = build({"url": prometheus_server.url, "timeout_s": 5})
    end = datetime.now(UTC)
    span = (end - timedelta(seconds=30), end)
    connector.fetch_range(metric("vector(0)"), *span, timedelta(seconds=5))  # one connection, opened before counting
    before = accepted_connections(prometheus_server.url)
    with caplog.at_level(logging.WARNING, logger="urllib3"), ThreadPoolExecutor(max_workers=16) as pool:
        results = list(
            pool.map(lambda i: connector.fetch_range(metric(f"vector({i})"), *span, timedelta(seconds=5)), range(160))
        )
    after = accepted_connections(prometheus_server.url)
    connector.close()
    assert [{v for _, v in points} for points in results] == [{float(i)} for i in range(160)]
    assert [r.getMessage() for r in caplog.records if "pool is full" in r.getMessage()] == []
    assert after - before - 1 <= 16, f"{after - before - 1} connections for 160 queries on 16 threads"


def test_cookies_the_server_sets_are_sent_back(scripted):
    """A Prometheus behind a load balancer or an auth proxy that keeps its session in a cookie."""

    def sticky(handler: QuietHandler, params: dict[str, str]) -> None:
        if "lb=node-2" in handler.headers.get("Cookie", ""):
            answer_42(handler, params)
        else:
            send(handler, 200, json.dumps({"status": "success", "data": {"resultType": "vector", "result": []}}),
                 **{"Set-Cookie": "lb=node-2; Path=/"})  # fmt: skip

    scripted.reply = sticky
    connector = build({"url": scripted.url})
    first, second = (connector.fetch(metric("up"), datetime.now(UTC)) for _ in range(2))
    connector.close()
    assert (first.status, second.status, second.value) == ("no_data", "ok", 42.0)
    assert scripted.seen[1]["headers"].get("Cookie") == "lb=node-2"


# --- what requests does for any user, and the connector keeps ------------------------------------


def test_a_redirect_is_followed(scripted):
    def moved(handler: BaseHTTPRequestHandler, params: dict[str, str]) -> None:
        if handler.path.startswith("/api/"):
            target = "/moved" + handler.path
            send(handler, 307, "", Location=target)
        else:
            answer_42(handler, params)

    scripted.reply = moved
    connector = build({"url": scripted.url, "headers": {"Authorization": "Bearer t0ken-abcdef"}})
    values = [connector.fetch(metric("up"), datetime.now(UTC)).value for _ in range(2)]
    connector.close()
    assert values == [42.0, 42.0]
    assert [r["path"] for r in scripted.seen][-2:] == ["/api/v1/query", "/moved/api/v1/query"]
    assert all(r["headers"]["Authorization"] == "Bearer t0ken-abcdef" for r in scripted.seen)


def test_a_proxy_from_the_environment_is_used(scripted, monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", scripted.url)
    monkeypatch.setenv("http_proxy", scripted.url)
    connector = build({"url": "http://prometheus.invalid:9090"})  # only the proxy can reach it
    m = connector.fetch(metric("up"), datetime.now(UTC))
    connector.close()
    assert (m.status, m.value) == ("ok", 42.0), m.detail
    assert scripted.seen[0]["target"].startswith("http://prometheus.invalid:9090/api/v1/query?")


def test_netrc_and_ca_bundle_from_the_environment_are_used(tls_scripted, certificate, tmp_path, monkeypatch):
    """The environment is read once per source (then ``trust_env`` is off): what requests would read still counts."""
    cert_file, _ = certificate
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login okr password pa55word-netrc\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert_file))
    connector = build({"url": tls_scripted.url})
    values = [connector.fetch(metric("up"), datetime.now(UTC)).value for _ in range(2)]
    connector.close()
    assert values == [42.0, 42.0]
    assert [r["headers"].get("Authorization") for r in tls_scripted.seen] == ["Basic b2tyOnBhNTV3b3JkLW5ldHJj"] * 2


def test_tls_is_checked_against_ca_file(tls_scripted, certificate):
    cert_file, _ = certificate
    url = tls_scripted.url
    m = build({"url": url, "retries": 2}).fetch(metric("up"), datetime.now(UTC))
    assert m.status == "error"
    assert (
        m.detail == f"prometheus at {url}: TLS verification failed; set ca_file to the CA that signed its certificate"
    )
    assert tls_scripted.seen == []
    trusted = build({"url": url, "ca_file": str(cert_file)})
    assert trusted.fetch(metric("up"), datetime.now(UTC)).value == 42.0
    trusted.close()
    unchecked = build({"url": url, "verify_tls": False})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # urllib3's InsecureRequestWarning, as with requests
        assert unchecked.fetch(metric("up"), datetime.now(UTC)).value == 42.0
    unchecked.close()


def test_missing_ca_file_is_reported_as_before(tls_scripted, tmp_path):
    missing = tmp_path / "nope.pem"
    m = build({"url": tls_scripted.url, "ca_file": str(missing)}).fetch(metric("up"), datetime.now(UTC))
    assert m.status == "error"
    assert m.detail == (
        f"prometheus at {tls_scripted.url}: unexpected OSError: "
        f"Could not find a suitable TLS CA certificate bundle, invalid path: {missing}"
    )


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (200, "<html>login</html>", "did not answer with the Prometheus HTTP API; check that url is the server's base URL"),
        (200, '{"status": "success"}', "did not answer with the Prometheus HTTP API; check that url is the server's base URL"),
        (500, "upstream\n  broke", "rejected the query (HTTP 500): upstream broke"),
        (503, "", "rejected the query (HTTP 503): empty answer"),
        (403, '{"status":"error","errorType":"forbidden","error":"no"}', "refused the credentials (HTTP 403): no (forbidden)"),
    ],
)  # fmt: skip
def test_answers_that_are_not_a_result(scripted, status, body, expected):
    scripted.reply = lambda handler, params: send(handler, status, body)
    m = build({"url": scripted.url, "retries": 2}).fetch(metric("up"), datetime.now(UTC))
    assert (m.status, m.detail) == ("error", f"prometheus at {scripted.url} {expected}")
    assert len(scripted.seen) == 1, "an answer, even a bad one, is not retried"


def test_connection_closed_without_an_answer_is_retried(scripted):
    def hang_up(handler: BaseHTTPRequestHandler, params: dict[str, str]) -> None:
        handler.close_connection = True

    scripted.reply = hang_up
    m = build({"url": scripted.url, "retries": 1}).fetch(metric("up"), datetime.now(UTC))
    assert m.status == "error"
    assert m.detail == f"prometheus at {scripted.url}: connection closed without an answer (after 2 attempts)"
    assert len(scripted.seen) == 2


def test_an_answer_cut_short_is_an_error_and_not_retried(scripted):
    def cut_short(handler: BaseHTTPRequestHandler, params: dict[str, str]) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", "1000")
        handler.end_headers()
        handler.wfile.write(b'{"status": "succ')
        handler.close_connection = True

    scripted.reply = cut_short
    m = build({"url": scripted.url, "retries": 2}).fetch(metric("up"), datetime.now(UTC))
    assert m.status == "error"
    assert m.detail.startswith(f"prometheus at {scripted.url}: unexpected ChunkedEncodingError")
    assert len(scripted.seen) == 1
