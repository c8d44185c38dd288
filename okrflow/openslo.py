"""OpenSLO v1 -> okrflow: SLOs with Prometheus metric sources become ``maintain_above``/``maintain_below`` KRs.

OpenSLO (https://github.com/OpenSLO/OpenSLO, spec v1) declares ``SLO``, ``SLI`` and ``DataSource`` documents.
An SLO is "the indicator meets the objective over the time window"; okrflow measures the indicator at each run
and scores the share of the cycle's time it held, so each SLO objective becomes one maintain KR:

- threshold SLI: the query as written, ``op`` lt/lte -> ``maintain_below``, gt/gte -> ``maintain_above``,
  ``value`` is the KR target (the SLO's budget target, e.g. 99% of events, is kept in a comment: okrflow scores
  time, not events);
- ratio SLI over the window ``w``: good/total -> ``sum(rate(good[w])) / sum(rate(total[w]))``, bad/total ->
  ``1 - bad/total``, raw -> ``avg_over_time(raw[w])`` (``1 -`` for failure ratios); gauges (``counter: false``)
  average with ``avg_over_time`` instead of ``rate``; a query that is an expression, not a series selector,
  goes through a subquery ``(expr)[w:]``; the KR target is the objective's ``target``/``targetPercent``.

Windows: ``Occurrences`` reads the SLO's time window (rolling, or calendar-aligned read as the trailing window:
Prometheus ranges do not align to calendars); ``Timeslices`` reads one slice window against ``timeSliceTarget``
(okrflow's share of time held then is the share of good slices). Anything else (other metric sources,
``RatioTimeslices``, composite SLOs, dangling references, other kinds) is returned as ``Skipped`` with the reason,
never dropped. ``okrflow.openslo_yaml`` writes the result as a reviewable config.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ImportResult", "Skipped", "TranslatedKR", "read_documents", "slug", "translate"]

API_VERSION = "openslo/v1"
DEFAULT_SOURCE = "prometheus"
DEFAULT_URL = "${PROMETHEUS_URL:-http://127.0.0.1:9090}"  # validates without the variable; set it to use yours
_UNITS = {"m": ("m", 1), "h": ("h", 1), "d": ("d", 1), "w": ("w", 1), "M": ("d", 30), "Q": ("d", 90), "Y": ("d", 365)}
_DURATION = re.compile(r"^(\d+)([mhdwMQY])$")
_SELECTOR = re.compile(r"^\s*(?:[A-Za-z_:][A-Za-z0-9_:]*\s*)?(?:\{[^{}]*\})?\s*$")
_SUM = re.compile(r"^\s*sum\s*(?:(?:by|without)\s*\([^()]*\)\s*)?\(\s*(?P<selector>[^(){}]*(?:\{[^{}]*\})?)\s*\)\s*$")
_NAME = re.compile(r"[^A-Za-z0-9_.:-]+")
_BELOW, _ABOVE = {"lt", "lte"}, {"gt", "gte"}


@dataclass(frozen=True)
class Document:
    """One YAML document of an input file, with where it came from (for comments and reasons)."""

    path: str
    index: int  # 1-based position in its file
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        return str((self.body.get("metadata") or {}).get("name", ""))

    @property
    def where(self) -> str:
        return f"{self.path} #{self.index} ({self.kind or 'no kind'} {self.name or '(unnamed)'})"


@dataclass(frozen=True)
class Skipped:
    """Something not translated, and why."""

    where: str
    reason: str

    def render(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True)
class TranslatedKR:
    """One KR for the okrflow config, with the comment lines that tell a reviewer where it came from."""

    service: str
    key_result: dict[str, Any]
    notes: list[str]
    source: str
    source_url: str


@dataclass
class ImportResult:
    key_results: list[TranslatedKR] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    timezones: set[str] = field(default_factory=set)


def read_documents(paths: Iterable[Path]) -> tuple[list[Document], list[Skipped]]:
    """Every YAML document of the files (directories: their *.yaml/*.yml, recursively), unreadable ones listed."""
    documents: list[Document] = []
    skipped: list[Skipped] = []
    for path in paths:
        files = sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")) if path.is_dir() else [path]
        for file in files:
            try:
                loaded = list(yaml.safe_load_all(file.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
                skipped.append(Skipped(str(file), f"not readable as YAML: {exc}".splitlines()[0]))
                continue
            for index, body in enumerate(loaded, start=1):
                if body is None:
                    continue
                items = body if isinstance(body, list) else [body]  # some tools write a list of objects
                for item in items:
                    if not isinstance(item, dict):
                        skipped.append(Skipped(f"{file} #{index}", "not a mapping: not an OpenSLO object"))
                    else:
                        documents.append(Document(str(file), index, item))
    return documents, skipped


def slug(text: str, fallback: str) -> str:
    """``text`` as an okrflow id (starts with a letter or digit, then letters, digits, ``_.:-``; 128 at most)."""
    cleaned = _NAME.sub("-", text).strip("-_.:")[:120].rstrip("-_.:")
    return cleaned or fallback


def prometheus_range(duration: str) -> tuple[str, str | None]:
    """An OpenSLO duration-shorthand as a PromQL range, and a note when it had to be approximated."""
    match = _DURATION.match(str(duration).strip())
    if match is None:
        raise ValueError(f"time window duration {duration!r} is not an OpenSLO duration-shorthand (e.g. 28d, 1M)")
    number, unit = int(match[1]), match[2]
    promql_unit, factor = _UNITS[unit]
    if number == 0:
        raise ValueError(f"time window duration {duration!r} is zero")
    note = f"{duration} read as {number * factor}{promql_unit} (PromQL has no {unit})" if factor != 1 else None
    return f"{number * factor}{promql_unit}", note


def _over_window(query: str, window: str, counter: bool) -> str:
    """``sum(rate(q[w]))`` (``avg_over_time`` for gauges); ``sum(selector)`` has its sum moved outside the rate
    (sum of rates is right across counter resets), other expressions go through a subquery ``(q)[w:]``."""
    function = "rate" if counter else "avg_over_time"
    query = query.strip()
    summed = _SUM.match(query)
    if summed is not None:
        query = summed["selector"].strip()
    ranged = f"{query}[{window}]" if _SELECTOR.match(query) else f"({query})[{window}:]"
    return f"sum({function}({ranged}))"


class _Translator:
    def __init__(self, documents: list[Document]) -> None:
        self.slis = {d.name: d for d in documents if d.kind == "SLI"}
        self.sources = {d.name: d for d in documents if d.kind == "DataSource"}
        self.result = ImportResult()
        self.used: set[str] = set()

    def source_of(self, metric_source: dict[str, Any], where: str) -> tuple[str, str]:
        """The okrflow source (name, url) of a Prometheus metricSource, or ValueError saying why not."""
        ref = metric_source.get("metricSourceRef")
        kind = metric_source.get("type")
        url = DEFAULT_URL
        name = DEFAULT_SOURCE
        if ref is not None:
            data_source = self.sources.get(str(ref))
            if data_source is None and kind is None:
                raise ValueError(f"metricSourceRef {ref!r} names no DataSource in the input and gives no type")
            if data_source is not None:
                self.used.add(f"DataSource/{ref}")
                spec = data_source.body.get("spec") or {}
                kind = kind or spec.get("type")
                if str(spec.get("type", kind)).lower() != "prometheus":
                    raise ValueError(f"DataSource {ref!r} is of type {spec.get('type')!r}, not Prometheus")
                details = spec.get("connectionDetails") or {}
                url = next((str(v) for k, v in details.items() if str(k).lower().endswith("url")), DEFAULT_URL)
                name = slug(str(ref), DEFAULT_SOURCE)
        if str(kind).lower() != "prometheus":
            raise ValueError(f"metric source type {kind!r} is not Prometheus (only Prometheus queries translate)")
        return name, url

    def query_of(self, metric: dict[str, Any] | None, role: str, where: str) -> tuple[str, str, str]:
        source = (metric or {}).get("metricSource")
        if not isinstance(source, dict):
            raise ValueError(f"{role} has no metricSource")
        name, url = self.source_of(source, where)
        spec = source.get("spec") or {}
        query = spec.get("query", spec.get("promql"))
        if not isinstance(query, str) or not query.strip():
            raise ValueError(f"{role} metricSource has no spec.query (PromQL)")
        return query, name, url

    def translate_slo(self, doc: Document) -> None:
        spec = doc.body.get("spec") or {}
        objectives = spec.get("objectives") or []
        if any(isinstance(o, dict) and ("indicator" in o or "indicatorRef" in o) for o in objectives):
            raise ValueError("composite SLO (indicators per objective): okrflow has no composite error budget")
        sli, sli_where = self.indicator(spec, doc)
        for role, metric in _metric_sources(sli):  # the source first: the likeliest reason a document is skipped
            self.source_of(metric, role)
        method = spec.get("budgetingMethod") or "Occurrences"
        if method not in ("Occurrences", "Timeslices"):
            raise ValueError(f"budgetingMethod {method!r} has no okrflow equivalent (Occurrences and Timeslices do)")
        windows = spec.get("timeWindow") or []
        if len(windows) != 1 or not isinstance(windows[0], dict):
            raise ValueError("timeWindow must hold exactly one window (OpenSLO v1)")
        window = windows[0]
        if not objectives:
            raise ValueError("the SLO has no objectives")
        service = str(spec.get("service") or doc.name)
        for number, objective in enumerate(objectives, start=1):
            label = f"objective {number} ({objective.get('displayName', 'unnamed')})"
            try:
                self.result.key_results.append(
                    self.key_result(doc, sli, sli_where, method, window, objective, number, len(objectives), service)
                )
            except ValueError as exc:
                self.result.skipped.append(Skipped(f"{doc.where} {label}", str(exc)))

    def indicator(self, spec: dict[str, Any], doc: Document) -> tuple[dict[str, Any], str]:
        if isinstance(spec.get("indicator"), dict):
            return spec["indicator"].get("spec") or {}, "inline indicator"
        ref = spec.get("indicatorRef")
        if ref is None:
            raise ValueError("neither indicator nor indicatorRef is given")
        sli = self.slis.get(str(ref))
        if sli is None:
            raise ValueError(f"indicatorRef {ref!r} names no SLI document in the input")
        self.used.add(f"SLI/{ref}")
        return sli.body.get("spec") or {}, f"SLI {ref} ({sli.path} #{sli.index})"

    def key_result(
        self,
        doc: Document,
        sli: dict[str, Any],
        sli_where: str,
        method: str,
        window: dict[str, Any],
        objective: dict[str, Any],
        number: int,
        count: int,
        service: str,
    ) -> TranslatedKR:
        notes = [f"from OpenSLO {doc.where}, {sli_where}, objective {objective.get('displayName', number)!r}"]
        budget = _budget_target(objective)
        if method == "Timeslices":
            if objective.get("timeSliceTarget") is None or objective.get("timeSliceWindow") is None:
                raise ValueError("budgetingMethod Timeslices needs timeSliceTarget and timeSliceWindow")
            slice_window = objective["timeSliceWindow"]
            slice_window = f"{slice_window}m" if isinstance(slice_window, int | float) else slice_window
            promql_window, note = prometheus_range(str(slice_window))
            notes.append(
                f"Timeslices: each {slice_window} slice is good while the indicator holds; okrflow scores the share "
                f"of time it held (score {budget:g} = the SLO's target); schedule runs every {slice_window} to match"
            )
        else:
            promql_window, note = prometheus_range(str(window.get("duration", "")))
            calendar = window.get("calendar")
            if window.get("isRolling") is False or calendar:
                calendar = calendar or {}
                if calendar.get("timeZone"):
                    self.result.timezones.add(str(calendar["timeZone"]))
                notes.append(
                    f"calendar-aligned {window.get('duration')} window (start {calendar.get('startTime')}, "
                    f"{calendar.get('timeZone', 'no time zone')}) read as the trailing {promql_window}: Prometheus "
                    "ranges do not align to calendars"
                )
            else:
                notes.append(f"rolling {window.get('duration')} window")
        if note:
            notes.append(note)
        if "thresholdMetric" in sli:
            query, source, url = self.query_of(sli["thresholdMetric"], "thresholdMetric", doc.where)
            op = objective.get("op")
            if op not in _BELOW | _ABOVE or not isinstance(objective.get("value"), int | float):
                raise ValueError("a threshold objective needs op (lt, lte, gt, gte) and a numeric value")
            kind = "maintain_below" if op in _BELOW else "maintain_above"
            target = float(objective["value"])
            if op in ("lt", "gt"):
                notes.append(f"op {op} is strict; okrflow's {kind} counts a value equal to {target:g} as holding")
            notes.append(
                f"the SLO asks {budget:g} of {'time slices' if method == 'Timeslices' else 'events'} to hold: a "
                f"score of {budget:g} meets it (okrflow scores the share of time the threshold held)"
            )
        elif "ratioMetric" in sli:
            query, source, url = self.ratio_query(sli["ratioMetric"], promql_window, doc.where)
            kind = "maintain_above"
            target = float(objective["timeSliceTarget"]) if method == "Timeslices" else budget
        else:
            raise ValueError("the indicator has neither thresholdMetric nor ratioMetric")
        kr_id = slug(doc.name, "slo")
        if count > 1:
            kr_id = slug(f"{kr_id}-{str(objective.get('displayName') or number).lower()}", kr_id)
        title = (doc.body.get("metadata") or {}).get("displayName") or doc.name
        if count > 1 and objective.get("displayName"):
            title = f"{title}: {objective['displayName']}"
        key_result = {"id": kr_id, "title": str(title), "kind": kind, "target": target}
        key_result["metric"] = {"source": source, "query": query}
        return TranslatedKR(service, key_result, notes, source, url)

    def ratio_query(self, ratio: dict[str, Any], window: str, where: str) -> tuple[str, str, str]:
        counter = ratio.get("counter", True) is not False
        if "raw" in ratio:
            raw, source, url = self.query_of(ratio["raw"], "raw", where)
            if ratio.get("rawType") not in ("success", "failure"):
                raise ValueError("a raw ratio needs rawType success or failure")
            average = _over_window(raw, window, counter=False).removeprefix("sum(")[:-1]
            return (average if ratio["rawType"] == "success" else f"1 - {average}"), source, url
        numerator = "good" if "good" in ratio else "bad" if "bad" in ratio else None
        if numerator is None or "total" not in ratio:
            raise ValueError("a ratio metric needs good/total, bad/total or raw")
        top, source, url = self.query_of(ratio[numerator], numerator, where)
        total, total_source, _ = self.query_of(ratio["total"], "total", where)
        if total_source != source:
            raise ValueError(f"{numerator} and total read different data sources ({source}, {total_source})")
        query = f"{_over_window(top, window, counter)} / {_over_window(total, window, counter)}"
        return (query if numerator == "good" else f"1 - {query}"), source, url


def _metric_sources(sli: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    threshold = sli.get("thresholdMetric")
    if isinstance(threshold, dict) and isinstance(threshold.get("metricSource"), dict):
        found.append(("thresholdMetric", threshold["metricSource"]))
    ratio = sli.get("ratioMetric")
    for role in ("good", "bad", "total", "raw"):
        part = ratio.get(role) if isinstance(ratio, dict) else None
        if isinstance(part, dict) and isinstance(part.get("metricSource"), dict):
            found.append((role, part["metricSource"]))
    return found


def _budget_target(objective: dict[str, Any]) -> float:
    if isinstance(objective.get("target"), int | float):
        return float(objective["target"])
    if isinstance(objective.get("targetPercent"), int | float):
        return float(objective["targetPercent"]) / 100
    raise ValueError("the objective has neither target nor targetPercent")


def translate(documents: list[Document]) -> ImportResult:
    """Translate the SLOs of ``documents``; everything not translated is in ``result.skipped`` with its reason."""
    translator = _Translator(documents)
    result = translator.result
    for doc in documents:
        if doc.body.get("apiVersion") != API_VERSION:
            result.skipped.append(Skipped(doc.where, f"apiVersion {doc.body.get('apiVersion')!r} is not openslo/v1"))
        elif doc.kind == "SLO":
            try:
                translator.translate_slo(doc)
            except ValueError as exc:
                result.skipped.append(Skipped(doc.where, str(exc)))
    for doc in documents:
        key = f"{doc.kind}/{doc.name}"
        if doc.body.get("apiVersion") != API_VERSION or doc.kind == "SLO" or key in translator.used:
            continue
        if doc.kind in ("SLI", "DataSource"):
            result.skipped.append(Skipped(doc.where, f"no SLO in the input refers to this {doc.kind}"))
        else:
            result.skipped.append(Skipped(doc.where, f"kind {doc.kind or '(none)'} holds no measurement to translate"))
    return result
