"""Config-time checks of Great Expectations sources, against ``gx_expectations.json`` (no GX import).

``okrflow validate`` must stay fast, and importing great_expectations takes seconds, so suite
definitions are checked against a catalog generated from the installed GX by
``scripts/gen_gx_catalog.py``: expectation names, their keyword arguments, which are required, and
simple types. GX itself still validates every expectation when a suite runs.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from okrflow.okr_model.config import Config
from okrflow.okr_model.errors import ConfigIssue

__all__ = [
    "CATALOG_PATH",
    "ExpectationSpec",
    "KwargSpec",
    "catalog",
    "check_expectation",
    "check_source",
    "describe",
    "suggest",
]

CATALOG_PATH = Path(__file__).with_name("gx_expectations.json")


@dataclass(frozen=True)
class KwargSpec:
    """One keyword argument of an expectation; ``types`` is None when there is no cheap check."""

    required: bool
    types: frozenset[str] | None
    choices: tuple[Any, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class ExpectationSpec:
    name: str
    class_name: str
    pandas: bool
    results: tuple[str, ...]
    kwargs: Mapping[str, KwargSpec]

    @property
    def required(self) -> list[str]:
        return [key for key, spec in self.kwargs.items() if spec.required]


@cache
def catalog() -> dict[str, ExpectationSpec]:
    """snake_case expectation name -> its spec."""
    raw = json.loads(CATALOG_PATH.read_text(encoding="utf-8"))
    out = {}
    for name, entry in raw["expectations"].items():
        kwargs = {
            key: KwargSpec(
                required=spec["required"],
                types=frozenset(spec["types"]) if spec.get("types") is not None else None,
                choices=tuple(spec["choices"]) if "choices" in spec else None,
                minimum=spec.get("minimum"),
                maximum=spec.get("maximum"),
            )
            for key, spec in entry["kwargs"].items()
        }
        out[name] = ExpectationSpec(name, entry["class"], entry["pandas"], tuple(entry["results"]), kwargs)
    return out


def suggest(word: str, candidates: list[str] | Mapping[str, Any]) -> str:
    """`` (did you mean 'x'?)`` when a close name exists, else an empty string."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def describe(name: str, kwargs: Mapping[str, Any], limit: int = 80) -> str:
    """``expect_column_values_to_not_be_null(column=resolution_hours)``, shortened for messages."""
    args = ", ".join(f"{key}={value}" for key, value in kwargs.items() if key not in ("meta", "notes", "description"))
    if len(args) > limit:
        args = args[: limit - 3] + "..."
    return f"{name}({args})"


def _type_ok(value: Any, types: frozenset[str]) -> bool:
    if value is None:
        return "null" in types
    if isinstance(value, bool):
        return "boolean" in types
    if isinstance(value, int):
        return bool(types & {"integer", "number"})
    if isinstance(value, float):
        return "number" in types or ("integer" in types and value.is_integer())
    if isinstance(value, str):
        # a date may be written as text; a ${VAR} number arrives as text and GX coerces it
        if "string" in types:
            return True
        return (bool(types & {"number", "integer"}) and _numeric(value)) or ("date" in types and _iso_date(value))
    if hasattr(value, "isoformat"):  # YAML dates and datetimes
        return "date" in types or "string" in types
    if isinstance(value, list):
        return "array" in types
    if isinstance(value, dict):
        return "object" in types
    return True


