"""``okrflow validate --online``: what only the live sources can tell, asked of each configured source.

Then every metric binding is probed (``okrflow.probe``): one that cannot be read is an error, one that may
mislead (a target inside a histogram's lowest bucket) a warning.

Each connector answers through its optional ``check_online()`` (``okrflow.connectors.base``): the SQL connector
connects and warns when the role is a superuser or can write; other source kinds add their own checks
(columns a suite names, a probe query) by overriding the same method. A source that cannot be checked
(unreachable, login refused) is an ``error``: the command exits 1. Warnings leave the exit code at 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from okrflow.connectors.base import ConnectorContext
from okrflow.connectors.registry import Registry, default_registry
from okrflow.okr_model.config import Config

__all__ = ["SourceFinding", "check_sources"]


@dataclass(frozen=True)
class SourceFinding:
    """One finding of one source, printed as ``warning: source 'warehouse': ...``."""

    source: str
    level: Literal["warning", "error"]
    message: str

    def render(self) -> str:
        return f"{self.level}: source {self.source!r}: {self.message}"


def check_sources(config: Config, registry: Registry | None = None) -> list[SourceFinding]:
    """Run every source's online check, in config order; a check that raises is an error, never a crash."""
    registry = registry or default_registry()
    context = ConnectorContext(config)
    findings: list[SourceFinding] = []
    for name, source in config.sources.items():
        connector = registry.get(source.type)(name, source, context)
        try:
            findings += [SourceFinding(name, f.level, f.message) for f in connector.check_online()]
        except Exception as exc:  # a connector's check must not raise; say which one did, without details
            findings.append(SourceFinding(name, "error", f"the online check failed ({type(exc).__name__})"))
        finally:
            connector.close()
    from okrflow.probe import probe_all

    seen = {(f.source, f.message) for f in findings}
    for kr, probe in probe_all(config, registry):  # each binding: can it be read, and does it mislead?
        for found in probe.findings:
            source = kr.metric.source if kr.metric else "?"
            if (source, found.message) not in seen and not any(found.message in m for s, m in seen if s == source):
                findings.append(SourceFinding(source, found.level, f"key result {kr.id!r}: {found.message}"))
    return findings
