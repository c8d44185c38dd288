"""``okrflow demo``: a self-contained world under one work folder (a SQLite ticket warehouse, a local
MLflow store with a champion and a challenger, a real Prometheus with history scraping a live demo
exporter, Great Expectations suites), evaluations over simulated time, and the resulting KR tree.
Prometheus and the exporter are stopped before it returns: no process is left running.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path

from rich.console import Console

EXAMPLE_CONFIG = Path(str(files("okrflow.examples").joinpath("example.yaml")))
"""config/example.yaml of the checkout; in an installed wheel, the copy shipped as ``okrflow.examples``."""

__all__ = ["EXAMPLE_CONFIG", "demo_slots", "run_demo"]


def demo_slots(start: datetime, end: datetime, now: datetime, runs: int) -> list[datetime]:
    """``runs`` slots spread from a week into the cycle up to now (or the cycle's end if it is over)."""
    first = start + timedelta(days=7)
    last = min(now, end - timedelta(seconds=1)).replace(microsecond=0)
    if runs == 1 or last <= first:
        return [max(first, last)]
    step = (last - first) / (runs - 1)
    return [(first + step * i).replace(microsecond=0) for i in range(runs)]


def run_demo(workdir: Path, runs: int, console: Console, now: datetime | None = None) -> None:
    """Build the demo world under ``workdir`` and evaluate ``config/example.yaml`` ``runs`` times."""
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
    config = load_config(EXAMPLE_CONFIG, default_registry())
    start, end = config.cycle_bounds()
    slots = demo_slots(start, end, now, runs)
    console.print(f"[bold]okrflow demo[/] in {workdir}/")
    count = make_warehouse(warehouse, start, (end - start).days)
    console.print(f"  warehouse.db: {count} support tickets over {config.cycle.name}")
    seed_mlflow_file(mlflow_db, start, min(end, now))
    console.print("  mlflow.db: model ticket-classifier, v1 @challenger, v2 @champion, F1 logged daily")

    with contextlib.ExitStack() as stack:
        hook = stack.enter_context(DemoWebhook())
        os.environ["OKRFLOW_ALERT_WEBHOOK"] = hook.url
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
        config = load_config(EXAMPLE_CONFIG, default_registry())  # picks up PROMETHEUS_URL
        with Store.open(os.environ["OKRFLOW_STORE_URL"]) as store:
            for index, slot in enumerate(slots):
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

    with Store.open(os.environ["OKRFLOW_STORE_URL"]) as store:
        report = write_report(config, store, workdir / "report.html")
    console.print(f"\nReport: {report.resolve()} (open it in a browser; it works offline)")
    console.print(
        f"The demo's Prometheus is stopped. Explore the history with:\n"
        f"  export OKRFLOW_STORE_URL={os.environ['OKRFLOW_STORE_URL']}\n"
        f"  okrflow -c {EXAMPLE_CONFIG} history classifier-f1"
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
