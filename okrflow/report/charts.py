"""One chart per key result, as compact data the page draws with Plotly: value (top row) and score (bottom row).

- **Value row**: the measured values, the baseline, the target line or a shaded ``[low, high]`` band, and the
  pace line: the value that would score the expected score at each time. It inverts the scoring rule, so a
  band's pace reaches the band's committed end where the expected score reaches 0.7 and bends there; maintain
  KRs show their threshold instead (their pace is to hold it).
- **Score row**: the score history (and the computed score where an override replaced it), runs without data
  as grey crosses at 0, the expected score, and the forecast cone from the latest score to the cycle's end.
  The cone stays in score units: the forecast projects scores, and scores clamp at 0 and 1, where no single
  value corresponds to them.
- **Alerts**: dotted vertical lines through both rows with markers above the score row, red when an alert of the
  KR (or of its source) fired and green when it resolved. The store keeps the latest of each per alert.
- **Review**: a purple dashed line on the review date (drawn by the page for every chart).

A chart is a list of traces, each ``{"s": style, "n": name, "x": [...], "y": [...]}``: the style (colours,
dashes, which row) is written once per page in ``STYLES``, times are minutes after the cycle's start
(``TimeCode``), delta-encoded, and numbers are rounded to what a chart can show. Long series are thinned
for display (``okrflow.report.downsample``, ``MAX_DRAWN`` points a line); the page says so on the card. No
plotly figure objects are built: the page's script turns this data into Plotly traces
(``templates/charts.js.j2``). The only user text handed to Plotly is the unit in the axis title, escaped
(Plotly reads a subset of HTML in text).
"""

from __future__ import annotations

import functools
import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from okrflow.okr_model import formatting
from okrflow.okr_model.config import KeyResult
from okrflow.okr_model.scoring import BAND_COMMIT_SCORE
from okrflow.okr_model.types import MAINTAIN_KINDS, Band
from okrflow.report.downsample import keep_indices
from okrflow.store.cycle_histories import CycleSeries

__all__ = ["MAX_DRAWN", "AlertMark", "TimeCode", "kr_chart", "page_data", "value_at_score"]

HEIGHT = 440
MAX_DRAWN = 100
"""Points drawn per line at most: 49 spans' lowest and highest points plus the first and the last (about 25
pixels a span on a 1,250-pixel chart; 1,000 KRs' charts fit in under 4 MB of HTML)."""
COLORS = {
    "value": "#1f5fa8",
    "score": "#2b8a3e",
    "pace": "#e8590c",
    "target": "#c92a2a",
    "band": "rgba(64,192,87,0.2)",
    "cone": "rgba(43,138,62,0.15)",
    "muted": "#868e96",
    "fired": "#c92a2a",
    "resolved": "#2b8a3e",
    "review": "#7048e8",
}
STYLES: dict[str, dict[str, Any]] = {  # "row" picks the axes (1: value, 2: score); the rest is Plotly's trace
    "band_low": {"row": 1, "line": {"width": 0}, "showlegend": False, "hoverinfo": "skip", "legendgroup": "band"},
    "band": {"row": 1, "fill": "tonexty", "fillcolor": COLORS["band"], "line": {"width": 0}, "legendgroup": "band"},
    "target": {"row": 1, "line": {"color": COLORS["target"], "dash": "dash"}},
    "baseline": {"row": 1, "line": {"color": COLORS["muted"], "dash": "dot"}},
    "pace": {"row": 1, "line": {"color": COLORS["pace"], "dash": "dashdot"}},
    "value": {"row": 1, "mode": "lines+markers", "line": {"color": COLORS["value"]}},
    "expected": {"row": 2, "line": {"color": COLORS["pace"], "dash": "dashdot"}},
    "score": {"row": 2, "mode": "lines+markers", "line": {"color": COLORS["score"]}},
    "computed": {"row": 2, "mode": "lines+markers", "line": {"color": COLORS["muted"], "dash": "dot"}},
    "gaps": {"row": 2, "mode": "markers", "marker": {"symbol": "x", "color": COLORS["muted"], "size": 9}},
    "cone": {"row": 2, "fill": "toself", "fillcolor": COLORS["cone"], "line": {"width": 0}, "hoverinfo": "skip"},
    "forecast": {"row": 2, "line": {"color": COLORS["score"], "dash": "dash"}},
    "fired": {
        "row": 2,
        "mode": "markers",
        "marker": {"symbol": "triangle-down", "color": COLORS["fired"], "size": 11},
        "hovertemplate": "%{text}<br>%{x}<extra></extra>",
    },
    "resolved": {
        "row": 2,
        "mode": "markers",
        "marker": {"symbol": "circle-open", "color": COLORS["resolved"], "size": 11},
        "hovertemplate": "%{text}<br>%{x}<extra></extra>",
    },
}
ALERT_Y = 1.08  # alert markers sit above the score row's [0, 1]


