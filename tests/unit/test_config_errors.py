"""Bad configs: each raises ``ConfigError`` (nothing else) naming the file, the key path, the line and the reason."""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from okrflow.okr_model.errors import ConfigError
from okrflow.okr_model.loader import load_config, parse_config

from tests.unit.test_config_loading import fake_registry

BASE = textwrap.dedent(
    """\
    version: 1
    cycle: {name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}
    timezone: Europe/Paris
    sources:
      warehouse: {type: fake, url: "sqlite://"}
    channels:
      ml-slack: {type: slack, url: "http://127.0.0.1:9/slack"}
    owners:
      alice: {channels: [ml-slack]}
    objectives:
      - id: company
        title: Become the AI-first leader
        owner: alice
      - id: support
        parent: company
        title: Resolve tickets without an agent
        key_results:
          - id: f1
            kind: increase
            baseline: 0.79
            target: [0.87, 0.92]
            metric: {source: warehouse, column: f1}
          - id: hours
            kind: decrease
            baseline: 4
            target: 2
            metric: {source: warehouse, column: hours}
    """
)


@dataclass(frozen=True)
class Expected:
    """One issue: its key path, the text on its line (found in the edited config), and words its message says."""

    path: str
    line_of: str | None
    says: tuple[str, ...]


@dataclass(frozen=True)
class Case:
    name: str
    edits: tuple[tuple[str, str], ...]
    issues: tuple[Expected, ...]
    resolver: bool | None = None  # None: the same issues with and without a resolver
    env_unset: tuple[str, ...] = field(default=())

    def text(self) -> str:
        text = BASE
        for old, new in self.edits:
            assert text.count(old) == 1, f"edit target {old!r} must occur exactly once"
            text = text.replace(old, new)
        return text


def issue(path: str, line_of: str | None, *says: str) -> Expected:
    return Expected(path, line_of, says)


