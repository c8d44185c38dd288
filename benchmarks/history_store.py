"""Benchmark 3: the history store at size, on PostgreSQL and SQLite.

1,000 KRs x one quarter of 15-minute runs (8,800 runs: 8.8M measurements and 8.8M KR scores) generated fast
(``benchmarks.history``: COPY on PostgreSQL, executemany in large transactions on SQLite), then:

- writing one 1,000-KR run with ``Store.write_run`` (target: under 100 ms);
- ``Store.status()`` and one KR's ``Store.history()`` (target: under 100 ms each), with the query plans
  (they must use indexes, not scan the big tables);
- bytes per stored measurement (PostgreSQL ``pg_total_relation_size``; SQLite file size / rows);
- retention: ``okrflow.store.retention.compact`` keeping 14 days raw, rows and bytes before and after.

    .venv/bin/python -m benchmarks.history_store [--scale 0.1] [--backend postgres|sqlite|both] [--repeat 7]

The PostgreSQL database (``okrflow_bench_history_PID`` on 127.0.0.1:5432) and the SQLite file are created fresh
and removed at the end.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, text

from benchmarks.common import WORK, Sample, fmt_bytes, fmt_s, print_table, repeat, section
from benchmarks.world import FULL_MIX, PG_SERVER, Urls, build_config, drop_postgres_database

QUARTER_RUNS = 8800
STEP = timedelta(minutes=15)
KEEP_RAW = timedelta(days=14)
PG_DB = f"okrflow_bench_history_{os.getpid()}"  # per run: two runs may overlap
TARGET_S = 0.1


def _config():
    import yaml
    from okrflow.connectors.registry import default_registry
    from okrflow.okr_model.loader import parse_config

    return parse_config(yaml.safe_dump(build_config(FULL_MIX, Urls())), "generated", default_registry())


def _run_record(config, slot: datetime):
    """A realistic 1,000-KR run as the pipeline would produce it (values, scores, lineage, forecasts)."""
    from okrflow.store import KRResult, ObjectiveResult, RunRecord

    results = []
    for index, (objective, kr) in enumerate(config.key_results()):
        value = 40.0 + index % 20
        results.append(
            KRResult(
                kr_id=kr.id,
                objective_id=objective.id,
                value=value,
                measurement="ok",
                detail="",
                observed_at=slot,
                lineage={"source": kr.metric.source if kr.metric else "checkin", "query_hash": f"{index:012x}"},
                score=0.5,
                computed_score=0.5,
                progress=0.5,
                status="on_track",
                expected=0.6,
                forecast={"score": 0.6, "low": 0.5, "high": 0.7},
            )
        )
    objectives = [ObjectiveResult(o.id, 0.5, "on_track") for o in config.objectives]
    return RunRecord(
        slot, slot, slot + timedelta(seconds=3), "completed", "benchhash", config.cycle.name, results, objectives
    )


def _explain(store, sql: str) -> list[str]:
    dialect = store.engine.dialect.name
    prefix = "EXPLAIN QUERY PLAN " if dialect == "sqlite" else "EXPLAIN "
    with store.engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + sql).all()
    return [row[-1] if dialect == "sqlite" else row[0] for row in rows]


def _queries(store, kr_id: str) -> dict[str, str]:
    """The SQL the store runs for status and history, as compiled for this dialect."""
    from sqlalchemy import select

    from okrflow.store.history import history_select
    from okrflow.store.models import KRScoreRow, MeasurementRow, ObjectiveScoreRow, Run
    from okrflow.store.queries import result_select

    latest = store.latest_run()
    scores, runs, objectives = KRScoreRow.__table__, Run.__table__, ObjectiveScoreRow.__table__
    statements = {
        "status: latest run": select(runs.c.id).order_by(runs.c.slot.desc()).limit(1),
        "status: KR results": result_select().where(scores.c.run_id == latest.id).order_by(scores.c.id),
        "status: objectives": select(objectives.c.objective_id).where(objectives.c.run_id == latest.id),
        "history: one KR's scores": history_select(store.engine.dialect.name, KRScoreRow, kr_id, None),
        "history: one KR's measurements": history_select(store.engine.dialect.name, MeasurementRow, kr_id, None),
    }
    return {
        name: str(statement.compile(store.engine, compile_kwargs={"literal_binds": True}))
        for name, statement in statements.items()
    }


def _sizes(store) -> tuple[int, dict[str, int]]:
    """(bytes of the whole store, rows per table); ``rows["measurements_bytes"]``: that table with its indexes."""
    tables = ("runs", "measurements", "kr_scores", "objective_scores")
    with store.engine.connect() as conn:
        rows = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}
        if store.engine.dialect.name == "postgresql":
            sizes = {t: conn.execute(text(f"SELECT pg_total_relation_size('{t}')")).scalar_one() for t in tables}
            total = sum(sizes.values())
            rows["measurements_bytes"] = sizes["measurements"]
        else:
            try:  # the dbstat table (when SQLite has it) gives the bytes of one table and its indexes
                rows["measurements_bytes"] = conn.execute(
                    text(
                        "SELECT sum(pgsize) FROM dbstat WHERE name = 'measurements' OR name IN "
                        "(SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'measurements')"
                    )
                ).scalar_one()
            except Exception:
                rows["measurements_bytes"] = 0
            pages = conn.execute(text("PRAGMA page_count")).scalar_one()
            free = conn.execute(text("PRAGMA freelist_count")).scalar_one()
            size = conn.execute(text("PRAGMA page_size")).scalar_one()
            total = (pages - free) * size
    return total, rows


def bench_backend(backend: str, scale: float, repeats: int, keep: bool = False) -> dict[str, object]:
    from benchmarks.history import FillReport, fill_history
    from okrflow.store import Store

    config = _config()
    runs = max(200, round(QUARTER_RUNS * scale))
    url, path = _prepare(backend, runs, keep)
    results: dict[str, object] = {"backend": backend, "runs": runs}
    last = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)
    last -= timedelta(minutes=last.minute % 15)
    try:
        started = time.perf_counter()
        with Store.open(url) as store:
            opened = time.perf_counter() - started
            kept = _kept_last(store, runs, len(config.key_results())) if keep else None
            if kept is not None:
                last = kept
                section(f"{backend}: reusing the kept store of {runs:,} runs (opened and migrated in {fmt_s(opened)})")
                fill = FillReport(runs, *_counts(store), seconds=0.0)
            else:
                if keep:
                    _empty(store)
                section(f"{backend}: generating {runs:,} runs x {len(config.key_results()):,} KRs")
                fill = fill_history(store, config, runs, STEP, last, progress=runs >= 2000)
            results["fill"] = fill
            print(
                f"  {fill.measurements:,} measurements + {fill.kr_scores:,} KR scores + {fill.objective_scores:,} "
                f"objective scores in {fill.seconds:.1f} s ({fill.rows_per_s:,.0f} rows/s)"
            )
            size, rows = _sizes(store)
            results["size"], results["rows"] = size, rows
            # one 1,000-KR run written by the store itself, at new slots after the history
            record = _run_record(config, last)
            slots = iter(last + STEP * (i + 1) for i in range(repeats + 1))
            write = repeat("write_run (1,000 KRs)", lambda: store.write_run(replace(record, slot=next(slots))), repeats)
            status = repeat("status()", store.status, repeats)
            history = repeat("history(one KR)", lambda: store.history("kr-00500"), repeats)
            # kr-00500 is a maintain KR (no forecast); kr-00001 is a progress KR: one forecast JSON per point
            forecasts = repeat("history(a KR with forecasts)", lambda: store.history("kr-00001"), repeats)
            results["samples"] = [write, status, history]
            print_table(
                ["operation (in process)", "median", "spread", "n", "target"],
                [
                    s.row(target=f"< {TARGET_S * 1000:.0f} ms: {'ok' if s.median < TARGET_S else 'OVER'}")
                    for s in (write, status, history, forecasts)
                ],
            )
            print(f"  history returned {len(store.history('kr-00500')):,} points")
            section(f"{backend}: query plans")
            for name, sql in _queries(store, "kr-00500").items():
                plan = _explain(store, sql)
                scans = [line for line in plan if _is_full_scan(backend, line)]
                print(f"  {name}: {'uses indexes' if not scans else 'FULL SCAN'}")
                for line in plan:
                    print(f"      {line}")
            per = size / max(1, rows["measurements"])
            own = rows["measurements_bytes"] / max(1, rows["measurements"])
            print(
                f"  store size {fmt_bytes(size)}: {per:.0f} bytes per stored measurement with its score and share of the "
                f"run (all tables / measurements); the measurements table alone with its indexes: {own:.0f} bytes per row"
            )
            if not keep:  # compaction deletes most of the rows a kept store is kept for
                _retention(store, backend, scale, repeats, last, (size, rows), results)
    finally:
        if not keep:
            _remove(backend, path)
    return results


def _retention(store, backend: str, scale: float, repeats: int, last: datetime, before, results) -> None:
    """Compact to 14 days raw (scaled), vacuum, and time status and history again."""
    from okrflow.store.retention import compact, vacuum

    size, rows = before
    section(
        f"{backend}: retention (keep {max(1, round(KEEP_RAW.days * scale))} days raw, then the last run of each day)"
    )
    keep_raw = timedelta(days=max(1, round(KEEP_RAW.days * scale)))
    report = compact(store, keep_raw, now=last + STEP * (repeats + 1))
    print(f"  {report.summary()}")
    started = time.perf_counter()
    if backend == "postgres":  # VACUUM FULL rewrites the tables, so the freed bytes show in the sizes
        with store.engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            raw.autocommit = True
            raw.execute("VACUUM FULL ANALYZE")
            raw.autocommit = False
    else:
        vacuum(store)
    vacuum_s = time.perf_counter() - started
    after_size, after_rows = _sizes(store)
    results["compaction"], results["after"] = report, (after_size, after_rows, vacuum_s)
    print_table(
        ["", "runs", "measurements", "kr_scores", "bytes"],
        [
            [
                "before",
                f"{rows['runs']:,}",
                f"{rows['measurements']:,}",
                f"{rows['kr_scores']:,}",
                fmt_bytes(size),
            ],
            [
                "after",
                f"{after_rows['runs']:,}",
                f"{after_rows['measurements']:,}",
                f"{after_rows['kr_scores']:,}",
                fmt_bytes(after_size),
            ],
        ],
    )
    print(f"  compaction {fmt_s(report.seconds)} in {report.batches} batches; vacuum {fmt_s(vacuum_s)}")
    status_after = repeat("status() after compaction", store.status, repeats)
    history_after = repeat("history(one KR) after compaction", lambda: store.history("kr-00500"), repeats)
    print_table(["operation", "median", "spread", "n", ""], [status_after.row(), history_after.row()])


def _prepare(backend: str, runs: int, keep: bool) -> tuple[str, Path | None]:
    """The store's URL (and SQLite file): fresh per process, or the kept one (``--keep``) if it exists."""
    if backend == "postgres":
        import psycopg

        name = f"okrflow_bench_history_keep_{runs}" if keep else PG_DB
        base = PG_SERVER.replace("postgresql+psycopg", "postgresql")
        if not keep:
            drop_postgres_database(PG_SERVER, name)
        with psycopg.connect(base + "/postgres", autocommit=True) as c:
            if not c.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                c.execute(f"CREATE DATABASE {name}")
        return f"{PG_SERVER}/{name}", None
    path = WORK / (f"history-{runs}-keep.db" if keep else f"history-{runs}-{os.getpid()}.db")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not keep:
        _remove(backend, path)
    return f"sqlite:///{path}", path


