"""Read a config file: YAML safe-load, ``${VAR}`` interpolation, validation, reference checks.

The file first passes ``yaml_safety``'s limits (size, UTF-8, nesting, aliases, duplicate keys) so a hostile file is
refused before PyYAML builds anything from it. Every problem becomes a ``ConfigIssue`` with the key path
(``objectives[1].key_results[0].target``) and, where the YAML has it, the line; all issues of a file are reported
at once. Sources and metric bindings are validated by a ``SchemaResolver`` (the connector registry), so this module
stays free of any connector code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

import yaml
from okrflow.okr_model.config import Config, KeyResult, MetricBinding, SourceConfig
from okrflow.okr_model.config_text import read_config_text
from okrflow.okr_model.dotenv import read_dotenv
from okrflow.okr_model.errors import ConfigError, ConfigIssue
from okrflow.okr_model.paths import anchor_config
from okrflow.okr_model.rollup import tree_shape
from okrflow.okr_model.yaml_safety import UnsafeYamlError, compose, load
from pydantic import ValidationError

__all__ = ["SchemaResolver", "format_path", "load_config", "parse_config"]

MAX_TREE_DEPTH = 32
"""Levels of the objective tree; rollup, statuses and the report walk it recursively."""

_VAR_HEAD = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(\}|:-)")


class SchemaResolver(Protocol):
    """What the loader needs from the connector registry."""

    def source_model(self, type_name: str) -> type[SourceConfig]:
        """The config model of a source kind; raises ``LookupError`` with the known kinds."""

    def bind_metric(self, source: SourceConfig, raw: dict[str, Any], kr: KeyResult) -> MetricBinding:
        """Validate a KR's metric binding for its source's kind (may raise ``ValidationError``)."""

    def check(self, config: Config) -> Iterable[ConfigIssue]:
        """Connector-specific checks over the whole config (e.g. unknown expectation names)."""


def format_path(loc: Iterable[Any]) -> str:
    """``('objectives', 1, 'target')`` -> ``objectives[1].target``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_config(path: str | os.PathLike[str], resolver: SchemaResolver | None = None, check_sources=True) -> Config:
    """Load and validate a config file; raises ``ConfigError`` listing every issue."""
    file = str(path)
    try:
        text = read_config_text(path, file)
    except FileNotFoundError:
        raise ConfigError(file, [ConfigIssue("", "file not found (pass -c PATH or set OKRFLOW_CONFIG)")]) from None
    except OSError as exc:
        raise ConfigError(file, [ConfigIssue("", f"cannot read the file: {exc.strerror}")]) from None
    environ = {**read_dotenv(Path(path).parent / ".env"), **os.environ}
    config = parse_config(text, file, resolver, environ, check_sources)
    return anchor_config(config, Path(path).resolve().parent, getattr(resolver, "anchor", None))  # not the cwd


def parse_config(
    text: str,
    file: str = "<config>",
    resolver: SchemaResolver | None = None,
    environ: Mapping[str, str] | None = None,
    check_sources: bool = True,
) -> Config:
    """Validate config text; ``file`` only names it in errors; ``${VAR}`` come from ``environ`` (default
    the process environment; ``load_config`` adds the ``.env`` file beside it); ``check_sources=False`` skips
    ``resolver.check`` (a SQL parse of every query...): for commands that fetch nothing."""
    try:
        data = load(text, file)  # what safe_load does, within yaml_safety's limits
    except UnsafeYamlError as exc:
        raise ConfigError(file, [ConfigIssue(format_path(f.loc), f.message, f.line) for f in exc.findings]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            file, [ConfigIssue("", f"invalid YAML: {problem}", mark.line + 1 if mark else None)]
        ) from None
    except (ValueError, OverflowError) as exc:  # PyYAML builds dates eagerly: 2026-13-45 raises ValueError
        line = _bad_scalar_line(compose(text, file))
        raise ConfigError(file, [ConfigIssue("", f"invalid YAML value: {exc}", line)]) from None
    lines = _LineFinder(lambda: compose(text, file))  # the nodes only when an issue needs its line
    if not isinstance(data, dict):
        raise ConfigError(
            file, [ConfigIssue("", "expected a mapping at the top level (version, cycle, objectives, ...)", 1)]
        )

    issues: list[ConfigIssue] = []
    if "${" in text or "\\" in text:  # else no value holds a placeholder (an escape can write one: "\x24{A}")
        data = _interpolate(data, (), issues, os.environ if environ is None else environ)
    if issues:
        raise ConfigError(file, lines.report(issues))
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(file, lines.report(_issues_from(exc, (), data))) from None

    issues.extend(_reference_issues(config))  # on the generic config, which still has every source and KR
    if resolver is not None:
        config = _resolve(config, data, resolver, issues)
    if resolver is not None and check_sources and not issues:
        issues.extend(resolver.check(config))
    if issues:
        raise ConfigError(file, lines.report(issues))
    return config


