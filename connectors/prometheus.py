"""Prometheus connector: a PromQL instant query as of the run's slot time, one number per key result.

The query is evaluated at ``at - offset`` and must return a scalar or exactly one series; several series are
an error (the user must aggregate), no series or NaN/Inf are ``no_data`` (``prometheus_answer``). Backfill
reads a KR's slots with ONE range query (``fetch_series``). Queries go through prometheus-api-client's
``PrometheusConnect`` on one ``requests`` session per source, created on first use and shared by the run's
threads (``prometheus_http``); failures are told in words (``prometheus_errors``), connection failures are
retried with ``retry_call``, and ``timeout_s`` is enforced both by the HTTP client and as Prometheus's own
``timeout``.

Staleness: an instant query stamps its sample with the evaluation time, and Prometheus itself drops series
not scraped within its lookback (5 min by default), which is what ends up as ``no_data``. So ``observed_at``
is ``at - offset``, and ``max_age`` (``okrflow.connectors.base.apply_max_age``) is judged from the slot time ``at``:
it only bites when it is shorter than ``offset``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlsplit

from okrflow.connectors.base import Connector, ConnectorContext, Measurement, Probe, query_hash
from okrflow.connectors.prometheus_answer import (
    MAX_POINTS,
    instant_measurement,
    iso,
    measurements_at_slots,
    range_points,
    range_step,
    seconds_text,
    several_series,
    whole_second,
)
from okrflow.connectors.prometheus_errors import SourceQueryError, failure_reason, is_transient
from okrflow.connectors.prometheus_http import POOL_SIZE, open_client
from okrflow.connectors.retry import retry_call
from okrflow.okr_model.config import MetricBinding, SourceConfig
from okrflow.okr_model.secrets import Redactor, hide_password, split_url
from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator

if TYPE_CHECKING:
    from prometheus_api_client import PrometheusConnect

__all__ = [
    "MAX_POINTS",
    "POOL_SIZE",
    "PrometheusConnector",
    "PrometheusMetric",
    "PrometheusSource",
    "SourceQueryError",
    "range_step",
]

T = TypeVar("T")


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


class PrometheusConnector(Connector[PrometheusSource, PrometheusMetric]):
    """Instant queries for ``fetch``, range queries for ``fetch_range`` and ``fetch_series`` (backfill)."""

    type_name = "prometheus"
    config_model = PrometheusSource
    metric_model = PrometheusMetric

    def __init__(self, name: str, config: PrometheusSource, context: ConnectorContext):
        super().__init__(name, config, context)
        self._client: PrometheusConnect | None = None
        self._lock = threading.Lock()
        self._redact = Redactor(_secret_values(config))

    def fetch(self, metric: PrometheusMetric, at: datetime) -> Measurement:
        lineage: dict[str, Any] = {"source": self.name, "query_hash": query_hash(metric)}
        if at.tzinfo is None:
            return Measurement.error("evaluation time must be timezone-aware", **lineage)
        when = at - (metric.offset or timedelta(0))
        lineage["evaluated_at"] = iso(when)
        params = self._params(time=f"{when.timestamp():.3f}")
        try:
            result = self._call(lambda client: client.custom_query(metric.query, params=params))
            if not isinstance(result, list):
                return Measurement.error(f"{self._where()} sent an unexpected answer", **lineage)
            return instant_measurement(result, when=when, age_from=at, max_age=metric.max_age, lineage=lineage)
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
            raise SourceQueryError(f"empty range: end {iso(end)} is not after start {iso(start)}")
        shift = metric.offset or timedelta(0)
        width = f"{range_step(start, end, step).total_seconds():g}"
        # The client rounds bounds to whole seconds; round inwards so no point falls outside [start, end].
        first, last = whole_second(start, math.ceil), whole_second(end, math.floor)
        if last < first:
            return []
        params = self._params()
        try:
            result = self._call(
                lambda client: client.custom_query_range(
                    metric.query, start_time=first - shift, end_time=last - shift, step=width, params=params
                )
            )
        except Exception as exc:
            raise SourceQueryError(self._describe(exc)) from None
        if result and len(result) > 1:
            raise SourceQueryError(f"prometheus source {self.name!r}: {several_series(result)}")
        return range_points(result, shift)

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
        base: dict[str, Any] = {
            "source": self.name,
            "query_hash": query_hash(metric),
            "range_step": seconds_text(width),
        }
        try:
            points = self.fetch_range(metric, ordered[0], ordered[-1], step)
        except SourceQueryError as exc:
            return {slot: Measurement.error(str(exc), **base) for slot in slots}
        shift = metric.offset or timedelta(0)
        return measurements_at_slots(points, slots, width=width, shift=shift, max_age=metric.max_age, base=base)

    def probe(self, metric: PrometheusMetric, at: datetime, kr: Any = None) -> Probe:
        """``okrflow probe``: the series the query returns, and a target no histogram bucket can resolve
        (``okrflow.connectors.prometheus_probe``)."""
        from okrflow.connectors.prometheus_probe import probe_prometheus

        return probe_prometheus(self, metric, at, kr)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # internals

    def _client_now(self) -> PrometheusConnect:
        """The source's client, created on first use (thread-safe)."""
        with self._lock:
            if self._client is None:
                config = self.config
                auth = None
                if config.username is not None and config.password is not None:
                    auth = (config.username, config.password.get_secret_value())
                self._client = open_client(
                    config.url,
                    headers={k: v.get_secret_value() for k, v in config.headers.items()},
                    auth=auth,
                    verify=config.ca_file or config.verify_tls,
                    timeout_s=config.timeout_s,
                )
            return self._client

    def _call(self, query: Callable[[PrometheusConnect], T]) -> T:
        return retry_call(lambda: query(self._client_now()), retries=self.config.retries, is_transient=is_transient)

    def _params(self, **extra: str) -> dict[str, str]:
        # Prometheus reads a bare number as seconds ("1.5"); "1.5s" would be rejected.
        return {"timeout": f"{self.config.timeout_s:g}", **extra}

    def _where(self) -> str:
        return f"prometheus at {hide_password(self.config.url)}"

    def _describe(self, exc: BaseException) -> str:
        """A user-facing reason for a failed query, with every credential value blanked out."""
        reason = failure_reason(exc, where=self._where(), timeout_s=self.config.timeout_s, retries=self.config.retries)
        return self._redact(reason)


def _secret_values(config: PrometheusSource) -> list[str]:
    """Every credential of the source (``Redactor`` also blanks their encoded shapes: Basic auth's base64)."""
    values = [v.get_secret_value() for v in config.headers.values()]
    values += [part for value in list(values) for part in value.split() if len(part) >= 6]
    values += [config.password.get_secret_value() if config.password is not None else None]
    values += [split_url(config.url).password]
    return [value for value in values if value]
