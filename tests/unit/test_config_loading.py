"""Loading valid configs: interpolation, defaults, bands, durations, the resolver step, and a YAML round trip."""

from __future__ import annotations

import json
import math
import re
import textwrap
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from okrflow.connectors.base import Connector, Measurement
from okrflow.connectors.registry import Registry
from okrflow.okr_model.config import Config, EmailChannel, KeyResult, MetricBinding, SlackChannel, SourceConfig
from okrflow.okr_model.errors import ConfigError, ConfigIssue
from okrflow.okr_model.loader import load_config, parse_config
from okrflow.okr_model.types import Band, parse_duration
from pydantic import ConfigDict, SecretStr, ValidationError

# -- a tiny connector kind, registered in a fresh registry, so the resolver step is tested on its own ------------


class FakeSource(SourceConfig):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["fake"]
    url: SecretStr


class FakeMetric(MetricBinding):
    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str
    best: Literal["min", "max"]


class FakeConnector(Connector[FakeSource, FakeMetric]):
    """Derives ``best`` from the KR's direction, and flags a column named ``forbidden`` in the whole-config check."""

    type_name: ClassVar[str] = "fake"
    knows_production: ClassVar[bool] = True  # the contract example gates classifier-f1 on production
    config_model = FakeSource
    metric_model = FakeMetric

    @classmethod
    def bind(cls, raw: dict[str, Any], kr: KeyResult) -> FakeMetric:
        raw.setdefault("best", "min" if kr.direction == "down" else "max")
        return FakeMetric.model_validate(raw)

    @classmethod
    def check(cls, name: str, config: FakeSource, full: Config) -> list[ConfigIssue]:
        return [
            ConfigIssue(f"objectives[{o}].key_results[{k}].metric.column", "column 'forbidden' is not allowed")
            for o, objective in enumerate(full.objectives)
            for k, kr in enumerate(objective.key_results)
            if kr.metric is not None and getattr(kr.metric, "column", None) == "forbidden"
        ]

    def fetch(self, metric: FakeMetric, at: datetime) -> Measurement:
        return Measurement.no_data("the fake source has no data")


def fake_registry() -> Registry:
    registry = Registry(builtins={}, load_entry_points=False)
    registry.register("fake", FakeConnector)
    return registry


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


# -- the contract's example, as users write it ----------------------------------------------------------------

CONTRACT = dedent(
    """
    version: 1
    cycle: {name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}
    schedule: "*/15 * * * *"
    store: sqlite:///okrflow.db
    defaults: {drift: {max_drop: 0.03}, alerts: {for_runs: 2, repeat_interval: 24h}}
    sources:
      warehouse: {type: fake, url: "${WAREHOUSE_URL}", timeout_s: 5}
    channels:
      ml-slack: {type: slack, url: "${SLACK_WEBHOOK_URL}"}
      ml-mail: {type: email, host: smtp.example.com, port: 587, sender: okr@example.com, to: ["${MAIL_TO:-ml@example.com}"]}
    owners:
      alice: {channels: [ml-slack, ml-mail]}
      ml-team: {channels: [ml-slack]}
    objectives:
      - id: ai-first
        title: Become the AI-first leader in our market
        owner: ml-team
      - id: support-automation
        parent: ai-first
        title: Resolve simple support tickets without an agent
        owner: ml-team
        key_results:
          - id: classifier-f1
            kind: increase
            baseline: 0.79
            target: [0.87, 0.92]
            track: aspirational
            weight: 2
            owner: alice
            metric: {source: warehouse, column: f1}
            requires_production: true
            drift: {max_drop: 0.03}
          - id: p95-latency
            kind: maintain_below
            target: 0.2
            unit: s
            metric: {source: warehouse, column: p95, max_age: 2h, offset: 15m}
          - id: resolution-hours
            kind: decrease
            baseline: 4
            target: 2
            metric: {source: warehouse, column: hours}
          - id: specs
            kind: manual
            target: 3
    """
)


@pytest.fixture
def contract_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAREHOUSE_URL", "postgresql://okr:s3cret@127.0.0.1/dw")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "http://127.0.0.1:9/slack")
    monkeypatch.delenv("MAIL_TO", raising=False)


