"""Hostile config files: each is refused by ``okrflow validate`` with exit 2, the file and what was exceeded,
quickly, without a traceback (issue 11). In-process cases check the messages and that real configs still load.

The CLI cases run ``okrflow`` in a child process under a 2 GiB address-space limit and a timeout: before the
limits existed, some of these files segfaulted the interpreter or ran for minutes.
"""

from __future__ import annotations

import math
import os
import resource
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from okrflow.connectors.base import ConnectorContext
from okrflow.connectors.registry import default_registry
from okrflow.connectors.sql import SqlConnector
from okrflow.okr_model.config import KeyResult
from okrflow.okr_model.errors import ConfigError, ScoringError
from okrflow.okr_model.loader import load_config, parse_config
from okrflow.okr_model.rollup import weighted_mean
from okrflow.okr_model.scoring import progress
from okrflow.okr_model.types import Band

REPO = Path(__file__).resolve().parents[2]
BASE = textwrap.dedent(
    """\
    version: 1
    cycle: {name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}
    sources:
      warehouse: {type: sql, url: "sqlite:///warehouse.db"}
    objectives:
      - id: support
        title: Resolve tickets without an agent
        key_results:
          - id: hours
            kind: decrease
            baseline: 4
            target: 2
            metric: {source: warehouse, sql: "SELECT avg(hours) FROM tickets"}
    """
)
KR = "objectives[0].key_results[0]"


