"""``okrflow probe`` of a Great Expectations binding: the suite's expectations and the columns they name, the columns
its data has (an inline suite's table, query or file; the project's checkpoints and suites), then the value."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from okrflow.connectors.base import OnlineFinding, Probe
from okrflow.connectors.gx_catalog import describe
from okrflow.connectors.gx_config import GxMetric, ProjectSuite

if TYPE_CHECKING:
    from okrflow.connectors.great_expectations import GreatExpectationsConnector

__all__ = ["named_columns", "probe_suite"]


def named_columns(expectations: list[tuple[str, dict[str, Any]]]) -> list[str]:
    """The columns expectations name (``column``, ``column_A``/``column_B``, ``column_list``), first seen first."""
    seen: dict[str, None] = {}
    for _, kwargs in expectations:
        for key in ("column", "column_A", "column_B"):
            if isinstance(kwargs.get(key), str):
                seen.setdefault(kwargs[key])
        for key in ("column_list", "column_set"):
            if isinstance(kwargs.get(key), list) and key == "column_list":
                for column in kwargs[key]:
                    seen.setdefault(str(column))
    return list(seen)


def probe_suite(gx: GreatExpectationsConnector, metric: GxMetric, at: datetime) -> Probe:
    """Never raises: what cannot be listed becomes an error finding."""
    suite = gx.config.suites.get(metric.suite)
    if suite is None:
        return Probe.of(f"suite {metric.suite!r}", gx.fetch(metric, at))
    holds: dict[str, list[str]] = {}
    findings: list[OnlineFinding] = []
    try:
        if isinstance(suite, ProjectSuite):
            project = gx.project()
            reads = f"{suite.label()} of the GX project {project.root}"
            holds.update((k, v or ["none"]) for k, v in project.holds().items())
            names = [suite.suite] if suite.suite else project.checkpoint_suites(suite.checkpoint or "")
            expectations = [e for name in names for e in project.expectations(name or "")]
            data_columns = None
        else:
            reads = f"inline suite {metric.suite!r} over the {suite.data.label()}"
            expectations = suite.items()
            data_columns = _data_columns(gx, suite, at)
            holds["columns of the data"] = data_columns or ["(could not be read)"]
    except Exception as exc:  # the project or data cannot be read: the measurement below says the details
        return Probe.of(
            f"suite {metric.suite!r} of source {gx.name!r}",
            gx.fetch(metric, at),
            holds,
            [OnlineFinding("error", f"{type(exc).__name__}: {exc}")],
        )
    holds["expectations"] = [f"[{i}] {describe(name, kwargs)}" for i, (name, kwargs) in enumerate(expectations)]
    columns = named_columns(expectations)
    holds["columns the expectations name"] = columns or ["none"]
    if data_columns:
        missing = [c for c in columns if c not in data_columns]
        if missing:
            findings.append(OnlineFinding("error", f"the data has no column(s) {', '.join(missing)}"))
    if metric.expectation is not None and metric.expectation >= len(expectations):
        findings.append(
            OnlineFinding("error", f"there is no expectation {metric.expectation} (0..{len(expectations) - 1})")
        )
    if isinstance(suite, ProjectSuite) and suite.checkpoint is not None:  # running it would run its actions too
        holds["value"] = ["not measured by probe: running the checkpoint runs its actions (okrflow run measures it)"]
        return Probe(reads, tuple((k, tuple(v)) for k, v in holds.items()), None, tuple(findings))
    return Probe.of(reads, gx.fetch(metric, at), holds, findings)


def _data_columns(gx: GreatExpectationsConnector, suite: Any, at: datetime) -> list[str] | None:
    try:
        return [str(c) for c in gx._read(suite.data, at).columns]
    except Exception:
        return None
