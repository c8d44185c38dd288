"""Prometheus connector: a PromQL instant query as of the run's slot time, one number per key result.

The query is evaluated at ``at - offset`` and must return a scalar or exactly one series; several
series are an error (the user must aggregate), no series or NaN/Inf are ``no_data``. One set of
clients per source is created lazily and shared by the run's threads: instant queries (the hot path,
one per KR per run) go over a keep-alive ``urllib3`` pool with a plain JSON parse, about a third of the
client CPU of ``PrometheusConnect.custom_query`` on requests; range queries (backfill) and anything
that pool does not reproduce exactly (a proxy from the environment, a redirect, a missing CA file) go
through ``PrometheusConnect`` as before. Neither client retries on its own (requests' retries cost 6 s
per query on a down server); we retry connection failures only, with ``retry_call``, and enforce
``timeout_s`` both in the HTTP client and as Prometheus's ``timeout``.

Staleness: an instant query stamps its sample with the evaluation time, and Prometheus itself drops
series not scraped within its lookback (5 min by default), which is what ends up as ``no_data``. So
``observed_at`` is ``at - offset`` and ``max_age`` only bites when it is shorter than ``offset``.

Trap: with ``Retry(total=0)`` requests reports a *read* timeout as ``ConnectionError`` (urllib3 wraps
it in ``MaxRetryError``), so errors are classified by their urllib3 reason, not their requests type.
The pool's errors are raised as the requests exceptions requests would raise for them, so both paths
share one classifier and say the same things.
"""

from __future__ import annotations

import ast
import bisect
import json
import math
import os
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlencode, urlsplit

from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

from connectors.base import Connector, ConnectorContext, Measurement, query_hash
from connectors.retry import retry_call
from okr_model.config import MetricBinding, SourceConfig
from okr_model.errors import OkrflowError
from okr_model.secrets import Redactor, hide_password, split_url

if TYPE_CHECKING:
    import requests
    import urllib3
    from prometheus_api_client import PrometheusConnect

__all__ = [
    "MAX_POINTS",
    "PrometheusConnector",
    "PrometheusMetric",
    "PrometheusSource",
    "SourceQueryError",
    "range_step",
]

MAX_POINTS = 11_000
"""Prometheus refuses a range query with more points than this per series."""

DEFAULT_STEP = timedelta(minutes=1)

POOL_SIZE = 64
"""Idle keep-alive connections kept per source (opened only as needed): as many as a source's fetch threads
can be (``fetch.threads_per_source`` allows 64), or urllib3 would close the extra ones, with a warning each."""

T = TypeVar("T")


class SourceQueryError(OkrflowError):
    """A range query (backfill) failed; the message says why and never carries credentials."""


class PrometheusSource(SourceConfig):
    """A Prometheus server (or a compatible API: Thanos, Mimir, VictoriaMetrics)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["prometheus"]
    url: str = Field(description="base URL of the server, e.g. http://127.0.0.1:9090")
    headers: dict[str, SecretStr] = Field(
        default_factory=dict, description='sent with every query, e.g. Authorization: "Bearer ${PROM_TOKEN}"'
    )
    username: str | None = Field(None, description="HTTP basic auth user")
    password: SecretStr | None = Field(None, description="HTTP basic auth password")
    verify_tls: bool = Field(True, description="check the server's TLS certificate")
    ca_file: str | None = Field(None, description="CA bundle (PEM) that signed the server's certificate")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("expected an http:// or https:// URL of the Prometheus server, e.g. http://127.0.0.1:9090")
        if parts.username or parts.password or split_url(value.strip()).username is not None:
            raise ValueError("put credentials in username/password or headers, not in the URL")
        if parts.query or parts.fragment:
            raise ValueError("expected the server's base URL, without ?query or #fragment")
        return value.strip().rstrip("/")

    @model_validator(mode="after")
    def _check_auth(self) -> PrometheusSource:
        if (self.username is None) != (self.password is None):
            raise ValueError("basic auth needs both username and password")
        if self.ca_file is not None and not self.verify_tls:
            raise ValueError("ca_file has no effect with verify_tls: false (drop one of them)")
        return self


class PrometheusMetric(MetricBinding):
    """A PromQL expression that yields one number: a scalar or a single series."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    query: str = Field(
        min_length=1, description="PromQL, e.g. histogram_quantile(0.95, sum(rate(x_bucket[5m])) by (le))"
    )

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query is empty")
        return value


