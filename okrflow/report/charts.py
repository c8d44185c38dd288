"""One Plotly chart per key result: its value (top row) and score (bottom row) over the cycle.

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
- **Review**: a purple dashed line on the review date.

Figures are built as plain dicts and serialised without plotly's validation (``validate=False``): validating
the graph objects cost ~0.15 s per chart, more than everything else in the report. The only user text
handed to Plotly is the unit in the axis title, escaped (Plotly reads a subset of HTML in text).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Protocol

from okrflow.okr_model import formatting
from okrflow.okr_model.config import KeyResult
from okrflow.okr_model.scoring import BAND_COMMIT_SCORE
from okrflow.okr_model.types import MAINTAIN_KINDS, Band
from okrflow.store import HistoryPoint

__all__ = ["AlertMark", "kr_chart", "value_at_score"]

HEIGHT = 440
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


@dataclass(frozen=True)
class AlertMark:
    """When an alert of a KR last fired and resolved."""

    kind: str
    phase: str
    fired_at: datetime | None
    resolved_at: datetime | None


class TimeAxis(Protocol):
    def axis(self, value: datetime) -> str: ...


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


@cache
def _template() -> dict[str, Any]:
    import plotly.io as pio

    return pio.templates["plotly_white"].to_plotly_json()


def _line(x: Sequence[Any], y: Sequence[float], name: str, row: int, **style: Any) -> dict[str, Any]:
    axes = {"xaxis": "x", "yaxis": "y"} if row == 1 else {"xaxis": "x2", "yaxis": "y2"}
    return {"type": "scatter", "mode": "lines", "x": list(x), "y": list(y), "name": name, **axes, **style}


def _value_traces(kr: KeyResult, points: Sequence[HistoryPoint], start: datetime, end: datetime, show: TimeAxis):
    x0, x1 = show.axis(start), show.axis(end)
    traces = []
    if isinstance(kr.target, Band):
        low, high = kr.target
        traces.append(
            _line(
                [x0, x1],
                [low, low],
                "band",
                1,
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
                legendgroup="band",
            )
        )
        traces.append(
            _line(
                [x0, x1],
                [high, high],
                f"target band {formatting.target((low, high))}",
                1,
                fill="tonexty",
                fillcolor=COLORS["band"],
                line={"width": 0},
                legendgroup="band",
            )
        )
    else:
        name = "threshold" if kr.kind in MAINTAIN_KINDS else "target"
        traces.append(
            _line(
                [x0, x1],
                [kr.target] * 2,
                f"{name} {formatting.number(kr.target)}",
                1,
                line={"color": COLORS["target"], "dash": "dash"},
            )
        )
    if kr.kind not in MAINTAIN_KINDS or kr.baseline is not None:
        traces.append(
            _line(
                [x0, x1],
                [kr.start_value] * 2,
                f"baseline {formatting.number(kr.start_value)}",
                1,
                line={"color": COLORS["muted"], "dash": "dot"},
            )
        )
    if kr.kind not in MAINTAIN_KINDS:
        shares = pace_shares(kr)
        traces.append(
            _line(
                [show.axis(start + (end - start) * t) for t in shares],
                [value_at_score(kr, t * kr.success_score) for t in shares],
                "pace",
                1,
                line={"color": COLORS["pace"], "dash": "dashdot"},
            )
        )
    ok = [p for p in points if p.result.measurement == "ok" and p.result.value is not None]
    traces.append(
        _line(
            [show.axis(p.slot) for p in ok],
            [p.result.value for p in ok],
            "value",
            1,
            mode="lines+markers",
            line={"color": COLORS["value"]},
        )
    )
    return traces


def _score_traces(kr: KeyResult, points: Sequence[HistoryPoint], start: datetime, end: datetime, show: TimeAxis):
    x0, x1 = show.axis(start), show.axis(end)
    expected = [kr.success_score] * 2 if kr.kind in MAINTAIN_KINDS else [0.0, kr.success_score]
    traces = [_line([x0, x1], expected, "expected score", 2, line={"color": COLORS["pace"], "dash": "dashdot"})]
    scored = [p for p in points if p.result.score is not None]
    traces.append(
        _line(
            [show.axis(p.slot) for p in scored],
            [p.result.score for p in scored],
            "score",
            2,
            mode="lines+markers",
            line={"color": COLORS["score"]},
        )
    )
    if any(p.result.overridden for p in scored):
        computed = [p for p in scored if p.result.computed_score is not None]
        traces.append(
            _line(
                [show.axis(p.slot) for p in computed],
                [p.result.computed_score for p in computed],
                "computed score",
                2,
                mode="lines+markers",
                line={"color": COLORS["muted"], "dash": "dot"},
            )
        )
    gaps = [p for p in points if p.result.measurement != "ok"]
    if gaps:
        traces.append(
            _line(
                [show.axis(p.slot) for p in gaps],
                [0.0] * len(gaps),
                "no data / error",
                2,
                mode="markers",
                marker={"symbol": "x", "color": COLORS["muted"], "size": 9},
            )
        )
    latest = scored[-1] if scored else None
    fc = latest.result.forecast if latest is not None else None
    if latest is not None and fc:
        at, score = show.axis(latest.slot), latest.result.score
        traces.append(
            _line(
                [at, x1, x1, at],
                [score, fc["high"], fc["low"], score],
                "forecast interval",
                2,
                fill="toself",
                fillcolor=COLORS["cone"],
                line={"width": 0},
                hoverinfo="skip",
            )
        )
        traces.append(
            _line(
                [at, x1],
                [score, fc["score"]],
                f"forecast {formatting.score(fc['score'])}",
                2,
                line={"color": COLORS["score"], "dash": "dash"},
            )
        )
    return traces


def _vline(x: str, color: str, dash: str, width: float = 1.0) -> dict[str, Any]:
    return {
        "type": "line",
        "xref": "x",
        "yref": "paper",
        "x0": x,
        "x1": x,
        "y0": 0,
        "y1": 1,
        "line": {"color": color, "width": width, "dash": dash},
    }


def kr_chart(
    kr: KeyResult,
    points: Sequence[HistoryPoint],
    alerts: Sequence[AlertMark],
    start: datetime,
    end: datetime,
    review_cut: datetime,
    show: TimeAxis,
) -> str:
    """The KR's chart as an HTML fragment (a div and its script) that needs plotly.js already on the page."""
    import plotly.io as pio

    traces = _value_traces(kr, points, start, end, show) + _score_traces(kr, points, start, end, show)
    shapes = []
    for label, color, symbol, times in (
        ("fired", COLORS["fired"], "triangle-down", [(a.kind, a.fired_at) for a in alerts if a.fired_at]),
        ("resolved", COLORS["resolved"], "circle-open", [(a.kind, a.resolved_at) for a in alerts if a.resolved_at]),
    ):
        if not times:
            continue
        xs = [show.axis(t) for _, t in times]
        traces.append(
            _line(
                xs,
                [1.08] * len(xs),
                f"alert {label}",
                2,
                mode="markers",
                marker={"symbol": symbol, "color": color, "size": 11},
                text=[f"{kind} alert {label}" for kind, _ in times],
                hovertemplate="%{text}<br>%{x}<extra></extra>",
            )
        )
        shapes += [_vline(x, color, "dot") for x in xs]
    review_at = show.axis(review_cut - timedelta(days=1))
    shapes.append(_vline(review_at, COLORS["review"], "dash", 1.5))
    unit = f" ({html.escape(kr.unit)})" if kr.unit else ""
    layout = {
        "template": _template(),
        "height": HEIGHT,
        "margin": {"l": 64, "r": 20, "t": 26, "b": 20},
        "legend": {"orientation": "h", "x": 0, "y": -0.1, "font": {"size": 11}},
        "hovermode": "closest",
        "xaxis": {"type": "date", "range": [show.axis(start), show.axis(end)], "anchor": "y", "showticklabels": False},
        "xaxis2": {"type": "date", "range": [show.axis(start), show.axis(end)], "anchor": "y2", "matches": "x"},
        "yaxis": {"domain": [0.47, 1.0], "title": {"text": f"value{unit}"}, "anchor": "x"},
        "yaxis2": {"domain": [0.0, 0.40], "title": {"text": "score"}, "range": [-0.04, 1.14], "anchor": "x2"},
        "shapes": shapes,
        "annotations": [
            {
                "x": review_at,
                "xref": "x",
                "y": 1.0,
                "yref": "paper",
                "yanchor": "bottom",
                "text": "review",
                "showarrow": False,
                "font": {"color": COLORS["review"], "size": 11},
            }
        ],
    }
    return pio.to_html(
        {"data": traces, "layout": layout},
        validate=False,
        full_html=False,
        include_plotlyjs=False,
        div_id=f"chart-{kr.id}",
        default_height=f"{HEIGHT}px",
        config={"displaylogo": False, "responsive": True},
    )
