"""The MLflow connector against a real seeded SQLite store and one real ``mlflow server``.

Seeded data (tests/fixtures/mlflow.py): experiment ``ticket-classifier`` with runs baseline (f1 0.79),
challenger (0.80 -> 0.83 -> 0.84, model v1, alias challenger), champion (0.85 -> 0.86 -> 0.88, v2,
alias champion) and retrain (0.81, the latest run), one day apart from T0 = 2026-10-01.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from okrflow.connectors.base import ConnectorContext, Measurement
from okrflow.connectors.mlflow import MlflowConnector, MlflowMetric
from okrflow.connectors.registry import Registry
from okrflow.okr_model.errors import ConfigError
from okrflow.okr_model.loader import parse_config

from tests.fixtures.loopback import QuietHandler, serving
from tests.fixtures.mlflow import T0, SeededRegistry, free_port

LATER = T0 + timedelta(days=30)
"""An evaluation time after every seeded observation."""


def build(
    source: dict[str, Any],
    metric: dict[str, Any],
    kind: str = "increase",
    baseline: float = 0.5,
    target: float = 0.9,
) -> tuple[MlflowConnector, MlflowMetric]:
    """Parse a one-KR config with the real registry and build the connector as the pipeline does."""
    text = yaml.safe_dump(
        {
            "version": 1,
            "cycle": {"name": "2026-Q4", "start": "2026-10-01", "end": "2026-12-31"},
            "sources": {"tracking": {"type": "mlflow", **source}},
            "objectives": [
                {
                    "id": "support",
                    "title": "Resolve tickets",
                    "key_results": [
                        {
                            "id": "kr",
                            "kind": kind,
                            "baseline": baseline,
                            "target": target,
                            "metric": {"source": "tracking", **metric},
                        }
                    ],
                }
            ],
        }
    )
    config = parse_config(text, resolver=Registry())
    _, kr = config.key_result("kr")
    connector = MlflowConnector("tracking", config.sources["tracking"], ConnectorContext(config))
    assert isinstance(kr.metric, MlflowMetric)
    return connector, kr.metric


def fetch(source: dict[str, Any], metric: dict[str, Any], at=LATER, **kr: Any) -> Measurement:
    connector, binding = build(source, metric, **kr)
    with connector:
        return connector.fetch(binding, at)


CHAMPION = {"model": "ticket-classifier", "alias": "champion", "name": "f1"}
EXPERIMENT = {"experiment": "ticket-classifier", "name": "f1"}


@pytest.fixture(scope="module")
def local(mlflow_store: SeededRegistry) -> dict[str, Any]:
    return {"tracking_uri": mlflow_store.tracking_uri}


# -- the model + alias form --------------------------------------------------------------------------


def test_champion_alias_reads_the_final_f1_of_its_run(local, mlflow_store):
    m = fetch(local, CHAMPION)
    assert m.status == "ok", m.detail
    observed, value = mlflow_store.f1["champion"][-1]
    assert m.value == pytest.approx(0.88) == pytest.approx(value)
    assert m.observed_at == observed
    assert m.lineage["source"] == "tracking"
    assert len(m.lineage["query_hash"]) == 12
    assert m.lineage["run_id"] == mlflow_store.run_ids["champion"]
    assert m.lineage["model"] == "ticket-classifier"
    assert m.lineage["model_version"] == "2"
    assert m.lineage["aliases"] == ["champion"]
    assert m.lineage["in_production"] is True


def test_challenger_is_not_in_production_unless_its_alias_is_listed(local, mlflow_store):
    challenger = {**CHAMPION, "alias": "challenger"}
    m = fetch(local, challenger)
    assert m.status == "ok", m.detail
    assert m.value == pytest.approx(0.84)
    assert m.lineage["model_version"] == "1"
    assert m.lineage["run_id"] == mlflow_store.run_ids["challenger"]
    assert m.lineage["in_production"] is False
    listed = fetch({**local, "production_aliases": ["challenger"]}, challenger)
    assert listed.lineage["in_production"] is True


def test_alias_form_over_http_matches_the_local_store(mlflow_http_server, mlflow_store):
    m = fetch({"tracking_uri": mlflow_http_server, "timeout_s": 10}, CHAMPION)
    assert m.status == "ok", m.detail
    assert m.value == pytest.approx(0.88)
    assert m.observed_at == mlflow_store.f1["champion"][-1][0]
    assert m.lineage["model_version"] == "2"  # a str over REST as on the local store
    assert m.lineage["aliases"] == ["champion"]
    assert m.lineage["in_production"] is True
    challenger = fetch({"tracking_uri": mlflow_http_server}, {**CHAMPION, "alias": "challenger"})
    assert (challenger.value, challenger.lineage["model_version"], challenger.lineage["in_production"]) == (
        pytest.approx(0.84),
        "1",
        False,
    )


def test_experiment_form_over_http(mlflow_http_server, mlflow_store):
    m = fetch({"tracking_uri": mlflow_http_server}, {**EXPERIMENT, "run": "best"})
    assert m.status == "ok", m.detail
    assert m.value == pytest.approx(0.88)
    assert (m.lineage["run_id"], m.lineage["model_version"]) == (mlflow_store.run_ids["champion"], "2")
    missing = fetch({"tracking_uri": mlflow_http_server}, {**CHAMPION, "alias": "nope"})
    assert missing.status == "no_data"
    assert "has no version with alias 'nope'" in missing.detail


# -- the experiment form -----------------------------------------------------------------------------


def test_latest_run_is_the_last_started(local, mlflow_store):
    m = fetch(local, EXPERIMENT)
    assert m.status == "ok", m.detail
    assert m.value == pytest.approx(0.81)
    assert m.lineage["run_id"] == mlflow_store.run_ids["retrain"]
    assert m.lineage["experiment"] == "ticket-classifier"
    assert (m.lineage["model"], m.lineage["model_version"], m.lineage["aliases"]) == (None, None, [])
    assert m.lineage["in_production"] is False


def test_best_run_is_the_max_for_an_increase_kr(local, mlflow_store):
    m = fetch(local, {**EXPERIMENT, "run": "best"})
    assert m.status == "ok", m.detail
    assert m.value == pytest.approx(0.88)
    assert m.lineage["run_id"] == mlflow_store.run_ids["champion"]
    # the run is behind v2, which holds the production alias champion
    assert (m.lineage["model"], m.lineage["model_version"], m.lineage["aliases"]) == (
        "ticket-classifier",
        "2",
        ["champion"],
    )
    assert m.lineage["in_production"] is True


def test_best_run_is_the_min_for_a_decrease_kr(local, mlflow_store):
    m = fetch(local, {**EXPERIMENT, "run": "best"}, kind="decrease", baseline=0.9, target=0.7)
    assert m.status == "ok", m.detail
    assert m.value == pytest.approx(0.79)
    assert m.lineage["run_id"] == mlflow_store.run_ids["baseline"]
    assert m.lineage["in_production"] is False
    # an explicit goal wins over the KR kind
    explicit = fetch(local, {**EXPERIMENT, "run": "best", "goal": "max"}, kind="decrease", baseline=0.9, target=0.7)
    assert explicit.value == pytest.approx(0.88)


def test_bind_fills_goal_from_the_kr_kind(local):
    assert build(local, {**EXPERIMENT, "run": "best"})[1].goal == "max"
    assert build(local, {**EXPERIMENT, "run": "best"}, kind="maintain_below", target=0.5)[1].goal == "min"
    assert build(local, CHAMPION)[1].goal is None


def test_filter_string_selects_runs(local, mlflow_store):
    m = fetch(local, {**EXPERIMENT, "filter": "params.algo = 'xgb'"})
    assert m.status == "ok", m.detail
    assert m.value == pytest.approx(0.84)
    assert m.lineage["run_id"] == mlflow_store.run_ids["challenger"]
    assert (m.lineage["model_version"], m.lineage["aliases"], m.lineage["in_production"]) == (
        "1",
        ["challenger"],
        False,
    )
    bert = {**EXPERIMENT, "run": "best", "filter": "params.algo = 'bert'"}
    bert_best = fetch(local, bert, kind="decrease", baseline=0.9, target=0.7)
    assert bert_best.value == pytest.approx(0.81)


def test_invalid_filter_is_an_error_naming_it(local):
    m = fetch(local, {**EXPERIMENT, "filter": "params.algo === 'x'"})
    assert m.status == "error"
    assert m.detail.startswith("invalid filter \"params.algo === 'x'\" for experiment 'ticket-classifier': ")


# -- as of a time ------------------------------------------------------------------------------------


def test_as_of_reads_the_value_logged_before_at(local, mlflow_store):
    second_at, second = mlflow_store.f1["champion"][1]
    m = fetch(local, CHAMPION, at=second_at + timedelta(minutes=30))
    assert m.status == "ok", m.detail
    assert (m.value, m.observed_at) == (pytest.approx(second), second_at)
    assert m.lineage["step"] == 1
    exact = fetch(local, CHAMPION, at=second_at)  # an entry at exactly `at` counts
    assert exact.value == pytest.approx(second)


def test_offset_moves_the_as_of_time_back(local, mlflow_store):
    last_at = mlflow_store.f1["champion"][-1][0]
    m = fetch(local, {**CHAMPION, "offset": "1h"}, at=last_at + timedelta(minutes=30))
    assert m.value == pytest.approx(0.86)


def test_as_of_ignores_runs_started_later(local, mlflow_store):
    at = mlflow_store.f1["challenger"][1][0] + timedelta(minutes=1)
    latest = fetch(local, EXPERIMENT, at=at)
    assert (latest.value, latest.lineage["run_id"]) == (pytest.approx(0.83), mlflow_store.run_ids["challenger"])
    best = fetch(local, {**EXPERIMENT, "run": "best"}, at=at)
    assert (best.value, best.lineage["run_id"]) == (pytest.approx(0.83), mlflow_store.run_ids["challenger"])


def test_as_of_before_the_first_step_is_no_data(local, mlflow_store):
    m = fetch(local, CHAMPION, at=T0 + timedelta(days=2, minutes=30))
    assert m.status == "no_data"
    assert m.value is None
    assert f"run {mlflow_store.run_ids['champion']} has no metric 'f1' as of" in m.detail
    assert m.lineage["in_production"] is True  # what was resolved is still recorded


def test_max_age_turns_an_old_observation_into_no_data(local):
    m = fetch(local, {**CHAMPION, "max_age": "1d"})
    assert m.status == "no_data"
    assert "stale" in m.detail and "max_age" in m.detail
    fresh = fetch(local, {**CHAMPION, "max_age": "60d"})
    assert fresh.status == "ok"


# -- no data: the detail names what is missing ---------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ({**CHAMPION, "model": "nope-model"}, "registered model 'nope-model' not found"),
        (
            {**CHAMPION, "alias": "production"},
            "model 'ticket-classifier' has no version with alias 'production' (its aliases: challenger, champion)",
        ),
        ({**EXPERIMENT, "experiment": "nope-exp"}, "experiment 'nope-exp' not found"),
        (
            {**EXPERIMENT, "filter": "params.algo = 'none'"},
            "no run in experiment 'ticket-classifier' matches filter \"params.algo = 'none'\"",
        ),
        ({**EXPERIMENT, "name": "recall"}, "has no metric 'recall'"),
        ({**EXPERIMENT, "name": "recall", "run": "best"}, "no run in experiment 'ticket-classifier' has metric"),
    ],
)
def test_missing_pieces_are_no_data_naming_them(local, metric, expected):
    m = fetch(local, metric)
    assert m.status == "no_data"
    assert m.value is None
    assert expected in m.detail


def test_missing_metric_on_the_aliased_run_names_the_run(local, mlflow_store):
    m = fetch(local, {**CHAMPION, "name": "precision"})
    assert m.status == "no_data"
    assert m.detail == f"run {mlflow_store.run_ids['champion']} has no metric 'precision'; it has: f1"
    assert m.lineage["model_version"] == "2"


def test_no_run_before_the_experiment_started(local):
    m = fetch(local, EXPERIMENT, at=T0 - timedelta(days=1))
    assert m.status == "no_data"
    assert "no run in experiment 'ticket-classifier' (runs started by 2026-09-30" in m.detail


def test_a_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path):
    path = tmp_path / "typo.db"
    m = fetch({"tracking_uri": f"sqlite:///{path}"}, CHAMPION)
    assert m.status == "error"
    assert m.detail == f"MLflow SQLite store {path} does not exist (check tracking_uri/registry_uri)"
    assert not path.exists()


# -- failures are bounded in time ---------------------------------------------------------------------


def test_server_down_is_an_error_within_a_bounded_time():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens
    started = time.monotonic()
    m = fetch({"tracking_uri": url, "timeout_s": 2, "retries": 1}, CHAMPION)
    elapsed = time.monotonic() - started
    assert m.status == "error"
    assert m.detail == f"MLflow at {url} is unreachable ([Errno 111] Connection refused; 2 attempts)"
    assert elapsed < 3, f"a refused connection took {elapsed:.1f}s"


def test_hanging_server_is_an_error_after_timeout_and_retries(hanging_http_server):
    timeout_s, retries = 1, 1
    started = time.monotonic()
    m = fetch({"tracking_uri": hanging_http_server, "timeout_s": timeout_s, "retries": retries}, EXPERIMENT)
    elapsed = time.monotonic() - started
    assert m.status == "error"
    assert m.detail == f"MLflow at {hanging_http_server} did not answer within 1s (2 attempts)"
    assert timeout_s * (retries + 1) - 0.2 <= elapsed < timeout_s * (retries + 1) + 2.5, elapsed


class _Recorder(QuietHandler):
    """Answers every request 404 RESOURCE_DOES_NOT_EXIST and records its Authorization header."""

    seen: list[str | None] = []

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization"))
        self.answer(404, b'{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "Registered Model not found"}')


@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[str | None]]]:
    _Recorder.seen = []
    with serving(_Recorder) as url:
        yield url, _Recorder.seen


def test_token_is_sent_as_bearer_and_never_shown(recording_server, mlflow_store):
    url, seen = recording_server
    secret = "s3cret-token-value"
    connector, binding = build({"tracking_uri": url, "token": secret, "timeout_s": 2, "retries": 0}, CHAMPION)
    m = connector.fetch(binding, LATER)
    assert m.status == "no_data"
    assert m.detail == "registered model 'ticket-classifier' not found"
    assert seen and all(header == f"Bearer {secret}" for header in seen)
    assert secret not in repr(connector.config) and secret not in str(dict(m.lineage))
    # the token is scoped to this connector's calls: a source without one sends none
    seen.clear()
    fetch({"tracking_uri": url, "retries": 0}, CHAMPION)
    assert seen and all(header is None for header in seen)


def test_a_password_in_the_uri_is_redacted():
    url = f"http://okr:hunter2@127.0.0.1:{free_port()}"
    m = fetch({"tracking_uri": url, "timeout_s": 1, "retries": 0}, CHAMPION)
    assert m.status == "error"
    assert "hunter2" not in m.detail and "okr:***@" in m.detail


# -- one client per connector, used from threads ------------------------------------------------------


def test_one_client_serves_concurrent_fetches(local):
    connector, binding = build(local, CHAMPION)
    with connector:
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(lambda _: connector.fetch(binding, LATER), range(8)))
        client = connector.client()
        assert connector.client() is client
    assert [m.status for m in results] == ["ok"] * 8
    assert [m.value for m in results] == pytest.approx([0.88] * 8)


# -- each lookup once per run ------------------------------------------------------------------------

_COUNTED = (
    "get_experiment_by_name",
    "search_runs",
    "get_model_version_by_alias",
    "get_registered_model",
    "search_model_versions",
    "get_metric_history",
)


class CountingConnector(MlflowConnector):
    """The real connector over a real ``MlflowClient`` whose lookups are recorded (a subclass, no mock)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.calls: list[tuple[str, str]] = []  # (method, its arguments); list.append is atomic across threads

    def _create_client(self) -> Any:
        client = super()._create_client()
        calls = self.calls

        class Counting(type(client)):  # type: ignore[misc]
            pass

        def counted(name: str) -> Any:
            def call(self: Any, *args: Any, **kwargs: Any) -> Any:
                calls.append((name, repr((args, sorted(kwargs.items())))))
                return getattr(super(Counting, self), name)(*args, **kwargs)

            return call

        for name in _COUNTED:
            setattr(Counting, name, counted(name))
        client.__class__ = Counting
        return client

    def per_method(self) -> Counter[str]:
        return Counter(name for name, _ in self.calls)