def billion_laughs() -> str:
    """The classic: nine anchors, each a list of nine aliases of the previous one (9^9 strings once expanded)."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n" + BASE


def many_key_results(count: int, metric: str = '{{source: warehouse, sql: "SELECT {i}"}}') -> str:
    kr = "      - id: kr-{i}\n        kind: increase\n        baseline: 0\n        target: 1\n        metric: " + metric
    return BASE.replace(
        "    key_results:\n", "    key_results:\n" + "".join(kr.format(i=i) + "\n" for i in range(count))
    )


@dataclass(frozen=True)
class Hostile:
    name: str
    write: Callable[[Path], Path]
    says: tuple[str, ...]


def text_file(text: str) -> Callable[[Path], Path]:
    def write(directory: Path) -> Path:
        path = directory / "okrflow.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def bytes_file(data: bytes) -> Callable[[Path], Path]:
    def write(directory: Path) -> Path:
        path = directory / "okrflow.yaml"
        path.write_bytes(data)
        return path

    return write


def fifty_megabytes(directory: Path) -> Path:
    path = directory / "okrflow.yaml"
    path.write_text(many_key_results(420_000))  # ~56 MB of ordinary key results
    return path


def dev_zero(directory: Path) -> Path:
    return Path("/dev/zero")


HOSTILE = [
    Hostile("billion laughs", text_file(billion_laughs()), ("aliases expand to more than 100,000 values", "the limit")),
    Hostile("30,000 levels", text_file("x: " + "[" * 30_000 + "]" * 30_000 + "\n" + BASE), ("nested deeper than 64",)),
    Hostile("500 levels", text_file("x: " + "[" * 500 + "]" * 500 + "\n" + BASE), ("nested deeper than 64",)),
    Hostile(
        "500 levels of mappings",
        text_file("x:" + " {a:" * 500 + " 1" + "}" * 500 + "\n" + BASE),
        ("nested deeper than 64",),
    ),
    Hostile("recursive alias", text_file("x: &x [*x]\n" + BASE), ("alias *x is inside the node &x", "recursive")),
    Hostile("recursive alias in a mapping", text_file("x: &x {a: 1, b: *x}\n" + BASE), ("recursive",)),
    Hostile("50 MB", fifty_megabytes, ("larger than the 2 MiB limit", "OKRFLOW_MAX_CONFIG_BYTES")),
    Hostile("/dev/zero", dev_zero, ("larger than the 2 MiB limit",)),
    Hostile(
        "latin-1",
        bytes_file(BASE.replace("agent", "agent café").encode("latin-1")),
        ("not UTF-8: byte 0xe9 at byte offset", "save the file as UTF-8"),
    ),
    Hostile("UTF-16", bytes_file(BASE.encode("utf-16")), ("UTF-16", "save it as UTF-8")),
    Hostile("UTF-16 without a byte-order mark", bytes_file(BASE.encode("utf-16-le")), ("NUL byte at byte offset 1",)),
    Hostile("binary", bytes_file(bytes(range(256)) * 4), ("NUL byte at byte offset 0", "binary")),
    Hostile("binary without NUL bytes", bytes_file(bytes(range(1, 256)) * 4), ("not UTF-8: byte 0x80",)),
    Hostile(
        "cycle end 9999-12-31",
        text_file(BASE.replace("end: 2026-12-31", "end: 9999-12-31")),
        ("cycle.end", "9999-12-31", "2000-01-01..2100-12-31"),
    ),
    Hostile(
        "duplicate target",
        text_file(BASE.replace("target: 2\n", "target: 2\n        target: 3\n")),
        (f"{KR}.target", "duplicate key 'target' (first at line 12, again at line 13)"),
    ),
    Hostile(
        "overflowing target span",
        text_file(BASE.replace("baseline: 4", "baseline: 1.0e+308").replace("target: 2\n", "target: -1.0e+308\n")),
        (f"{KR}:", "too far apart"),
    ),
    Hostile(
        "a 400 KB sexagesimal number (quadratic int())",
        text_file(BASE.replace("target: 2\n", "target: 1" + ":1" * 100_000 + "\n")),
        (f"{KR}.target", "a value of more than 100,000 characters"),
    ),
    Hostile(
        "a 1.5 MB SQL query (the SQL check needs about 10 s and 1 GB for it)",
        text_file(BASE.replace("avg(hours) FROM tickets", "1+" * 750_000 + "1")),
        (f"{KR}.metric.sql", "a value of more than 100,000 characters"),
    ),
    Hostile(
        "environment value spliced into SQL",
        text_file(BASE.replace("FROM tickets", "FROM tickets WHERE team = '${TEAM}'")),
        (f"{KR}.metric.sql", "${TEAM}", "params:"),
    ),
]


def run_okrflow(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> tuple[int, str, float]:
    """(exit code, stderr + stdout, CPU seconds) of ``okrflow ARGS`` in a child under 2 GiB, killed after ``timeout``.

    CPU time, not wall time: tests share a busy machine. A refusal costs about 0.3 s, mostly interpreter start-up.
    """

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # children waited for: this one, once it ends
        return usage.ru_utime + usage.ru_stime

    started = cpu()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "okrflow.cli", *args],
            capture_output=True,
            text=True,
            errors="replace",
            cwd=cwd,
            env={**os.environ, "PYTHONPATH": str(REPO), "TEAM": "' OR '1'='1", **(env or {})},
            preexec_fn=limit_memory,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return -1, f"timed out after {timeout:g} s", timeout
    return done.returncode, done.stderr + done.stdout, cpu() - started


@pytest.mark.parametrize("case", HOSTILE, ids=[c.name for c in HOSTILE])
def test_validate_refuses_a_hostile_file_quickly(case: Hostile, tmp_path: Path) -> None:
    path = case.write(tmp_path)
    code, output, seconds = run_okrflow(["-c", str(path), "validate"], tmp_path)
    assert code == 2, output[-2000:]
    assert "Traceback" not in output, output[-2000:]
    assert output.startswith(f"invalid config:\n{path}"), output[:500]
    for words in case.says:
        assert words in output, output[:1000]
    assert seconds < 1.5  # CPU seconds


def test_placeholders_are_found_in_linear_time(tmp_path: Path) -> None:
    """``${A:-`` repeated without a ``}`` made the ``${VAR:-default}`` regex backtrack quadratically (hours)."""
    path = tmp_path / "okrflow.yaml"
    title = "${A:-" * 19_000  # 95 KB: under the value limit; about 35 s with the old regex
    path.write_text(BASE.replace("Resolve tickets without an agent", title) + "channels: {a: {type: slack, url: x}}\n")
    code, output, seconds = run_okrflow(["-c", str(path), "validate"], tmp_path, timeout=20)
    assert code == 2 and "channels.a.url" in output, output[-500:]  # the file is read to its end: the later issue
    assert seconds < 1.5  # CPU seconds


def test_placeholder_defaults_keep_their_meaning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("A", raising=False)
    monkeypatch.setenv("B", "b")
    for raw, expected in [
        ("${A:-x}", "x"),
        ("${A:-}", ""),
        ("${A:-${B}", "${B"),  # a default ends at the first }; placeholders do not nest
        ("${A:-p$$w{rd}!", "p$$w{rd!"),
        ("${B}${A:-c}${B}", "bcb"),
        ("${A:-x", "${A:-x"),  # unclosed: left as written
        ("$${B}", "$b"),
    ]:
        text = BASE.replace("Resolve tickets without an agent", f'"{raw}"')
        assert parse_config(text).objectives[0].title == expected, raw


def objective_chain(length: int) -> str:
    """``length`` objectives, each the parent of the next, under the base config's objective."""
    return BASE + "".join(
        f"  - {{id: o{i}, title: t, parent: {'support' if i == 0 else f'o{i - 1}'}}}\n" for i in range(length)
    )


