"""``okrflow probe`` of a Prometheus binding: the series the query returns now (labels and values), and a warning
when a ``histogram_quantile`` target lies inside the lowest bucket: below its upper bound the quantile is only
interpolated from 0, so e.g. a P95 target of 50 ms with a first bucket of 0.1 s can never be measured as met."""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from okrflow.connectors.base import OnlineFinding, Probe

if TYPE_CHECKING:
    from okrflow.connectors.prometheus import PrometheusConnector, PrometheusMetric
    from okrflow.okr_model.config import KeyResult

__all__ = ["lowest_bucket_warning", "probe_prometheus", "quantile_parts"]

SHOWN = 10
_QUANTILE = re.compile(r"histogram_quantile\s*\(\s*([0-9.]+)\s*,", re.S)
_SCALE = re.compile(r"\)\s*([*/])\s*([0-9.]+(?:e[+-]?[0-9]+)?)\s*$", re.I)


def quantile_parts(query: str) -> tuple[float, str, float] | None:
    """(quantile, inner bucket expression, scale applied outside) of ``histogram_quantile(q, inner) [* or / k]``."""
    match = _QUANTILE.search(query)
    if match is None:
        return None
    depth, start = 1, match.end()
    for i in range(start, len(query)):
        depth += {"(": 1, ")": -1}.get(query[i], 0)
        if depth == 0:
            inner, rest = query[start:i], query[i:]
            break
    else:
        return None
    scale = 1.0
    if (outside := _SCALE.search(rest)) is not None:
        factor = float(outside.group(2))
        scale = factor if outside.group(1) == "*" else 1.0 / factor
    return float(match.group(1)), inner.strip(), scale


def lowest_bucket_warning(query: str, bounds: list[float], targets: list[float]) -> str | None:
    """The warning when a target lies at or below the lowest finite bucket bound (after the query's scaling)."""
    parts = quantile_parts(query)
    finite = sorted(b for b in bounds if math.isfinite(b) and b > 0)
    if parts is None or not finite:
        return None
    quantile, _, scale = parts
    lowest = finite[0] * scale
    inside = [t for t in targets if 0 <= t < lowest]
    if not inside:
        return None
    return (
        f"the target {inside[0]:g} lies inside the lowest histogram bucket (le={finite[0]:g}"
        + (f", {lowest:g} as the query scales it" if scale != 1 else "")
        + f"): histogram_quantile({quantile:g}) only interpolates below {lowest:g} by assuming observations spread "
        f"evenly from 0, so it cannot tell whether the target is met; add a bucket below {inside[0] / scale:g}"
    )


def probe_prometheus(prom: PrometheusConnector, metric: PrometheusMetric, at: datetime, kr: KeyResult | None) -> Probe:
    """Never raises: what cannot be queried is left out; the measurement says why the binding fails."""
    when = at - (metric.offset or timedelta(0))
    params = prom._params(time=f"{when.timestamp():.3f}")
    holds: dict[str, list[str]] = {}
    findings = []
    try:
        result = prom._call(lambda client: client.custom_query(metric.query, params=params))
        holds["series the query returns"] = [_series(item) for item in result[:SHOWN]] or ["none (an empty vector)"]
        if len(result) > SHOWN:
            holds["series the query returns"].append(f"... {len(result) - SHOWN} more")
    except Exception:  # the measurement below says why
        pass
    parts = quantile_parts(metric.query)
    if parts is not None:
        try:
            buckets = prom._call(lambda client: client.custom_query(parts[1], params=params))
            bounds = sorted({float(item["metric"]["le"]) for item in buckets if "le" in item.get("metric", {})})
            holds["histogram buckets (le)"] = [f"{b:g}" if math.isfinite(b) else "+Inf" for b in bounds] or ["none"]
            target = None if kr is None else kr.target
            targets = [float(v) for v in (target if isinstance(target, (tuple, list)) else [target]) if v is not None]
            if warning := lowest_bucket_warning(metric.query, bounds, targets):
                findings.append(OnlineFinding("warning", warning))
        except Exception:  # the buckets are a courtesy
            pass
    return Probe.of(f"PromQL {metric.query}", prom.fetch(metric, at), holds, findings)


def _series(item: Any) -> str:
    labels = ", ".join(f'{k}="{v}"' for k, v in sorted(item.get("metric", {}).items()))
    value = item.get("value", [None, "?"])[1]
    return f"{{{labels}}} {value}"