def test_contract_example_parses_without_resolver(contract_env: None) -> None:
    config = parse_config(CONTRACT, "okrflow.yaml")
    assert config.cycle.review_date == date(2026, 11, 15), "the review defaults to the midpoint"
    assert config.defaults.alerts.repeat_interval == timedelta(hours=24)
    assert config.defaults.drift.max_drop == 0.03
    assert (config.defaults.caps.quality_gate, config.defaults.caps.requires_production) == (0.2, 0.5)
    assert config.defaults.caps.abandoned == 0.4
    _, f1 = config.key_result("classifier-f1")
    assert f1.target == Band(0.87, 0.92) and isinstance(f1.target, Band)
    assert (f1.kind, f1.baseline, f1.track, f1.weight, f1.success_score) == ("increase", 0.79, "aspirational", 2, 0.7)
    _, p95 = config.key_result("p95-latency")
    assert p95.target == 0.2 and p95.direction == "down" and p95.baseline is None
    assert (p95.metric.max_age, p95.metric.offset) == (timedelta(hours=2), timedelta(minutes=15))
    _, specs = config.key_result("specs")
    assert specs.metric is None and specs.start_value == 0.0
    slack, mail = config.channels["ml-slack"], config.channels["ml-mail"]
    assert isinstance(slack, SlackChannel) and slack.url.get_secret_value() == "http://127.0.0.1:9/slack"
    assert isinstance(mail, EmailChannel) and mail.to == ["ml@example.com"]
    assert "127.0.0.1:9" not in repr(config), "secrets stay masked"
    # without a resolver, sources stay generic (with the interpolated value)
    assert type(config.sources["warehouse"]) is SourceConfig
    assert config.sources["warehouse"].timeout_s == 5 and config.sources["warehouse"].retries == 2
    assert [o.id for o in config.objectives] == ["ai-first", "support-automation"]
    assert config.objectives[1].parent == "ai-first"


def test_contract_example_with_resolver_validates_sources_and_metrics(contract_env: None) -> None:
    config = parse_config(CONTRACT, "okrflow.yaml", resolver=fake_registry())
    source = config.sources["warehouse"]
    assert isinstance(source, FakeSource)
    assert source.url.get_secret_value() == "postgresql://okr:s3cret@127.0.0.1/dw"
    assert "s3cret" not in repr(config)
    _, f1 = config.key_result("classifier-f1")
    _, hours = config.key_result("resolution-hours")
    assert isinstance(f1.metric, FakeMetric) and (f1.metric.column, f1.metric.best) == ("f1", "max")
    assert isinstance(hours.metric, FakeMetric) and hours.metric.best == "min", "bind sees the KR"
    _, p95 = config.key_result("p95-latency")
    assert p95.metric.max_age == timedelta(hours=2), "the common binding keys survive the connector's model"


def test_load_config_reads_a_file(tmp_path: Path, contract_env: None) -> None:
    path = tmp_path / "okrflow.yaml"
    path.write_text(CONTRACT, encoding="utf-8")
    anchored = {"store": f"sqlite:///{tmp_path}/okrflow.db"}  # relative to the file's folder, not the cwd
    assert load_config(path) == parse_config(CONTRACT).model_copy(update=anchored)
    assert isinstance(load_config(str(path), fake_registry()).sources["warehouse"], FakeSource)


def test_connector_check_runs_only_on_an_otherwise_valid_config(contract_env: None) -> None:
    text = CONTRACT.replace("column: hours", "column: forbidden")
    with pytest.raises(ConfigError) as info:
        parse_config(text, "okrflow.yaml", resolver=fake_registry())
    assert [(i.path, i.message) for i in info.value.issues] == [
        ("objectives[1].key_results[2].metric.column", "column 'forbidden' is not allowed")
    ]
    assert (
        info.value.issues[0].line
        == CONTRACT.splitlines().index("        metric: {source: warehouse, column: hours}") + 1
    )


# -- interpolation ---------------------------------------------------------------------------------------------

MINIMAL = dedent(
    """
    cycle: {name: q, start: 2026-10-01, end: 2026-12-31}
    store: "{store}"
    objectives: [{id: o, title: t}]
    """
)


