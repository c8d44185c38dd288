"""Limits on config files that users never meet and attackers always do, checked before YAML builds anything.

A config is read as at most ``OKRFLOW_MAX_CONFIG_BYTES`` bytes (default 2 MiB) of strict UTF-8 (``config_text``),
then its YAML event stream is scanned once: nesting depth, alias references, the size the document has once its
aliases are expanded, recursive aliases, the length of each value and duplicated mapping keys. The same pass
builds the values (``load``, as ``yaml.safe_load`` would), handed out only once every limit passed. Why from
events:

- PyYAML's composer recurses per nesting level (30,000 ``[`` overflow the C stack: a segfault), while the event
  parser keeps its own stack, so the depth is counted from events and a deep file never reaches PyYAML's composer;
- an alias is expanded by everything that walks the data afterwards (a 783-byte "billion laughs" file is
  ~10^9 values), so the expanded size is added up per anchor, without expanding anything;
- ``&x [*x]`` builds a structure that contains itself: an alias inside its own anchor's node is refused;
- a key written twice silently keeps the last value: both lines are named instead;
- one huge value feeds superlinear code later (PyYAML's base-60 numbers, the SQL parser).

Each limit costs one comparison per event; a 1,000-KR config (30,000 events) scans in about 30 ms.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml
from okrflow.okr_model.config_text import check_size, max_config_bytes
from okrflow.okr_model.errors import OkrflowError
from okrflow.okr_model.yaml_construct import MAP_TAG, SCALAR_CONSTRUCTORS, SEQ_TAG, STR_TAG, construct

__all__ = [
    "MAX_ALIASES",
    "MAX_ALIAS_VALUES",
    "MAX_DEPTH",
    "MAX_NUMBER_CHARS",
    "MAX_VALUE_CHARS",
    "Finding",
    "UnsafeYamlError",
    "compose",
    "load",
    "scan",
]

MAX_DEPTH = 64
"""Nested mappings and lists; a config needs fewer than 10 (objectives -> key results -> metric -> params)."""
MAX_ALIASES = 10_000
"""Alias references (``*name``) in one file."""
MAX_ALIAS_VALUES = 100_000
"""Values (scalars, lists, mappings) that aliases add once expanded; 1,000 KRs sharing a metric add ~5,000."""
MAX_VALUE_CHARS = 100_000
"""One scalar (a title, a query): parsers downstream (sqlglot for SQL: ~2 GB for a 3 MB query) stay bounded."""
MAX_NUMBER_CHARS = 1_000
"""A plain scalar YAML reads as a number: PyYAML's ``1:2:3...`` (base 60) is quadratic in its length."""
_NUMBER_TAGS = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float"})


_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's parser when PyYAML has it: a 1,000-KR config parses in ~0.1 s instead of ~1.5 s."""


class _ConfigLoader(_FAST_LOADER):  # type: ignore[misc,valid-type]
    """PyYAML's safe loader, also reading the floats YAML 1.2 reads: ``1e-3``, ``1E5``, ``.5e-2``, ``-.5``.

    YAML 1.1 wants a dot and a signed exponent (``1.0e-3``), so ``1e-3`` was the string "1e-3" and a target
    written that way failed as "not a number". Quoted, it stays a string.
    """


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+|[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?)$"),
    list("-+0123456789."),
)

_T = TypeVar("_T")
_REWORD_MAX_CHARS = 256 * 1024
"""Syntax errors of files up to this size are re-worded by the pure-Python parser (~0.4 s per 300 KB)."""


class UnsafeYamlError(OkrflowError, ValueError):
    """The text exceeds a limit or repeats keys; ``findings`` says where (the loader adds the file)."""

    def __init__(self, findings: list[Finding]):
        self.findings = findings
        super().__init__("; ".join(f.message for f in findings))


