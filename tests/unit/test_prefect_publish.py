"""The pure parts of what a flow run publishes to Prefect: the artifact key per config file, and markdown that
shows config text as itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from okrflow.flows.prefect_publish import _md, artifact_key

PREFECT_KEY = re.compile(r"^[a-z0-9-]+$")


@pytest.mark.parametrize("name", ["okrflow.yaml", "Team OKRs (Q4).YAML", "über_ziele.yml", "---.yaml", "x" * 200])
def test_the_key_is_in_prefects_alphabet_and_stable(tmp_path, name):
    path = tmp_path / name
    key = artifact_key(path)
    assert PREFECT_KEY.match(key), key
    assert key.startswith("okrflow-") and len(key) <= 60
    assert artifact_key(path) == key  # every run of one file: one key, one history in the UI


def test_two_files_of_one_name_get_two_keys(tmp_path, monkeypatch):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = artifact_key(tmp_path / "a" / "okrs.yaml"), artifact_key(tmp_path / "b" / "okrs.yaml")
    assert first != second and first.rsplit("-", 1)[0] == second.rsplit("-", 1)[0] == "okrflow-okrs"
    monkeypatch.chdir(tmp_path / "a")
    assert artifact_key(Path("okrs.yaml")) == first  # relative or absolute: the same file, the same key


def test_config_text_is_shown_as_itself_in_markdown():
    assert _md("F1 *up* to [0.9](x) | <b>_now_</b>\n# not a heading") == (
        r"F1 \*up\* to \[0.9\](x) \| \<b\>\_now\_\</b\> \# not a heading"
    )
