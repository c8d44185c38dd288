"""Source connectors: one module per source kind behind one small interface."""

from okrflow.connectors.base import Connector, ConnectorContext, Measurement, query_hash
from okrflow.connectors.registry import Registry, UnknownSourceType, default_registry

__all__ = [
    "Connector",
    "ConnectorContext",
    "Measurement",
    "Registry",
    "UnknownSourceType",
    "default_registry",
    "query_hash",
]