@dataclass(frozen=True)
class AlertMark:
    """When an alert of a KR last fired and resolved."""

    kind: str
    phase: str
    fired_at: datetime | None
    resolved_at: datetime | None


class TimeCode:
    """Chart times as numbers: minutes after ``origin``, the cycle's start as wall time in the config's zone
    (Plotly reads naive times: it drops zones). A schedule's runs fall on whole minutes, so most are integers;
    the page rounds to the second. Every KR shares the runs' slots, so each slot is converted once."""

    def __init__(self, origin: datetime, tz: Any):
        self.origin, self.tz = origin, tz
        self._seen: dict[datetime, float] = {}
        self._raw: dict[Any, float] = {}

    def __call__(self, at: datetime) -> float:
        minutes = self._seen.get(at)
        if minutes is None:
            minutes = self._seen[at] = (at.astimezone(self.tz).replace(tzinfo=None) - self.origin).total_seconds() / 60
        return minutes

    def run(self, series: CycleSeries, i: int) -> float:
        """The ``i``-th run's slot of ``series``, looked up by its stored form: converted once per page."""
        raw = series.raw_slots[i]
        minutes = self._raw.get(raw)
        if minutes is None:
            minutes = self._raw[raw] = self(series.slot(i))
        return minutes


def value_at_score(kr: KeyResult, score: float) -> float:
    """The value a progress KR needs to score ``score``: the inverse of ``okrflow.okr_model.scoring.progress``."""
    start = kr.start_value
    if isinstance(kr.target, Band):
        near, far = sorted(kr.target, key=lambda end: abs(end - start))  # committed end, stretch end
        if score <= BAND_COMMIT_SCORE:
            return start + score / BAND_COMMIT_SCORE * (near - start)
        return near + (score - BAND_COMMIT_SCORE) / (1 - BAND_COMMIT_SCORE) * (far - near)
    return start + score * (kr.target - start)


def pace_shares(kr: KeyResult) -> list[float]:
    """Elapsed shares where the pace line has a corner: start, end, and where a band's pace meets the band."""
    shares = {0.0, 1.0}
    bend = BAND_COMMIT_SCORE / kr.success_score
    if isinstance(kr.target, Band) and 0 < bend < 1:
        shares.add(bend)
    return sorted(shares)


@functools.lru_cache(maxsize=4096)
def _score_number(score: float) -> float | int | None:
    """``formatting.rounded`` of a score rounded to 3 decimals: scores lie in [0, 1], so about a thousand of
    them repeat on every chart of a page."""
    return formatting.rounded(score)


def _trace(style: str, name: str, xs: Sequence[float], ys: Sequence[float], **extra: Any) -> dict[str, Any]:
    """A trace of ``style``: times delta-encoded (each the change from the one before, the first from 0); the
    score row's numbers to 3 decimals (scores are shown with 2), the value row's to 5 significant digits."""
    deltas: list[float | int | None] = []
    before = 0.0
    for x in xs:
        delta = x - before
        deltas.append(int(delta) if delta.is_integer() else formatting.rounded(delta, 9))  # finite: times
        before = x
    if STYLES[style]["row"] == 2:
        return {"s": style, "n": name, "x": deltas, "y": [_score_number(round(y, 3)) for y in ys], **extra}
    return {"s": style, "n": name, "x": deltas, "y": [formatting.rounded(y) for y in ys], **extra}


def _thinned(style: str, name: str, series: CycleSeries, runs: Sequence[int], ys: Sequence[float], at: TimeCode):
    """A line of the runs ``runs`` (indices into ``series``) with values ``ys``, thinned for display: markers only
    on an unthinned line."""
    kept = keep_indices(ys, MAX_DRAWN)
    extra = {"m": "lines"} if len(kept) < len(runs) else {}
    return _trace(style, name, [at.run(series, runs[i]) for i in kept], [ys[i] for i in kept], **extra)


def _value_traces(kr: KeyResult, series: CycleSeries, x0: float, x1: float, at: TimeCode):
    traces = []
    if isinstance(kr.target, Band):
        low, high = kr.target
        traces.append(_trace("band_low", "band", [x0, x1], [low, low]))
        traces.append(_trace("band", f"target band {formatting.target((low, high))}", [x0, x1], [high, high]))
    else:
        name = "threshold" if kr.kind in MAINTAIN_KINDS else "target"
        traces.append(_trace("target", f"{name} {formatting.number(kr.target)}", [x0, x1], [kr.target] * 2))
    if kr.kind not in MAINTAIN_KINDS or kr.baseline is not None:
        traces.append(
            _trace("baseline", f"baseline {formatting.number(kr.start_value)}", [x0, x1], [kr.start_value] * 2)
        )
    if kr.kind not in MAINTAIN_KINDS:
        shares = pace_shares(kr)
        traces.append(
            _trace(
                "pace",
                "pace",
                [x0 + (x1 - x0) * t for t in shares],
                [value_at_score(kr, t * kr.success_score) for t in shares],
            )
        )
    values = series.values
    ok = [i for i, good in enumerate(series.ok) if good and values[i] is not None]
    traces.append(_thinned("value", "value", series, ok, [values[i] for i in ok], at))  # type: ignore[misc]
    return traces


