"""Stored JSON texts decode as ``json.loads`` decodes them, value or error, through ``decode_json``'s fast path."""

from __future__ import annotations

import json

import pytest

from okrflow.store.queries import JsonTexts, decode_json

TEXTS = [
    '{"score": 0.629883, "low": 0.503906, "high": 0.75586}',
    '["quality_gate", "requires_production"]',
    '{"source": "tracking", "model": {"name": "m", "version": "3"}, "rows": 12}',
    "null",
    "0.5",
    '"text"',
    "[]",
    ' {"a": 1}',  # whitespace around a document: json.loads takes it, raw_decode alone would not
    '{"a": 1}\n',
    "NaN",
]


@pytest.mark.parametrize("text", TEXTS)
def test_a_stored_text_decodes_as_json_loads_does(text):
    assert decode_json(text) == json.loads(text) or (text == "NaN" and decode_json(text) != decode_json(text))


@pytest.mark.parametrize("text", ['{"a": 1} {"b": 2}', '{"a": 1', "", "{'a': 1}", "[1,]"])
def test_a_broken_text_fails_as_json_loads_fails(text):
    with pytest.raises(json.JSONDecodeError) as expected:
        json.loads(text)
    with pytest.raises(json.JSONDecodeError) as got:
        decode_json(text)
    assert str(got.value) == str(expected.value)


def test_equal_texts_are_decoded_once_and_shared():
    texts = JsonTexts()
    first = texts.load(TEXTS[0])
    assert texts.load(str(TEXTS[0])) is first and texts.load(None) is None
