"""``yaml_construct.construct`` and ``yaml_safety.load`` (values built while the safety scan reads the events) give
the values and errors of PyYAML's composer and ``SafeConstructor`` (issue 18)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from okrflow.okr_model.yaml_construct import construct
from okrflow.okr_model.yaml_safety import compose, load

REPO = Path(__file__).resolve().parents[2]

TEXTS = [
    "",
    "--- 1\n",
    "a: [1, -2, 0x1f, 1_000, 1:30, 1.5, 1e-3, .inf, -.nan]\nb: {c: yes, d: No, e: ~, f: null, g: ''}\n",
    "when: [2026-10-01, 2026-10-01 12:30:00, 2026-10-01T12:30:00+02:00]\nbin: !!binary aGk=\nq: '2026-10-01'\n",
    "a: &x {k: [1, 2]}\nb: *x\nc: &s text\nd: *s\n",
    "base: &b {x: 1, y: 2}\nmerged: {<<: *b, y: 3}\n",
    "a: !!set {p, q}\n",
    "b: !!omap [{x: 1}, {y: 2}]\n",
    "c: !!pairs [{x: 1}]\n",
    "d: !!str 12\ne: !!int '7'\n",
    "? [1, 2]\n: list key\n",
    "1: int key\n2026-10-01: date key\nnull: null key\n",
    "a: 2026-13-45\n",
    "a: !unknown x\n",
    "a: !!float nope\n",
    "a: &x 1\nb: &x 2\n",
    "a: *nowhere\n",
    "--- 1\n--- 2\n",
    "? {k: v}\n: mapping key\n",
    "a: &k key\n*k : aliased key\n",
    "a: ~\n~: null key\n",
    *(path.read_text() for path in sorted((REPO / "config").glob("*.yaml"))),
]


def pyyaml(root: yaml.Node | None) -> object:
    """What the loader built before: ``construct_document``, None for an empty file."""
    if root is None:
        return None
    try:
        return yaml.SafeLoader("").construct_document(root)
    except Exception as exc:
        return (type(exc), str(exc))


def ours(root: yaml.Node | None) -> object:
    try:
        return construct(root)
    except Exception as exc:
        return (type(exc), str(exc))


COMPOSER_REFUSES = ("a: &x 1\nb: &x 2\n", "a: *nowhere\n", "--- 1\n--- 2\n")


@pytest.mark.parametrize("text", [text for text in TEXTS if text not in COMPOSER_REFUSES])
def test_values_and_errors_are_pyyamls(text: str) -> None:
    expected, got = pyyaml(compose(text, "f.yaml")), ours(compose(text, "f.yaml"))
    assert got == expected
    assert repr(got) == repr(expected)  # nan, and int against float/bool


def test_an_alias_shares_its_anchors_value() -> None:
    data = construct(compose("a: &x {k: [1]}\nb: *x\n", "f.yaml"))
    assert data["a"] is data["b"]


def loaded(text: str) -> object:
    try:
        return load(text, "f.yaml")
    except Exception as exc:
        return (type(exc), str(exc))


@pytest.mark.parametrize("text", TEXTS)
def test_load_gives_what_composing_and_constructing_give(text: str) -> None:
    try:
        root = compose(text, "f.yaml")
    except Exception as exc:
        expected: object = (type(exc), str(exc))
    else:
        expected = pyyaml(root)
    got = loaded(text)
    assert got == expected
    assert repr(got) == repr(expected)


def test_load_shares_an_anchors_value() -> None:
    data = load("a: &x {k: [1]}\nb: *x\n", "f.yaml")
    assert data["a"] is data["b"]
