"""Retention on real SQLite and PostgreSQL stores: old runs collapse to the last run of each day, in batches."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from okrflow.okr_model.config import Config
from pydantic import ValidationError
from sqlalchemy import func, select
from typer.testing import CliRunner

from okrflow.cli import app
from okrflow.store import KRResult, ObjectiveResult, RunRecord, Store
from okrflow.store.models import KRScoreRow, MeasurementRow, ObjectiveScoreRow, Run
from okrflow.store.retention import compact, compaction_cutoff, runs_to_collapse

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
KRS = ("alpha", "beta", "gamma")


def record(slot: datetime, deployment: str = "default") -> RunRecord:
    value = slot.timestamp() / 3600  # the hour: tells which run a row came from
    results = [
        KRResult(
            kr_id=kr,
            objective_id="obj",
            value=value,
            measurement="ok",
            detail="",
            observed_at=slot,
            lineage={"source": "warehouse"},
            score=0.5,
            computed_score=0.5,
            progress=0.5,
            status="on_track",
        )
        for kr in KRS
    ]
    return RunRecord(
        slot=slot,
        started_at=slot,
        finished_at=slot + timedelta(seconds=1),
        status="completed",
        config_hash="h",
        cycle="2026-Q4",
        key_results=results,
        objectives=[ObjectiveResult("obj", 0.5, "on_track")],
        deployment=deployment,
    )


def hourly(store: Store, start: datetime, hours: int, every: int = 1, deployment: str = "default") -> list[datetime]:
    slots = [start + timedelta(hours=h) for h in range(0, hours, every)]
    for slot in slots:
        store.write_run(record(slot, deployment))
    return slots


def count(store: Store, table) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def slots(store: Store, deployment: str = "default") -> list[datetime]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(Run.slot).where(Run.deployment == deployment).order_by(Run.slot)).scalars()
        return [slot.replace(tzinfo=UTC) if slot.tzinfo is None else slot for slot in rows]


def test_old_days_keep_their_last_run_and_recent_runs_stay_raw(store):
    start = datetime(2026, 11, 15, 0, 0, tzinfo=UTC)
    written = hourly(store, start, hours=5 * 24 + 13, every=3)  # 3-hourly runs to NOW (inclusive of 12:00)
    before_status = store.status()
    report = compact(store, timedelta(days=2), now=NOW, batch_runs=4)

    cutoff = datetime(2026, 11, 18, tzinfo=UTC)  # NOW - 2 days = Nov 18 12:00, rounded down to midnight
    assert report.cutoff == cutoff
    old_days = [d for d in range(15, 18)]
    expected = [datetime(2026, 11, d, 21, tzinfo=UTC) for d in old_days] + [s for s in written if s >= cutoff]
    assert slots(store) == expected
    assert report.runs_kept == 3
    assert report.runs_deleted == len(written) - len(expected) == 3 * 7
    assert report.batches == 6  # 21 runs, 4 per transaction
    assert report.measurements_deleted == report.kr_scores_deleted == 21 * len(KRS)
    assert report.objective_scores_deleted == 21
    # no orphan rows: every remaining row belongs to a remaining run
    assert count(store, MeasurementRow) == count(store, KRScoreRow) == len(expected) * len(KRS)
    assert count(store, ObjectiveScoreRow) == len(expected)
    # what people read is unchanged for recent runs, and old days are one point each
    assert store.status() == before_status
    history = store.history("alpha")
    assert [p.slot for p in history] == expected
    assert history[0].result.value == datetime(2026, 11, 15, 21, tzinfo=UTC).timestamp() / 3600


def test_compacting_again_deletes_nothing(store):
    hourly(store, datetime(2026, 11, 10, tzinfo=UTC), hours=24 * 6, every=6)
    first = compact(store, timedelta(days=3), now=NOW)
    kept = slots(store)
    again = compact(store, timedelta(days=3), now=NOW)
    assert first.runs_deleted > 0
    assert again.runs_deleted == again.rows_deleted == again.batches == 0
    assert again.runs_kept == first.runs_kept
    assert slots(store) == kept
    assert "nothing to compact" in again.summary()


def test_batch_size_does_not_change_the_result(store, tmp_path):
    start = datetime(2026, 11, 12, tzinfo=UTC)
    hourly(store, start, hours=24 * 4, every=2)
    report = compact(store, timedelta(days=4), now=NOW, batch_runs=1)
    assert report.batches == report.runs_deleted == 4 * 11  # four whole days of 12 runs keep one each
    with Store.open(f"sqlite:///{tmp_path / 'other.db'}") as other:
        hourly(other, start, hours=24 * 4, every=2)
        one_batch = compact(other, timedelta(days=4), now=NOW, batch_runs=1000)
        assert one_batch.batches == 1
        assert slots(other) == slots(store)


def test_each_deployment_keeps_its_own_last_run_per_day(store):
    day = datetime(2026, 11, 10, tzinfo=UTC)
    hourly(store, day, hours=24, every=4, deployment="team-a")  # 00, 04, ..., 20
    hourly(store, day + timedelta(hours=1), hours=12, every=5, deployment="team-b")  # 01, 06, 11
    compact(store, timedelta(days=1), now=NOW)
    assert slots(store, "team-a") == [day + timedelta(hours=20)]
    assert slots(store, "team-b") == [day + timedelta(hours=11)]


def test_days_follow_the_given_time_zone(store):
    paris = ZoneInfo("Europe/Paris")  # UTC+1 in November: 23:30 UTC is already the next day there
    late = datetime(2026, 11, 10, 23, 30, tzinfo=UTC)
    early = datetime(2026, 11, 10, 20, 0, tzinfo=UTC)
    for slot in (early, late):
        store.write_run(record(slot))
    compact(store, timedelta(days=1), now=NOW, tz=paris)
    assert slots(store) == [early, late]  # two different Paris days: both are the last of their day
    compact(store, timedelta(days=1), now=NOW)
    assert slots(store) == [late]  # one UTC day


def test_runs_newer_than_the_rounded_cutoff_are_never_touched():
    assert compaction_cutoff(timedelta(days=1), NOW) == datetime(2026, 11, 19, tzinfo=UTC)
    assert compaction_cutoff(timedelta(0), NOW) == datetime(2026, 11, 20, tzinfo=UTC)
    with pytest.raises(ValueError, match="negative"):
        compaction_cutoff(timedelta(days=-1), NOW)
    with pytest.raises(ValueError, match="aware"):
        compaction_cutoff(timedelta(days=1), NOW.replace(tzinfo=None))
    runs = [(1, "d", NOW - timedelta(hours=2)), (2, "d", NOW - timedelta(hours=1)), (3, "d", NOW - timedelta(days=1))]
    doomed, kept = runs_to_collapse(runs)
    assert [r[0] for r in doomed] == [1] and kept == 2


def test_retention_setting_in_the_config():
    base = {
        "cycle": {"name": "Q", "start": "2026-10-01", "end": "2026-12-31"},
        "objectives": [{"id": "o", "title": "O"}],
    }
    assert Config.model_validate(base).retention.raw_days is None  # keep everything by default
    assert Config.model_validate({**base, "retention": {"raw_days": 30}}).retention.raw_days == 30
    for bad in ({"raw_days": 0}, {"raw_days": True}, {"raw_days": "30"}, {"keep": 3}):
        with pytest.raises(ValidationError):
            Config.model_validate({**base, "retention": bad})


def test_compact_command(tmp_path, monkeypatch):
    monkeypatch.delenv("OKRFLOW_STORE_URL", raising=False)
    url = f"sqlite:///{tmp_path / 'history.db'}"
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    with Store.open(url) as opened:
        hourly(opened, now - timedelta(days=6), hours=6 * 24, every=4)
        before = len(slots(opened))
    config = tmp_path / "okrflow.yaml"
    text = f"cycle: {{name: Q, start: 2026-10-01, end: 2026-12-31}}\nstore: {url}\nobjectives: [{{id: o, title: O}}]\n"
    config.write_text(text)
    runner = CliRunner()
    refused = runner.invoke(app, ["-c", str(config), "compact"])
    assert refused.exit_code == 2
    assert "retention" in refused.output
    config.write_text(text + "retention: {raw_days: 2}\n")
    done = runner.invoke(app, ["-c", str(config), "compact", "--vacuum"])
    assert done.exit_code == 0, done.output
    with Store.open(url) as opened:
        after = slots(opened)
    assert "deleted" in done.output and len(after) < before
    per_day = Counter(s.date() for s in after if s < compaction_cutoff(timedelta(days=2), datetime.now(UTC)))
    assert per_day and set(per_day.values()) == {1}
    again = runner.invoke(app, ["-c", str(config), "compact", "--raw-days", "2"])
    assert again.exit_code == 0 and "nothing to compact" in again.output
