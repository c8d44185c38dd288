"""``yaml_safety.compose`` builds the node tree from the events its safety scan reads (one libyaml parse, issue 18):
the tree, and the errors of what PyYAML's composer refuses, are those of PyYAML's composer."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from okrflow.okr_model.yaml_safety import _ConfigLoader, compose

REPO = Path(__file__).resolve().parents[2]


def shape(node: yaml.Node | None) -> object:
    """Everything of a node tree a config load reads: kinds, tags, values, styles and marks."""
    if node is None:
        return None
    marks = (node.start_mark.line, node.start_mark.column, node.end_mark.line, node.end_mark.column)
    if isinstance(node, yaml.ScalarNode):
        return ("scalar", node.tag, node.value, node.style, marks)
    if isinstance(node, yaml.SequenceNode):
        return ("seq", node.tag, node.flow_style, marks, [shape(item) for item in node.value])
    return ("map", node.tag, node.flow_style, marks, [(shape(k), shape(v)) for k, v in node.value])


TEXTS = [
    "",
    "---\n",
    "--- 1\n",
    "a: &x [1, 2]\nb: *x\nc: {<<: {d: 1}, e: !!str 5, f: '1', g: 1e-3, h: 2026-01-01, i: null, j: ~, k: yes}\n",
    '- &s x\n- *s\n- !!binary aGk=\n- !!set {a, b}\n- [a, {b: c}]\n- "q"\n- |\n  block\n',
    "*top\n",
    "&a [1]\n",
    (REPO / "config" / "example.yaml").read_text(),
]


@pytest.mark.parametrize("text", TEXTS)
def test_the_tree_is_pyyaml_composers(text: str) -> None:
    try:
        expected = shape(yaml.compose(text, Loader=_ConfigLoader))
    except yaml.YAMLError:
        with pytest.raises(yaml.YAMLError):
            compose(text, "f.yaml")
        return
    assert shape(compose(text, "f.yaml")) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: *u\n", "found undefined alias"),
        ("a: &x 1\nb: &x 2\n", "found duplicate anchor"),
        ("--- 1\n--- 2\n", "expected a single document in the stream"),
    ],
)
def test_what_the_composer_refuses_is_worded_by_it(text: str, message: str) -> None:
    with pytest.raises(yaml.YAMLError, match=message):
        compose(text, "f.yaml")
