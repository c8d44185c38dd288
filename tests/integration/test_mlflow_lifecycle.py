"""The MLOps key results of the templates, bound to MLflow (issue 16): runs launched, deployments and rollbacks,
model age, time to production and training duration, each as of the slot and within the cycle.

Seeded data (tests/fixtures/mlflow.py): runs baseline (T0), challenger (T0+1d, 4 h), champion (T0+2d, 4 h) and
retrain (T0+3d, 2 h); model versions v1 (challenger) and v2 (champion). Moves of an alias are okrflow's own
observations: real evaluation runs written to a real okrflow SQLite store over a private MLflow store.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from okrflow.okr_model.errors import ConfigError

from okrflow.store.alias_history import StoredAliasHistory
from tests.fixtures.mlflow import T0, SeededRegistry
from tests.integration.mlflow_okrs import (
    backdate_latest_run,
    config_for,
    kr,
    measure,
    move_alias,
    now_slot,
    private_registry,
    register_version,
    run_at,
)

EXPERIMENT = "ticket-classifier"
CHAMPION = {"model": "ticket-classifier", "alias": "champion"}
LATER = T0 + timedelta(days=30)


@pytest.fixture(scope="module")
def own() -> Iterator[SeededRegistry]:
    yield from private_registry()


def in_q4(uri: str, metric: dict, start: datetime = T0) -> object:
    return config_for(uri, [kr("k", metric, target=10)], start=start, end=datetime(2026, 12, 31, tzinfo=UTC))


# -- runs launched ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "start", "at", "count"),
    [
        ({}, T0, LATER, 4),
        ({"filter": "params.algo = 'bert'"}, T0, LATER, 2),  # champion and retrain
        ({}, T0, T0 + timedelta(days=1, hours=12), 2),  # as of the slot: baseline, challenger
        ({}, T0 + timedelta(days=1), LATER, 3),  # within the cycle: baseline started before it
        ({"filter": "tags.team = 'ml-platform'"}, T0, LATER, 4),
    ],
)
def test_runs_launched_counts_runs_in_the_cycle_up_to_the_slot(mlflow_store, metric, start, at, count):
    config = in_q4(mlflow_store.tracking_uri, {"experiment": EXPERIMENT, "measure": "runs", **metric}, start)
    m = measure(config, "k", at, with_history=False)
    assert (m.status, m.value) == ("ok", count), m.detail
    assert m.detail.startswith(f"{count} runs")


def test_runs_launched_over_the_http_server(mlflow_http_server):
    config = in_q4(mlflow_http_server, {"experiment": EXPERIMENT, "measure": "runs", "filter": "params.algo = 'bert'"})
    m = measure(config, "k", LATER, with_history=False)
    assert (m.status, m.value) == ("ok", 2), m.detail


def test_runs_launched_with_a_bad_filter_is_an_error_naming_it(mlflow_store):
    config = in_q4(mlflow_store.tracking_uri, {"experiment": EXPERIMENT, "measure": "runs", "filter": "nonsense ="})
    m = measure(config, "k", LATER, with_history=False)
    assert m.status == "error" and m.detail.startswith("invalid filter 'nonsense ='"), m.detail


# -- training duration and age ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "value"),
    [
        ({"experiment": EXPERIMENT, "measure": "training_duration"}, 2.0),  # retrain: the latest run
        ({"experiment": EXPERIMENT, "measure": "training_duration", "run": "best", "name": "f1"}, 4.0),  # champion
        ({**CHAMPION, "measure": "training_duration", "units": "minutes"}, 240.0),
        ({"model": "ticket-classifier", "version": 1, "measure": "training_duration"}, 4.0),
    ],
)
def test_training_duration_is_the_runs_end_minus_its_start(mlflow_store, metric, value):
    m = measure(in_q4(mlflow_store.tracking_uri, metric), "k", LATER, with_history=False)
    assert m.status == "ok", m.detail
    assert m.value == pytest.approx(value)


def test_training_duration_of_a_run_still_running_as_of_the_slot_is_no_data(mlflow_store):
    metric = {"experiment": EXPERIMENT, "measure": "training_duration"}
    at = T0 + timedelta(days=3, hours=1)  # retrain started, not ended
    m = measure(in_q4(mlflow_store.tracking_uri, metric), "k", at, with_history=False)
    assert m.status == "no_data" and "was still running as of" in m.detail


def test_age_since_trained_is_the_time_since_the_run_ended(mlflow_store):
    metric = {"model": "ticket-classifier", "version": 2, "measure": "age"}
    m = measure(in_q4(mlflow_store.tracking_uri, metric), "k", LATER, with_history=False)
    ended = T0 + timedelta(days=2, hours=4)
    assert m.status == "ok", m.detail
    assert m.value == pytest.approx((LATER - ended) / timedelta(days=1))
    assert m.lineage["model_version"] == "2"


def test_age_since_registered_counts_from_the_versions_registration(mlflow_store):
    metric = {**CHAMPION, "measure": "age", "since": "registered", "units": "hours"}
    config = in_q4(mlflow_store.tracking_uri, metric, start=T0)
    now = measure(config, "k", now_slot(1), with_history=False)
    assert now.status == "ok" and 0 <= now.value < 48, now.detail  # registered when the session seeded it
    past = measure(config, "k", LATER, with_history=False)  # the seeding happened after this slot
    assert past.status == "no_data"
    assert "was registered at" in past.detail and "MLflow resolves @champion now, not as of the slot" in past.detail


# -- deployments, rollbacks and time to production from okrflow's own observations --------------------------


def test_deployments_rollbacks_and_time_to_production_from_okrflows_observations(own, tmp_path: Path):
    krs = [
        kr("deploys", {**CHAMPION, "measure": "deployments"}, target=3),
        kr("rollbacks", {**CHAMPION, "measure": "rollbacks"}, kind="decrease", baseline=2, target=0),
        kr(
            "ttp",
            {**CHAMPION, "measure": "time_to_production", "units": "hours"},
            kind="decrease",
            baseline=48,
            target=4,
        ),
        kr("f1", {**CHAMPION, "name": "f1"}, baseline=0.5, target=0.9),
    ]
    config = config_for(own.tracking_uri, krs, store=f"sqlite:///{tmp_path / 'okr.db'}")
    slots = [now_slot(minutes) for minutes in (1, 2, 3, 4)]
    try:
        first = {r.kr_id: r for r in run_at(config, slots[0]).key_results}
        move_alias(own.tracking_uri, "champion", own.versions["challenger"])  # v2 -> v1: a rollback
        second = {r.kr_id: r for r in run_at(config, slots[1]).key_results}
        v3 = register_version(own.tracking_uri, own.run_ids["retrain"])
        move_alias(own.tracking_uri, "champion", v3)  # v1 -> v3: a deployment
        third = {r.kr_id: r for r in run_at(config, slots[2]).key_results}
        fourth = {r.kr_id: r for r in run_at(config, slots[3]).key_results}
    finally:
        move_alias(own.tracking_uri, "champion", own.versions["champion"])
    assert [(r["deploys"].value, r["rollbacks"].value) for r in (first, second, third, fourth)] == [
        (0, 0),
        (0, 1),
        (1, 1),
        (1, 1),
    ]
    assert third["deploys"].detail.startswith(
        f"moves of @champion seen by okrflow since {config.cycle_bounds()[0].date()}: "
        f"v2 -> v1 (rollback, seen {slots[1].isoformat()}); v1 -> v3 (deployment, seen {slots[2].isoformat()})"
    )
    assert third["deploys"].lineage["alias_moved_from"] == "1" and third["deploys"].lineage["model_version"] == "3"
    assert third["f1"].lineage["alias_moved_from"] == "1"  # every KR on the alias says it moved
    # v2 held the alias before okrflow first looked: its time to production is unknown, not made up
    assert first["ttp"].measurement == "no_data" and "since okrflow first looked" in first["ttp"].detail
    ttp = third["ttp"]
    assert ttp.measurement == "ok", ttp.detail
    assert 0 <= ttp.value < 0.1  # registered a moment before the slot that first saw it hold @champion
    assert f"first seen holding @champion at {slots[2].isoformat()}" in ttp.detail
    assert fourth["ttp"].value == ttp.value  # the same version: time to production does not grow while it holds


def test_alias_moves_are_read_back_from_a_postgresql_store(own, make_postgres_db):
    store = make_postgres_db()
    config = config_for(
        own.tracking_uri, [kr("deploys", {**CHAMPION, "measure": "deployments"}, target=3)], store=store
    )
    slots = [now_slot(minutes) for minutes in (1, 2, 3)]
    try:
        run_at(config, slots[0])  # v2
        move_alias(own.tracking_uri, "champion", own.versions["challenger"])
        rolled_back = run_at(config, slots[1]).key_results[0]
        move_alias(own.tracking_uri, "champion", own.versions["champion"])
        deployed = run_at(config, slots[2]).key_results[0]
    finally:
        move_alias(own.tracking_uri, "champion", own.versions["champion"])
    assert (rolled_back.value, rolled_back.lineage["alias_moved_from"]) == (0, "2")
    assert (deployed.value, deployed.lineage["alias_moved_from"]) == (1, "1")
    seen = StoredAliasHistory(store).alias_versions(["deploys"], "ticket-classifier", "champion", now_slot(60))
    assert seen == list(zip(slots, ["2", "1", "2"], strict=True))


def test_only_moves_within_the_cycle_count_earlier_observations_are_the_baseline(own, tmp_path: Path):
    store = f"sqlite:///{tmp_path / 'okr.db'}"
    metric = {**CHAMPION, "measure": "deployments"}
    now = now_slot(1)

    def cycle_from(days_ago: int):
        return config_for(
            own.tracking_uri, [kr("deploys", metric, target=3)], store=store, start=now - timedelta(days=days_ago)
        )

    try:
        move_alias(own.tracking_uri, "champion", own.versions["challenger"])
        run_at(cycle_from(5), now)
        backdate_latest_run(store, timedelta(days=3))  # okrflow saw @champion at v1 three days ago
        move_alias(own.tracking_uri, "champion", own.versions["champion"])
        run_at(cycle_from(5), now)
        backdate_latest_run(store, timedelta(days=1))  # ... and at v2 yesterday
        counts = [measure(cycle_from(days), "deploys", now).value for days in (5, 2, 0)]
    finally:
        move_alias(own.tracking_uri, "champion", own.versions["champion"])
    assert counts == [1, 1, 0]  # a cycle from today starts at v2: the move happened before it


def test_deployments_for_a_past_slot_count_only_what_okrflow_had_seen(own, tmp_path: Path):
    config = config_for(
        own.tracking_uri,
        [kr("deploys", {**CHAMPION, "measure": "deployments"}, target=3)],
        store=f"sqlite:///{tmp_path / 'okr.db'}",
    )
    m = measure(config, "deploys", now_slot() - timedelta(days=2))
    assert (m.status, m.value) == ("ok", 0)
    assert "MLflow resolves aliases now, not as of the slot" in m.detail
    assert "model_version" not in m.lineage  # the version then is unknown; none is claimed


def test_deployments_without_a_store_to_read_are_no_data(mlflow_store):
    config = in_q4(mlflow_store.tracking_uri, {**CHAMPION, "measure": "deployments"})
    m = measure(config, "k", now_slot(), with_history=False)
    assert m.status == "no_data" and "from its own stored observations" in m.detail


# -- binding mistakes -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ({**CHAMPION, "measure": "runs"}, "measure: runs counts the runs of an experiment"),
        ({"experiment": EXPERIMENT, "measure": "deployments"}, "measure: deployments follows an alias"),
        ({"model": "ticket-classifier", "version": 2, "measure": "rollbacks"}, "measure: rollbacks follows an alias"),
        ({"experiment": EXPERIMENT, "measure": "age", "since": "registered"}, "age since registered reads a model"),
        ({"experiment": EXPERIMENT, "measure": "runs", "units": "days"}, "units apply to the durations"),
        ({**CHAMPION}, "name is the metric to read"),
        ({**CHAMPION, "measure": "deployments", "name": "f1"}, "measure: deployments reads no metric: drop name"),
        ({"experiment": EXPERIMENT, "measure": "training_duration", "run": "best"}, "run: best ranks runs by a metric"),
    ],
)
def test_lifecycle_binding_mistakes_are_config_errors(mlflow_store, metric, message):
    with pytest.raises(ConfigError) as info:
        in_q4(mlflow_store.tracking_uri, metric)
    assert message in "\n".join(issue.message for issue in info.value.issues)
