"""The history store against real SQLite and PostgreSQL: migrations, idempotent slots, one transaction."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from okrflow.store import AnnotationRecord, KRResult, ObjectiveResult, RunRecord, Store
from okrflow.store.models import Base, KRScoreRow, MeasurementRow, ObjectiveScoreRow, Run, index_filter

SLOT = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


def kr_result(
    kr_id: str, value: float | None, score: float | None, status: str = "ok", slot_note: str = ""
) -> KRResult:
    return KRResult(
        kr_id=kr_id,
        objective_id="obj",
        value=value,
        measurement=status,
        detail=slot_note,
        observed_at=SLOT if value is not None else None,
        lineage={"source": "warehouse", "query_hash": "abc"},
        score=score,
        computed_score=score,
        progress=score,
        status="on_track" if score is not None else "no_data",
        gates=("quality_gate",) if kr_id == "gated" else (),
    )


def run_record(slot: datetime, results: list[KRResult], status: str = "completed") -> RunRecord:
    return RunRecord(
        slot=slot,
        started_at=slot,
        finished_at=slot + timedelta(seconds=2),
        status=status,
        config_hash="h",
        cycle="2026-Q4",
        key_results=results,
        objectives=[ObjectiveResult("obj", 0.5, "on_track")],
    )


def count(store: Store, table) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_migrations_match_models(store):
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": index_filter(conn.dialect.name)})
        assert compare_metadata(context, Base.metadata) == []


def test_reopen_does_not_migrate_again(store):
    url = store.engine.url.render_as_string(hide_password=False)
    store.write_run(run_record(SLOT, [kr_result("a", 1.0, 0.5)]))
    with Store.open(url) as again:
        assert again.status().run.slot == SLOT


def test_rerun_of_a_slot_replaces_its_rows(store):
    first = store.write_run(run_record(SLOT, [kr_result("a", 1.0, 0.1), kr_result("b", 2.0, 0.2)]))
    second = store.write_run(run_record(SLOT, [kr_result("a", 3.0, 0.9), kr_result("b", None, None, "no_data")]))
    assert first == second
    assert count(store, Run) == 1
    assert count(store, MeasurementRow) == 2
    assert count(store, KRScoreRow) == 2
    assert count(store, ObjectiveScoreRow) == 1
    snapshot = store.status()
    by_id = {r.kr_id: r for r in snapshot.key_results}
    assert by_id["a"].value == 3.0 and by_id["a"].score == 0.9
    assert by_id["b"].value is None and by_id["b"].measurement == "no_data"


def test_a_failed_write_leaves_nothing_half_written(store):
    store.write_run(run_record(SLOT, [kr_result("a", 1.0, 0.5)]))
    broken = run_record(SLOT, [kr_result("a", 7.0, 0.7), kr_result("a", 8.0, 0.8)])  # duplicate KR row
    with pytest.raises(IntegrityError):
        store.write_run(broken)
    later = SLOT + timedelta(hours=1)
    with pytest.raises(IntegrityError):
        store.write_run(replace(broken, slot=later))
    assert count(store, Run) == 1
    snapshot = store.status()
    assert snapshot.run.slot == SLOT
    assert [(r.kr_id, r.value, r.score) for r in snapshot.key_results] == [("a", 1.0, 0.5)]


def test_status_is_the_latest_slot_and_history_is_ordered(store):
    for hours, value in [(2, 3.0), (0, 1.0), (1, 2.0)]:
        store.write_run(
            run_record(SLOT + timedelta(hours=hours), [kr_result("a", value, value / 10), kr_result("gated", 1.0, 0.2)])
        )
    assert store.status().run.slot == SLOT + timedelta(hours=2)
    points = store.history("a")
    assert [p.result.value for p in points] == [1.0, 2.0, 3.0]
    assert [p.slot for p in points] == [SLOT + timedelta(hours=h) for h in range(3)]
    assert points[0].slot.tzinfo is not None
    assert store.history("gated")[0].result.gates == ("quality_gate",)
    assert store.history("a", since=SLOT + timedelta(hours=1))[0].result.value == 2.0
    assert dict(points[0].result.lineage) == {"source": "warehouse", "query_hash": "abc"}


def test_previous_scores_are_the_latest_before_a_time(store):
    store.write_run(run_record(SLOT - timedelta(days=60), [kr_result("a", 9.0, 0.9)]))  # before the window
    store.write_run(run_record(SLOT, [kr_result("a", 1.0, 0.1), kr_result("b", 5.0, 1.0)]))
    store.write_run(run_record(SLOT + timedelta(hours=1), [kr_result("a", None, None, "error")]))
    store.write_run(run_record(SLOT + timedelta(hours=2), [kr_result("a", 2.0, 0.2), kr_result("b", 7.0, 0.0)]))
    assert store.previous_scores(["a"], SLOT + timedelta(hours=2)) == {"a": 0.1}
    assert store.previous_scores(["a"], SLOT + timedelta(hours=3)) == {"a": 0.2}
    assert store.previous_scores(["a"], SLOT - timedelta(days=90)) == {}


def test_score_series_is_thinned_to_the_last_run_of_each_span(store):
    start = SLOT - timedelta(hours=1)
    for minutes in range(0, 120, 10):  # 12 runs over two hours
        store.write_run(run_record(start + timedelta(minutes=minutes), [kr_result("a", minutes, minutes / 100)]))
    before = start + timedelta(hours=2)
    full = store.score_series(["a", "zz"], start, before)
    assert len(full["a"]) == 12 and full["zz"] == []
    assert store.score_series(["a"], start, before, max_points=12) == {"a": full["a"]}
    thinned = store.score_series(["a", "zz"], start, before, max_points=4)  # four 30-minute spans
    assert [score for _, score in thinned["a"]] == [0.2, 0.5, 0.8, 1.1]
    assert [slot for slot, _ in thinned["a"]] == [start + timedelta(minutes=m) for m in (20, 50, 80, 110)]
    assert thinned["zz"] == []


def test_annotations_keep_author_reason_and_order(store):
    for minutes, kind, value in [(5, "override", 0.8), (0, "checkin", 42.0), (10, "abandon", None)]:
        store.add_annotation(
            AnnotationRecord("a", kind, value, f"why {kind}", "alice", SLOT, SLOT + timedelta(minutes=minutes))
        )
    notes = store.annotations(["a"])
    assert [(n.kind, n.value, n.author, n.reason) for n in notes] == [
        ("checkin", 42.0, "alice", "why checkin"),
        ("override", 0.8, "alice", "why override"),
        ("abandon", None, "alice", "why abandon"),
    ]
    assert [n.kind for n in store.annotations(["a"], until=SLOT + timedelta(minutes=5))] == ["checkin", "override"]


def test_naive_datetimes_are_refused(store):
    naive = SLOT.replace(tzinfo=None)
    with pytest.raises(Exception, match="naive datetime"):
        store.write_run(run_record(naive, [kr_result("a", 1.0, 0.5)]))
    assert count(store, Run) == 0