def store_of(monkeypatch: pytest.MonkeyPatch, value: str, **env: str | None) -> str:
    for name, val in env.items():
        if val is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, val)
    return parse_config(MINIMAL.replace("{store}", value)).store


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        ("${OKR_DB}", {"OKR_DB": "sqlite:///x.db"}, "sqlite:///x.db"),
        ("${OKR_DB:-sqlite:///default.db}", {"OKR_DB": None}, "sqlite:///default.db"),
        ("${OKR_DB:-sqlite:///default.db}", {"OKR_DB": "sqlite:///env.db"}, "sqlite:///env.db"),
        ("${OKR_DB:-}", {"OKR_DB": None}, ""),
        ("${OKR_DB}", {"OKR_DB": ""}, ""),  # set but empty is set
        ("postgresql://${OKR_USER}:${OKR_PW}@db/okr", {"OKR_USER": "u", "OKR_PW": "p w"}, "postgresql://u:p w@db/okr"),
        ("plain $HOME and {braces}", {}, "plain $HOME and {braces}"),
        ("${OKR_DB}", {"OKR_DB": "${NOT_EXPANDED_TWICE}"}, "${NOT_EXPANDED_TWICE}"),
    ],
)
def test_interpolation(monkeypatch: pytest.MonkeyPatch, value: str, env: dict[str, str | None], expected: str) -> None:
    assert store_of(monkeypatch, value, **env) == expected


def test_interpolation_reaches_nested_lists_and_mappings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_SECRET", "k3y-of-at-least-32-bytes-for-hmac!")
    monkeypatch.setenv("PROM_TOKEN", "t0ken")
    text = MINIMAL.replace("{store}", "sqlite://") + dedent(
        """
        sources:
          prom: {type: prometheus, url: "http://127.0.0.1:9090", headers: {Authorization: "Bearer ${PROM_TOKEN}"}}
        channels:
          hook: {type: webhook, url: "http://127.0.0.1:9/h", secret: "${HOOK_SECRET}", headers: {X-Team: "${TEAM:-ml}"}}
        """
    )
    config = parse_config(text)
    assert config.sources["prom"].model_extra["headers"] == {"Authorization": "Bearer t0ken"}
    hook = config.channels["hook"]
    assert hook.secret.get_secret_value() == "k3y-of-at-least-32-bytes-for-hmac!"
    assert hook.headers["X-Team"].get_secret_value() == "ml"


def test_every_missing_variable_is_reported_with_its_key_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OKR_MISSING_A", raising=False)
    monkeypatch.delenv("OKR_MISSING_B", raising=False)
    text = MINIMAL.replace("{store}", "${OKR_MISSING_A}") + 'schedule: "${OKR_MISSING_B}"\n'
    with pytest.raises(ConfigError) as info:
        parse_config(text, "team.yaml")
    issues = {(i.path, i.message, i.line) for i in info.value.issues}
    assert issues == {
        ("store", "environment variable OKR_MISSING_A is not set", 2),
        ("schedule", "environment variable OKR_MISSING_B is not set", 4),
    }
    assert str(info.value).startswith("team.yaml:2: store: environment variable OKR_MISSING_A is not set")


# -- cycles, bands and durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end", "review", "expected"),
    [
        ("2026-10-01", "2026-12-31", None, date(2026, 11, 15)),
        ("2026-01-05", "2026-02-15", None, date(2026, 1, 25)),  # six weeks: 41 days, half is 20.5
        ("2026-10-01", "2026-12-31", "2026-11-10", date(2026, 11, 10)),
        ("2026-10-01", "2026-10-02", None, date(2026, 10, 1)),
    ],
)
def test_review_date(start: str, end: str, review: str | None, expected: date) -> None:
    cycle = f"{{name: c, start: {start}, end: {end}" + (f", review: {review}}}" if review else "}")
    config = parse_config(f"cycle: {cycle}\nobjectives: [{{id: o, title: t}}]\n")
    assert config.cycle.review_date == expected
    assert config.cycle.start <= config.cycle.review_date <= config.cycle.end


def kr_target(target: str, kind: str = "increase", baseline: str = "0") -> float | Band:
    text = dedent(
        f"""
        cycle: {{name: q, start: 2026-10-01, end: 2026-12-31}}
        sources: {{s: {{type: fake, url: "sqlite://"}}}}
        objectives:
          - id: o
            title: t
            key_results: [{{id: k, kind: {kind}, baseline: {baseline}, target: {target}, metric: {{source: s}}}}]
        """
    )
    return parse_config(text).objectives[0].key_results[0].target


