"""Objective scores: the weighted mean of their key results and child objectives. Pure functions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from okr_model.config import Objective

__all__ = ["children_of", "rollup", "weighted_mean"]


def weighted_mean(items: Sequence[tuple[float | None, float]]) -> float | None:
    """Mean of (value, weight) pairs, skipping values that are None; None if nothing is left."""
    present = [(value, weight) for value, weight in items if value is not None]
    total = sum(weight for _, weight in present)
    if not present or total <= 0:
        return None
    return sum(value * weight for value, weight in present) / total


def children_of(objectives: Sequence[Objective]) -> dict[str | None, list[Objective]]:
    """Objectives grouped by parent id (roots under ``None``), in file order."""
    tree: dict[str | None, list[Objective]] = {}
    for objective in objectives:
        tree.setdefault(objective.parent, []).append(objective)
    return tree


def rollup(objectives: Sequence[Objective], kr_values: Mapping[str, float | None]) -> dict[str, float | None]:
    """Roll KR values (scores, or success scores) up the objective tree; objectives without data get None."""
    tree = children_of(objectives)
    result: dict[str, float | None] = {}

    def visit(objective: Objective) -> float | None:
        if objective.id not in result:
            items = [(kr_values.get(kr.id), kr.weight) for kr in objective.key_results]
            items += [(visit(child), child.weight) for child in tree.get(objective.id, [])]
            result[objective.id] = weighted_mean(items)
        return result[objective.id]

    for objective in objectives:
        visit(objective)
    return result
