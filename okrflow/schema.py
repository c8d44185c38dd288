"""The config's JSON schema, with every registered connector's source and metric model, for editors."""

from __future__ import annotations

from typing import Any

from okrflow.connectors.registry import Registry, default_registry
from okrflow.okr_model.config import Config

__all__ = ["config_schema"]


def config_schema(registry: Registry | None = None) -> dict[str, Any]:
    """Config schema where ``sources`` entries and ``metric`` bindings are one of the connectors' models."""
    registry = registry or default_registry()
    schema = Config.model_json_schema()
    defs = schema.setdefault("$defs", {})
    sources, metrics = [], []
    for type_name in registry.known():
        connector = registry.get(type_name)
        for model, bucket in ((connector.config_model, sources), (connector.metric_model, metrics)):
            sub = model.model_json_schema(ref_template="#/$defs/{model}")
            defs.update(sub.pop("$defs", {}))
            defs[model.__name__] = sub
            bucket.append({"$ref": f"#/$defs/{model.__name__}"})
    schema["properties"]["sources"]["additionalProperties"] = {"oneOf": sources}
    defs["KeyResult"]["properties"]["metric"] = {"anyOf": [*metrics, {"type": "null"}], "default": None}
    schema["title"] = "okrflow config"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