@pytest.mark.parametrize(
    ("target", "kind", "baseline", "expected"),
    [
        ("[0.87, 0.92]", "increase", "0.79", Band(0.87, 0.92)),
        ("[0.92, 0.87]", "increase", "0.79", Band(0.92, 0.87)),
        ("[2, 3]", "decrease", "4", Band(2.0, 3.0)),
        ("0.9", "increase", "0.79", 0.9),
        ("5", "increase", "0", 5.0),
        ("1e3", "increase", "0", 1000.0),  # YAML 1.1 read 1e3 as a string; okrflow reads it as YAML 1.2 does
        ("1.5E-1", "increase", "0", 0.15),
        ("[1e-3, 2e-3]", "increase", "0", Band(0.001, 0.002)),
        ('"1e3"', "increase", "0", "1e3"),  # quoted: a string, rejected below
    ],
)
def test_targets_and_bands(target: str, kind: str, baseline: str, expected: Any) -> None:
    if isinstance(expected, str):
        with pytest.raises(ConfigError, match="expected a number or a"):
            kr_target(target, kind, baseline)
        return
    value = kr_target(target, kind, baseline)
    assert value == expected and type(value) is type(expected)
    if isinstance(value, Band):
        assert all(type(end) is float for end in value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("90s", timedelta(seconds=90)),
        ("15m", timedelta(minutes=15)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("2w", timedelta(weeks=2)),
        ("500ms", timedelta(milliseconds=500)),
        ("1.5h", timedelta(minutes=90)),
        (" 15 m ", timedelta(minutes=15)),
        (30, timedelta(seconds=30)),
        (0, timedelta(0)),
        (2.5, timedelta(seconds=2.5)),
    ],
)
def test_durations(raw: Any, expected: timedelta) -> None:
    assert parse_duration(raw) == expected
    text = MINIMAL.replace("{store}", "sqlite://") + f"defaults: {{alerts: {{repeat_interval: {json.dumps(raw)}}}}}\n"
    assert parse_config(text).defaults.alerts.repeat_interval == expected


@pytest.mark.parametrize(
    "raw",
    ["15 minutes", "-5s", "", "h", "1.2.3h", True, -1, math.inf, math.nan, 10**400, "9" * 30 + "w"],
    ids=repr,
)
def test_bad_durations_are_validation_errors_not_crashes(raw: Any) -> None:
    """Never an OverflowError from timedelta: pydantic turns the error into a config issue."""
    with pytest.raises(ValidationError, match="expected a duration such as 30s"):
        MetricBinding.model_validate({"source": "s", "max_age": raw})


# -- property: generated configs round-trip through YAML -------------------------------------------------------

plain_text = st.text(st.characters(exclude_categories=("C", "Zl", "Zp"), exclude_characters="$"), max_size=20)
numbers = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False) | st.integers(-(10**6), 10**6)
gaps = st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False) | st.integers(1, 10**6)
weights = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False, allow_infinity=False) | st.integers(1, 100)


@st.composite
def key_results(draw: st.DrawFn, kr_id: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(["increase", "decrease", "maintain_above", "maintain_below", "milestone", "manual"]))
    kr: dict[str, Any] = {"id": kr_id, "kind": kind}
    if kind in ("maintain_above", "maintain_below"):
        kr["target"] = draw(numbers)
        if draw(st.booleans()):
            kr["baseline"] = draw(numbers)
    else:
        start = draw(numbers) if kind in ("increase", "decrease") or draw(st.booleans()) else None
        if start is not None:
            kr["baseline"] = start
        origin = 0 if start is None else start
        sign = -1 if kind == "decrease" or (kind == "manual" and draw(st.booleans())) else 1
        near = origin + sign * draw(gaps)
        kr["target"] = [near, near + sign * draw(gaps)] if draw(st.booleans()) else near
    if draw(st.booleans()):
        kr["weight"] = draw(weights)
    if draw(st.booleans()):
        kr["track"] = draw(st.sampled_from(["committed", "aspirational"]))
    if kind != "manual":
        kr["metric"] = {"source": "warehouse", "column": draw(st.sampled_from(["f1", "p95", "hours"]))}
    return kr


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    objectives = []
    for i in range(draw(st.integers(1, 5))):
        # safe_dump leaves 1e5 unquoted (a string in YAML 1.1); okrflow reads it as YAML 1.2 does, as a number
        objective: dict[str, Any] = {"id": f"obj-{i}", "title": draw(non_numeric_text)}
        if i and draw(st.booleans()):
            objective["parent"] = f"obj-{draw(st.integers(0, i - 1))}"
        if draw(st.booleans()):
            objective["weight"] = draw(weights)
        objective["key_results"] = [draw(key_results(f"kr-{i}.{j}")) for j in range(draw(st.integers(0, 4)))]
        objectives.append(objective)
    start = draw(st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 1, 1)))
    end = start + timedelta(days=draw(st.sampled_from([41, 90, 91, 92])))
    return {
        "version": 1,
        "cycle": {"name": f"{start:%Y}-c", "start": start, "end": end},
        "sources": {"warehouse": {"type": "fake", "url": "${OKR_TEST_DW:-sqlite://}"}},
        "objectives": objectives,
    }