def range_step(start: datetime, end: datetime, step: timedelta | None = None) -> timedelta:
    """The requested step (default 1 min), widened so that one series holds at most ``MAX_POINTS`` points."""
    requested = (step or DEFAULT_STEP).total_seconds()
    if requested <= 0:
        raise ValueError(f"step must be positive (got {step})")
    needed = math.ceil((end - start).total_seconds() / (MAX_POINTS - 1))
    return timedelta(seconds=max(requested, needed))


class PrometheusConnector(Connector[PrometheusSource, PrometheusMetric]):
    """Instant queries for ``fetch``, range queries for ``fetch_range`` (backfill)."""

    type_name = "prometheus"
    config_model = PrometheusSource
    metric_model = PrometheusMetric

    def __init__(self, name: str, config: PrometheusSource, context: ConnectorContext):
        super().__init__(name, config, context)
        self._clients: _Clients | None = None
        self._lock = threading.Lock()
        self._redact = Redactor(_secret_values(config))

    def fetch(self, metric: PrometheusMetric, at: datetime) -> Measurement:
        lineage: dict[str, Any] = {"source": self.name, "query_hash": query_hash(metric)}
        if at.tzinfo is None:
            return Measurement.error("evaluation time must be timezone-aware", **lineage)
        when = at - (metric.offset or timedelta(0))
        lineage["evaluated_at"] = _iso(when)
        try:
            params = self._params(time=f"{when.timestamp():.3f}")
            result = self._call(lambda: self._instant(metric.query, params))
            return self._measurement(result, metric, at, when, lineage)
        except Exception as exc:
            return Measurement.error(self._describe(exc), **lineage)

    def fetch_range(
        self, metric: PrometheusMetric, start: datetime, end: datetime, step: timedelta | None = None
    ) -> list[tuple[datetime, float]]:
        """Points ``(t, v)`` where ``v`` is what ``fetch(metric, t)`` returns; NaN/Inf points are skipped.

        The step is widened (see ``range_step``) so that Prometheus's 11,000-point limit never rejects a
        long backfill. Raises ``SourceQueryError`` on failure or when the query yields several series.
        """
        if start.tzinfo is None or end.tzinfo is None:
            raise SourceQueryError("range bounds must be timezone-aware")
        if end <= start:
            raise SourceQueryError(f"empty range: end {_iso(end)} is not after start {_iso(start)}")
        shift = metric.offset or timedelta(0)
        width = f"{range_step(start, end, step).total_seconds():g}"
        # The client rounds bounds to whole seconds; round inwards so no point falls outside [start, end].
        first, last = _whole_second(start, math.ceil), _whole_second(end, math.floor)
        if last < first:
            return []
        try:
            result = self._call(
                lambda: self._clients_now().prom.custom_query_range(
                    metric.query,
                    start_time=first - shift,
                    end_time=last - shift,
                    step=width,
                    params=self._params(),
                    timeout=self.config.timeout_s,
                )
            )
        except Exception as exc:
            raise SourceQueryError(self._describe(exc)) from None
        if not result:
            return []
        if len(result) > 1:
            raise SourceQueryError(f"prometheus source {self.name!r}: {_several(result)}")
        points = []
        for ts, raw in result[0].get("values", []):
            value = _number(raw)
            if value is not None and math.isfinite(value):
                points.append((datetime.fromtimestamp(float(ts), UTC) + shift, value))
        return points

    def fetch_series(self, metric: PrometheusMetric, slots: Sequence[datetime]) -> dict[datetime, Measurement]:
        """Measurements as of each slot from ONE range query over [first slot, last slot] (backfill).

        The range step is the greatest common divisor of the gaps between slots (the backfill step for
        evenly spaced slots), so every slot is an evaluation time of the query and its point is what
        ``fetch(metric, slot)`` returns. When ``fetch_range`` widens the step (more than ``MAX_POINTS``
        points), a slot takes the latest point at or before it within one step. A slot without a
        point (no series then, or NaN) is ``no_data``; several series or a failed query are an
        ``error`` for every slot. A single slot, or slots with sub-second parts, use instant queries.
        """
        if len(set(slots)) < 2 or any(s.tzinfo is None or s.microsecond for s in slots):
            return super().fetch_series(metric, slots)
        ordered = sorted(set(slots))
        gaps = [int((b - a).total_seconds()) for a, b in pairwise(ordered)]
        step = timedelta(seconds=math.gcd(*gaps))
        width = range_step(ordered[0], ordered[-1], step)
        shift = metric.offset or timedelta(0)
        base: dict[str, Any] = {"source": self.name, "query_hash": query_hash(metric), "range_step": _duration(width)}
        try:
            points = self.fetch_range(metric, ordered[0], ordered[-1], step)
        except SourceQueryError as exc:
            return {slot: Measurement.error(str(exc), **base) for slot in slots}
        times = [t for t, _ in points]
        out: dict[datetime, Measurement] = {}
        for slot in slots:
            when = slot - shift
            i = bisect.bisect_right(times, slot)
            if i == 0 or slot - times[i - 1] >= width:
                out[slot] = Measurement.no_data(
                    f"query returned no finite value at {_iso(when)} (no series then, or NaN)", **base
                )
                continue
            observed_at = times[i - 1] - shift
            lineage = {**base, "evaluated_at": _iso(observed_at)}
            if metric.max_age is not None and slot - observed_at > metric.max_age:
                out[slot] = Measurement.no_data(
                    f"latest value is from {_iso(observed_at)}, older than max_age {_duration(metric.max_age)}",
                    **lineage,
                )
            else:
                out[slot] = Measurement.ok(points[i - 1][1], observed_at, **lineage)
        return out

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, None
        if clients is not None:
            if clients.direct is not None:
                clients.direct.close()
            clients.prom.close()

    # internals

    def _clients_now(self) -> _Clients:
        """The shared clients, created on first use (thread-safe)."""
        with self._lock:
            if self._clients is None:
                self._clients = self._open()
            return self._clients

    def _open(self) -> _Clients:
        import requests
        from prometheus_api_client import PrometheusConnect
        from urllib3.util.retry import Retry

        session = requests.Session()
        session.verify = self.config.ca_file or self.config.verify_tls
        session.headers["User-Agent"] = "okrflow"
        session.headers.update({k: v.get_secret_value() for k, v in self.config.headers.items()})
        auth = None
        if self.config.username is not None and self.config.password is not None:
            auth = (self.config.username, self.config.password.get_secret_value())
        prom = PrometheusConnect(
            url=self.config.url, retry=Retry(total=0), session=session, auth=auth, timeout=self.config.timeout_s
        )
        return _Clients(prom, _DirectQueries.open(session, self.config.url, auth, self.config.timeout_s))

    def _instant(self, query: str, params: dict[str, str]) -> Any:
        """``data.result`` of one instant query: over the pool when there is one, else prometheus-api-client."""
        clients = self._clients_now()
        if clients.direct is not None:
            try:
                return clients.direct.query(query, params)
            except _Redirected:
                clients.direct = None  # requests follows redirects (and knows when to drop credentials)
        return clients.prom.custom_query(query, params=params, timeout=self.config.timeout_s)

    def _call(self, call: Callable[[], T]) -> T:
        return retry_call(call, retries=self.config.retries, is_transient=_is_transient)

    def _params(self, **extra: str) -> dict[str, str]:
        # Prometheus reads a bare number as seconds ("1.5"); "1.5s" would be rejected.
        return {"timeout": f"{self.config.timeout_s:g}", **extra}

    def _measurement(
        self, result: Any, metric: PrometheusMetric, at: datetime, when: datetime, lineage: dict[str, Any]
    ) -> Measurement:
        if not isinstance(result, list):
            return Measurement.error(
                f"prometheus at {hide_password(self.config.url)} sent an unexpected answer", **lineage
            )
        if not result:
            return Measurement.no_data(f"query returned no series at {_iso(when)}", **lineage)
        if isinstance(result[0], dict):
            if len(result) > 1:
                return Measurement.error(_several(result), **lineage)
            series = result[0]
            if "value" not in series:
                return Measurement.error(
                    "query returned a range vector; reduce it with a function such as avg_over_time(...)", **lineage
                )
            labels = dict(series.get("metric") or {})
            ts, raw = series["value"]
        else:  # a scalar (or string) result is [timestamp, "value"]
            labels = {}
            ts, raw = result
        lineage["series"] = labels
        value = _number(raw)
        if value is None:
            return Measurement.error(f"query returned {str(raw)[:80]!r}, not a number", **lineage)
        if not math.isfinite(value):
            return Measurement.no_data(f"query returned {raw} at {_iso(when)} (no valid value)", **lineage)
        observed_at = datetime.fromtimestamp(float(ts), UTC)
        if metric.max_age is not None and at - observed_at > metric.max_age:
            return Measurement.no_data(
                f"latest value is from {_iso(observed_at)}, older than max_age {_duration(metric.max_age)}", **lineage
            )
        return Measurement.ok(value, observed_at, **lineage)

    def _describe(self, exc: BaseException) -> str:
        """A user-facing reason for a failed query, with every credential value blanked out."""
        return self._redact(self._reason(exc))

    def _reason(self, exc: BaseException) -> str:
        import requests
        from prometheus_api_client import PrometheusApiClientException

        where = f"prometheus at {hide_password(self.config.url)}"
        tries = f" (after {self.config.retries + 1} attempts)" if self.config.retries else ""
        if isinstance(exc, (PrometheusApiClientException, _HttpStatus)):
            status, message = _api_error(exc)
            if status in ("401", "403"):
                return f"{where} refused the credentials (HTTP {status}): {message}"
            return f"{where} rejected the query (HTTP {status}): {message}"
        if _is_timeout(exc):
            retried = tries if _is_transient(exc) else ""
            return f"{where} did not answer within {self.config.timeout_s:g} s{retried}"
        if isinstance(exc, requests.exceptions.SSLError):
            return f"{where}: TLS verification failed; set ca_file to the CA that signed its certificate"
        if isinstance(exc, requests.ConnectionError):
            return f"{where}: {_connection_reason(str(exc))}{tries}"
        if isinstance(exc, (ValueError, KeyError, TypeError)):
            return f"{where} did not answer with the Prometheus HTTP API; check that url is the server's base URL"
        return f"{where}: unexpected {type(exc).__name__}: {str(exc)[:200]}"


