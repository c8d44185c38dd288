"""Generate ``connectors/gx_expectations.json``: every Great Expectations expectation with its keyword arguments.

``okrflow validate`` checks suite definitions against this catalog instead of importing
great_expectations (4.5 s). Run this script after upgrading GX; a unit test fails while the shipped
catalog differs from what the installed GX produces.

    python scripts/gen_gx_catalog.py          # rewrite the catalog
    python scripts/gen_gx_catalog.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import datetime as dt
import enum
import json
import sys
import types
import typing
from pathlib import Path
from typing import Any

CATALOG = Path(__file__).resolve().parents[1] / "connectors" / "gx_expectations.json"

INTERNAL_KWARGS = frozenset({"id", "rendered_content", "batch_id", "windows", "result_format", "catch_exceptions"})
"""Fields GX sets itself, or that okrflow controls so that results stay comparable (result format, exceptions)."""

SQL_ONLY_KWARGS = frozenset({"unexpected_rows_query", "base_query", "comparison_query"})
"""An expectation taking a SQL query cannot run on the pandas dataframe okrflow validates."""


def _types(tp: Any) -> set[str] | None:
    """JSON-like type names a value of ``tp`` may take, or None when no cheap check exists."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _types(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        out: set[str] = set()
        for arg in typing.get_args(tp):
            part = _types(arg)
            if part is None:
                return None
            out |= part
        return out
    if origin is typing.Literal:
        return {_scalar(type(v)) or "string" for v in typing.get_args(tp)}
    if tp is type(None):
        return {"null"}
    if tp is typing.Any:
        return None
    if origin in (list, set, tuple, frozenset) or tp in (list, set, tuple, frozenset):
        return {"array"}
    if origin is not None and isinstance(origin, type) and issubclass(origin, typing.Sequence | typing.AbstractSet):
        return {"array"}
    if origin is dict or tp is dict:
        return {"object"}
    if isinstance(tp, type):
        if issubclass(tp, enum.Enum):
            return {"string"}
        if hasattr(tp, "__fields__"):  # a nested pydantic model, written as a mapping
            return {"object"}
        scalar = _scalar(tp)
        return {scalar} if scalar else None
    return None


def _scalar(tp: type) -> str | None:
    if issubclass(tp, bool):
        return "boolean"
    if issubclass(tp, int):
        return "integer"
    if issubclass(tp, float):
        return "number"
    if issubclass(tp, str):
        return "string"
    if issubclass(tp, dt.date):  # datetime is a date
        return "date"
    return None


def _choices(tp: Any) -> list[Any] | None:
    """Allowed literal values (``Literal`` or an enum) besides a ``$PARAMETER`` mapping, if any."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _choices(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        found = [c for arg in typing.get_args(tp) if (c := _choices(arg)) is not None]
        return found[0] if len(found) == 1 else None
    if origin is typing.Literal:
        return list(typing.get_args(tp))
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return [member.value for member in tp]
    return None


def _bounds(tp: Any) -> dict[str, float]:
    """``ge``/``le`` of a constrained number (``mostly`` is a share between 0 and 1)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _bounds(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(tp):
            if found := _bounds(arg):
                return found
        return {}
    out = {}
    for attr, key in (("ge", "minimum"), ("le", "maximum")):
        value = getattr(tp, attr, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            out[key] = value
    return out


def _kwarg(field: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"required": bool(field.required)}
    found = _types(field.outer_type_)
    if found is not None and field.allow_none:
        found.add("null")
    spec["types"] = sorted(found) if found is not None else None
    if (choices := _choices(field.outer_type_)) is not None:
        spec["choices"] = choices
    spec.update(_bounds(field.outer_type_))
    return spec


def build_catalog() -> dict[str, Any]:
    """The catalog as plain data, from the installed great_expectations."""
    import great_expectations
    import great_expectations.expectations as gxe
    from great_expectations.expectations.expectation import (
        ColumnMapExpectation,
        ColumnPairMapExpectation,
        Expectation,
        MulticolumnMapExpectation,
    )

    maps = (ColumnMapExpectation, ColumnPairMapExpectation, MulticolumnMapExpectation)
    expectations: dict[str, Any] = {}
    for attr in sorted(dir(gxe)):
        cls = getattr(gxe, attr)
        if not (isinstance(cls, type) and issubclass(cls, Expectation)) or cls is Expectation:
            continue
        name = getattr(cls, "expectation_type", None)
        if not isinstance(name, str) or not name:
            continue
        kwargs = {key: _kwarg(field) for key, field in cls.__fields__.items() if key not in INTERNAL_KWARGS}
        expectations[name] = {
            "class": attr,
            "pandas": not SQL_ONLY_KWARGS & kwargs.keys(),
            "results": ["observed_value", "unexpected_percent"] if issubclass(cls, maps) else ["observed_value"],
            "kwargs": dict(sorted(kwargs.items())),
        }
    return {
        "generated_by": "scripts/gen_gx_catalog.py",
        "great_expectations": great_expectations.__version__,
        "expectations": dict(sorted(expectations.items())),
    }


def render(catalog: dict[str, Any]) -> str:
    return json.dumps(catalog, indent=1, sort_keys=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the shipped catalog is out of date")
    args = parser.parse_args(argv)
    text = render(build_catalog())
    if args.check:
        current = CATALOG.read_text(encoding="utf-8") if CATALOG.exists() else ""
        if current != text:
            print(f"{CATALOG} is out of date: run python scripts/gen_gx_catalog.py", file=sys.stderr)
            return 1
        return 0
    CATALOG.write_text(text, encoding="utf-8")
    print(f"wrote {CATALOG} ({len(json.loads(text)['expectations'])} expectations)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
