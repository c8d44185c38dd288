"""``okrflow.store.cycle_histories`` (issue 18, the report's read): every KR's runs over a window as lean series
plus the full records the report shows, the same runs and records as one ``history()`` per KR, on SQLite and
PostgreSQL, with varied rows (no data, errors with a value, overrides, a score without its measurement, a KR
never scored, a KR without rows)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from okrflow.connectors.registry import default_registry
from okrflow.okr_model.config import Config
from okrflow.okr_model.loader import load_config
from sqlalchemy import delete, select, update

from benchmarks.history import fill_history
from okrflow.store.cycle_histories import BATCH_KRS, cycle_series
from okrflow.store.models import KRScoreRow, MeasurementRow

KR_IDS = [f"kr-{i}" for i in range(12)]  # "kr-10" sorts before "kr-2": the database's order, not the config's


def manual_config(tmp_path: Path) -> Config:
    """A config of one objective over the manual KRs ``KR_IDS``, loaded from ``tmp_path/okrflow.yaml``."""
    lines = ["version: 1", "cycle: {name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}", "objectives:"]
    lines += ["  - id: o", "    title: O", "    key_results:"]
    lines += [f"      - {{id: {kr}, kind: manual, baseline: 0, target: 10}}" for kr in KR_IDS]
    (tmp_path / "okrflow.yaml").write_text("\n".join(lines) + "\n")
    return load_config(tmp_path / "okrflow.yaml", default_registry())


def vary(store, start: datetime) -> None:
    """Rows history() must read as they are: errors that carry a value, overrides, a value-less ok, an orphan
    score, a KR whose scores are all missing."""
    scores, measurements = KRScoreRow.__table__, MeasurementRow.__table__
    with store.engine.begin() as conn:
        run_ids = sorted(r for (r,) in conn.execute(select(scores.c.run_id).distinct()))
        some = run_ids[::4]
        conn.execute(
            update(measurements)
            .where(measurements.c.kr_id == "kr-1", measurements.c.run_id.in_(some))
            .values(status="error", detail="HTTP 500", value=3.5)
        )
        conn.execute(
            update(scores)
            .where(scores.c.kr_id == "kr-2", scores.c.run_id.in_(run_ids[::3]))
            .values(overridden=True, computed_score=0.125, gates=["data_quality"], held=True)
        )
        conn.execute(
            update(measurements)
            .where(measurements.c.kr_id == "kr-3", measurements.c.run_id.in_(some))
            .values(value=None)
        )
        conn.execute(delete(measurements).where(measurements.c.kr_id == "kr-4", measurements.c.run_id == run_ids[30]))
        conn.execute(update(scores).where(scores.c.kr_id == "kr-5").values(score=None, forecast=None))


def test_every_kr_reads_as_its_own_history(store, tmp_path):
    config = manual_config(tmp_path)
    end = datetime(2026, 11, 2, 6, tzinfo=UTC)
    fill_history(store, config, 60, timedelta(hours=7), end)  # Oct 15 to Nov 2, some rows no_data
    start, before = datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 10, 30, tzinfo=UTC)
    vary(store, start)
    cut = datetime(2026, 10, 25, 12, tzinfo=UTC)

    wanted = [*KR_IDS[:-1], "gone"]  # the last KR not asked for, one asked for that has no rows
    read = list(cycle_series(store.engine, wanted, start, before, cut))

    assert [s.kr_id for s in read] == sorted(KR_IDS[:-1])  # each KR with rows once, in the database's order
    for series in read:
        points = [p for p in store.history(series.kr_id, since=start) if p.slot < before]
        assert 30 < len(points) < 40 and len(series) == len(points), series.kr_id
        assert [series.slot(i) for i in range(len(series))] == [p.slot for p in points]
        assert series.run_ids == [p.run_id for p in points]
        assert series.ok == [p.result.measurement == "ok" for p in points]
        assert series.values == [p.result.value for p in points]
        assert series.scores == [p.result.score for p in points]
        assert series.computed == [p.result.computed_score for p in points]
        assert series.overridden == [p.result.overridden for p in points]
        scored = [p for p in points if p.result.score is not None]
        assert series.last == points[-1]
        assert series.before_cut == [p for p in points if p.slot < cut][-1]
        assert series.first_scored == (scored[0] if scored else None)
        assert series.latest_scored == (scored[-1] if scored else None)
    by_kr = {s.kr_id: s for s in read}
    assert by_kr["kr-5"].first_scored is None and by_kr["kr-5"].last is not None  # never scored
    assert not all(by_kr["kr-1"].ok) and any(by_kr["kr-2"].overridden)  # the varied rows were read
    assert None in by_kr["kr-3"].values and len(by_kr["kr-4"]) == len(by_kr["kr-6"]) - 1
    assert list(cycle_series(store.engine, [], start, before, cut)) == []
    assert list(cycle_series(store.engine, KR_IDS, end + timedelta(seconds=1), end + timedelta(days=1), cut)) == []


def test_batches_of_krs_read_as_one(store, tmp_path, monkeypatch):
    """The shown records are read per batch of KRs: a batch boundary changes nothing."""
    config = manual_config(tmp_path)
    end = datetime(2026, 11, 2, 6, tzinfo=UTC)
    fill_history(store, config, 20, timedelta(hours=7), end)
    start, cut = datetime(2026, 10, 1, tzinfo=UTC), datetime(2026, 10, 30, tzinfo=UTC)
    whole = list(cycle_series(store.engine, KR_IDS, start, end + timedelta(days=1), cut))
    assert len(KR_IDS) < BATCH_KRS
    monkeypatch.setattr("okrflow.store.cycle_histories.BATCH_KRS", 5)
    batched = list(cycle_series(store.engine, KR_IDS, start, end + timedelta(days=1), cut))
    assert [vars(s) for s in batched] == [vars(s) for s in whole] and len(batched) == len(KR_IDS)
