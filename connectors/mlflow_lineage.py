"""Which model version produced a value: the MLflow keys of a measurement's lineage, read back for display.

The connector writes ``model``, ``model_version``, ``alias`` (the alias the binding follows, if any),
``run_id`` and, when the alias moved since okrflow last looked, ``alias_moved_from`` and ``alias_moved_after``.
Status, history, the report, the exporter and alerts read them through ``model_of`` / ``describe_model``
(importing this module does not import MLflow).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

__all__ = ["ModelVersion", "describe_model", "model_of"]


class ModelVersion(NamedTuple):
    """The registered model version (and run) behind a measurement; ``alias`` the one the binding follows."""

    model: str | None
    version: str | None
    run_id: str | None
    alias: str | None = None
    moved_from: str | None = None

    def as_json(self) -> dict[str, str | None]:
        return {
            "name": self.model,
            "version": self.version,
            "alias": self.alias,
            "run_id": self.run_id,
            "alias_moved_from": self.moved_from,
        }


def model_of(lineage: Mapping[str, Any] | None) -> ModelVersion | None:
    """The model version in a lineage, or None when the value did not come from an MLflow run."""
    if not lineage or (lineage.get("model_version") is None and lineage.get("run_id") is None):
        return None
    version = lineage.get("model_version")
    moved = lineage.get("alias_moved_from")
    return ModelVersion(
        lineage.get("model"),
        None if version is None else str(version),
        lineage.get("run_id"),
        lineage.get("alias"),
        None if moved is None else str(moved),
    )


def describe_model(lineage: Mapping[str, Any] | None) -> str:
    """``ticket-classifier v2 @champion (run 1a2b3c4d)``, with ``moved from v1`` when the alias moved; "" if none."""
    found = model_of(lineage)
    if found is None:
        return ""
    parts = [p for p in (found.model, f"v{found.version}" if found.version else None) if p]
    if found.alias:
        parts.append(f"@{found.alias}")
    text = " ".join(parts)
    if found.moved_from:
        text += f" (moved from v{found.moved_from})"
    if found.run_id:
        text += f"{', ' if text else ''}run {found.run_id[:8]}"
    return text