def _numeric(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _iso_date(text: str) -> bool:
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _expected(types: frozenset[str]) -> str:
    names = {"array": "a list", "object": "a mapping", "null": "null", "date": "a date", "integer": "an integer"}
    order = ["string", "number", "integer", "boolean", "date", "array", "object", "null"]
    words = [names.get(t, f"a {t}") for t in sorted(types, key=lambda t: order.index(t) if t in order else 99)]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def check_expectation(name: str, kwargs: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    """Problems of one expectation as (kwarg or None, message); empty when it looks runnable."""
    spec = catalog().get(name)
    if spec is None:
        return [(None, f"unknown expectation {name!r}{suggest(name, catalog())} (see the Great Expectations gallery)")]
    issues: list[tuple[str | None, str]] = []
    if not spec.pandas:
        issues.append((None, f"{name} runs a SQL query of its own; okrflow validates a dataframe, so it cannot run"))
    for key, value in kwargs.items():
        arg = spec.kwargs.get(key)
        if arg is None:
            issues.append((key, f"unknown argument {key!r} of {name}{suggest(key, spec.kwargs)}"))
            continue
        if isinstance(value, dict) and "$PARAMETER" in value:
            continue  # a suite parameter, resolved by GX at run time
        if arg.types is not None and not _type_ok(value, arg.types):
            issues.append((key, f"{key} of {name} must be {_expected(arg.types)} (got {value!r})"))
            continue
        if arg.choices is not None and isinstance(value, str) and value not in arg.choices:
            known = ", ".join(map(str, arg.choices))
            issues.append((key, f"{key} of {name} must be one of {known} (got {value!r})"))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if arg.minimum is not None and value < arg.minimum:
                issues.append((key, f"{key} of {name} must be at least {arg.minimum:g} (got {value!r})"))
            elif arg.maximum is not None and value > arg.maximum:
                issues.append((key, f"{key} of {name} must be at most {arg.maximum:g} (got {value!r})"))
    missing = [key for key in spec.required if key not in kwargs]
    if missing:
        issues.append((None, f"{name} needs the argument(s) {', '.join(missing)}"))
    return issues


def check_source(name: str, source: Any, full: Config) -> list[ConfigIssue]:
    """Issues of one ``great_expectations`` source (a ``GxSource``) within the whole config.

    Expectation names and arguments, each suite's ``data.source`` (a sql source of the config), and
    the suites and expectation indexes that key results name in metrics and quality gates.
    """
    issues = []
    for suite_name, suite in source.suites.items():
        if not hasattr(suite, "data"):
            continue  # a checkpoint or suite of the GX project: checked online (okrflow probe, validate --online)
        base = f"sources.{name}.suites.{suite_name}"
        ref = suite.data.source
        if ref is not None and (other := full.sources.get(ref)) is None:
            known = sorted(s for s, c in full.sources.items() if c.type == "sql")
            message = f"unknown source {ref!r}{suggest(ref, known)} (sql sources: {', '.join(known) or 'none'})"
            issues.append(ConfigIssue(f"{base}.data.source", message))
        elif ref is not None and other.type != "sql":
            issues.append(ConfigIssue(f"{base}.data.source", f"source {ref!r} is {other.type}, not a sql source"))
        for index, (expectation, kwargs) in enumerate(suite.items()):
            path = f"{base}.expectations[{index}].{expectation}"
            for key, message in check_expectation(expectation, kwargs):
                issues.append(ConfigIssue(f"{path}.{key}" if key else path, message))
    for o_index, objective in enumerate(full.objectives):
        for k_index, kr in enumerate(objective.key_results):
            kr_path = f"objectives[{o_index}].key_results[{k_index}]"
            gate = kr.quality_gate
            if gate is not None and gate.source == name and gate.suite not in source.suites:
                issues.append(ConfigIssue(f"{kr_path}.quality_gate.suite", _unknown_suite(gate.suite, source)))
            if kr.metric is not None and kr.metric.source == name:
                issues.extend(_metric_issues(kr.metric, source, f"{kr_path}.metric"))
    return issues


def _unknown_suite(suite: str, source: Any) -> str:
    return f"unknown suite {suite!r}{suggest(suite, source.suites)} (defined: {', '.join(source.suites)})"


def _metric_issues(metric: Any, source: Any, path: str) -> list[ConfigIssue]:
    """The suite exists, the expectation index is in range, and that expectation reports the figure."""
    suite = source.suites.get(metric.suite)
    if suite is None:
        return [ConfigIssue(f"{path}.suite", _unknown_suite(metric.suite, source))]
    if metric.expectation is None or not hasattr(suite, "items"):
        return []
    items = suite.items()
    if metric.expectation >= len(items):
        message = f"suite {metric.suite!r} has {len(items)} expectation(s): the index runs from 0 to {len(items) - 1}"
        return [ConfigIssue(f"{path}.expectation", message)]
    expectation = items[metric.expectation][0]
    spec = catalog().get(expectation)
    if spec is not None and metric.figure not in spec.results:
        message = f"{expectation} reports no {metric.figure}; it reports {' and '.join(spec.results)}"
        return [ConfigIssue(f"{path}.result", message)]
    return []
