"""``okrflow report``: one self-contained HTML file that opens offline (plotly.js is inlined once).

It shows the OKR tree (company -> team -> individual) with the latest scores, the mid-cycle review, and per
key result a chart of its value and score over the cycle (see ``okrflow.report.charts``). The charts' data is
one JSON block, each line thinned to a bounded number of points, drawn by the page as a chart nears the
viewport: the page's size and the browser's work no longer grow with the runs stored (a quarter of hourly runs
for 1,000 KRs was 113 MB of HTML). Every KR's runs are read in two scans as lean series (slot, value, score:
what a chart draws), with full records only for the few runs the page shows (``okrflow.store.cycle_histories``),
and each KR is summed up and dropped before the next batch is read, so memory does not grow with the runs either.

The review is judged at the end of the cycle's review day: before that day it previews the latest run; after
it, it keeps what stood at the review, while the tree and the charts always show the latest run. The review
lists the key results off track or at risk, each one's change from its first score of the cycle, the gates
that capped or held scores, and the overrides, abandons and check-ins with their author and reason.

Python gathers plain records here; the Jinja2 template formats them with autoescape on, so user text (titles,
reasons, details) is always escaped. Only plotly.js and the chart data (JSON with every ``<`` escaped) are marked
safe; the page's chart script is the template's own text (``charts.js.j2``). No Prefect, MLflow,
Great Expectations or pandas is imported.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from okrflow.alerts.repository import AlertRepository
from okrflow.okr_model.config import Config, KeyResult, Objective
from okrflow.okr_model.pacing import elapsed_share
from okrflow.okr_model.rollup import children_of
from okrflow.report.atomic_file import write_atomically
from okrflow.report.charts import AlertMark, TimeCode, kr_chart, page_data
from okrflow.report.page_format import STATUSES, Formatter
from okrflow.store import AnnotationRecord, HistoryPoint, KRResult, ObjectiveResult, StatusSnapshot, Store
from okrflow.store.cycle_histories import CycleSeries, cycle_series
from okrflow.store.gc_pause import gc_paused

__all__ = ["build_report", "write_report"]

TEMPLATES = Path(__file__).parent / "templates"

Progress = Callable[[int, int], None]
"""``progress(done, total)``: building a report reads and charts each KR (total is twice the KRs)."""
LEVELS = ("company", "team", "individual")


@dataclass(frozen=True)
class KRView:
    """One KR's cycle summed up: what its card, chart and review rows need (its points are not kept)."""

    objective: Objective
    kr: KeyResult
    runs: int = 0
    last: HistoryPoint | None = None
    at_review: HistoryPoint | None = None  # the last run before the review cut
    first_scored: HistoryPoint | None = None
    chart: dict[str, Any] = field(default_factory=dict)
    alerts: list[AlertMark] = field(default_factory=list)
    annotations: list[AnnotationRecord] = field(default_factory=list)

    @property
    def latest(self) -> KRResult | None:
        return self.last.result if self.last else None

    @property
    def owner(self) -> str:
        return self.kr.owner or self.objective.owner or ""


@dataclass(frozen=True)
class TreeRow:
    """A row of the OKR tree: an objective (``kr`` None) or one of its key results."""

    depth: int
    objective: Objective
    level: str
    result: ObjectiveResult | None = None
    kr: KeyResult | None = None
    kr_result: KRResult | None = None


@dataclass(frozen=True)
class Change:
    view: KRView
    first: HistoryPoint
    last: HistoryPoint

    @property
    def delta(self) -> float:
        return (self.last.result.score or 0.0) - (self.first.result.score or 0.0)


@dataclass(frozen=True)
class Review:
    """The mid-cycle review as of the review day's end (or the latest run while that day is ahead)."""

    date: date
    upcoming: bool
    as_of: datetime | None
    attention: list[tuple[KRView, HistoryPoint]]  # off track first, then at risk
    changes: list[Change]
    gated: list[tuple[KRView, HistoryPoint]]
    annotations: list[AnnotationRecord]


def write_report(
    config: Config, store: Store, out_path: Path, now: datetime | None = None, progress: Progress | None = None
) -> Path:
    """Render the report of the config's cycle from the store into ``out_path`` (parents created), atomically:
    a web server reading it meanwhile serves the old page until the new one is whole."""
    return write_atomically(Path(out_path), build_report(config, store, now, progress))