KR0, KR1 = "objectives[1].key_results[0]", "objectives[1].key_results[1]"
CASES = [
    Case(
        "unknown top-level key",
        (("timezone: Europe/Paris", "timezon: Europe/Paris"),),
        (issue("timezon", "timezon:", "unknown key", "check its spelling"),),
    ),
    Case(
        "unknown key result key",
        (("    kind: decrease\n", "    kind: decrease\n        dirction: down\n"),),
        (issue(f"{KR1}.dirction", "dirction:", "unknown key"),),
    ),
    Case(
        "wrong type for target",
        (("target: 2\n", "target: two\n"),),
        (issue(f"{KR1}.target", "target: two", "expected a number or a [low, high] pair of numbers", "'two'"),),
    ),
    Case(
        "band with three numbers",
        (("target: [0.87, 0.92]", "target: [0.87, 0.9, 0.92]"),),
        (issue(f"{KR0}.target", "target: [0.87, 0.9, 0.92]", "[low, high] pair", "[0.87, 0.9, 0.92]"),),
    ),
    Case(
        "band with equal ends",
        (("target: [0.87, 0.92]", "target: [0.9, 0.9]"),),
        (issue(f"{KR0}.target", "target: [0.9, 0.9]", "band needs two different numbers"),),
    ),
    Case(
        "increase with a target below the baseline",
        (("baseline: 0.79", "baseline: 0.95"),),
        (issue(KR0, "- id: f1", "kind increase needs a target above the baseline 0.95", "0.87, 0.92"),),
    ),
    Case(
        "decrease with a target above the baseline",
        (("target: 2\n", "target: 5\n"),),
        (issue(KR1, "- id: hours", "kind decrease needs a target below the baseline 4.0"),),
    ),
    Case(
        "decrease without a baseline",
        (("        baseline: 4\n", ""),),
        (issue(KR1, "- id: hours", "kind decrease needs a baseline"),),
    ),
    Case(
        "missing target",
        (("        target: 2\n", ""),),
        (issue(f"{KR1}.target", "- id: hours", "required key is missing"),),
    ),
    Case(
        "zero weight",
        (("    kind: decrease\n", "    kind: decrease\n        weight: 0\n"),),
        (issue(f"{KR1}.weight", "weight: 0", "greater than 0"),),
    ),
    Case(
        "duplicate key result id",
        (("- id: hours", "- id: f1"),),
        (issue(f"{KR1}.id", "- id: f1\n        kind: decrease", "duplicate id 'f1'", "first used at " + KR0),),
    ),
    Case(
        "duplicate objective id",
        (("column: hours}\n", "column: hours}\n  - id: support\n    parent: company\n    title: again\n"),),
        (
            issue(
                "objectives[2].id",
                "- id: support\n    parent: company\n    title: again",
                "duplicate id 'support'",
                "first used at objectives[1]",
            ),
        ),
    ),
    Case(
        "parent that does not exist",
        (("parent: company", "parent: compnay"),),
        (issue("objectives[1].parent", "parent: compnay", "unknown parent objective 'compnay'", "company, support"),),
    ),
    Case(
        "a cycle in the objective tree",
        (("  - id: company\n", "  - id: company\n    parent: support\n"),),
        (
            issue("objectives[0].parent", "parent: support", "cycle", "company -> support -> company"),
            issue("objectives[1].parent", "parent: company", "cycle", "support -> company -> support"),
        ),
    ),
    Case(
        "unknown metric source",
        (("{source: warehouse, column: hours}", "{source: warehose, column: hours}"),),
        (issue(f"{KR1}.metric.source", "warehose", "unknown source 'warehose'", "known: warehouse"),),
    ),
    Case(
        "unknown quality gate source",
        (("    kind: increase\n", "    kind: increase\n        quality_gate: {source: gx, suite: tickets}\n"),),
        (issue(f"{KR0}.quality_gate.source", "quality_gate:", "unknown source 'gx'", "known: warehouse"),),
    ),
    Case(
        "unknown source type",
        (("type: fake", "type: fak"),),
        (issue("sources.warehouse.type", "type: fak", "unknown source type 'fak'", "known: fake"),),
        resolver=True,
    ),
    Case(
        "unknown key in a metric binding",
        (("column: f1}", "colum: f1}"),),
        (
            issue(f"{KR0}.metric.colum", "colum: f1", "unknown key"),
            issue(f"{KR0}.metric.column", "colum: f1", "required key is missing"),
        ),
        resolver=True,
    ),
    Case(
        "bad value in a source",
        (('url: "sqlite://"}', 'url: "sqlite://", timeout_s: -1}'),),
        (issue("sources.warehouse.timeout_s", "timeout_s: -1", "greater than 0", "-1"),),
    ),
    Case(
        "missing environment variable",
        (('url: "sqlite://"', 'url: "${OKR_TEST_UNSET_URL}"'),),
        (issue("sources.warehouse.url", "OKR_TEST_UNSET_URL", "environment variable OKR_TEST_UNSET_URL is not set"),),
        env_unset=("OKR_TEST_UNSET_URL",),
    ),
    Case(
        "invalid YAML",
        (("title: Resolve tickets without an agent", "title: Resolve: tickets without an agent"),),
        (issue("", "title: Resolve: tickets", "invalid YAML", "mapping values are not allowed here"),),
    ),
    Case(
        "impossible date",
        (("start: 2026-10-01", "start: 2026-10-32"),),
        (issue("", "start: 2026-10-32", "invalid YAML value", "day is out of range for month"),),
    ),
    Case(
        "cycle end before start",
        (("end: 2026-12-31", "end: 2026-09-30"),),
        (issue("cycle", "cycle:", "cycle end 2026-09-30 must be after its start 2026-10-01"),),
    ),
    Case(
        "review outside the cycle",
        (("end: 2026-12-31}", "end: 2026-12-31, review: 2027-01-15}"),),
        (issue("cycle", "cycle:", "review date 2027-01-15 must lie within the cycle 2026-10-01..2026-12-31"),),
    ),
    Case(
        "unknown time zone",
        (("timezone: Europe/Paris", "timezone: Mars/Olympus_Mons"),),
        (issue("timezone", "timezone:", "unknown time zone 'Mars/Olympus_Mons'", "IANA name"),),
    ),
    Case(
        "owner referencing an unknown channel",
        (("channels: [ml-slack]", "channels: [ml-slack, ml-mail]"),),
        (issue("owners.alice.channels[1]", "alice:", "unknown channel 'ml-mail'", "known: ml-slack"),),
    ),
    Case(
        "key result owner that is not declared",
        (("    kind: increase\n", "    kind: increase\n        owner: bob\n"),),
        (issue(f"{KR0}.owner", "owner: bob", "unknown owner 'bob'", "known: alice"),),
    ),
    Case(
        "unknown channel type",
        (("{type: slack, url:", "{type: slak, url:"),),
        (issue("channels.ml-slack", "type: slak", "'slak'", "'webhook', 'slack', 'email'"),),
    ),
    Case(
        "bad duration",
        (("timezone: Europe/Paris\n", "timezone: Europe/Paris\ndefaults: {alerts: {repeat_interval: 1 day}}\n"),),
        (issue("defaults.alerts.repeat_interval", "repeat_interval", "expected a duration such as 30s", "'1 day'"),),
    ),
    Case(
        "maintain kind with a band",
        (("kind: increase", "kind: maintain_above"),),
        (issue(KR0, "- id: f1", "kind maintain_above takes one threshold as target, not a band"),),
    ),
    Case(
        "manual kind with a metric",
        (("kind: decrease", "kind: manual"),),
        (issue(KR1, "- id: hours", "kind manual takes check-ins", "not a metric binding"),),
    ),
    Case(
        "metric kind without a metric",
        (("        metric: {source: warehouse, column: hours}\n", ""),),
        (issue(KR1, "- id: hours", "kind decrease needs a metric binding", "kind: manual"),),
    ),
    Case(
        "identifier with a space",
        (("- id: hours", "- id: resolution hours"),),
        (issue(f"{KR1}.id", "resolution hours", "should match pattern", "'resolution hours'"),),
    ),
    Case(
        "top level not a mapping",
        ((BASE, "- version: 1\n- objectives: []\n"),),
        (issue("", "- version: 1", "expected a mapping at the top level"),),
    ),
    Case(
        "no objectives",
        ((BASE[BASE.index("objectives:") :], ""),),
        (issue("objectives", "version: 1", "required key is missing"),),
    ),
    Case(
        "duplicate key",
        (("target: 2\n", "target: 2\n        target: 3\n"),),
        (issue(f"{KR1}.target", "target: 3", "duplicate key 'target' (first at line 26, again at line 27)"),),
    ),
    Case(
        "two duplicate keys are both reported",
        (
            ("title: Become the AI-first leader", "title: Become the AI-first leader\n    title: again"),
            ("{type: fake, url:", "{type: fake, type: fake, url:"),
        ),
        (
            issue("sources.warehouse.type", "type: fake, type: fake", "duplicate key 'type'"),
            issue("objectives[0].title", "title: again", "duplicate key 'title'"),
        ),
    ),
    Case(
        "date outside the range runs compute with",
        (("end: 2026-12-31", "end: 9999-12-31"),),
        (issue("cycle.end", "end: 9999-12-31", "date 9999-12-31 is outside 2000-01-01..2100-12-31"),),
    ),
    Case(
        "environment value spliced into SQL text",
        (("column: hours}", "column: hours, sql: \"SELECT h FROM t WHERE team = '${TEAM}'\"}"),),
        (issue(f"{KR1}.metric.sql", "${TEAM}", "${TEAM} would paste an environment value", "params: {team:"),),
    ),
    Case(
        "target too far from its baseline",
        (("baseline: 4\n", "baseline: 1.5e+308\n"), ("target: 2\n", "target: -1.5e+308\n")),
        (issue(KR1, "- id: hours", "too far apart", "overflows a float"),),
    ),
]