def as_target(value: Any) -> float | Band:
    return Band(float(value[0]), float(value[1])) if isinstance(value, list) else float(value)


ROUND_TRIP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@ROUND_TRIP
@given(configs(), st.booleans())
def test_generated_configs_round_trip_through_yaml(data: dict[str, Any], with_resolver: bool) -> None:
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    config = parse_config(text, "generated.yaml", resolver=fake_registry() if with_resolver else None)
    assert (config.cycle.start, config.cycle.end) == (data["cycle"]["start"], data["cycle"]["end"])
    assert config.cycle.start < config.cycle.review_date < config.cycle.end
    assert len(config.objectives) == len(data["objectives"])
    for objective, raw in zip(config.objectives, data["objectives"], strict=True):
        assert (objective.id, objective.title, objective.parent) == (raw["id"], raw["title"], raw.get("parent"))
        assert objective.weight == raw.get("weight", 1.0)
        assert len(objective.key_results) == len(raw["key_results"])
        for kr, raw_kr in zip(objective.key_results, raw["key_results"], strict=True):
            assert (kr.id, kr.kind, kr.track) == (raw_kr["id"], raw_kr["kind"], raw_kr.get("track", "committed"))
            assert kr.baseline == raw_kr.get("baseline")
            assert kr.target == as_target(raw_kr["target"]) and type(kr.target) is type(as_target(raw_kr["target"]))
            assert kr.weight == raw_kr.get("weight", 1.0)
            if raw_kr["kind"] == "manual":
                assert kr.metric is None
            else:
                assert kr.metric.source == "warehouse"
                assert isinstance(kr.metric, FakeMetric) is with_resolver
    # the parsed config dumps back to data that parses to the same config
    again = yaml.safe_dump(config.model_dump(mode="json", exclude_none=True), sort_keys=False, allow_unicode=True)
    if not with_resolver:
        assert parse_config(again) == config


# -- property: invalid target / weight / kind values always raise ConfigError ----------------------------------

non_numeric_text = plain_text.filter(lambda s: not _is_float(s))


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


bad_numbers = st.sampled_from([math.nan, math.inf, -math.inf, 10**400, -(10**400)])
junk = st.one_of(
    st.none(),
    st.booleans(),
    non_numeric_text,
    st.sampled_from(["1", " 2 ", "0.5", "inf", "nan"]),  # numbers in quotes are strings, not numbers
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    bad_numbers,
)
bad_targets = st.one_of(
    junk,
    st.lists(numbers, max_size=5).filter(lambda xs: len(xs) != 2),
    st.tuples(numbers, junk).map(list),
    st.tuples(junk, numbers).map(list),
    numbers.map(lambda x: [x, x]),
)
bad_weights = st.one_of(junk, st.floats(max_value=0, allow_nan=False), st.integers(max_value=0), st.lists(weights))
bad_kinds = st.one_of(
    junk,
    plain_text.filter(
        lambda s: s not in {"increase", "decrease", "maintain_above", "maintain_below", "milestone", "manual"}
    ),
)