def build_report(config: Config, store: Store, now: datetime | None = None, progress: Progress | None = None) -> str:
    """The whole report as one HTML string; ``progress(done, total)`` counts each KR's read and chart.

    Built with the cyclic garbage collector paused (``okrflow.store.gc_pause``, the documented exception): the
    page's views, charts and rendered parts are acyclic and stay alive until the page is written, so collections
    only walk them again and again (1,000 KRs of daily runs: 1.43-1.49 s CPU paused, 1.59-1.76 s not).
    """
    with gc_paused():
        return _build_report(config, store, now, progress)


def _build_report(config: Config, store: Store, now: datetime | None, progress: Progress | None) -> str:
    import plotly
    import plotly.offline

    now = now or datetime.now(UTC)
    start, end = config.cycle_bounds()
    review_cut = datetime.combine(config.cycle.review_date + timedelta(days=1), time(), config.tz)
    show = Formatter(config)
    at = TimeCode(start.astimezone(config.tz).replace(tzinfo=None), config.tz)
    views = gather(config, store, start, end, review_cut, at, progress or _no_progress)
    snapshot = store.status()
    chart_data = {
        "page": page_data(start, end, review_cut - timedelta(days=1), at),
        "charts": {v.kr.id: v.chart for v in views},
    }
    plotly_js = plotly.offline.get_plotlyjs()
    if "</script" in plotly_js.lower():  # inlined verbatim, so it must not close its own script element
        raise RuntimeError("the bundled plotly.js contains '</script' and cannot be inlined")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    counts = dict.fromkeys(STATUSES, 0)
    for v in views:
        counts[show.status(v.latest.status if v.latest else None)] += 1
    return env.get_template("report.html.j2").render(
        cycle=config.cycle,
        show=show,
        generated_at=now,
        run=snapshot.run if snapshot else None,
        elapsed=elapsed_share(start, end, snapshot.run.slot if snapshot else now),
        review_share=elapsed_share(start, end, review_cut - timedelta(days=1)),
        counts=counts,
        tree=tree_rows(config, snapshot.objectives if snapshot else [], snapshot.key_results if snapshot else []),
        reasons=_latest_reasons(snapshot, views),
        review=review(views, review_cut, now, start),
        groups=_by_objective(views),
        chart_data=Markup(script_json(chart_data)),
        plotly_js=Markup(plotly_js),
        plotly_version=plotly.__version__,
    )


def _latest_reasons(snapshot: StatusSnapshot | None, views: Sequence[KRView]) -> dict[str, str]:
    """Why each KR's card shows its status: the latest run's reason (history reads carry none), for the KRs
    whose latest point is that run."""
    if snapshot is None:
        return {}
    latest_run = {v.kr.id: v.last.run_id for v in views if v.last}
    return {r.kr_id: r.reason for r in snapshot.key_results if r.reason and latest_run.get(r.kr_id) == snapshot.run.id}


def _no_progress(done: int, total: int) -> None:
    """A report nobody watches being built."""


def _no_slot(raw: Any) -> datetime:
    """The slot converter of a KR without runs: never called."""
    raise AssertionError(f"no run to convert: {raw!r}")


