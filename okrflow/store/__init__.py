"""The history store: what was measured when (SQLAlchemy; SQLite by default, PostgreSQL in production)."""

from okrflow.store.records import (
    AnnotationRecord,
    HistoryPoint,
    KRResult,
    ObjectiveResult,
    RunRecord,
    RunSummary,
    StatusSnapshot,
)
from okrflow.store.store import Store, StoreError

__all__ = [
    "AnnotationRecord",
    "HistoryPoint",
    "KRResult",
    "ObjectiveResult",
    "RunRecord",
    "RunSummary",
    "StatusSnapshot",
    "Store",
    "StoreError",
]