def compose(text: str, file: str) -> yaml.Node | None:
    """The node tree of a config text (its marks give lines), once the text passed every limit.

    Two libyaml parses (the scan, then PyYAML's composer): ``load`` needs neither on a config that loads; this is
    for the lines of its issues. Raises ``ConfigError`` for an oversized text, ``UnsafeYamlError`` for the
    structural limits and duplicate keys, ``yaml.YAMLError`` for a syntax error (worded by the pure-Python parser
    when the file is small).
    """
    _check_text_size(text, file)
    try:
        findings = _run(text, scan)
        if findings:
            raise UnsafeYamlError(findings)
        return _run(text, lambda loader: loader.get_single_node())
    except yaml.YAMLError:
        _reword(text)
        raise


def load(text: str, file: str) -> Any:
    """The config's values, as ``yaml.safe_load`` builds them, once the text passed every limit (``compose``'s
    errors, and the ``ValueError`` of an impossible date).

    One libyaml parse: the scan builds the values from the events it checks (composing nodes took a second parse
    and, with building from them, ~0.15 s of CPU for a 1,000-KR config). What a config does not use (merge keys,
    ``!!set``, unknown tags, a list as a key, several documents, a repeated or undefined anchor) or a scalar its
    constructor refuses is composed and built by PyYAML instead, so its results and errors stay PyYAML's.
    """
    _check_text_size(text, file)
    try:
        findings, data = _run(text, _scan_and_build)
    except _BuildElsewhere:
        return construct(compose(text, file))
    except yaml.YAMLError:
        _reword(text)
        raise
    if findings:
        raise UnsafeYamlError(findings)
    return data


def _check_text_size(text: str, file: str) -> None:
    limit = max_config_bytes(file)
    if len(text) > limit // 4:  # a character is at most 4 bytes: count bytes only when it could matter
        check_size(len(text.encode("utf-8", "surrogatepass")), limit, file)


def _run(text: str, step: Callable[[Any], _T]) -> _T:
    loader = _ConfigLoader(text)
    try:
        return step(loader)
    finally:
        loader.dispose()


def _reword(text: str) -> None:
    """Raise a YAML error as the pure-Python parser words it (users and tests know that wording).

    That parser's events pass the same scan first (it is iterative; its composer recurses per nesting level),
    so a file the two parsers read differently still never reaches a deep composition. A large file keeps
    libyaml's wording, so a syntax error at its end is reported quickly.
    """
    if _FAST_LOADER is yaml.SafeLoader or len(text) > _REWORD_MAX_CHARS:
        return
    loader = yaml.SafeLoader(text)
    try:
        if scan(loader):  # over a limit as this parser reads it: keep libyaml's error
            return
    finally:
        loader.dispose()
    yaml.SafeLoader(text).get_single_node()  # composer errors: an undefined alias, several documents


@dataclass(frozen=True)
class Finding:
    """A structural problem: where (key path parts and line) and what."""

    loc: tuple[str | int, ...]
    message: str
    line: int


_NO_KEY = object()


class _Frame:
    """One open mapping or list while scanning events (and its value, when the scan builds)."""

    __slots__ = ("anchor", "count", "is_map", "key", "key_value", "keys", "start", "value")

    def __init__(self, is_map: bool, anchor: str | None, start: int, value: Any = None):
        self.is_map = is_map
        self.anchor = anchor
        self.start = start  # nodes counted before this one: its expanded size is the count at its end minus this
        self.count = 0  # children finished; in a mapping an even count is before a key, an odd one before a value
        self.key: str = "?"
        self.keys: dict[str, int] = {}
        self.value = value
        self.key_value: Any = _NO_KEY

    def add(self, value: Any) -> None:
        """Put a built child in this frame's value: a list item, a mapping key, or the value of that key."""
        if not self.is_map:
            self.value.append(value)
        elif self.key_value is _NO_KEY:
            if isinstance(value, (dict, list)):  # unhashable: PyYAML's constructor words the error
                raise _BuildElsewhere
            self.key_value = value
        else:
            self.value[self.key_value] = value
            self.key_value = _NO_KEY

    def position(self) -> str | int:
        """Where in this collection the event being read is: the current key, or the list index."""
        if self.is_map:
            return self.key if self.count % 2 else "?"
        return self.count