def test_a_deep_objective_tree_is_refused_quickly(tmp_path: Path) -> None:
    """3,000 objectives in one parent chain (150 KB): validate walked every chain to the root (minutes),
    and a run's rollup recursed per level (RecursionError)."""
    path = tmp_path / "okrflow.yaml"
    path.write_text(objective_chain(3000))
    code, output, seconds = run_okrflow(["-c", str(path), "validate"], tmp_path, timeout=20)
    assert code == 2, output[-500:]
    assert output.count("deeper than") == 1 and "objectives[32].parent" in output  # o31 is the 33rd level
    assert seconds < 1.5  # CPU seconds


def test_objective_tree_depth_limit_is_exact() -> None:
    assert len(parse_config(objective_chain(31)).objectives) == 32  # 32 levels
    error = loads(objective_chain(32))
    assert [(i.path, i.message) for i in error.issues] == [
        (
            "objectives[32].parent",
            "the objective tree is deeper than 32 levels here (company -> team -> individual is 3)",
        )
    ]


def test_a_long_cycle_is_reported_once_per_member() -> None:
    text = objective_chain(100).replace("parent: support}", "parent: o99}")  # o0 -> o99 -> ... -> o0
    error = loads(text)
    assert len(error.issues) == 100 and all("the objective tree has a cycle: " in i.message for i in error.issues)
    assert error.issues[0].message.startswith("the objective tree has a cycle: o0 -> o99 -> o98 -> ")


def naive_shape(parents: dict[str, str | None]) -> tuple[dict[str, int], dict[str, str]]:
    """The walk-every-chain definition that ``tree_shape`` must equal."""
    depth, loops = {}, {}
    for start in parents:
        chain, node = [start], parents[start]
        while node is not None and node in parents and node not in chain:
            chain.append(node)
            node = parents[node]
        if node is not None and node in chain:
            depth[start] = -1
            if node == start:
                loops[start] = " -> ".join([*chain, start])
        else:
            depth[start] = len(chain)
    return depth, loops


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from([f"o{i}" for i in range(8)]), st.sampled_from([None, "gone", *[f"o{i}" for i in range(8)]])
    )
)
def test_tree_shape_matches_walking_every_chain(parents: dict[str, str | None]) -> None:
    from okrflow.okr_model.rollup import (
        tree_shape,  # new with the issue-11 work (imported here: the file runs on old code)
    )

    assert tree_shape(parents) == naive_shape(parents)


def test_many_unknown_keys_are_reported_in_linear_time(tmp_path: Path) -> None:
    """Each issue's line was found by a linear search of its mapping: 20,000 unknown keys took 6 s of CPU."""
    path = tmp_path / "okrflow.yaml"
    path.write_text(BASE + "".join(f"k{i}: 1\n" for i in range(20_000)))
    code, output, seconds = run_okrflow(["-c", str(path), "validate"], tmp_path, timeout=30)
    assert code == 2 and output.endswith(f"{path}: ... and 19,900 more issues (fix these first)\n"), output[-300:]
    assert output.count("unknown key") == 100
    assert seconds < 1.5  # CPU seconds


# -- the limits, in process ---------------------------------------------------------------------------------


def loads(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "hostile.yaml")
    return info.value


def test_limits_leave_room_for_real_configs() -> None:
    """1,000 KRs sharing one anchored metric (1,000 aliases) and deep-ish params load; the limits are far away."""
    text = many_key_results(1000, "*m").replace(
        "key_results:\n",
        "key_results:\n      - {id: first, kind: increase, baseline: 0, target: 1, metric: &m "
        '{source: warehouse, sql: "SELECT 0", params: {a: {b: {c: [[[[1]]]]}}}}}\n',
        1,
    )
    config = parse_config(text, "big.yaml")
    assert len(config.key_results()) == 1002
    assert sum(1 for _, kr in config.key_results() if kr.metric.model_extra.get("sql") == "SELECT 0") == 1001


def parser(text: str) -> yaml.CSafeLoader:
    return yaml.CSafeLoader(text)