def _remove(backend: str, path: Path | None) -> None:
    if backend == "postgres":
        drop_postgres_database(PG_SERVER, PG_DB)
    else:
        for suffix in ("", "-wal", "-shm"):  # gigabytes at full scale
            assert path is not None
            (path.parent / (path.name + suffix)).unlink(missing_ok=True)


def _kept_last(store, runs: int, krs: int) -> datetime | None:
    """The newest generated slot of a complete kept store (runs written by earlier timings are deleted)."""
    with store.engine.begin() as conn:
        count = conn.execute(text("SELECT count(*) FROM runs WHERE id <= :n"), {"n": runs}).scalar_one()
        last = conn.execute(text("SELECT count(*) FROM measurements WHERE run_id = :n"), {"n": runs}).scalar_one()
        if count != runs or last != krs:
            return None
        conn.execute(text("DELETE FROM runs WHERE id > :n"), {"n": runs})  # children go by ON DELETE CASCADE
    from okrflow.store.models import Run

    with store.engine.connect() as conn:
        slot = conn.execute(select(Run.slot).where(Run.id == runs)).scalar_one()
    return slot


def _counts(store) -> tuple[int, int, int]:
    with store.engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()
            for t in ("measurements", "kr_scores", "objective_scores")
        )


def _empty(store) -> None:
    """An incomplete kept store (an interrupted generation) is emptied and generated again."""
    with store.engine.begin() as conn:
        for table in ("objective_scores", "kr_scores", "measurements", "runs"):
            conn.execute(text(f"DELETE FROM {table}"))


