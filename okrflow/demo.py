"""``okrflow demo``: a self-contained world under one work folder (a SQLite ticket warehouse, a local
MLflow store with a champion and a challenger, a real Prometheus with history scraping a live demo
exporter, Great Expectations suites), evaluations over simulated time, and the resulting KR tree.
Prometheus and the exporter are stopped before it returns: no process is left running. The demo takes a
while (Prometheus, one evaluation per slot), so it tells ``progress(done, total, stage)`` at each step.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from importlib.resources import files
from pathlib import Path

from rich.console import Console

EXAMPLE_CONFIG = Path(str(files("okrflow.examples").joinpath("example.yaml")))
"""config/example.yaml of the checkout; in an installed wheel, the copy shipped as ``okrflow.examples``."""

DEMO_CONFIG_NAME = "okrflow.yaml"
"""The demo's copy of the example, in its work folder: ``okrflow -c okrflow-demo/okrflow.yaml status`` afterwards."""

MIN_HISTORY_DAYS = 14
"""Below this many days of the current quarter behind now, the demo uses a 13-week cycle around now instead."""

__all__ = [
    "DEMO_CONFIG_NAME",
    "EXAMPLE_CONFIG",
    "StageProgress",
    "demo_config_text",
    "demo_cycle",
    "demo_slots",
    "run_demo",
    "write_demo_config",
]

StageProgress = Callable[[int, int, str | None], None]
"""``progress(done, total, stage)``: steps done of all, and the one under way (None when all are done)."""

_CYCLE_LINE = re.compile(r"^cycle: \{.*\}[ \t]*$", re.MULTILINE)
_EXAMPLE_FOLDER = "../okrflow-demo/"  # the example's relative paths to the demo world, seen from config/


def demo_cycle(today: date) -> tuple[str, date, date]:
    """A cycle that holds ``today`` with at least two weeks of history behind it: the calendar quarter, or in a
    quarter's first two weeks a 13-week cycle ending four weeks after today (a run outside the cycle is refused,
    and the demo's first slot lies a week into it)."""
    from okrflow.starter import current_quarter

    name, start, end = current_quarter(today)
    if (today - start).days >= MIN_HISTORY_DAYS:
        return name, start, end
    end = today + timedelta(weeks=4)
    start = end - timedelta(weeks=13) + timedelta(days=1)
    return f"{name}-demo-13w", start, end


def demo_config_text(example: str, today: date, schema: Path | None = None) -> str:
    """The example config with its cycle set to ``demo_cycle(today)`` and its demo-world paths made relative to
    the demo's work folder (where the copy is written); everything else as the example says it."""
    name, start, end = demo_cycle(today)
    review = start + (end - start) / 2
    line = f"cycle: {{name: {name}, start: {start}, end: {end}, review: {review}}}"
    text, count = _CYCLE_LINE.subn(line, example)
    if count != 1:
        raise ValueError(f"the example config must have exactly one one-line 'cycle: {{...}}', found {count}")
    text = text.replace(_EXAMPLE_FOLDER, "")
    if schema is not None:
        text = text.replace("$schema=okrflow.schema.json", f"$schema={schema}")
    header = (
        f"# Written by `okrflow demo` from the packaged example config, with the cycle set around {today}\n"
        "# (a run outside the cycle is refused) and its paths relative to this folder.\n"
    )
    return header + text


def write_demo_config(workdir: Path, now: datetime) -> Path:
    """Write the demo's config (see ``demo_config_text``) into ``workdir``; today is read in the example's zone."""
    from okrflow.connectors.registry import default_registry
    from okrflow.okr_model.loader import load_config

    today = now.astimezone(load_config(EXAMPLE_CONFIG, default_registry()).tz).date()
    schema = EXAMPLE_CONFIG.parent / "okrflow.schema.json"
    text = demo_config_text(EXAMPLE_CONFIG.read_text(encoding="utf-8"), today, schema if schema.exists() else None)
    path = workdir / DEMO_CONFIG_NAME
    path.write_text(text, encoding="utf-8")
    return path