def _bad_scalar_line(root: yaml.Node | None) -> int | None:
    """The line of the first scalar PyYAML cannot construct (an impossible date or time)."""
    constructor = yaml.SafeLoader("")
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            try:
                constructor.construct_object(node)
            except (ValueError, OverflowError):
                return node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
        elif isinstance(node, yaml.MappingNode):
            stack.extend(item for pair in reversed(node.value) for item in reversed(pair))
    return None


def _interpolate(value: Any, loc: tuple[Any, ...], issues: list[ConfigIssue], environ: Mapping[str, str]) -> Any:
    """Replace ``${VAR}`` / ``${VAR:-default}`` in string values from ``environ``."""
    if isinstance(value, dict):
        return {k: _interpolate(v, (*loc, k), issues, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*loc, i), issues, environ) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value
    parts, done = [], 0
    for start, end, name, default in _placeholders(value):
        if _is_query_text(loc):
            issues.append(ConfigIssue(format_path(loc), _spliced_message(loc, value[start:end], name)))
            return value
        if name in environ:
            parts += [value[done:start], environ[name]]
        elif default is not None:
            parts += [value[done:start], default]
        else:
            issues.append(ConfigIssue(format_path(loc), f"environment variable {name} is not set"))
            parts.append(value[done:start])
        done = end
    return "".join(parts) + value[done:]


def _placeholders(value: str) -> Iterator[tuple[int, int, str, str | None]]:
    """(start, end, name, default) of each ``${VAR}`` and ``${VAR:-default}``, left to right; a default ends at
    the first ``}``. Linear time: a regex with ``[^}]*`` for the default rescans the rest of the text from
    every ``${A:-`` when no ``}`` follows (quadratic: a 1 MB value took hours)."""
    pos, close = 0, -1
    while head := _VAR_HEAD.search(value, pos):
        if head.group(2) == "}":
            yield head.start(), head.end(), head.group(1), None
            pos = head.end()
            continue
        if close < head.end():  # the first } after this head; still the one found before, if that lies ahead
            close = value.find("}", head.end())
            if close < 0:
                return
        yield head.start(), close + 1, head.group(1), value[head.end() : close]
        pos = close + 1


def _is_query_text(loc: tuple[Any, ...]) -> bool:
    """SQL text: a key result's ``metric.sql`` or a Great Expectations suite's ``data.query``."""
    return len(loc) == 6 and (
        (loc[0], loc[2], *loc[4:]) == ("objectives", "key_results", "metric", "sql")
        or (loc[0], loc[2], *loc[4:]) == ("sources", "suites", "data", "query")
    )


def _spliced_message(loc: tuple[Any, ...], placeholder: str, name: str) -> str:
    """Why ``${VAR}`` may not sit in SQL text, and what to write instead."""
    why = f"{placeholder} would paste an environment value into the SQL text, where it can change the query"
    if loc[0] == "sources":
        return f"{why}; a Great Expectations query binds only :cycle_start, :cycle_end and :now, so keep it fixed"
    bind = name.lower()
    return f'{why}; bind it instead: write :{bind} in the query and params: {{{bind}: "{placeholder}"}}'