def counting(source: dict[str, Any], metrics: list[dict[str, Any]]) -> tuple[CountingConnector, list[MlflowMetric]]:
    bindings = [build(source, metric)[1] for metric in metrics]
    plain, _ = build(source, metrics[0])
    return CountingConnector("tracking", plain.config, plain.context), bindings


def test_each_lookup_is_asked_once_per_run(local, mlflow_store):
    metrics = [
        CHAMPION,
        {**CHAMPION, "alias": "challenger"},
        EXPERIMENT,
        {**EXPERIMENT, "run": "best"},
        {**EXPERIMENT, "filter": "params.algo = 'bert'"},
    ]
    alone = [fetch(local, metric) for metric in metrics]  # one connector per KR: nothing shared
    connector, bindings = counting(local, metrics)
    with connector, ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda b: connector.fetch(b, LATER), bindings * 6))
    assert [m.status for m in alone] == ["ok"] * 5
    assert together == alone * 6  # same values, details and lineage as when each KR read alone
    assert together[0].lineage["aliases"] is not together[5].lineage["aliases"]  # no list shared across KRs
    assert Counter(args for args in connector.calls).most_common(1)[0][1] == 1, connector.calls
    assert connector.per_method() == Counter(
        {
            "get_model_version_by_alias": 2,  # champion, challenger
            "get_experiment_by_name": 1,
            "search_runs": 3,  # latest, best, latest matching the filter
            "search_model_versions": 2,  # runs retrain and champion
            "get_registered_model": 1,  # the champion run's model, for its aliases
            "get_metric_history": 3,  # f1 of champion, challenger, retrain
        }
    )
    with connector:  # the next run asks again: nothing outlives close()
        assert connector.fetch(bindings[0], LATER) == alone[0]
    assert connector.per_method()["get_model_version_by_alias"] == 3