@ROUND_TRIP
@given(configs(), st.sampled_from(["target", "weight", "kind"]), st.data())
def test_invalid_target_weight_or_kind_always_raise_config_error(
    data: dict[str, Any], field: str, draw: st.DataObject
) -> None:
    located = [(o, k) for o, obj in enumerate(data["objectives"]) for k in range(len(obj["key_results"]))]
    if not located:
        data["objectives"][0]["key_results"] = [
            {
                "id": "extra",
                "kind": "increase",
                "baseline": 0,
                "target": 1,
                "metric": {"source": "warehouse", "column": "f1"},
            }
        ]
        located = [(0, 0)]
    o, k = draw.draw(st.sampled_from(located))
    bad = draw.draw({"target": bad_targets, "weight": bad_weights, "kind": bad_kinds}[field])
    data["objectives"][o]["key_results"][k][field] = bad
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    with pytest.raises(ConfigError) as info:
        parse_config(text, "bad.yaml", resolver=fake_registry() if draw.draw(st.booleans()) else None)
    kr_path = f"objectives[{o}].key_results[{k}]"
    assert any(i.path in (kr_path, f"{kr_path}.{field}") for i in info.value.issues), info.value.issues
    assert all(i.line is not None for i in info.value.issues)
    assert str(info.value).startswith("bad.yaml:")


def test_increase_target_below_baseline_is_invalid_in_every_form() -> None:
    for target in ("0.5", "[0.5, 0.9]", "[0.9, 0.5]"):
        with pytest.raises(ConfigError, match=r"kind increase needs a target above the baseline 0\.79"):
            kr_target(target, "increase", "0.79")


@pytest.mark.parametrize(
    ("field", "raw", "says"),
    [
        ("target", "1" + "0" * 400, "expected a number or a [low, high] pair"),  # too large for a float
        ("target", "[0.8, .nan]", "expected a number or a [low, high] pair"),
        ("target", "[0.8, .inf]", "expected a number or a [low, high] pair"),
        ("target", "[true, 0.9]", "expected a number or a [low, high] pair"),
        ("target", '[0.8, "0.9"]', "expected a number or a [low, high] pair"),
        ("target", '"0.9"', "expected a number or a [low, high] pair"),
        ("target", ".inf", "expected a number or a [low, high] pair"),
        ("target", "[]", "expected a number or a [low, high] pair"),
        ("weight", ".inf", "finite number"),
        ("weight", ".nan", "finite number"),
        ("weight", "true", "valid number"),
        ("weight", '"2"', "valid number"),
        ("weight", "1" + "0" * 400, "valid number"),
        ("weight", "-1", "greater than 0"),
        ("baseline", ".nan", "finite number"),
        ("baseline", "false", "valid number"),
        ("kind", "grow", "'increase', 'decrease'"),
        ("kind", "null", "'increase', 'decrease'"),
    ],
)
def test_invalid_values_table(field: str, raw: str, says: str) -> None:
    text = dedent(
        """
        cycle: {name: q, start: 2026-10-01, end: 2026-12-31}
        objectives:
          - id: o
            title: t
            key_results:
              - {id: k, kind: manual, baseline: 0, target: 0.9, weight: 1}
        """
    )
    text = re.sub(rf"{field}: [^,}}]+", lambda _: f"{field}: {raw}", text, count=1)
    with pytest.raises(ConfigError) as info:
        parse_config(text, "kr.yaml")
    assert [(i.path, i.line) for i in info.value.issues] == [(f"objectives[0].key_results[0].{field}", 6)]
    assert says in info.value.issues[0].message


@pytest.mark.parametrize("title", ['"\\x24{OKR_ESCAPED}"', '"\\u0024{OKR_ESCAPED}"', '"$\\\n  {OKR_ESCAPED}"'])
def test_a_placeholder_written_with_an_escape_is_still_interpolated(title: str) -> None:
    """The loader skips interpolation when the text holds no ``${``; an escape can still write one (issue 18)."""
    text = (
        "version: 1\ncycle: {name: Q, start: 2026-10-01, end: 2026-12-31}\nobjectives:\n"
        f"  - id: o\n    title: {title}\n    key_results:\n      - {{id: k, kind: manual, target: 1}}\n"
    )
    assert "${" not in text
    with pytest.raises(ConfigError, match="environment variable OKR_ESCAPED is not set"):
        parse_config(text, environ={})
    assert parse_config(text, environ={"OKR_ESCAPED": "T"}).objectives[0].title == "T"
