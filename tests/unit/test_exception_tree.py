"""One exception tree (issue 14): every exception class okrflow defines derives from ``OkrflowError`` and is
drawn in the docstring of ``okr_model/errors.py``, so a newcomer finds them all in one place."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import okrflow.okr_model.errors as errors
import pytest
from okrflow.okr_model.errors import OkrflowError, ScoringError, SourceError

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("okr_model", "connectors", "flows", "okrflow")
BUILTIN_BASES = {"Exception", "BaseException", "ValueError", "LookupError", "RuntimeError", "KeyError", "OSError"}


def exception_classes() -> dict[str, tuple[str, list[str]]]:
    """name -> (file, base names) of every class in the source whose bases look like exceptions."""
    found: dict[str, tuple[str, list[str]]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.ClassDef):
                    continue
                bases = [base.id for base in node.bases if isinstance(base, ast.Name)]
                if any(base in BUILTIN_BASES or base.endswith("Error") for base in bases) or node.name.endswith(
                    "Error"
                ):
                    found[node.name] = (str(path.relative_to(ROOT)), bases)
    return {name: where for name, where in found.items() if not is_module_signal(name, where[0])}


def is_module_signal(name: str, home: str) -> bool:
    """A private class that no other module names is a control-flow signal inside its module, not an error
    anyone sees (errors.py says so); named anywhere else, it is an error like the others."""
    if not name.startswith("_"):
        return False
    others = (path for package in PACKAGES for path in (ROOT / package).rglob("*.py") if path != ROOT / home)
    return not any(re.search(rf"\b{name}\b", path.read_text(encoding="utf-8")) for path in others)


def drawn() -> set[str]:
    """The class names drawn in the tree of ``okr_model/errors.py``'s docstring."""
    return set(re.findall(r"[├└]── (\w+)", errors.__doc__ or "")) | {"OkrflowError"}


def test_every_exception_class_is_in_the_tree_and_drawn() -> None:
    classes = exception_classes()
    assert len(classes) >= 15, classes  # the scan finds them (a scan that finds nothing would pass)
    tree = drawn()
    outside = {name: where for name, where in classes.items() if not set(where[1]) & tree and name != "OkrflowError"}
    assert outside == {}, "derive these from OkrflowError (or a class of the tree)"
    assert set(classes) - tree == set(), "draw these in okr_model/errors.py's docstring"
    assert tree - set(classes) == set(), "the drawing names classes that no longer exist"


@pytest.mark.parametrize(
    ("module", "name", "base"),
    [
        ("okrflow.connectors.sql_errors", "SqlReadError", SourceError),
        ("okrflow.connectors.sql_errors", "QueryShapeError", SourceError),
        ("okrflow.connectors.prometheus_errors", "SourceQueryError", SourceError),
        ("okrflow.connectors.prometheus_errors", "HttpAnswer", SourceError),
        ("okrflow.connectors.mlflow_client", "NoData", SourceError),
        ("okrflow.connectors.mlflow_client", "Failed", SourceError),
        ("okrflow.okr_model.yaml_safety", "UnsafeYamlError", ValueError),
        ("okrflow.webhooks", "WebhookVerificationError", ValueError),
        ("okrflow.connectors.registry", "UnknownSourceType", LookupError),
    ],
)
def test_the_classes_are_caught_by_the_base_and_keep_their_builtin_base(module: str, name: str, base: type) -> None:
    import importlib

    cls = getattr(importlib.import_module(module), name)
    assert issubclass(cls, OkrflowError) and issubclass(cls, base)


def test_scoring_error_is_raised_for_a_non_finite_mean() -> None:
    """It was never raised; the hostile-number guard of the rollup raises it now."""
    from okrflow.okr_model.rollup import weighted_mean

    with pytest.raises(ScoringError, match="not a finite number"):
        weighted_mean([(float("nan"), 1.0)])
