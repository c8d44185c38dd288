"""Small rules written once (issue 14): the maintain kinds and the walk up the objective tree.

The maintain-kind tuple stood in nine places and the walk up the tree in five (lint, alert routing twice, the
exporter's team label), each guarding against a loop differently or not at all. Now ``MAINTAIN_KINDS`` lives in
``okrflow.okr_model.types`` and ``ancestors`` in ``okrflow.okr_model.rollup``; these tests keep it that way.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from okrflow.okr_model.config import Objective
from okrflow.okr_model.rollup import ancestors
from okrflow.okr_model.types import MAINTAIN_KINDS

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p for top in ("okr_model", "connectors", "flows", "okrflow") for p in sorted((ROOT / top).rglob("*.py"))]


def objectives(parents: dict[str, str | None], **extra: dict[str, str]) -> dict[str, Objective]:
    return {
        oid: Objective.model_validate({"id": oid, "title": oid, "parent": parent, **extra.get(oid, {})})
        for oid, parent in parents.items()
    }


def test_ancestors_walk_from_the_parent_to_the_root() -> None:
    tree = objectives({"company": None, "team": "company", "me": "team"})
    assert [o.id for o in ancestors(tree["me"], tree)] == ["team", "company"]
    assert [o.id for o in ancestors(tree["me"], tree, include_self=True)] == ["me", "team", "company"]
    assert ancestors(tree["company"], tree) == [] and ancestors(None, tree) == []


@pytest.mark.parametrize(
    ("parents", "start", "chain"),
    [
        ({"a": "b", "b": "a"}, "a", ["b"]),  # a loop: each objective once, never back to the start
        ({"a": "b", "b": "c", "c": "b"}, "a", ["b", "c"]),  # a loop above the start
        ({"a": "gone"}, "a", []),  # a parent no longer in the config (an older run's objective)
    ],
)
def test_ancestors_stop_at_a_loop_or_a_missing_parent(
    parents: dict[str, str | None], start: str, chain: list[str]
) -> None:
    tree = objectives(parents)
    assert [o.id for o in ancestors(tree[start], tree)] == chain


def test_the_alert_route_and_the_exporter_team_use_the_nearest_ancestor_that_has_one() -> None:
    from okrflow.alerts.judge import _objective_owner
    from okrflow.report.exporter import _team

    tree = objectives({"company": None, "team": "company", "me": "team"}, company={"owner": "cto", "team": "exec"})
    assert _objective_owner(tree["me"], tree) == "cto" and _team(tree["me"], tree) == "exec"
    looped = objectives({"a": "b", "b": "a"})
    assert _objective_owner(looped["a"], looped) is None and _team(looped["a"], looped) == ""


def test_the_maintain_kinds_are_named_in_one_place() -> None:
    assert MAINTAIN_KINDS == ("maintain_above", "maintain_below")
    tuple_copy = re.compile(r"\(\s*\"maintain_above\",\s*\"maintain_below\"\s*\)")
    found = [f"{p.relative_to(ROOT)}:{n}" for p in SOURCES for n, line in enumerate(p.read_text().splitlines(), 1)
             if tuple_copy.search(line)]  # fmt: skip
    assert found == [str(Path("okr_model/types.py")) + f":{_line_of('okr_model/types.py', 'MAINTAIN_KINDS')}"], found


def test_only_rollup_walks_up_the_objective_tree() -> None:
    walk = re.compile(r"\.get\(\w+\.parent\)")
    found = [f"{p.relative_to(ROOT)}:{n}" for p in SOURCES for n, line in enumerate(p.read_text().splitlines(), 1)
             if walk.search(line)]  # fmt: skip
    assert found and all(place.startswith("okr_model/rollup.py:") for place in found), found


def _line_of(path: str, name: str) -> int:
    lines = (ROOT / path).read_text().splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.startswith(f"{name}"))
