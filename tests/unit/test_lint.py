"""``okrflow lint``: one minimal bad config per rule (and its fix), the shipped configs, the CLI, a property."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st
from okrflow.connectors.registry import Registry
from okrflow.okr_model.config import Config
from okrflow.okr_model.lint import _ACTIVITY_TITLE, RULES, Finding, lint
from okrflow.okr_model.loader import load_config, parse_config
from pydantic import ValidationError
from typer.testing import CliRunner

from okrflow.cli import app

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
SHIPPED = sorted(CONFIG_DIR.rglob("*.yaml"))
REGISTRY = Registry()

# -- a clean config, and one-line edits that break (or mend) exactly one rule ---------------------------------

SQL = {"source": "warehouse", "sql": "SELECT avg(csat) FROM tickets"}
CSAT = {"id": "csat", "title": "CSAT above 4.2/5", "kind": "maintain_above", "target": 4.2, "metric": SQL}
FCR = {"id": "fcr", "title": "First-contact resolution from 60% to 80%", "baseline": 60, "target": 80, "metric": SQL}
P95 = {
    "id": "p95",
    "title": "Model latency P95 under 200 ms",
    "kind": "maintain_below",
    "target": 0.2,
    "metric": {"source": "prom", "query": "histogram_quantile(0.95, rate(x_bucket[5m]))"},
}
F1 = {
    "id": "f1",
    "title": "Classifier F1 from 0.79 to 0.9",
    "baseline": 0.79,
    "target": 0.9,
    "metric": {"source": "tracking", "model": "clf", "alias": "champion", "name": "f1"},
}


def base() -> dict[str, Any]:
    """Company -> one team objective with a business KR: lints clean."""
    return {
        "version": 1,
        "cycle": {"name": "2026-Q4", "start": "2026-10-01", "end": "2026-12-31", "review": "2026-11-15"},
        "sources": {
            "warehouse": {"type": "sql", "url": "sqlite:///lint-test.db"},
            "prom": {"type": "prometheus", "url": "http://127.0.0.1:9090"},
            "tracking": {"type": "mlflow", "tracking_uri": "sqlite:///lint-test-mlflow.db"},
        },
        "objectives": [
            {"id": "company", "title": "Become the AI-first leader", "level": "company", "owner": "ceo"},
            {
                "id": "team-obj",
                "parent": "company",
                "team": "ml",
                "level": "team",
                "title": "Resolve support tickets faster",
                "owner": "lead",
                "key_results": [dict(CSAT)],
            },
        ],
    }


def load(data: dict[str, Any]) -> Config:
    """Through the real loader and registry, as ``okrflow lint`` does."""
    return parse_config(yaml.safe_dump(data, sort_keys=False), "lint-test.yaml", REGISTRY)


Edit = Callable[[dict[str, Any]], None]


def team(data: dict[str, Any]) -> dict[str, Any]:
    return data["objectives"][1]


def add_objective(data: dict[str, Any], oid: str, **fields: Any) -> None:
    data["objectives"].append({"id": oid, "title": f"Objective {oid}", "owner": "lead", **fields})


def team_objectives(n: int) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        for i in range(n):
            kr = {**CSAT, "id": f"csat-{i}"}
            add_objective(data, f"extra-{i}", parent="company", team="ml", key_results=[kr])

    return edit


def set_kr(**fields: Any) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        team(data)["key_results"] = [fields]

    return edit


def add_kr(**fields: Any) -> Edit:
    return lambda data: team(data)["key_results"].append(fields)


def drop_owners(kr_owner: str | None) -> Edit:
    def edit(data: dict[str, Any]) -> None:
        del team(data)["owner"]
        if kr_owner:
            team(data)["key_results"][0]["owner"] = kr_owner

    return edit


def cycle(**fields: Any) -> Edit:
    return lambda data: data["cycle"].update(fields)


def defaults_drift(data: dict[str, Any]) -> None:
    set_kr(**FCR)(data)
    add_kr(**F1)(data)
    data["defaults"] = {"drift": {"max_drop": 0.03}}


# (rule, edit that breaks it, edit that mends it, subject, words the message must contain)
CASES: list[tuple[str, Edit, Edit, str, list[str]]] = [
    ("too-many-objectives", team_objectives(5), team_objectives(4), "ml", ["ml has 6 objectives", "3-5"]),
    ("kr-no-owner", drop_owners(None), drop_owners("alice"), "csat", ["csat", "no owner", "team-obj"]),
    (
        "kr-no-baseline",
        add_kr(id="adoption", title="80% of agents use AI suggestions", kind="manual", target=80),
        add_kr(id="adoption", title="80% of agents use AI suggestions", kind="manual", baseline=20, target=80),
        "adoption",
        ["adoption", "no baseline"],
    ),
    (
        "activity-kr",
        add_kr(id="models", title="Build 5 models", kind="manual", baseline=0, target=5),
        add_kr(**FCR | {"id": "models", "title": "Launch 2 self-service flows lifting deflection 10% to 25%"}),
        "models",
        ["models", "Build 5 models", "activity"],
    ),
    (
        "activity-kr",
        add_kr(**F1 | {"id": "train", "title": "Train a model with 95% accuracy", "target": 0.95}),
        add_kr(**F1 | {"id": "train", "title": "Classifier accuracy from 0.79 to 0.95", "target": 0.95}),
        "train",
        ["train", "Train a model with 95% accuracy"],
    ),
    (
        "missing-the-user",
        set_kr(**P95),
        lambda d: (set_kr(**P95)(d), add_kr(**CSAT)(d)),
        "team-obj",
        ["team-obj", "p95"],
    ),
    (
        "missing-the-user",  # an individual's technical KR is fine when the objective above names the user...
        lambda d: add_objective(d, "eng-lead", parent="company", level="individual", key_results=[P95]),
        lambda d: add_objective(d, "eng-lead", parent="team-obj", level="individual", key_results=[P95]),
        "eng-lead",
        ["eng-lead", "missing the user"],
    ),
    (
        "missing-the-user",  # ...or when another objective of its team does
        lambda d: add_objective(d, "infra", parent="company", team="infra", key_results=[P95]),
        lambda d: add_objective(d, "infra", parent="company", team="ml", key_results=[P95]),
        "infra",
        ["infra", "p95", "business outcome"],
    ),
    (
        "orphan-objective",
        lambda d: add_objective(d, "lonely", team="data", level="team", key_results=[FCR]),
        lambda d: add_objective(d, "lonely", parent="company", team="data", level="team", key_results=[FCR]),
        "lonely",
        ["lonely", "no parent", "company"],
    ),
    (
        "orphan-objective",  # a root with a team: and no level: is a team objective
        lambda d: add_objective(d, "lonely", team="data", key_results=[FCR]),
        lambda d: add_objective(d, "lonely", team="data", level="company", key_results=[FCR]),
        "lonely",
        ["lonely", "team data"],
    ),
    (
        "false-precision",
        add_kr(**F1 | {"track": "aspirational"}),
        add_kr(**F1 | {"track": "aspirational", "target": [0.87, 0.92]}),
        "f1",
        ["f1", "point target 0.9", "false precision"],
    ),
    (
        "false-precision",  # no ML source, but the title says it is a model metric
        add_kr(id="acc", title="Accuracy from 80% to 95%", kind="manual", baseline=80, target=95, track="aspirational"),
        add_kr(id="acc", title="Accuracy from 80% to 95%", kind="manual", baseline=80, target=95),
        "acc",
        ["acc", "false precision"],
    ),
    (
        "ignoring-maintenance",
        lambda d: (set_kr(**FCR)(d), add_kr(**F1)(d)),
        lambda d: (set_kr(**FCR)(d), add_kr(**F1 | {"drift": {"max_drop": 0.03}})(d)),
        "team-obj",
        ["team-obj", "f1", "ignoring maintenance"],
    ),
    (
        "ignoring-maintenance",
        lambda d: (set_kr(**FCR)(d), add_kr(**F1)(d)),
        defaults_drift,
        "team-obj",
        ["maintenance"],
    ),
    (
        "cycle-length",
        cycle(end="2026-11-30", review="2026-10-31"),
        cycle(end="2026-11-11", review="2026-10-22"),  # six weeks
        "2026-Q4",
        ["2026-Q4", "61 days", "six weeks"],
    ),
    (
        "review-timing",
        cycle(review="2026-10-10"),
        cycle(review="2026-11-12"),
        "2026-Q4",
        ["2026-Q4", "2026-10-10", "week 6-7"],
    ),
    (
        "review-timing",
        cycle(review="2026-12-20"),
        cycle(review=None),  # defaults to the midpoint
        "2026-Q4",
        ["2026-12-20"],
    ),
    (
        "unmeasured-objective",
        lambda d: add_objective(d, "placeholder", parent="company", team="ml"),
        lambda d: add_objective(d, "placeholder", parent="company", team="ml", key_results=[FCR]),
        "placeholder",
        ["placeholder", "no key results"],
    ),
]


def edited(edit: Edit) -> Config:
    data = base()
    edit(data)
    return load(data)


def test_the_base_config_is_clean():
    assert lint(load(base())) == []


@pytest.mark.parametrize(("rule", "bad", "good", "subject", "words"), CASES, ids=[c[0] for c in CASES])
def test_rule_fires_on_its_bad_config_only(rule, bad, good, subject, words):
    findings = lint(edited(bad))
    assert [(f.rule, f.subject) for f in findings] == [(rule, subject)], findings
    finding = findings[0]
    for word in words:
        assert word in finding.message, (word, finding.message)
    assert finding.fix.strip()
    assert finding.severity == ("error" if rule == "orphan-objective" else "warning")
    assert lint(edited(good)) == []


def unvalidated(kr_id: str, **update: Any) -> Config:
    """The schema refuses these KRs; a config built in code can still hold one (model_copy skips validation)."""
    data = base()
    add_kr(**FCR)(data)
    config = load(data)
    objectives = [
        o.model_copy(
            update={"key_results": [k.model_copy(update=update) if k.id == kr_id else k for k in o.key_results]}
        )
        for o in config.objectives
    ]
    return config.model_copy(update={"objectives": objectives})


@pytest.mark.parametrize(
    ("rule", "update", "words"),
    [("kr-no-baseline", {"baseline": None}, ["fcr", "kind increase"]), ("kr-no-metric", {"metric": None}, ["fcr"])],
)
def test_rules_the_schema_already_enforces(rule, update, words):
    findings = lint(unvalidated("fcr", **update))
    assert [(f.rule, f.subject) for f in findings] == [(rule, "fcr")]
    assert all(word in findings[0].message for word in words)
    assert lint(unvalidated("fcr")) == []


def test_milestone_and_maintain_kinds_need_no_baseline():
    data = base()
    add_kr(id="models-live", title="3 models serving traffic", kind="milestone", target=3, metric=SQL)(data)
    assert lint(load(data)) == []


@pytest.mark.parametrize(
    ("title", "activity"),
    [
        ("Build 5 models", True),
        ("Train a model with 95% accuracy", True),
        ("train an ML model", True),
        ("Deploy three models to production", True),
        ("Shipped 2 features", True),
        ("Implement a new churn model", True),
        ("Define and validate 3 AI feature specs", False),
        ("Ship AI features that drive retention", False),
        ("Training time from 12 h to under 5 h", False),
        ("Builder adoption from 10% to 40%", False),
        ("3 production-ready feature pipelines", False),
    ],
)
def test_activity_titles(title, activity):
    assert bool(_ACTIVITY_TITLE.match(title)) is activity


DEPLOYS = {
    "id": "deploys",
    "title": "Deploy 3 new production models with zero rollback incidents",
    "baseline": 0,
    "target": 3,
    "metric": {"source": "tracking", "model": "clf", "alias": "champion", "measure": "deployments"},
}


@pytest.mark.parametrize(
    "kr",
    [
        DEPLOYS,  # the seeds' MLOps KR: deployment frequency of the production alias
        DEPLOYS | {"metric": DEPLOYS["metric"] | {"alias": "production"}},
        {  # lead time to production, as the activity regex reads the title
            **DEPLOYS,
            "title": "Deploy a model to production in 12 hours, not 5 days",
            "kind": "decrease",
            "baseline": 120,
            "target": 12,
            "metric": DEPLOYS["metric"] | {"measure": "time_to_production", "units": "hours"},
        },
    ],
)
def test_delivery_figures_of_a_production_alias_are_outcomes(kr):
    """Deploys, rollbacks and lead time of what holds a production alias are delivery outcomes (DORA), not activity."""
    data = base()
    add_kr(**kr)(data)
    assert lint(load(data)) == []


@pytest.mark.parametrize(
    ("kr", "why"),
    [
        (DEPLOYS | {"metric": DEPLOYS["metric"] | {"alias": "challenger"}}, "a challenger is not in production"),
        (
            DEPLOYS
            | {"title": "Launch 12 model experiments", "target": 12}
            | {"metric": {"source": "tracking", "experiment": "clf", "measure": "runs"}},
            "runs started are work done",
        ),
        (DEPLOYS | {"kind": "manual", "metric": None}, "a check-in counts whatever someone calls a deployment"),
    ],
)
def test_activity_counts_stay_activity(kr, why):
    data = base()
    add_kr(**{k: v for k, v in kr.items() if v is not None})(data)
    assert [(f.rule, f.subject) for f in lint(load(data))] == [("activity-kr", "deploys")], why


def test_rules_are_registered_once_with_a_description_and_a_test():
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert all(r.severity in ("error", "warning") and r.description for r in RULES)
    tested = {c[0] for c in CASES} | {"kr-no-metric"}
    assert set(ids) == tested


def test_findings_come_in_rule_order_and_serialise():
    data = base()
    add_objective(data, "lonely", team="data", level="team", key_results=[FCR])
    cycle(review="2026-10-05")(data)
    findings = lint(load(data))
    assert [f.rule for f in findings] == ["orphan-objective", "review-timing"]
    assert findings[0].as_dict() == {
        "rule": "orphan-objective",
        "severity": "error",
        "subject": "lonely",
        "message": findings[0].message,
        "fix": "set parent: to the company objective it serves (company)",
    }


# -- every config we ship is an example to copy: it lints clean ---------------------------------------------


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(CONFIG_DIR)))
def test_shipped_config_lints_clean(path):
    findings = lint(load_config(path, Registry()))
    assert findings == [], "\n".join(f"{f.rule}: {f.subject}: {f.message}" for f in findings)


def test_the_seed_scenarios_ship():
    names = {p.name for p in SHIPPED}
    assert {"okr-cascade.yaml", "model-confidence-bands.yaml", "data-quality-drift.yaml"} <= names


# -- the CLI: errors gate, warnings inform ------------------------------------------------------------------

runner = CliRunner()


def write(tmp_path: Path, edit: Edit) -> Path:
    data = base()
    edit(data)
    path = tmp_path / "okrs.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_cli_exits_1_on_an_error_finding(tmp_path):
    path = write(tmp_path, lambda d: add_objective(d, "lonely", team="data", level="team", key_results=[FCR]))
    result = runner.invoke(app, ["-c", str(path), "lint"])
    assert result.exit_code == 1, result.output
    printed = " ".join(result.stdout.split())  # rich wraps long lines at 80 columns (see the report)
    assert "error: orphan-objective: lonely: objective lonely (level team) has no parent" in printed
    assert "(fix: set parent: to the company objective it serves (company))" in printed


def test_cli_exits_0_on_warnings_only(tmp_path):
    path = write(tmp_path, drop_owners(None))
    result = runner.invoke(app, ["-c", str(path), "lint"])
    assert result.exit_code == 0, result.output
    printed = " ".join(result.stdout.split())
    assert printed.startswith("warning: kr-no-owner: csat: key result csat ('CSAT above 4.2/5') has no owner")


def test_cli_clean_config(tmp_path):
    result = runner.invoke(app, ["-c", str(write(tmp_path, lambda d: None)), "lint"])
    assert result.exit_code == 0
    assert "no findings" in result.stdout


def test_cli_json(tmp_path):
    def edit(data: dict[str, Any]) -> None:
        drop_owners(None)(data)
        add_objective(data, "lonely", team="data", level="team", owner="x", key_results=[FCR])

    result = runner.invoke(app, ["-c", str(write(tmp_path, edit)), "lint", "--format", "json"])
    assert result.exit_code == 1
    rows = json.loads(result.stdout)
    assert [(r["rule"], r["severity"], r["subject"]) for r in rows] == [
        ("kr-no-owner", "warning", "csat"),
        ("orphan-objective", "error", "lonely"),
    ]
    assert all(set(r) == {"rule", "severity", "subject", "message", "fix"} for r in rows)
    assert all(r["message"] and r["fix"] for r in rows)


# -- property: lint never raises on a valid config, and every finding names its subject ---------------------

TITLES = [None, "Build 5 models", "Train a model with 95% accuracy", "P95 latency", "CSAT", "F1", "Revenue", "Uptime"]
SOURCES = ["warehouse", "prom", "tracking"]


@st.composite
def configs(draw: st.DrawFn) -> Config:
    data = base()
    length = draw(st.integers(1, 200))
    start = date(2026, 1, 1)
    data["cycle"] = {"name": "c", "start": str(start), "end": str(start + timedelta(length))}
    if draw(st.booleans()):
        data["cycle"]["review"] = str(start + timedelta(draw(st.integers(0, length))))
    objectives = []
    for i in range(draw(st.integers(1, 9))):
        objective: dict[str, Any] = {"id": f"o{i}", "title": f"objective {i}"}
        if i and draw(st.booleans()):
            objective["parent"] = f"o{draw(st.integers(0, i - 1))}"
        for key, values in (("team", ["ml", "data"]), ("level", ["company", "team", "individual"]), ("owner", ["a"])):
            if draw(st.booleans()):
                objective[key] = draw(st.sampled_from(values))
        krs = []
        for k in range(draw(st.integers(0, 3))):
            kind = draw(
                st.sampled_from(["increase", "decrease", "maintain_above", "maintain_below", "milestone", "manual"])
            )
            baseline = draw(st.floats(-10, 10, allow_nan=False))
            if kind not in ("increase", "decrease") and draw(st.booleans()):
                baseline = None
            step = draw(st.floats(0.5, 5))
            sign = -1 if kind == "decrease" else 1
            origin = baseline if baseline is not None else 0.0
            target: Any = origin + sign * step
            if kind not in ("maintain_above", "maintain_below") and draw(st.booleans()):
                target = sorted([target, target + sign * step])
            kr: dict[str, Any] = {"id": f"o{i}k{k}", "kind": kind, "target": target, "baseline": baseline}
            kr["title"] = draw(st.sampled_from(TITLES))
            kr["track"] = draw(st.sampled_from(["committed", "aspirational"]))
            if kind != "manual":
                kr["metric"] = {"source": draw(st.sampled_from(SOURCES))}
            if draw(st.booleans()):
                kr["drift"] = {"max_drop": 0.03}
            krs.append(kr)
        objective["key_results"] = krs
        objectives.append(objective)
    data["objectives"] = objectives
    try:
        return Config.model_validate(copy.deepcopy(data))  # generic sources: lint must not need the connectors
    except ValidationError:
        reject()


@given(configs())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_lint_never_raises_and_names_its_subjects(config):
    findings = lint(config)
    severities = {r.id: r.severity for r in RULES}
    for finding in findings:
        assert isinstance(finding, Finding)
        assert finding.severity == severities[finding.rule]
        assert finding.subject and finding.subject in finding.message
        assert finding.fix
    orphans = {f.subject for f in findings if f.rule == "orphan-objective"}
    expected = {
        o.id
        for o in config.objectives
        if o.parent is None and (o.level in ("team", "individual") or (o.level is None and o.team is not None))
    }
    assert orphans == expected
