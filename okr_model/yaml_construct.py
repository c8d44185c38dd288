"""A config's Python values from its node tree, as PyYAML's ``SafeConstructor`` builds them, only faster.

``construct_document`` runs a generator per mapping and list and a bookkeeping step per node (~50 ms of CPU for a
1,000-KR config, issue 18). A config is plain mappings, lists and scalars, so ``construct`` builds those directly,
each scalar by the constructor function PyYAML itself registers for its tag; a node that is anything else (a merge
key ``<<``, ``!!set``, ``!!omap``, an unknown tag, a list or mapping as a key) or a value its constructor refuses
hands the whole tree to ``construct_document``, so every result and error stays PyYAML's.
"""

from __future__ import annotations

from typing import Any

import yaml

__all__ = ["MAP_TAG", "SCALAR_CONSTRUCTORS", "SEQ_TAG", "STR_TAG", "construct"]

STR_TAG = "tag:yaml.org,2002:str"
MAP_TAG = "tag:yaml.org,2002:map"
SEQ_TAG = "tag:yaml.org,2002:seq"
SCALAR_CONSTRUCTORS = {
    tag: yaml.SafeLoader.yaml_constructors[tag]
    for tag in (f"tag:yaml.org,2002:{name}" for name in ("null", "bool", "int", "float", "binary", "timestamp"))
}
"""The scalar tags a config uses besides str, with PyYAML's safe constructor function for each."""


class _Elsewhere(Exception):
    """A node ``construct`` leaves to PyYAML's constructor."""


def construct(root: yaml.Node | None) -> Any:
    """The value ``yaml.SafeLoader("").construct_document(root)`` returns (or the error it raises)."""
    if root is None:
        return None
    constructor = yaml.SafeLoader("")
    try:
        return _value(root, constructor, {})
    except Exception:  # anything unusual, or an error: PyYAML's constructor decides, and words it
        return yaml.SafeLoader("").construct_document(root)


def _value(node: yaml.Node, constructor: Any, built: dict[int, Any]) -> Any:
    """``node``'s value; ``built`` holds each collection once (an alias shares its anchor's node: the same value)."""
    if type(node) is yaml.ScalarNode:
        if node.tag == STR_TAG:
            return node.value
        make = SCALAR_CONSTRUCTORS.get(node.tag)
        if make is None:
            raise _Elsewhere
        return make(constructor, node)
    done = built.get(id(node))
    if done is not None:
        return done
    if type(node) is yaml.MappingNode and node.tag == MAP_TAG:
        mapping: dict[Any, Any] = {}
        built[id(node)] = mapping
        for key_node, value_node in node.value:
            key = _value(key_node, constructor, built)
            if isinstance(key, (dict, list)):
                raise _Elsewhere
            mapping[key] = _value(value_node, constructor, built)
        return mapping
    if type(node) is yaml.SequenceNode and node.tag == SEQ_TAG:
        items: list[Any] = []
        built[id(node)] = items
        items.extend(_value(item, constructor, built) for item in node.value)
        return items
    raise _Elsewhere