@dataclass
class _Clients:
    prom: PrometheusConnect
    """Range queries, and instant queries when ``direct`` is None."""
    direct: _DirectQueries | None
    """Instant queries over a keep-alive pool; dropped (for the source's lifetime) on the first redirect."""


class _Redirected(Exception):
    """The server answered an instant query with a redirect: requests follows those, the pool does not."""


class _HttpStatus(Exception):
    """A non-200 answer to an instant query on the pool (what ``PrometheusApiClientException`` is on requests)."""

    def __init__(self, status: int, body: bytes):
        super().__init__(f"HTTP Status Code {status}")
        self.status, self.body = status, body


@dataclass
class _DirectQueries:
    """``/api/v1/query`` over one keep-alive urllib3 pool, as prometheus-api-client would send it on requests.

    requests prepares each request anew (headers, cookies, auth, environment, proxies) and costs ~3x the
    client CPU of the pool; here everything requests would decide is decided once, by requests itself,
    when the pool is opened: the headers (session defaults, custom headers, basic or ``.netrc`` auth),
    the certificate check (``ca_file``, ``REQUESTS_CA_BUNDLE``, else certifi's bundle). Differences on
    the wire: ``Accept-Encoding: identity`` (an instant query's answer is a few hundred bytes; gzipping
    it costs the server more than it saves, ~1 ms per query on loopback), and cookies a server sets are
    not sent back (Prometheus sets none).
    """

    pool: urllib3.HTTPConnectionPool
    path: str
    headers: Mapping[str, str]

    @classmethod
    def open(
        cls, session: requests.Session, url: str, auth: tuple[str, str] | None, timeout_s: float
    ) -> _DirectQueries | None:
        """The pool, or None when requests would do something the pool does not (then requests does it all)."""
        import requests
        import urllib3
        from requests.utils import DEFAULT_ACCEPT_ENCODING, DEFAULT_CA_BUNDLE_PATH, select_proxy

        endpoint = f"{url}/api/v1/query"
        try:
            prepared = session.prepare_request(requests.Request("GET", endpoint, auth=auth))
        except Exception:  # e.g. an invalid header value: let requests raise it on every query, as before
            return None
        settings = session.merge_environment_settings(endpoint, {}, None, session.verify, None)
        if select_proxy(endpoint, settings["proxies"]):
            return None
        headers = prepared.headers.copy()
        if headers.get("Accept-Encoding") == DEFAULT_ACCEPT_ENCODING:
            headers["Accept-Encoding"] = "identity"
        tls: dict[str, Any] = {}
        if urlsplit(url).scheme == "https":
            verify = settings["verify"]
            if verify is False:
                tls = {"cert_reqs": "CERT_NONE"}
            else:
                where = DEFAULT_CA_BUNDLE_PATH if verify is True else str(verify)
                if not os.path.exists(where):
                    return None  # requests reports the missing bundle in its own words
                tls = {"cert_reqs": "CERT_REQUIRED", ("ca_cert_dir" if os.path.isdir(where) else "ca_certs"): where}
        pool = urllib3.connection_from_url(
            url, maxsize=POOL_SIZE, block=False, retries=False, timeout=urllib3.Timeout(timeout_s), **tls
        )
        return cls(pool, urlsplit(endpoint).path, dict(headers))

    def query(self, query: str, params: Mapping[str, str]) -> Any:
        """``data.result`` of a 200 answer; raises what requests would raise for the same failure."""
        url = f"{self.path}?{urlencode({'query': query, **params})}"
        try:
            response = self.pool.urlopen(
                "GET", url, headers=self.headers, retries=False, redirect=False, preload_content=False
            )
        except Exception as exc:
            raise _sending_error(exc, self.pool, url) from None
        try:
            body = _read(response)
        finally:
            response.release_conn()
        if response.status != 200:
            if response.get_redirect_location():
                raise _Redirected
            raise _HttpStatus(response.status, body)
        return json.loads(body.decode("utf-8", "replace"))["data"]["result"]

    def close(self) -> None:
        self.pool.close()