def _loc(stack: list[_Frame], upto: int | None = None) -> tuple[str | int, ...]:
    return tuple(frame.position() for frame in stack[:upto])


def scan(parser: Any) -> list[Finding]:
    """Scan a parser's events (``yaml.CSafeLoader(text)`` or any loader); every duplicate key, or the first limit.

    Raises ``yaml.YAMLError`` for a syntax error, as composing would.
    """
    return _scan(parser, build=False)[0]


class _BuildElsewhere(Exception):
    """What ``load`` leaves to PyYAML's composer and constructor (they word its errors)."""


def _scan_and_build(parser: Any) -> tuple[list[Finding], Any]:
    """``scan``, building the document's values from the same events (one parse)."""
    return _scan(parser, build=True)


def _scan(parser: Any, build: bool) -> tuple[list[Finding], Any]:
    """``scan``'s loop; with ``build``, also the document's values (None once a limit is found).

    Building mirrors PyYAML's composer and ``SafeConstructor``: a tag given in the text is kept, else
    ``parser.resolve`` picks it (its answer for a plain scalar depends only on the text: asked once per distinct
    value); a scalar is built by the constructor PyYAML registers for its tag; an alias is its anchor's value.
    Raises ``_BuildElsewhere`` for anything else.
    """
    scalar, alias, mapping, sequence = (
        yaml.ScalarEvent,
        yaml.AliasEvent,
        yaml.MappingStartEvent,
        yaml.SequenceStartEvent,
    )
    end_mapping, end_sequence = yaml.MappingEndEvent, yaml.SequenceEndEvent
    scalar_node, mapping_node, sequence_node = yaml.ScalarNode, yaml.MappingNode, yaml.SequenceNode
    constructor = yaml.SafeLoader("") if build else None
    findings: list[Finding] = []
    stack: list[_Frame] = []
    sizes: dict[str, int] = {}  # anchor -> size of its node, its own aliases expanded
    open_anchors: list[str] = []  # anchors of the collections being read (an alias to one is recursive)
    nodes = aliases = expanded = 0  # expanded: the values aliases add once expanded
    anchored: dict[str, Any] = {}  # anchor -> its value, when building
    tags: dict[tuple[str, Any], str] = {}  # (plain scalar, implicit) -> its resolved tag
    root: Any = None
    documents = 0
    while parser.check_event():
        event = parser.get_event()
        kind = type(event)
        if kind is scalar:
            nodes += 1
            if len(event.value) > MAX_NUMBER_CHARS:
                if len(event.value) > MAX_VALUE_CHARS:
                    why = f"a value of more than {MAX_VALUE_CHARS:,} characters: the limit"
                    return [Finding(_loc(stack), why, event.start_mark.line + 1)], None
                if _is_number(parser, event):
                    why = f"a number written with more than {MAX_NUMBER_CHARS:,} characters: the limit"
                    return [Finding(_loc(stack), why, event.start_mark.line + 1)], None
            if event.anchor:
                sizes[event.anchor] = 1
            if build:
                tag = event.tag
                if tag is None or tag == "!":
                    tag = tags.get((event.value, event.implicit))
                    if tag is None:
                        tag = tags[event.value, event.implicit] = parser.resolve(
                            scalar_node, event.value, event.implicit
                        )
                value = event.value if tag == STR_TAG else _scalar(constructor, tag, event)
                if event.anchor:
                    _anchor(anchored, event.anchor, value)
                if stack:
                    stack[-1].add(value)
                else:
                    root = value
            if stack:
                frame = stack[-1]
                if frame.is_map and not frame.count % 2:
                    _check_key(frame, event, stack, findings)
                frame.count += 1
        elif kind is alias:
            name, line = event.anchor, event.start_mark.line + 1
            if name in open_anchors:
                why = f"alias *{name} is inside the node &{name} it refers to: a recursive alias would build a "
                return [Finding(_loc(stack), why + "structure that contains itself", line)], None
            size = sizes.get(name, 1)  # an undefined alias is left to the composer, which names it
            nodes, aliases, expanded = nodes + size, aliases + 1, expanded + size
            if aliases > MAX_ALIASES:
                return [Finding(_loc(stack, 1), f"more than {MAX_ALIASES:,} aliases (*name): the limit", line)], None
            if expanded > MAX_ALIAS_VALUES:
                why = f"aliases expand to more than {MAX_ALIAS_VALUES:,} values: the limit (a billion-laughs file?)"
                return [Finding(_loc(stack, 1), why, line)], None
            if build:
                if name not in anchored:
                    raise _BuildElsewhere
                if stack:
                    stack[-1].add(anchored[name])
                else:
                    root = anchored[name]
            if stack:
                if stack[-1].is_map and not stack[-1].count % 2:
                    stack[-1].key = f"*{name}"
                stack[-1].count += 1
        elif kind is mapping or kind is sequence:
            nodes += 1
            if len(stack) >= MAX_DEPTH:
                why = f"nested deeper than {MAX_DEPTH} levels of mappings and lists: the limit (a config needs 10)"
                return [Finding(_loc(stack, 1), why, event.start_mark.line + 1)], None
            if stack and stack[-1].is_map and not stack[-1].count % 2:
                stack[-1].key = "?"  # a complex key; not something a config uses
            value = None
            if build:
                node_kind = mapping_node if kind is mapping else sequence_node
                tag = event.tag
                if tag is None or tag == "!":
                    tag = parser.resolve(node_kind, None, event.implicit)
                if tag != (MAP_TAG if kind is mapping else SEQ_TAG):
                    raise _BuildElsewhere
                value = {} if kind is mapping else []
                if event.anchor:
                    _anchor(anchored, event.anchor, value)
                if stack:
                    stack[-1].add(value)
                else:
                    root = value
            stack.append(_Frame(kind is mapping, event.anchor, nodes - 1, value))
            if event.anchor:
                open_anchors.append(event.anchor)
        elif kind is end_mapping or kind is end_sequence:
            frame = stack.pop()
            if frame.anchor:
                sizes[frame.anchor] = nodes - frame.start
                open_anchors.remove(frame.anchor)
            if stack:
                stack[-1].count += 1
        elif build and kind is yaml.DocumentStartEvent:
            documents += 1
            if documents > 1:
                raise _BuildElsewhere
    return findings, None if findings else root


