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


CONFIG = """
version: 1
cycle: {name: Q4, start: 2026-10-01, end: 2026-12-31}
sources:
  tracking: {type: mlflow, tracking_uri: "sqlite:///unused.db"}
objectives:
  - id: ml
    title: Better models
    owner: ml-team
    key_results:
      - id: f1
        kind: increase
        baseline: 0.79
        target: 0.9
        metric: {source: tracking, model: classifier, alias: champion, name: f1}
"""


def test_a_drift_event_names_the_kr_its_objective_owner_and_model_version():
    from datetime import UTC, datetime

    from okrflow.connectors.registry import Registry
    from okrflow.flows.prefect_publish import event_specs
    from okrflow.okr_model.loader import parse_config
    from okrflow.okr_model.results import AlertChange, KRResult, RunRecord

    config = parse_config(CONFIG, resolver=Registry())
    at = datetime(2026, 11, 15, tzinfo=UTC)
    result = KRResult(
        "f1", "ml", 0.85, "ok", "", at, {"model_version": 7}, 0.55, 0.55, 0.55, "at_risk", reason="below pace"
    )
    change = AlertChange("drift", "f1", "firing", kr_id="f1", objective_id="ml", owners=("ml-team",), detail="down")
    record = RunRecord(at, at, at, "completed", "h", "Q4", [result], [], run_id=3, alert_changes=(change,))
    (spec,) = event_specs(config, record, None, "okrflow-okrs-0123abcd")
    assert spec.event == "okrflow.key-result.drift"
    assert spec.resource == {
        "prefect.resource.id": "okrflow.key-result.okrflow-okrs-0123abcd.f1",
        "prefect.resource.name": "f1",
        "okrflow.config": "okrflow-okrs-0123abcd",
        "okrflow.kr": "f1",
        "okrflow.objective": "ml",
        "okrflow.owner": "ml-team",  # the KR has none: its objective's
        "okrflow.value": "0.85",
        "okrflow.score": "0.55",
        "okrflow.status": "at_risk",
        "okrflow.model-version": "7",
        "okrflow.alert": "drift",
    }
    assert spec.payload["slot"] == at.isoformat() and spec.payload["run_id"] == 3 and spec.payload["detail"] == "down"