def _read(response: urllib3.BaseHTTPResponse) -> bytes:
    """The whole body; a failure mid-answer raises the requests exception ``response.content`` would."""
    import requests
    from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError, SSLError

    try:
        return response.read()
    except ProtocolError as exc:
        raise requests.exceptions.ChunkedEncodingError(exc) from None
    except DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(exc) from None
    except ReadTimeoutError as exc:
        raise requests.ConnectionError(exc) from None
    except SSLError as exc:
        raise requests.exceptions.SSLError(exc) from None


def _sending_error(exc: Exception, pool: urllib3.HTTPConnectionPool, url: str) -> Exception:
    """The requests exception for urllib3's ``exc`` when sending with ``Retry(total=0)`` (see ``HTTPAdapter.send``).

    Every failure there ends as ``MaxRetryError(reason=exc)``, translated by its reason; anything else
    (not a urllib3 error) is left as it is.
    """
    import requests
    from urllib3.exceptions import ClosedPoolError, ConnectTimeoutError, HTTPError, MaxRetryError, NewConnectionError
    from urllib3.exceptions import SSLError as Urllib3SSLError

    if isinstance(exc, ClosedPoolError):
        return requests.ConnectionError(exc)
    if not isinstance(exc, HTTPError):
        return exc
    wrapped = MaxRetryError(pool, url, reason=exc)
    if isinstance(exc, ConnectTimeoutError) and not isinstance(exc, NewConnectionError):
        return requests.ConnectTimeout(wrapped)
    if isinstance(exc, Urllib3SSLError):
        return requests.exceptions.SSLError(wrapped)
    return requests.ConnectionError(wrapped)