def demo_slots(start: datetime, end: datetime, now: datetime, runs: int) -> list[datetime]:
    """``runs`` slots spread from a week into the cycle up to now (or the cycle's end if it is over)."""
    first = start + timedelta(days=7)
    last = min(now, end - timedelta(seconds=1)).replace(microsecond=0)
    if runs == 1 or last <= first:
        return [max(first, last)]
    step = (last - first) / (runs - 1)
    return [(first + step * i).replace(microsecond=0) for i in range(runs)]


class _Steps:
    """The demo's steps as they start, told to a ``StageProgress`` (or to nobody)."""

    def __init__(self, total: int, progress: StageProgress | None):
        self.total, self.started, self.progress = total, 0, progress

    def start(self, stage: str) -> None:
        if self.progress is not None:
            self.progress(self.started, self.total, stage)
        self.started += 1

    def finish(self) -> None:
        if self.progress is not None:
            self.progress(self.total, self.total, None)


def run_demo(
    workdir: Path, runs: int, console: Console, now: datetime | None = None, progress: StageProgress | None = None
) -> None:
    """Build the demo world under ``workdir`` and evaluate the example config, its cycle set around ``now``
    (``workdir/okrflow.yaml``), ``runs`` times; ``progress`` is told each step (the CLI draws it)."""
    from okrflow.connectors.registry import default_registry
    from okrflow.demo_world import (
        DemoExporter,
        DemoWebhook,
        describe,
        make_warehouse,
        move_alias,
        prometheus_history,
        restore_alias,
        seed_mlflow_file,
    )
    from okrflow.flows.pipeline import evaluate
    from okrflow.localprom import PROMETHEUS_MISSING, LocalPrometheus, prometheus_binary
    from okrflow.okr_model.loader import load_config
    from okrflow.store import AnnotationRecord, Store
    from okrflow.views import status_table

    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    warehouse, mlflow_db, store_path = workdir / "warehouse.db", workdir / "mlflow.db", workdir / "okrflow.db"
    os.environ["WAREHOUSE_URL"] = f"sqlite:///{warehouse.resolve()}"
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{mlflow_db.resolve()}"
    os.environ["OKRFLOW_STORE_URL"] = f"sqlite:///{store_path.resolve()}"
    os.environ.setdefault("PROMETHEUS_URL", "http://127.0.0.1:9")  # replaced below when Prometheus starts

    now = (now or datetime.now(UTC)).replace(microsecond=0)
    config_path = write_demo_config(workdir, now)
    config = load_config(config_path, default_registry())
    start, end = config.cycle_bounds()
    slots = demo_slots(start, end, now, runs)
    steps = _Steps(3 + len(slots) + 2 + 1, progress)  # set-up, the runs, the champion twice, the report
    console.print(f"[bold]okrflow demo[/] in {workdir}/")
    steps.start("building the warehouse")
    count = make_warehouse(warehouse, start, (end - start).days)
    console.print(f"  warehouse.db: {count} support tickets over {config.cycle.name}")
    steps.start("seeding MLflow")
    seed_mlflow_file(mlflow_db, start, min(end, now))
    console.print("  mlflow.db: model ticket-classifier, v1 @challenger, v2 @champion, F1 logged daily")

    with contextlib.ExitStack() as stack:
        hook = stack.enter_context(DemoWebhook())
        os.environ["OKRFLOW_ALERT_WEBHOOK"] = hook.url
        steps.start("starting Prometheus")
        if prometheus_binary() is None:
            console.print(f"  [yellow]prometheus skipped:[/] {PROMETHEUS_MISSING}; its KRs will show no data")
        else:
            exporter = stack.enter_context(DemoExporter())
            history = prometheus_history(slots[:-1], start, end)  # the last slot reads the live exporter
            prom = stack.enter_context(LocalPrometheus(workdir / "prometheus", [exporter.target], history=history))
            os.environ["PROMETHEUS_URL"] = prom.url
            # the live slot: the first whole second at which the exporter's rate (two scrapes) is there
            slots[-1] = _first_slot_with(prom.url, "rate(request_latency_seconds_count{instance!='history'}[1m]) > 0")
            console.print(f"  prometheus at {prom.url}: cycle history imported, scraping the demo exporter")
        config = load_config(config_path, default_registry())  # picks up PROMETHEUS_URL
        with Store.open(os.environ["OKRFLOW_STORE_URL"]) as store:
            for index, slot in enumerate(slots):
                steps.start("evaluating the cycle so far")
                if index == len(slots) // 2:
                    store.add_annotation(
                        AnnotationRecord("agent-adoption", "checkin", 55.0, "survey of 40 agents", "demo", slot, slot)
                    )
                record = evaluate(config, store, slot)
                kinds = _scored_by_kind(config, record)
                console.print(
                    f"  run at {slot:%Y-%m-%d %H:%M}: {record.status}, scored "
                    + ", ".join(f"{k} {n}/{t}" for k, (n, t) in sorted(kinds.items()))
                )
            console.print(f"  alerts delivered to the team webhook during those runs: {len(hook.messages)} messages")
            snapshot = store.status()
            assert snapshot is not None
            status_table(snapshot.run, snapshot.objectives, snapshot.key_results, config, console)

            console.print("\n[bold]Alerts[/]: the champion model is swapped for a worse one, then restored")
            tracking = os.environ["MLFLOW_TRACKING_URI"]
            slot = slots[-1]
            for label, change in (("degraded", "swap"), ("restored", "restore")):
                steps.start(f"alerts: the champion {label}")
                if change == "swap":
                    previous = move_alias(tracking, "champion", "challenger")
                else:
                    restore_alias(tracking, "champion", previous)
                # a new slot (slots are whole seconds; the same slot would replace the run before)
                slot = max(datetime.now(UTC).replace(microsecond=0), slot + timedelta(seconds=1))
                before = len(hook.messages)
                record = evaluate(config, store, slot)
                f1 = next(kr for kr in record.key_results if kr.kr_id == "classifier-f1")
                console.print(f"  champion {label}: classifier-f1 = {f1.value:.4f}, score {f1.score:.2f}")
                if f1.lineage.get("alias_moved_from"):  # okrflow's own record: MLflow keeps no alias history
                    console.print(f"    {f1.detail}", markup=False, highlight=False)
                deploys = next(kr for kr in record.key_results if kr.kr_id == "model-deployments")
                console.print(
                    f"    model-deployments = {deploys.value:.0f}: {deploys.detail}", markup=False, highlight=False
                )
                for message in hook.messages[before:]:
                    for line in describe(message):
                        if "classifier-f1" in line:
                            console.print(f"    {line}", markup=False, highlight=False)
    from okrflow.report.html import write_report

    steps.start("writing the report")
    with Store.open(os.environ["OKRFLOW_STORE_URL"]) as store:
        report = write_report(config, store, workdir / "report.html")
    steps.finish()
    console.print(f"\nReport: {report.resolve()} (open it in a browser; it works offline)")
    console.print(
        f"Config: {config_path} (the example, cycle {config.cycle.name} around today; store {store_path})\n"
        f"The demo's Prometheus is stopped. Explore the results with:\n"
        f"  okrflow -c {config_path} status\n"
        f"  okrflow -c {config_path} history classifier-f1",
        markup=False,
        highlight=False,
    )


def _first_slot_with(prometheus_url: str, query: str, timeout_s: float = 30) -> datetime:
    """The current whole second, once ``query`` evaluated at it has data (polled: as soon as it is there)."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        slot = datetime.now(UTC).replace(microsecond=0)
        params = {"query": query, "time": f"{slot.timestamp():.0f}"}
        if httpx.get(f"{prometheus_url}/api/v1/query", params=params, timeout=2).json().get("data", {}).get("result"):
            return slot
        if time.monotonic() > deadline:
            raise TimeoutError(f"no data for {query!r} after {timeout_s:.0f} s")
        time.sleep(0.1)


def _scored_by_kind(config, record) -> dict[str, tuple[int, int]]:
    """Per source kind: (KRs with a score, KRs) in this run."""
    kinds: dict[str, list[int]] = {}
    scores = {kr.kr_id: kr.score for kr in record.key_results}
    for _, kr in config.key_results():
        kind = config.sources[kr.metric.source].type if kr.metric else "manual"
        counts = kinds.setdefault(kind, [0, 0])
        counts[0] += scores[kr.id] is not None
        counts[1] += 1
    return {k: (v[0], v[1]) for k, v in kinds.items()}