def test_a_missing_alias_or_experiment_is_looked_up_once_with_the_same_detail(local):
    metrics = [{**CHAMPION, "alias": "production"}, {**EXPERIMENT, "experiment": "nope-exp"}]
    connector, bindings = counting(local, metrics)
    with connector:
        got = [connector.fetch(binding, LATER) for binding in bindings * 3]
    alias_detail = (
        "model 'ticket-classifier' has no version with alias 'production' (its aliases: challenger, champion)"
    )
    assert [(m.status, m.detail) for m in got] == [
        ("no_data", alias_detail),
        ("no_data", "experiment 'nope-exp' not found"),
    ] * 3
    assert connector.per_method() == Counter(
        {"get_model_version_by_alias": 1, "get_registered_model": 1, "get_experiment_by_name": 1}
    )


class _FlakyRegistry(QuietHandler):
    """Answers the first request 503 TEMPORARILY_UNAVAILABLE, every later one 404 RESOURCE_DOES_NOT_EXIST."""

    paths: list[str] = []

    def do_GET(self) -> None:
        self.paths.append(self.path.split("?")[0])
        if len(self.paths) == 1:
            self.answer(503, b'{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "try again"}')
        else:
            self.answer(404, b'{"error_code": "RESOURCE_DOES_NOT_EXIST", "message": "not found"}')


