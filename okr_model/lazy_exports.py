"""Package namespaces that import their members on first use (PEP 562), so a command pays only for what it uses.

``okrflow validate`` reads ``okrflow.okr_model.errors``, ``okrflow --help`` nothing of the config models, and
``okrflow status`` the store's plain records: none of them should import pydantic's models, SQLAlchemy's ORM or
the views of another command just because a package's ``__init__`` re-exports them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(namespace: dict[str, Any], exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__``: ``name`` is imported from ``exports[name]`` (a module path) and kept in ``namespace``.

    ``namespace`` is the package's ``globals()``; an unknown name raises ``AttributeError`` as usual.
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
