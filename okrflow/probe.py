"""``okrflow probe KR`` and the binding checks of ``okrflow validate --online``: connect to a KR's source and show
what its binding would read and what else is there (``Connector.probe``): an MLflow model's aliases and versions and
the run's metric names, the series a PromQL query returns, a SQL query's columns and first row, a GX suite's
expectations and the columns they name. A binding that cannot be read is an error (exit 1) with the reason.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from okrflow.connectors.base import ConnectorContext, OnlineFinding, Probe
from okrflow.connectors.registry import Registry, default_registry
from okrflow.okr_model.config import Config, KeyResult

__all__ = ["default_time", "probe_all", "probe_kr", "render"]


def default_time(config: Config) -> datetime:
    """Now, or the cycle's last second when the cycle has ended (a probe reads within the cycle, as a run does)."""
    return min(datetime.now(UTC), config.cycle_bounds()[1] - timedelta(seconds=1)).replace(microsecond=0)


def probe_kr(config: Config, kr: KeyResult, at: datetime | None = None, registry: Registry | None = None) -> Probe:
    """The probe of one metric-bound KR; a connector that raises becomes an error finding, never a crash."""
    registry = registry or default_registry()
    metric = kr.metric
    if metric is None:
        return Probe("manual key result: no source to read (values come from okrflow checkin)")
    source = config.sources.get(metric.source)
    if source is None:
        return Probe(f"source {metric.source!r}", findings=(OnlineFinding("error", "the source is not defined"),))
    connector = registry.get(source.type)(metric.source, source, ConnectorContext(config))
    try:
        return connector.probe(metric, at or default_time(config), kr)
    except Exception as exc:  # a probe must not raise; say which one did
        failed = OnlineFinding("error", f"the probe failed ({type(exc).__name__})")
        return Probe(f"source {metric.source!r}", findings=(failed,))
    finally:
        connector.close()


def probe_all(config: Config, registry: Registry | None = None) -> list[tuple[KeyResult, Probe]]:
    """Every metric-bound KR's probe, in config order (``okrflow validate --online``)."""
    at = default_time(config)
    return [(kr, probe_kr(config, kr, at, registry)) for _, kr in config.key_results() if kr.metric is not None]


def render(kr: KeyResult, probe: Probe, at: datetime) -> str:
    """The text ``okrflow probe`` prints."""
    lines = [f"{kr.id}: {kr.title}" if getattr(kr, "title", None) else kr.id, f"  reads: {probe.reads}"]
    for heading, items in probe.holds:
        if (len(items) == 1 and len(items[0]) <= 100) or (len(items) <= 12 and all(len(i) <= 30 for i in items)):
            lines.append(f"  {heading}: {', '.join(items)}")
        else:
            lines.append(f"  {heading}:")
            lines += [f"    {item}" for item in items]
    m = probe.measurement
    when = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if m is not None and m.status == "ok":
        lines.append(f"  value as of {when}: {f'{m.value:.6g}'}")
    elif m is not None:
        lines.append(f"  value as of {when}: {m.status}: {m.detail}")
    shown = m.detail if m is not None and m.status == "error" else None  # already on the value line
    lines += [f"  {f.level}: {f.message}" for f in probe.findings if f.message != shown]
    return "\n".join(lines)