@pytest.mark.parametrize(("depth", "refused"), [(64, False), (65, True)])
def test_depth_limit_is_exact(depth: int, refused: bool) -> None:
    from okrflow.okr_model.yaml_safety import scan

    assert bool(scan(parser("[" * depth + "]" * depth))) is refused


def test_alias_count_limit() -> None:
    from okrflow.okr_model.yaml_safety import MAX_ALIASES, scan

    within = "a: &a 1\nb: [" + ", ".join(["*a"] * MAX_ALIASES) + "]\n"
    assert scan(parser(within)) == []
    over = "a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n"
    [finding] = scan(parser(over))
    assert f"more than {MAX_ALIASES:,} aliases" in finding.message and finding.loc == ("b",)


def test_expanded_size_is_counted_without_expanding() -> None:
    """Each level multiplies by 10 (level 4 is 11,111 values); 100,000 values from aliases are passed at level 4."""
    from okrflow.okr_model.yaml_safety import MAX_ALIAS_VALUES, scan

    lines = ["l0: &l0 [0,0,0,0,0,0,0,0,0,0]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 9)]
    findings = scan(parser("\n".join(lines)))
    assert [(f.loc, f.line) for f in findings] == [(("l4",), 5)]
    assert f"aliases expand to more than {MAX_ALIAS_VALUES:,} values" in findings[0].message


def test_number_length_limit() -> None:
    from okrflow.okr_model.yaml_safety import MAX_NUMBER_CHARS, scan

    assert scan(parser("x: " + "1" * MAX_NUMBER_CHARS)) == []
    assert scan(parser("x: '" + "1" * 5000 + "'")) == []  # quoted: a string
    assert scan(parser("x: " + "a" * 5000)) == []  # not a number
    [finding] = scan(parser("x: [" + "1" * (MAX_NUMBER_CHARS + 1) + "]"))
    assert (finding.loc, finding.line) == (("x", 0), 1)
    [finding] = scan(parser("x: 1" + ":1" * 1000))
    assert "a number written with more than 1,000 characters" in finding.message


def test_value_length_limit() -> None:
    from okrflow.okr_model.yaml_safety import MAX_VALUE_CHARS, scan

    assert scan(parser("x: '" + "a" * MAX_VALUE_CHARS + "'")) == []
    [finding] = scan(parser("x: {sql: 'SELECT " + "1+" * MAX_VALUE_CHARS + "1'}"))
    assert finding.loc == ("x", "sql") and f"more than {MAX_VALUE_CHARS:,} characters" in finding.message


def test_size_limit_can_be_raised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "okrflow.yaml"
    path.write_text(BASE)
    monkeypatch.setenv("OKRFLOW_MAX_CONFIG_BYTES", "100")
    with pytest.raises(ConfigError, match=r"larger than the 100 bytes limit .* OKRFLOW_MAX_CONFIG_BYTES=BYTES"):
        load_config(path)
    monkeypatch.setenv("OKRFLOW_MAX_CONFIG_BYTES", str(len(BASE)))
    assert load_config(path).objectives[0].id == "support"
    with pytest.raises(ConfigError, match="larger than the"):
        parse_config(BASE + "# one byte more\n", "text.yaml")
    monkeypatch.setenv("OKRFLOW_MAX_CONFIG_BYTES", "5MB")
    with pytest.raises(ConfigError, match=r"OKRFLOW_MAX_CONFIG_BYTES must be a positive number of bytes \(got '5MB'\)"):
        load_config(path)


def test_utf8_with_a_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "okrflow.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.replace("agent", "agent café").encode())
    assert load_config(path).objectives[0].title == "Resolve tickets without an agent café"


def test_latin1_error_names_offset_and_line(tmp_path: Path) -> None:
    path = tmp_path / "okrflow.yaml"
    data = BASE.replace("agent", "agent café").encode("latin-1")
    path.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [issue] = info.value.issues
    assert issue.line == 7 and f"byte offset {data.index(0xE9)}" in issue.message


def test_a_syntax_error_deep_down_is_reported_not_a_crash() -> None:
    """The pure-Python parser rewords syntax errors; it must not recurse (an unclosed 60-level list)."""
    error = loads("x: " + "[" * 60 + "\n" + BASE)
    assert error.issues[0].message.startswith("invalid YAML")


# -- duplicate keys -----------------------------------------------------------------------------------------


def test_duplicate_keys_name_both_lines_and_every_one_is_reported() -> None:
    text = BASE.replace("target: 2\n", "target: 2\n        target: 3\n").replace(
        "  warehouse: {type: sql,", "  warehouse: {type: sql, type: sql,"
    )
    error = loads(text)
    assert [(i.path, i.line) for i in error.issues] == [("sources.warehouse.type", 4), (f"{KR}.target", 13)]
    assert "duplicate key 'type' (first at line 4, again at line 4)" in error.issues[0].message
    assert "YAML would silently keep only the last value" in error.issues[1].message


def test_quoted_and_plain_spellings_of_a_key_are_the_same_key() -> None:
    error = loads(BASE.replace("target: 2\n", 'target: 2\n        "target": 3\n'))
    assert [i.path for i in error.issues] == [f"{KR}.target"]


def test_merge_keys_may_override_what_they_merge() -> None:
    text = BASE.replace(
        "      - id: hours\n        kind: decrease\n",
        "      - &base {id: base, kind: decrease, baseline: 4, target: 2, metric: {source: warehouse, sql: 'SELECT 1'}}\n"
        "      - <<: *base\n        id: hours\n        kind: decrease\n",
    )
    config = parse_config(text)
    assert [kr.id for _, kr in config.key_results()] == ["base", "hours"]


# -- numbers in scientific notation --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1e-3", 0.001), ("1E5", 1e5), (".5e-2", 0.005), ("-.5", -0.5), ("1.5e3", 1500.0), ("+2e0", 2.0), ("5e+1", 50.0)],
)
def test_scientific_notation_is_a_number(raw: str, expected: float) -> None:
    text = BASE.replace("kind: decrease", "kind: manual").replace("baseline: 4", "baseline: -1000000")
    text = text.replace("target: 2\n", f"target: {raw}\n").replace(
        '        metric: {source: warehouse, sql: "SELECT avg(hours) FROM tickets"}\n', ""
    )
    [(_, kr)] = parse_config(text).key_results()
    assert kr.target == expected and type(kr.target) is float