def script_json(value: Any) -> str:
    """``value`` as JSON to inline in a ``<script type="application/json">``: compact, every ``<`` escaped (so no
    ``</script>`` or ``<!--`` in user text can end the element); ``JSON.parse`` reads it back unchanged."""
    return json.dumps(value, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


def gather(
    config: Config,
    store: Store,
    start: datetime,
    end: datetime,
    review_cut: datetime,
    at: TimeCode,
    progress: Progress = _no_progress,
) -> list[KRView]:
    """Every configured KR's runs within the cycle [start, end) summed up, its chart, alerts and annotations."""
    # Alert states by what they concern (a KR, or a source for source_error), in the store's order: each KR
    # looks up its own instead of scanning every state (1,000 KRs x 1,000 states was 1M checks).
    concerning: dict[tuple[bool, str | None], list[tuple[int, Any]]] = {}
    for position, s in enumerate(AlertRepository(store.engine).states(None).values()):
        if s.state.fired_at is not None and start <= s.state.fired_at < end:
            concerning.setdefault((s.kind == "source_error", s.subject), []).append((position, s))
    annotations_by_kr: dict[str, list[AnnotationRecord]] = {}
    for a in store.annotations():
        if start <= a.effective_at < end:
            annotations_by_kr.setdefault(a.kr_id, []).append(a)
    pairs = config.key_results()
    by_id = {kr.id: (objective, kr) for objective, kr in pairs}
    total, done = 2 * len(pairs), 0
    progress(0, total)

    def view(objective: Objective, kr: KeyResult, series: CycleSeries) -> KRView:
        source = kr.metric.source if kr.metric else None
        mine = concerning.get((False, kr.id), []) + concerning.get((True, source), [])
        marks = [
            AlertMark(s.kind, s.state.phase, s.state.fired_at, s.state.resolved_at)
            for _, s in sorted(mine, key=lambda item: item[0])
        ]
        alerts = sorted(marks, key=lambda m: m.fired_at or start)
        return KRView(
            objective=objective,
            kr=kr,
            runs=len(series),
            last=series.last,
            at_review=series.before_cut,
            first_scored=series.first_scored,
            chart=kr_chart(kr, series, alerts, start, end, at),
            alerts=alerts,
            annotations=annotations_by_kr.get(kr.id, []),
        )

    views: dict[str, KRView] = {}
    for series in cycle_series(store.engine, list(by_id), start, end, review_cut):  # KRs with runs, as read
        progress(2 * done + 1, total)
        views[series.kr_id] = view(*by_id[series.kr_id], series)
        done += 1
        progress(2 * done, total)
    for objective, kr in pairs:  # then those without a run in the cycle
        if kr.id not in views:
            views[kr.id] = view(objective, kr, CycleSeries(kr.id, _no_slot))
            done += 1
            progress(2 * done, total)
    return [views[kr.id] for _, kr in pairs]


def tree_rows(config: Config, objectives: Sequence[ObjectiveResult], results: Sequence[KRResult]) -> list[TreeRow]:
    """The objective tree depth first, each objective followed by its KRs and then its children."""
    by_objective = {o.objective_id: o for o in objectives}
    by_kr = {r.kr_id: r for r in results}
    children = children_of(config.objectives)
    rows: list[TreeRow] = []

    def visit(objective: Objective, depth: int) -> None:
        level = objective.level or LEVELS[min(depth, len(LEVELS) - 1)]
        rows.append(TreeRow(depth, objective, level, by_objective.get(objective.id)))
        for kr in objective.key_results:
            rows.append(TreeRow(depth + 1, objective, level, kr=kr, kr_result=by_kr.get(kr.id)))
        for child in children.get(objective.id, []):
            visit(child, depth + 1)

    for root in children.get(None, []):
        visit(root, 0)
    return rows


def review(views: Sequence[KRView], cut: datetime, now: datetime, start: datetime) -> Review:
    """What stood at the review cut: KRs off track or at risk, changes since the first score, gates, annotations."""
    attention, changes, gated = [], [], []
    slots = []
    for view in views:
        point = view.at_review
        if point is None:
            continue
        slots.append(point.slot)
        r = point.result
        if r.status in ("off_track", "at_risk"):
            attention.append((view, point))
        first = view.first_scored
        if first is not None and r.score is not None:
            changes.append(Change(view, first, point))
        if r.gates or r.held or not r.trusted:
            gated.append((view, point))
    attention.sort(key=lambda item: item[1].result.status != "off_track")
    annotations = [a for v in views for a in v.annotations if start <= a.effective_at < cut]
    return Review(
        date=(cut - timedelta(days=1)).date(),
        upcoming=now < cut,
        as_of=max(slots) if slots else None,
        attention=attention,
        changes=changes,
        gated=gated,
        annotations=sorted(annotations, key=lambda a: a.effective_at),
    )


def _by_objective(views: Sequence[KRView]) -> list[tuple[Objective, list[KRView]]]:
    groups: dict[str, tuple[Objective, list[KRView]]] = {}
    for view in views:
        groups.setdefault(view.objective.id, (view.objective, []))[1].append(view)
    return list(groups.values())