def _score_traces(kr: KeyResult, series: CycleSeries, x0: float, x1: float, at: TimeCode):
    expected = [kr.success_score] * 2 if kr.kind in MAINTAIN_KINDS else [0.0, kr.success_score]
    traces = [_trace("expected", "expected score", [x0, x1], expected)]
    scores = series.scores
    scored = [i for i, score in enumerate(scores) if score is not None]
    traces.append(_thinned("score", "score", series, scored, [scores[i] for i in scored], at))  # type: ignore[misc]
    if any(series.overridden[i] for i in scored):
        computed = [i for i in scored if series.computed[i] is not None]
        values = [series.computed[i] for i in computed]
        traces.append(_thinned("computed", "computed score", series, computed, values, at))  # type: ignore[arg-type]
    gaps = [i for i, good in enumerate(series.ok) if not good]
    if gaps:
        drawn = [gaps[i] for i in keep_indices([0.0] * len(gaps), MAX_DRAWN)]
        traces.append(_trace("gaps", "no data / error", [at.run(series, i) for i in drawn], [0] * len(drawn)))
    latest = series.latest_scored
    fc = latest.result.forecast if latest is not None else None
    if latest is not None and fc:
        x, score = at(latest.slot), latest.result.score
        traces.append(_trace("cone", "forecast interval", [x, x1, x1, x], [score, fc["high"], fc["low"], score]))
        traces.append(_trace("forecast", f"forecast {formatting.score(fc['score'])}", [x, x1], [score, fc["score"]]))
    return traces


def kr_chart(
    kr: KeyResult,
    series: CycleSeries,
    alerts: Sequence[AlertMark],
    start: datetime,
    end: datetime,
    at: TimeCode,
) -> dict[str, Any]:
    """The KR's chart data: ``t`` its traces, ``u`` the value axis title, ``runs``/``drawn`` when a line is
    thinned (the most points of a line, and how many of them are drawn)."""
    x0, x1 = at(start), at(end)
    traces = _value_traces(kr, series, x0, x1, at) + _score_traces(kr, series, x0, x1, at)
    for label in ("fired", "resolved"):
        times = [(a.kind, a.fired_at if label == "fired" else a.resolved_at) for a in alerts]
        marks = [(kind, t) for kind, t in times if t is not None]
        if marks:
            xs = [at(t) for _, t in marks]
            text = [f"{kind} alert {label}" for kind, _ in marks]
            traces.append(_trace(label, f"alert {label}", xs, [ALERT_Y] * len(xs), text=text))
    unit = f" ({html.escape(kr.unit)})" if kr.unit else ""
    chart: dict[str, Any] = {"t": traces, "u": f"value{unit}"}
    thinned = [t for t in traces if t.get("m") == "lines"]
    if thinned:
        chart["drawn"] = max(len(t["x"]) for t in thinned)
        chart["runs"] = len(series)
    return chart


LAYOUT: dict[str, Any] = {  # the cartesian part of plotly.py's "plotly_white" template, without importing it
    "paper_bgcolor": "white",
    "plot_bgcolor": "white",
    "font": {"color": "#2a3f5f"},
    "hoverlabel": {"align": "left"},
    "hovermode": "closest",
    "height": HEIGHT,
    "margin": {"l": 64, "r": 20, "t": 26, "b": 20},
    "legend": {"orientation": "h", "x": 0, "y": -0.1, "font": {"size": 11}},
    "shapedefaults": {"line": {"color": "#2a3f5f"}},
}
AXIS = {
    "gridcolor": "#EBF0F8",
    "linecolor": "#EBF0F8",
    "ticks": "",
    "zerolinecolor": "#EBF0F8",
    "zerolinewidth": 2,
    "automargin": True,
    "title": {"standoff": 15},
}


def page_data(start: datetime, end: datetime, review_at: datetime, at: TimeCode) -> dict[str, Any]:
    """What every chart shares, written once per page: the time origin, the cycle's range, the review line, the
    trace styles, the layout and Plotly's config."""
    return {
        "origin": at.origin.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "range": [at(start), at(end)],
        "review": at(review_at),
        "styles": STYLES,
        "colors": COLORS,
        "layout": LAYOUT,
        "axis": AXIS,
        "config": {"displaylogo": False, "responsive": True},
    }