def test_a_transient_failure_is_not_the_answer_for_later_krs():
    _FlakyRegistry.paths = []
    with serving(_FlakyRegistry) as url:
        connector, bindings = counting({"tracking_uri": url, "timeout_s": 2, "retries": 0}, [CHAMPION])
        with connector:
            first, second, third = (connector.fetch(bindings[0], LATER) for _ in range(3))
    assert first.status == "error" and first.detail.startswith(f"MLflow at {url} "), first.detail
    # the next KR asks again and gets the store's real answer, which the third one reuses
    assert (second.status, second.detail) == ("no_data", "registered model 'ticket-classifier' not found")
    assert (third.status, third.detail) == (second.status, second.detail)
    assert connector.per_method() == Counter({"get_model_version_by_alias": 2, "get_registered_model": 1})
    assert len(_FlakyRegistry.paths) == 3


# -- config validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metric", "message"),
    [
        ({**CHAMPION, "experiment": "ticket-classifier"}, "either a registered model (model, alias) or an experiment"),
        ({"name": "f1"}, "needs model + alias"),
        ({"model": "ticket-classifier", "name": "f1"}, "needs alias (e.g. alias: champion)"),
        ({**EXPERIMENT, "alias": "champion"}, "alias and version apply to the model form"),
        ({**CHAMPION, "run": "best"}, "run apply to the experiment form only"),
        ({**EXPERIMENT, "run": "first"}, "'latest' or 'best'"),
    ],
)
def test_mixed_or_incomplete_forms_are_config_errors(local, metric, message):
    with pytest.raises(ConfigError) as info:
        build(local, metric)
    issues = info.value.issues
    assert len(issues) == 1, issues
    assert issues[0].path.startswith("objectives[0].key_results[0].metric")
    assert message in issues[0].message


def test_stage_is_refused_pointing_to_aliases(local):
    with pytest.raises(ConfigError) as info:
        build(local, {**CHAMPION, "stage": "Production"})
    assert info.value.issues[0].path == "objectives[0].key_results[0].metric.stage"
    assert "MLflow 3 dropped model stages" in info.value.issues[0].message
    assert "alias: champion" in info.value.issues[0].message


def test_importing_the_connector_does_not_import_mlflow():
    root = Path(__file__).resolve().parents[2]
    code = "import sys, okrflow.connectors.mlflow; assert 'mlflow' not in sys.modules, 'mlflow imported'"
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True, timeout=60)
