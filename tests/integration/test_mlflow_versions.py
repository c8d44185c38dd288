"""Model versions are first-class (issue 16): a pinned version, no stages, metric names that exist, which model
version produced a value in status, history, report and exporter, and alias moves okrflow saw itself.

Real MLflow stores (SQLite, and the session's ``mlflow server`` for the pinned version), real scikit-learn
``autolog()`` runs, a real okrflow SQLite store.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from okrflow.okr_model.errors import ConfigError
from rich.console import Console

from okrflow.report.exporter import metric_families
from okrflow.report.html import Formatter
from okrflow.store import Store
from okrflow.views import history_csv, history_json, status_json, status_table
from tests.fixtures.mlflow import SeededRegistry
from tests.integration.mlflow_okrs import (
    backdate_latest_run,
    config_for,
    connector_for,
    kr,
    measure,
    move_alias,
    now_slot,
    private_registry,
    run_at,
)

CHAMPION = {"model": "ticket-classifier", "alias": "champion", "name": "f1"}


@pytest.fixture(scope="module")
def own() -> Iterator[SeededRegistry]:
    yield from private_registry()


# -- version: N pins a version; stage: is refused pointing to aliases -----------------------------------------


@pytest.mark.parametrize("where", ["sqlite", "http"])
def test_version_pins_a_model_version(where, mlflow_store, request):
    uri = mlflow_store.tracking_uri if where == "sqlite" else request.getfixturevalue("mlflow_http_server")
    config = config_for(uri, [kr("f1", {"model": "ticket-classifier", "version": 1, "name": "f1"})])
    m = measure(config, "f1", now_slot(), with_history=False)
    assert m.status == "ok", m.detail
    assert m.value == pytest.approx(mlflow_store.final_f1("challenger"))
    assert m.lineage["model_version"] == "1"
    assert m.lineage["alias"] is None
    assert m.lineage["aliases"] == ["challenger"]
    assert m.lineage["run_id"] == mlflow_store.run_ids["challenger"]


def test_a_version_that_does_not_exist_lists_the_versions(mlflow_store):
    config = config_for(
        mlflow_store.tracking_uri, [kr("f1", {"model": "ticket-classifier", "version": 9, "name": "f1"})]
    )
    m = measure(config, "f1", now_slot(), with_history=False)
    assert (m.status, m.detail) == ("no_data", "model 'ticket-classifier' has no version 9 (its versions: 1, 2)")


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ({**CHAMPION, "version": 2}, "give alias or version, not both"),
        ({"model": "ticket-classifier", "version": 0, "name": "f1"}, "greater than or equal to 1"),
        (
            {"model": "ticket-classifier", "stage": "Production", "name": "f1"},
            "stage 'Production': MLflow 3 dropped model stages (Staging/Production): bind an alias instead, "
            "e.g. alias: champion",
        ),
    ],
)
def test_version_and_stage_mistakes_are_config_errors(mlflow_store, metric, message):
    with pytest.raises(ConfigError) as info:
        config_for(mlflow_store.tracking_uri, [kr("f1", metric)])
    assert message in "\n".join(issue.message for issue in info.value.issues)
    assert "unknown key" not in str(info.value) and "Extra inputs" not in str(info.value)


# -- a metric that does not exist lists the names the run has (scikit-learn autolog) -----------------------


@pytest.fixture(scope="module")
def autologged(tmp_path_factory) -> tuple[str, str]:
    """A real ``mlflow.sklearn.autolog()`` run on a bundled dataset; (tracking URI, run id)."""
    import mlflow
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression

    directory = tmp_path_factory.mktemp("autolog")
    uri = f"sqlite:///{directory / 'mlflow.db'}"
    X, y = load_breast_cancer(return_X_y=True)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        # artifacts (autolog's plots) under the temp dir, not ./mlruns of the working directory
        mlflow.create_experiment("churn", artifact_location=(directory / "artifacts").as_uri())
        mlflow.set_experiment("churn")
        mlflow.sklearn.autolog(log_models=False, log_datasets=False, silent=True)
        with mlflow.start_run() as run:
            LogisticRegression(max_iter=5000).fit(X, y)
        mlflow.sklearn.autolog(disable=True)
    finally:
        mlflow.set_tracking_uri(previous)
    return uri, run.info.run_id


def test_a_missing_metric_lists_the_names_autolog_logged(autologged):
    uri, run_id = autologged
    config = config_for(
        uri,
        [
            kr("f1", {"experiment": "churn", "name": "f1"}),
            kr("ok", {"experiment": "churn", "name": "training_f1_score"}),
        ],
    )
    # A slot after the run's metrics: now_slot() drops the microseconds, so within the second the run logged
    # them it would read them as not yet logged (no_data; seen once in CI).
    slot = now_slot() + timedelta(seconds=1)
    m = measure(config, "f1", slot, with_history=False)
    assert m.status == "no_data"
    assert m.detail.startswith(f"run {run_id} has no metric 'f1'; it has: training_accuracy_score, training_f1_score, ")
    assert "training_roc_auc" in m.detail
    found = measure(config, "ok", slot, with_history=False)
    assert found.status == "ok" and 0.9 < found.value <= 1.0


# -- which model version produced a value: status, history, report, exporter --------------------------------


def test_status_history_report_and_exporter_show_the_model_version(own, tmp_path):
    config = config_for(
        own.tracking_uri, [kr("f1", CHAMPION, baseline=0.5, target=0.9)], store=f"sqlite:///{tmp_path / 'okr.db'}"
    )
    run_at(config, now_slot())
    with Store.open(config.store) as store:
        snapshot = store.status()
        points = store.history("f1")
    assert snapshot is not None
    result = snapshot.key_results[0]
    run_id = own.run_ids["champion"]
    expected = {
        "name": "ticket-classifier",
        "version": "2",
        "alias": "champion",
        "run_id": run_id,
        "alias_moved_from": None,
    }
    assert status_json(None, snapshot.objectives, snapshot.key_results, config)["key_results"][0]["model"] == expected
    rows = history_json("f1", points)["points"]
    assert [(r["model_version"], r["run_id"]) for r in rows] == [("2", run_id)]
    assert f",2,{run_id}" in history_csv(points)
    console = Console(record=True, width=200)
    status_table(snapshot.run, snapshot.objectives, snapshot.key_results, config, console)
    assert f"ticket-classifier v2 @champion, run {run_id[:8]}" in console.export_text()
    assert f"model ticket-classifier v2 @champion, run {run_id[:8]}" in Formatter(config).note(result)
    families = {f.name: f for f in metric_families(config, snapshot)}
    samples = [s.labels for s in families["okrflow_key_result_model_info"].samples]
    assert samples == [
        {
            "key_result": "f1",
            "objective": "ml",
            "team": "",
            "owner": "",
            "model": "ticket-classifier",
            "version": "2",
            "alias": "champion",
            "run_id": run_id,
        }
    ]
    score_labels = {s.labels.get("version") for s in families["okrflow_key_result_score"].samples}
    assert score_labels == {None}  # the score series keep their identity


# -- alias moves: okrflow's own observations are the record -------------------------------------------------


def test_an_alias_move_is_recorded_in_history_and_said(own, tmp_path: Path):
    config = config_for(
        own.tracking_uri, [kr("f1", CHAMPION, baseline=0.5, target=0.9)], store=f"sqlite:///{tmp_path / 'okr.db'}"
    )
    first, second, third = now_slot(1), now_slot(2), now_slot(3)
    try:
        before = run_at(config, first).key_results[0]
        move_alias(own.tracking_uri, "champion", own.versions["challenger"])  # champion v2 -> v1
        moved = run_at(config, second).key_results[0]
        still = run_at(config, third).key_results[0]
    finally:
        move_alias(own.tracking_uri, "champion", own.versions["champion"])
    assert before.lineage["model_version"] == "2" and "alias_moved_from" not in before.lineage
    assert moved.lineage["model_version"] == "1"
    assert moved.lineage["alias_moved_from"] == "2"
    assert moved.lineage["alias_moved_after"] == first.isoformat()
    assert moved.detail.startswith(f"@champion moved from v2 to v1 (seen at {second.isoformat()}; ")
    assert moved.value == pytest.approx(own.final_f1("challenger"))
    assert "alias_moved_from" not in still.lineage and still.detail == ""  # said once, when it moved
    with Store.open(config.store) as store:
        rows = history_json("f1", store.history("f1"))["points"]
    assert [r["model_version"] for r in rows] == ["2", "1", "1"]


def test_a_past_slot_says_which_version_it_could_and_could_not_know(own, tmp_path: Path):
    store = f"sqlite:///{tmp_path / 'okr.db'}"
    config = config_for(own.tracking_uri, [kr("f1", CHAMPION)], store=store)
    seen_at = now_slot() - timedelta(days=2)
    lonely = measure(config, "f1", seen_at)
    assert lonely.status == "ok"
    assert lonely.detail == (
        f"@champion resolved now to v2: MLflow keeps no alias history, so the version it held at "
        f"{seen_at.isoformat()} is not known to MLflow; okrflow has no observation of @champion by then"
    )
    run_at(config, seen_at)  # a late run (run --at a past slot) saw the alias as it is now: not a record of then
    assert measure(config, "f1", seen_at + timedelta(hours=1)).detail == lonely.detail.replace(
        seen_at.isoformat(), (seen_at + timedelta(hours=1)).isoformat()
    )
    on_time = now_slot(1)
    run_at(config, on_time)
    backdate_latest_run(store, timedelta(days=2, minutes=30))  # a run made at its slot two days ago
    later = measure(config, "f1", seen_at + timedelta(hours=1))
    assert later.detail.endswith(
        f"okrflow saw @champion at v2 at {(on_time - timedelta(days=2, minutes=30)).isoformat()}"
    )


# -- siblings: every "no such metric" answer lists the names there are ------------------------------------------


def test_backfill_of_a_missing_metric_lists_the_names_the_run_has(autologged):
    uri, run_id = autologged
    config = config_for(uri, [kr("f1", {"experiment": "churn", "name": "f1"})])
    _, found = config.key_result("f1")
    with connector_for(config, with_history=False) as connector:
        series = connector.fetch_series(found.metric, [now_slot(-60), now_slot()])
    assert {m.status for m in series.values()} == {"no_data"}
    for m in series.values():
        assert m.detail.startswith(f"run {run_id} has no metric 'f1'; it has: training_accuracy_score, "), m.detail


def test_best_run_without_the_metric_lists_the_names_the_latest_run_has(autologged):
    uri, run_id = autologged
    config = config_for(uri, [kr("f1", {"experiment": "churn", "name": "f1", "run": "best"})])
    m = measure(config, "f1", now_slot(), with_history=False)
    assert m.status == "no_data"
    assert m.detail.startswith("no run in experiment 'churn' has metric 'f1' as of ")
    assert f"; the latest run ({run_id}) has: training_accuracy_score, training_f1_score, " in m.detail
