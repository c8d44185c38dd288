"""Objective scores: the weighted mean of their key results and child objectives; the tree's shape. Pure functions."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from okrflow.okr_model.config import Objective
from okrflow.okr_model.errors import ScoringError

__all__ = ["ancestors", "children_of", "rollup", "tree_shape", "weighted_mean"]


def weighted_mean(items: Sequence[tuple[float | None, float]]) -> float | None:
    """Mean of (value, weight) pairs, skipping values that are None; None if nothing is left.

    Weights too large to add up (two of 1e308) are scaled down to at most 1 first; a result that is still not
    finite (a NaN value) raises ``ScoringError`` instead of becoming a score.
    """
    present = [(value, weight) for value, weight in items if value is not None]
    total = sum(weight for _, weight in present)
    if not present or total <= 0:
        return None
    mean = sum(value * weight for value, weight in present) / total
    if math.isfinite(total) and math.isfinite(mean):
        return mean  # the usual case, computed exactly as always
    largest = max(weight for _, weight in present)
    scaled = [(value, weight / largest) for value, weight in present]
    mean = sum(value * weight for value, weight in scaled) / sum(weight for _, weight in scaled)
    if not math.isfinite(mean):
        raise ScoringError("the weighted mean is not a finite number (a value in it is NaN or infinite)")
    return mean


def children_of(objectives: Sequence[Objective]) -> dict[str | None, list[Objective]]:
    """Objectives grouped by parent id (roots under ``None``), in file order."""
    tree: dict[str | None, list[Objective]] = {}
    for objective in objectives:
        tree.setdefault(objective.parent, []).append(objective)
    return tree


def ancestors(
    objective: Objective | None, by_id: Mapping[str, Objective], include_self: bool = False
) -> list[Objective]:
    """The objective's parent, grandparent, ... up to its root; with ``include_self``, the objective first.

    The one walk up the tree (owners, teams, lint's business outcome above). It stops at a parent that is not in
    ``by_id`` and at a loop, each objective once: lint and reports also read configs that failed validation.
    """
    if objective is None:
        return []
    chain: list[Objective] = []
    seen: set[str] = set() if include_self else {objective.id}
    node = objective if include_self else (by_id.get(objective.parent) if objective.parent else None)
    while node is not None and node.id not in seen:
        chain.append(node)
        seen.add(node.id)
        node = by_id.get(node.parent) if node.parent else None
    return chain


def tree_shape(parents: Mapping[str, str | None]) -> tuple[dict[str, int], dict[str, str]]:
    """Each objective's depth (a root is 1; -1 on or above a cycle) and, for each objective on a cycle, the loop
    from it back to itself (``a -> b -> a``). One pass with memo: walking every chain to its root was quadratic
    (a 3,000-level chain took minutes). A parent that is not an objective counts as none."""
    depth: dict[str, int] = {}
    loops: dict[str, str] = {}
    for start in parents:
        path: list[str] = []
        on_path: dict[str, int] = {}
        node: str | None = start
        while node is not None and node in parents and node not in depth and node not in on_path:
            on_path[node] = len(path)
            path.append(node)
            node = parents[node]
        if node is not None and node in on_path:  # back on this walk: path[on_path[node]:] is a cycle
            ring = path[on_path[node] :]
            for i, member in enumerate(ring):
                loops[member] = " -> ".join([*ring[i:], *ring[:i], member])
                depth[member] = -1
            path = path[: on_path[node]]
        below = 0 if node is None else depth.get(node, 0)  # the depth above the path: 0 at a root, -1 at a cycle
        for member in reversed(path):
            below = below + 1 if below >= 0 else -1
            depth[member] = below
    return depth, loops


def rollup(objectives: Sequence[Objective], kr_values: Mapping[str, float | None]) -> dict[str, float | None]:
    """Roll KR values (scores, or success scores) up the objective tree; objectives without data get None."""
    tree = children_of(objectives)
    result: dict[str, float | None] = {}

    def visit(objective: Objective) -> float | None:
        if objective.id not in result:
            items = [(kr_values.get(kr.id), kr.weight) for kr in objective.key_results]
            items += [(visit(child), child.weight) for child in tree.get(objective.id, [])]
            try:
                result[objective.id] = weighted_mean(items)
            except ScoringError as exc:
                raise ScoringError(f"objective {objective.id}: {exc}") from None
        return result[objective.id]

    for objective in objectives:
        visit(objective)
    return result