def _anchor(anchored: dict[str, Any], name: str, value: Any) -> None:
    if name in anchored:
        raise _BuildElsewhere
    anchored[name] = value


def _scalar(constructor: Any, tag: str, event: yaml.ScalarEvent) -> Any:
    """A scalar of another tag than str, as PyYAML's safe constructor builds it."""
    make = SCALAR_CONSTRUCTORS.get(tag)
    if make is None:
        raise _BuildElsewhere
    try:
        return make(constructor, yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style))
    except Exception:  # an impossible date: the scan finishes first, PyYAML raises it after
        raise _BuildElsewhere from None


def _is_number(parser: Any, event: yaml.ScalarEvent) -> bool:
    """Whether the loader would build an int or a float from this scalar (a plain one that looks like it)."""
    return event.implicit[0] and parser.resolve(yaml.ScalarNode, event.value, event.implicit) in _NUMBER_TAGS


def _check_key(frame: _Frame, event: yaml.ScalarEvent, stack: list[_Frame], findings: list[Finding]) -> None:
    key, line = event.value, event.start_mark.line + 1
    frame.key = key
    if key == "<<" and event.style is None:  # a merge key may repeat, and its keys may be overridden
        return
    first = frame.keys.get(key)
    if first is None:
        frame.keys[key] = line
        return
    findings.append(
        Finding(
            (*_loc(stack, len(stack) - 1), key),
            f"duplicate key {key!r} (first at line {first}, again at line {line}): YAML would silently keep "
            "only the last value; remove one",
            line,
        )
    )
