"""``okrflow demo``: a self-contained world (a SQLite ticket warehouse), evaluations over simulated time,
and the resulting KR tree. Everything lives under one work folder; no process is left running.
"""

from __future__ import annotations

import os
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console

EXAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "config" / "example.yaml"

__all__ = ["EXAMPLE_CONFIG", "demo_slots", "make_warehouse", "run_demo"]


def make_warehouse(path: Path, start: datetime, days: int, seed: int = 7, per_day: int = 40) -> int:
    """Write a tickets table whose metrics improve over the cycle; returns the row count."""
    rng = random.Random(seed)
    path.unlink(missing_ok=True)
    rows = []
    for day in range(days):
        progress = day / max(1, days - 1)
        for _ in range(per_day):
            opened = start + timedelta(days=day, seconds=rng.uniform(0, 86400))
            hours = max(0.2, rng.gauss(4.3 - 2.2 * progress, 0.8))
            closed = opened + timedelta(hours=hours)
            ai_resolved = rng.random() < 0.3 + 0.3 * progress
            csat = min(5.0, max(1.0, rng.gauss(4.05 + 0.35 * progress, 0.4))) if ai_resolved else None
            rows.append(
                (
                    opened.strftime("%Y-%m-%d %H:%M:%S"),
                    closed.strftime("%Y-%m-%d %H:%M:%S"),
                    round(hours, 3),
                    int(rng.random() < 0.58 + 0.2 * progress),
                    round(max(3.0, rng.gauss(12.6 - 4.0 * progress, 1.5)), 2),
                    None if csat is None else round(csat, 2),
                    int(rng.random() < 0.1 + 0.2 * progress),
                    int(ai_resolved),
                )
            )
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE tickets (id INTEGER PRIMARY KEY, opened_at TEXT, closed_at TEXT, resolution_hours REAL,"
            " first_contact_resolved INTEGER, cost_usd REAL, csat REAL, deflected INTEGER, ai_resolved INTEGER)"
        )
        db.executemany(
            "INSERT INTO tickets (opened_at, closed_at, resolution_hours, first_contact_resolved, cost_usd, csat,"
            " deflected, ai_resolved) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return len(rows)


def demo_slots(start: datetime, end: datetime, now: datetime, runs: int) -> list[datetime]:
    """``runs`` slots spread from a week into the cycle up to now (or the cycle's end if it is over)."""
    first = start + timedelta(days=7)
    last = min(now, end - timedelta(seconds=1))
    if runs == 1 or last <= first:
        return [max(first, last) if last > start else first]
    step = (last - first) / (runs - 1)
    return [(first + step * i).replace(microsecond=0) for i in range(runs)]


def run_demo(workdir: Path, runs: int, console: Console, now: datetime | None = None) -> None:
    """Build the demo world under ``workdir`` and evaluate ``config/example.yaml`` ``runs`` times."""
    from connectors.registry import default_registry
    from flows.pipeline import evaluate
    from okr_model.loader import load_config
    from okrflow.store import AnnotationRecord, Store
    from okrflow.views import status_table

    workdir.mkdir(parents=True, exist_ok=True)
    warehouse = workdir / "warehouse.db"
    store_path = workdir / "okrflow.db"
    for stale in workdir.glob("okrflow.db*"):
        stale.unlink()
    os.environ["WAREHOUSE_URL"] = f"sqlite:///{warehouse.resolve()}"
    os.environ["OKRFLOW_STORE_URL"] = f"sqlite:///{store_path.resolve()}"

    config = load_config(EXAMPLE_CONFIG, default_registry())
    start, end = config.cycle_bounds()
    count = make_warehouse(warehouse, start, (end - start).days)
    console.print(f"[bold]okrflow demo[/] in {workdir}/: warehouse with {count} tickets, history store okrflow.db")

    now = now or datetime.now(UTC)
    slots = demo_slots(start, end, now, runs)
    with Store.open(os.environ["OKRFLOW_STORE_URL"]) as store:
        for index, slot in enumerate(slots):
            if index == len(slots) // 2:
                store.add_annotation(
                    AnnotationRecord("agent-adoption", "checkin", 55.0, "survey of 40 agents", "demo", slot, slot)
                )
            record = evaluate(config, store, slot)
            scored = sum(kr.score is not None for kr in record.key_results)
            console.print(
                f"  run at {slot:%Y-%m-%d %H:%M}: {record.status}, {scored}/{len(record.key_results)} KRs scored"
            )
        snapshot = store.status()
    assert snapshot is not None
    status_table(snapshot.run, snapshot.objectives, snapshot.key_results, config, console)
    console.print(
        "\nNext: okrflow -c config/example.yaml history resolution-hours   (set OKRFLOW_STORE_URL and "
        f"WAREHOUSE_URL as above if you used --workdir: {os.environ['OKRFLOW_STORE_URL']})"
    )
