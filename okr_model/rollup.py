"""Objective scores: the weighted mean of their key results and child objectives. Pure functions."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from okr_model.config import Objective
from okr_model.errors import ScoringError

__all__ = ["children_of", "rollup", "weighted_mean"]


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