def _secret_values(config: PrometheusSource) -> list[str]:
    """Every credential of the source (``Redactor`` also blanks their encoded shapes: Basic auth's base64)."""
    values = [v.get_secret_value() for v in config.headers.values()]
    values += [part for value in list(values) for part in value.split() if len(part) >= 6]
    values += [config.password.get_secret_value() if config.password is not None else None]
    values += [split_url(config.url).password]
    return [value for value in values if value]


def _is_timeout(exc: BaseException) -> bool:
    import requests
    from urllib3.exceptions import NewConnectionError
    from urllib3.exceptions import TimeoutError as Urllib3Timeout

    inner = exc.args[0] if exc.args else None
    reason = getattr(inner, "reason", inner)
    if isinstance(reason, NewConnectionError):  # a subclass of ConnectTimeoutError in urllib3, yet not a timeout
        return False
    return isinstance(exc, requests.Timeout) or isinstance(reason, Urllib3Timeout)


def _is_transient(exc: BaseException) -> bool:
    """Connection failures are retried; a slow query (read timeout), TLS and HTTP errors are not."""
    import requests
    from urllib3.exceptions import ReadTimeoutError

    if not isinstance(exc, requests.ConnectionError) or isinstance(exc, requests.exceptions.SSLError):
        return False
    inner = exc.args[0] if exc.args else None
    return not isinstance(getattr(inner, "reason", inner), ReadTimeoutError)