def _is_full_scan(backend: str, line: str) -> bool:
    if backend == "sqlite":
        return line.startswith("SCAN") and "USING" not in line
    return "Seq Scan" in line and "on runs" not in line  # runs is small: a scan of it is fine


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.history_store", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of a quarter's 8,800 runs (default 1)")
    parser.add_argument("--backend", choices=["postgres", "sqlite", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=7, help="measured repeats of each operation (default 7)")
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the generated stores (benchmarks/.work/history-RUNS-keep.db, database okrflow_bench_history_keep_RUNS) "
        "and reuse them on the next --keep run; skips compaction",
    )
    args = parser.parse_args(argv)
    backends = ["postgres", "sqlite"] if args.backend == "both" else [args.backend]
    summary = []
    for backend in backends:
        r = bench_backend(backend, args.scale, args.repeat, args.keep)
        write, status, history = r["samples"]  # type: ignore[misc]
        fill = r["fill"]
        rows = r["rows"]
        summary.append(
            [
                backend,
                f"{r['runs']:,}",
                f"{rows['measurements']:,}",  # type: ignore[index]
                f"{fill.seconds:.0f} s" if fill.seconds else "kept",  # type: ignore[attr-defined]
                fmt_s(write.median),
                fmt_s(status.median),
                fmt_s(history.median),
                f"{r['size'] / rows['measurements']:.0f} B",  # type: ignore[operator,index]
            ]
        )
    section(f"History store summary (scale {args.scale:g}, medians of {args.repeat})")
    print_table(
        ["backend", "runs", "measurements", "generation", "write_run", "status", "history", "bytes/measurement"],
        summary,
    )


if __name__ == "__main__":
    main()


__all__ = ["Sample", "bench_backend", "main"]