def test_quoted_scientific_notation_stays_a_string() -> None:
    error = loads(BASE.replace("target: 2\n", 'target: "1e-3"\n'))
    assert "expected a number" in error.issues[0].message


# -- dates a run can compute with ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cycle", "path"),
    [
        ("{name: q, start: 2026-10-01, end: 9999-12-31}", "cycle.end"),
        ("{name: q, start: 0001-01-01, end: 2026-12-31}", "cycle.start"),
        ("{name: q, start: 2026-10-01, end: 2101-01-01}", "cycle.end"),
        ("{name: q, start: 2026-10-01, end: 2026-12-31, review: 9999-01-01}", "cycle.review"),
    ],
)
def test_dates_outside_2000_to_2100_are_refused(cycle: str, path: str) -> None:
    error = loads(BASE.replace("{name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}", cycle))
    assert path in [i.path for i in error.issues]
    assert "outside 2000-01-01..2100-12-31" in str(error)


def test_abandoned_date_is_in_range_too() -> None:
    error = loads(
        BASE.replace("kind: decrease\n", "kind: decrease\n        abandoned: {reason: r, since: 9999-12-31}\n")
    )
    assert [i.path for i in error.issues] == [f"{KR}.abandoned.since"]
    assert "date 9999-12-31 is outside 2000-01-01..2100-12-31" in error.issues[0].message


def test_run_at_the_edge_of_the_range_works(tmp_path: Path) -> None:
    """The last allowed cycle end is evaluated by ``okrflow run`` without overflowing datetime arithmetic."""
    sqlite3.connect(tmp_path / "warehouse.db").executescript(
        "CREATE TABLE tickets (hours REAL); INSERT INTO tickets VALUES (3.0);"
    )
    path = tmp_path / "okrflow.yaml"
    path.write_text(BASE.replace("start: 2026-10-01, end: 2026-12-31", "start: 2100-10-01, end: 2100-12-31"))
    code, output, _ = run_okrflow(
        ["-c", str(path), "run", "--at", "2100-12-31T23:59:59+00:00", "--format", "json"], tmp_path
    )
    assert code == 0, output[-2000:]
    assert '"score": 0.5' in output


# -- numbers too large for the scoring arithmetic -------------------------------------------------------------


def test_a_target_span_that_overflows_is_refused_at_validate() -> None:
    error = loads(BASE.replace("baseline: 4", "baseline: 1.0e+308").replace("target: 2\n", "target: -1.0e+308\n"))
    assert [i.path for i in error.issues] == [KR]
    assert "too far apart" in error.issues[0].message