def _connection_reason(text: str) -> str:
    lowered = text.lower()
    if "connection refused" in lowered:
        return "connection refused"
    if "failed to resolve" in lowered or "name or service not known" in lowered:
        return "host name not found"
    if "connection reset" in lowered:
        return "connection reset"
    if "remotedisconnected" in lowered or "connection aborted" in lowered:
        return "connection closed without an answer"
    return "connection failed"


_API_ERROR = re.compile(r"^HTTP Status Code (\d+) \((b(['\"]).*)\)$", re.S)


def _api_error(exc: Exception) -> tuple[str, str]:
    """(status, Prometheus's error message) from a non-200 answer of either client."""
    if isinstance(exc, _HttpStatus):
        return _api_message(str(exc.status), exc.body)
    text = str(exc)
    match = _API_ERROR.match(text)
    if not match:
        return "?", text[:200]
    try:
        body = ast.literal_eval(match.group(2))
    except (ValueError, SyntaxError):
        body = match.group(2).encode()
    return _api_message(match.group(1), body)


def _api_message(status: str, body: Any) -> tuple[str, str]:
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and payload.get("error"):
        kind = payload.get("errorType")
        return status, str(payload["error"]) + (f" ({kind})" if kind else "")
    snippet = " ".join(body.decode("utf-8", "replace").split())[:200] if isinstance(body, bytes) else ""
    return status, snippet or "empty answer"


def _several(result: list[dict[str, Any]]) -> str:
    shown = ", ".join(_labels(s.get("metric") or {}) for s in result[:3])
    more = ", ..." if len(result) > 3 else ""
    return f"query returned {len(result)} series; aggregate it to one (e.g. sum(...) or avg(...)); got {shown}{more}"


def _labels(labels: dict[str, str]) -> str:
    name = labels.get("__name__", "")
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{inner}}}"


def _number(raw: Any) -> float | None:
    try:
        return float(raw)
    except (TypeError, ValueError):
        return None


def _whole_second(moment: datetime, rounding: Callable[[float], int]) -> datetime:
    return datetime.fromtimestamp(rounding(moment.timestamp()), UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _duration(value: timedelta) -> str:
    return f"{value.total_seconds():g} s"