def line_number(text: str, fragment: str) -> int:
    start = text.index(fragment)
    assert text.count(fragment) == 1, f"{fragment!r} must occur once in the config"
    return text.count("\n", 0, start) + 1


def load_bad(tmp_path: Path, text: str, resolver: bool) -> ConfigError:
    path = tmp_path / "team-okrs.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_config(path, fake_registry() if resolver else None)
    except ConfigError as exc:
        assert type(exc) is ConfigError
        assert exc.file == str(path)
        return exc
    raise AssertionError("the config was accepted")


def test_the_base_config_is_valid() -> None:
    """Otherwise every case below could fail for the wrong reason."""
    assert [o.id for o in parse_config(BASE).objectives] == ["company", "support"]
    assert parse_config(BASE, resolver=fake_registry()).sources["warehouse"].type == "fake"


@pytest.mark.parametrize("resolver", [False, True], ids=["generic", "resolver"])
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_config(case: Case, resolver: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in case.env_unset:
        monkeypatch.delenv(name, raising=False)
    text = case.text()
    if case.resolver is not None and case.resolver != resolver:
        parse_config(text, resolver=fake_registry() if resolver else None)  # only the other step rejects it
        return
    error = load_bad(tmp_path, text, resolver)
    got = {(i.path, i.line): i.message for i in error.issues}
    want = {(e.path, line_number(text, e.line_of)) for e in case.issues}
    assert set(got) == want, str(error)
    rendered = str(error).splitlines()
    assert len(rendered) == len(case.issues)
    for expected in case.issues:
        line = line_number(text, expected.line_of)
        message = got[(expected.path, line)]
        for words in expected.says:
            assert words in message, f"{words!r} not in {message!r}"
        key = f" {expected.path}:" if expected.path else ""
        assert f"{error.file}:{line}:{key} {message}" in rendered


def test_all_issues_of_a_file_are_reported_at_once(tmp_path: Path) -> None:
    text = (
        BASE.replace("parent: company", "parent: nobody")
        .replace("channels: [ml-slack]", "channels: [pager]")
        .replace("- id: hours", "- id: f1")
    )
    error = load_bad(tmp_path, text, resolver=True)
    assert [i.path for i in error.issues] == [f"{KR1}.id", "objectives[1].parent", "owners.alice.channels[0]"]
    assert all(re.fullmatch(r".*team-okrs\.yaml:\d+: \S+: .+", line) for line in str(error).splitlines())


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert type(info.value) is ConfigError and info.value.file == str(path)
    assert str(info.value) == f"{path}: file not found (pass -c PATH or set OKRFLOW_CONFIG)"


def test_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    assert type(info.value) is ConfigError
    assert str(info.value).startswith(f"{tmp_path}: cannot read the file: ")


@pytest.mark.parametrize("text", ["", "just a string\n", "42\n", "null\n", "[1, 2]\n"], ids=repr)
def test_not_a_mapping(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "x.yaml")
    assert type(info.value) is ConfigError
    assert str(info.value) == "x.yaml:1: expected a mapping at the top level (version, cycle, objectives, ...)"
