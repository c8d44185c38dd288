"""What people said about a KR: check-ins, overrides, abandons (and their clearing).

A domain value: evaluation reads it (manual KRs, overrides), the store keeps it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["AnnotationRecord"]


@dataclass(frozen=True)
class AnnotationRecord:
    kr_id: str
    kind: str  # checkin | override | abandon | clear_override | clear_abandon
    value: float | None
    reason: str
    author: str
    created_at: datetime
    effective_at: datetime
    extra: Mapping[str, Any] = field(default_factory=dict)
