"""The history store: what was measured when (SQLAlchemy; SQLite by default, PostgreSQL in production).

The plain records import at once; ``Store`` (SQLAlchemy and its ORM models) on first use, so a command that only
shows records does not pay for the ORM (``okrflow.okr_model.lazy_exports``).
"""

from typing import TYPE_CHECKING

from okrflow.okr_model.lazy_exports import lazy_exports
from okrflow.store.records import (
    AnnotationRecord,
    HistoryPoint,
    KRResult,
    ObjectiveResult,
    RunRecord,
    RunSummary,
    StatusSnapshot,
)

if TYPE_CHECKING:
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

__getattr__ = lazy_exports(globals(), {"Store": "okrflow.store.store", "StoreError": "okrflow.store.store"})