def test_a_band_span_that_overflows_is_refused_at_validate() -> None:
    error = loads(
        BASE.replace("kind: decrease", "kind: increase")
        .replace("baseline: 4", "baseline: -1.0e+308")
        .replace("target: 2\n", "target: [1.0e+308, 1.5e+308]\n")
    )
    assert "too far apart" in str(error)


def test_large_but_finite_targets_still_score() -> None:
    text = BASE.replace("baseline: 4", "baseline: 0").replace("kind: decrease", "kind: increase")
    [(_, kr)] = parse_config(text.replace("target: 2\n", "target: 1.0e+308\n")).key_results()
    assert progress(kr, 0.5e308) == pytest.approx(0.5)


def test_scoring_refuses_a_non_finite_intermediate_result() -> None:
    """A KR built around validation (``model_construct``) cannot make scoring return a silent 0.0."""
    kr = KeyResult.model_construct(id="k", kind="increase", baseline=-1e308, target=1e308)
    with pytest.raises(ScoringError, match="not a finite number"):
        progress(kr, 0.0)
    band = KeyResult.model_construct(id="k", kind="increase", baseline=-1e308, target=Band(1e308, 1.5e308))
    with pytest.raises(ScoringError, match="not a finite number"):
        progress(band, 0.0)


def test_rollup_with_huge_weights_does_not_overflow() -> None:
    assert weighted_mean([(1.0, 1e308), (0.0, 1e308)]) == 0.5
    assert weighted_mean([(0.8, 1.7e308), (0.2, 1.7e308), (0.5, 1.7e308)]) == pytest.approx(0.5)
    assert weighted_mean([(0.3, 1.0), (0.9, 3.0)]) == (0.3 * 1.0 + 0.9 * 3.0) / 4.0  # normal values: unchanged


def test_rollup_refuses_a_non_finite_value() -> None:
    with pytest.raises(ScoringError, match="not a finite number"):
        weighted_mean([(math.nan, 1.0), (0.5, 1.0)])


# -- environment values reach SQL only as bind parameters -----------------------------------------------------


def test_env_placeholder_in_sql_text_is_refused() -> None:
    error = loads(BASE.replace("FROM tickets", "FROM tickets WHERE team = '${TEAM:-a}'"))
    [issue] = error.issues
    assert issue.path == f"{KR}.metric.sql" and issue.line == 13
    assert "${TEAM:-a}" in issue.message and "params:" in issue.message and ":team" in issue.message


def test_env_placeholder_in_a_gx_query_is_refused() -> None:
    text = BASE.replace(
        "sources:\n",
        "sources:\n  gx:\n    type: great_expectations\n    suites:\n      s:\n"
        "        data: {source: warehouse, query: \"SELECT * FROM t WHERE team = '${TEAM}'\"}\n"
        "        expectations: []\n",
    )
    error = loads(text)
    assert [i.path for i in error.issues] == ["sources.gx.suites.s.data.query"]
    assert "${TEAM}" in error.issues[0].message


def test_env_values_in_params_are_bound_not_spliced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``' OR '1'='1`` from the environment is a value the query compares with, not SQL: it counts nothing."""
    db = tmp_path / "warehouse.db"
    sqlite3.connect(db).executescript(
        "CREATE TABLE tickets (team TEXT, hours REAL); INSERT INTO tickets VALUES ('a', 1), ('b', 2), ('b', 3);"
    )
    monkeypatch.setenv("TEAM", "' OR '1'='1")
    text = BASE.replace("sqlite:///warehouse.db", f"sqlite:///{db}").replace(
        '{source: warehouse, sql: "SELECT avg(hours) FROM tickets"}',
        '{source: warehouse, sql: "SELECT count(*) FROM tickets WHERE team = :team", params: {team: "${TEAM}"}}',
    )
    config = parse_config(text, "binds.yaml", default_registry())
    [(_, kr)] = config.key_results()
    assert kr.metric.params == {"team": "' OR '1'='1"}
    connector = SqlConnector("warehouse", config.sources["warehouse"], ConnectorContext(config))
    try:
        at = datetime(2026, 11, 1, tzinfo=UTC)
        assert connector.fetch(kr.metric, at).value == 0
        monkeypatch.setenv("TEAM", "b")
        config = parse_config(text, "binds.yaml", default_registry())
        assert connector.fetch(config.key_results()[0][1].metric, at).value == 2
    finally:
        connector.close()