def _issues_from(exc: ValidationError, prefix: tuple[Any, ...], data: Any) -> list[ConfigIssue]:
    """Turn pydantic errors into issues whose paths follow the user's keys (union tags dropped)."""
    issues = []
    for err in exc.errors(include_url=False):
        loc = _user_loc(data, tuple(err["loc"]))
        message = _message(err, data, loc)
        issues.append(ConfigIssue(format_path((*prefix, *loc)), message))
    return issues


def _user_loc(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Keep the parts of a pydantic location that exist in the input (drops union/tag names)."""
    out: list[Any] = []
    node = data
    for i, part in enumerate(loc):
        last = i == len(loc) - 1
        if (isinstance(node, Mapping) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            out.append(part)
            node = node[part]
        elif last and isinstance(node, Mapping):
            out.append(part)
    return tuple(out)


def _message(err: Any, data: Any, loc: tuple[Any, ...]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown key (check its spelling; see config/okrflow.schema.json for the allowed keys)"
    if kind == "missing":
        return "required key is missing"
    message = str(err["msg"])
    for noise in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(noise)
    if kind not in ("value_error", "target", "band", "duration", "assertion_error"):
        message = (
            f"{message} (got {err.get('input')!r})"
            if "input" in err and not isinstance(err["input"], (dict, list))
            else message
        )
    return message


def _resolve(config: Config, data: dict[str, Any], resolver: SchemaResolver, issues: list[ConfigIssue]) -> Config:
    """Second validation step: each source and metric binding against its connector's model."""
    sources: dict[str, SourceConfig] = {}
    for name, source in config.sources.items():
        raw = data["sources"][name]
        try:
            model = resolver.source_model(source.type)
        except LookupError as exc:
            issues.append(ConfigIssue(f"sources.{name}.type", str(exc.args[0] if exc.args else exc)))
            continue
        try:
            sources[name] = model.model_validate(raw)
        except ValidationError as exc:
            issues.extend(_issues_from(exc, ("sources", name), raw))

    objectives = []
    for o_index, objective in enumerate(config.objectives):
        key_results = []
        for k_index, kr in enumerate(objective.key_results):
            loc = ("objectives", o_index, "key_results", k_index, "metric")
            if kr.metric is None:
                key_results.append(kr)
                continue
            if kr.metric.source not in sources:
                continue  # an unknown source (see _reference_issues) or one that already has an issue
            raw = data["objectives"][o_index]["key_results"][k_index]["metric"]
            try:
                metric = resolver.bind_metric(sources[kr.metric.source], dict(raw), kr)
            except ValidationError as exc:
                issues.extend(_issues_from(exc, loc, raw))
                continue
            key_results.append(kr.model_copy(update={"metric": metric}))
        objectives.append(objective.model_copy(update={"key_results": key_results}))
    return config.model_copy(update={"sources": sources, "objectives": objectives})


def _unknown(what: str, name: str, known: Iterable[str]) -> str:
    return f"unknown {what} {name!r} (known: {', '.join(sorted(known)) or 'none defined'})"


def _reference_issues(config: Config) -> list[ConfigIssue]:
    """Unique ids, existing parents, no cycles in the tree, known sources, owners and channels."""
    issues: list[ConfigIssue] = []
    seen: dict[str, str] = {}
    parents: dict[str, str | None] = {}
    for o_index, objective in enumerate(config.objectives):
        path = f"objectives[{o_index}]"
        if objective.id in seen:
            issues.append(
                ConfigIssue(f"{path}.id", f"duplicate id {objective.id!r} (first used at {seen[objective.id]})")
            )
        seen.setdefault(objective.id, path)
        parents[objective.id] = objective.parent
        for k_index, kr in enumerate(objective.key_results):
            kr_path = f"{path}.key_results[{k_index}]"
            if kr.id in seen:
                issues.append(ConfigIssue(f"{kr_path}.id", f"duplicate id {kr.id!r} (first used at {seen[kr.id]})"))
            seen.setdefault(kr.id, kr_path)
            if kr.metric and kr.metric.source not in config.sources:
                issues.append(
                    ConfigIssue(f"{kr_path}.metric.source", _unknown("source", kr.metric.source, config.sources))
                )
            if kr.quality_gate and kr.quality_gate.source not in config.sources:
                issues.append(
                    ConfigIssue(
                        f"{kr_path}.quality_gate.source", _unknown("source", kr.quality_gate.source, config.sources)
                    )
                )
            if kr.owner and config.owners and kr.owner not in config.owners:
                issues.append(ConfigIssue(f"{kr_path}.owner", _unknown("owner", kr.owner, config.owners)))
    objective_ids = {o.id for o in config.objectives}
    for o_index, objective in enumerate(config.objectives):
        if objective.parent is not None and objective.parent not in objective_ids:
            issues.append(
                ConfigIssue(
                    f"objectives[{o_index}].parent", _unknown("parent objective", objective.parent, objective_ids)
                )
            )
        if objective.owner and config.owners and objective.owner not in config.owners:
            issues.append(
                ConfigIssue(f"objectives[{o_index}].owner", _unknown("owner", objective.owner, config.owners))
            )
    depth, loops = tree_shape(parents)
    for o_index, objective in enumerate(config.objectives):
        if objective.id in loops:
            issues.append(
                ConfigIssue(f"objectives[{o_index}].parent", f"the objective tree has a cycle: {loops[objective.id]}")
            )
        elif depth[objective.id] == MAX_TREE_DEPTH + 1:  # once per branch, where it passes the limit
            issues.append(
                ConfigIssue(
                    f"objectives[{o_index}].parent",
                    f"the objective tree is deeper than {MAX_TREE_DEPTH} levels here (company -> team -> individual is 3)",
                )
            )
    for name, owner in config.owners.items():
        for c_index, channel in enumerate(owner.channels):
            if channel not in config.channels:
                issues.append(
                    ConfigIssue(f"owners.{name}.channels[{c_index}]", _unknown("channel", channel, config.channels))
                )
    for c_index, channel in enumerate(config.defaults.alerts.channels):
        if channel not in config.channels:
            issues.append(
                ConfigIssue(f"defaults.alerts.channels[{c_index}]", _unknown("channel", channel, config.channels))
            )
    return issues


MAX_ISSUES = 100
"""Issues reported at once; a file with 600,000 unknown keys gets the first ones and a count."""


class _LineFinder:
    """Maps a key path back to its line in the YAML text."""

    def __init__(self, compose_root: Callable[[], yaml.Node | None]):
        self._compose_root = compose_root
        self._root: list[yaml.Node | None] = []  # composed on the first issue without a line
        self._keys: dict[int, dict[str, yaml.Node]] = {}  # id(mapping node) -> its children by key

    def report(self, issues: list[ConfigIssue]) -> list[ConfigIssue]:
        """The first ``MAX_ISSUES`` issues with their lines, then how many more there are."""
        located = [self.locate(issue) for issue in issues[:MAX_ISSUES]]
        if len(issues) > MAX_ISSUES:
            located.append(ConfigIssue("", f"... and {len(issues) - MAX_ISSUES:,} more issues (fix these first)"))
        return located

    def locate(self, issue: ConfigIssue) -> ConfigIssue:
        if issue.line is not None:
            return issue
        if not self._root:
            self._root.append(self._compose_root())
        node = self._root[0]
        if node is None:
            return issue
        for part in re.findall(r"[^.\[\]]+|\[\d+\]", issue.path):
            child = self._child(node, part)
            if child is None:
                break
            node = child
        return ConfigIssue(issue.path, issue.message, node.start_mark.line + 1)

    def _child(self, node: yaml.Node, part: str) -> yaml.Node | None:
        if isinstance(node, yaml.SequenceNode) and part.startswith("["):
            index = int(part[1:-1])
            return node.value[index] if index < len(node.value) else None
        if isinstance(node, yaml.MappingNode):
            keys = self._keys.get(id(node))
            if keys is None:  # indexed once: a linear search per issue was quadratic in a mapping's size
                keys = self._keys[id(node)] = {}
                for key, value in node.value:
                    keys.setdefault(
                        key.value, value if isinstance(value, (yaml.MappingNode, yaml.SequenceNode)) else key
                    )
            return keys.get(part)
        return None
