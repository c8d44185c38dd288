"""Maps a source's ``type:`` to its connector class: built-ins, then the ``okrflow.connectors`` entry points.

Explicit and loud: registering a name twice raises, an unknown type lists the known ones, and a
plugin that cannot be imported is reported with the reason instead of disappearing. Built-in
connectors are imported lazily so that ``okrflow validate`` does not pay for MLflow or Great Expectations, and the
entry points are read only for a type that is not built in (or to list the known ones): reading them scans every
installed distribution.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from okrflow.connectors.base import Connector
from okrflow.okr_model.config import Config, KeyResult, MetricBinding, SourceConfig
from okrflow.okr_model.errors import ConfigIssue, OkrflowError

__all__ = ["ENTRY_POINT_GROUP", "Registry", "UnknownSourceType", "default_registry"]

ENTRY_POINT_GROUP = "okrflow.connectors"

BUILTINS = {
    "sql": "okrflow.connectors.sql:SqlConnector",
    "prometheus": "okrflow.connectors.prometheus:PrometheusConnector",
    "mlflow": "okrflow.connectors.mlflow:MlflowConnector",
    "great_expectations": "okrflow.connectors.great_expectations:GreatExpectationsConnector",
}


class UnknownSourceType(OkrflowError, LookupError):
    """A config names a source ``type`` no installed connector provides."""


class Registry:
    """name -> connector class; also the config loader's ``SchemaResolver``."""

    def __init__(self, builtins: dict[str, str] | None = None, load_entry_points: bool = True):
        self._targets: dict[str, str] = dict(BUILTINS if builtins is None else builtins)
        self._classes: dict[str, type[Connector[Any, Any]]] = {}
        self._load_entry_points = load_entry_points
        self._entry_points_loaded = False

    def register(self, type_name: str, connector: type[Connector[Any, Any]] | str) -> None:
        """Add a connector class (or a lazy ``module:Class`` target); a name may be taken once."""
        if type_name in self._targets or type_name in self._classes:
            raise ValueError(f"connector type {type_name!r} is already registered")
        if isinstance(connector, str):
            self._targets[type_name] = connector
        else:
            self._classes[type_name] = connector

    def known(self) -> list[str]:
        self._discover()
        return sorted({*self._targets, *self._classes})

    def get(self, type_name: str) -> type[Connector[Any, Any]]:
        """The connector class for a type; raises ``UnknownSourceType`` naming the known types."""
        if type_name not in self._classes:
            if type_name not in self._targets:
                self._discover()  # a built-in needs no scan of the installed distributions (~0.1 s)
            target = self._targets.get(type_name)
            if target is None:
                raise UnknownSourceType(
                    f"unknown source type {type_name!r} (known: {', '.join(self.known())}; "
                    f"a third-party type needs its package installed, registering under '{ENTRY_POINT_GROUP}')"
                )
            self._classes[type_name] = self._import(type_name, target)
        return self._classes[type_name]

    def _import(self, type_name: str, target: str) -> type[Connector[Any, Any]]:
        module_name, _, attr = target.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise UnknownSourceType(
                f"source type {type_name!r} is disabled: importing {target} failed ({exc}); "
                "check that its package and dependencies are installed"
            ) from exc
        if not (isinstance(cls, type) and issubclass(cls, Connector)):
            raise UnknownSourceType(f"source type {type_name!r}: {target} is not an okrflow Connector")
        return cls

    def _discover(self) -> None:
        if self._entry_points_loaded or not self._load_entry_points:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in BUILTINS:
                continue  # our own distribution's entry points mirror the built-ins
            self.register(ep.name, ep.value)

    # SchemaResolver protocol
    def source_model(self, type_name: str) -> type[SourceConfig]:
        return self.get(type_name).config_model

    def bind_metric(self, source: SourceConfig, raw: dict[str, Any], kr: KeyResult) -> MetricBinding:
        return self.get(source.type).bind(raw, kr)

    def anchor(self, source: SourceConfig, base: Path) -> SourceConfig:
        """The source with its relative paths joined to ``base`` (the config file's folder)."""
        return self.get(source.type).anchor(source, base)

    def check(self, config: Config) -> Iterable[ConfigIssue]:
        for name, source in config.sources.items():
            yield from self.get(source.type).check(name, source, config)
        yield from self._production_issues(config)

    def _production_issues(self, config: Config) -> Iterable[ConfigIssue]:
        """``requires_production`` only where the source knows what production is (else it silently never caps)."""
        for o_index, objective in enumerate(config.objectives):
            for k_index, kr in enumerate(objective.key_results):
                if not kr.requires_production:
                    continue
                source = config.sources.get(kr.metric.source) if kr.metric else None
                if source is not None and self.get(source.type).knows_production:
                    continue
                what = f"source {kr.metric.source!r} is {source.type}" if kr.metric and source else "it has no metric"
                yield ConfigIssue(
                    f"objectives[{o_index}].key_results[{k_index}].requires_production",
                    f"requires_production needs a source that knows which model is in production, and {what}: only "
                    "mlflow sources do (a model version holding one of production_aliases); remove the key",
                )


_default: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry with built-ins and installed plugins."""
    global _default
    if _default is None:
        _default = Registry()
    return _default
