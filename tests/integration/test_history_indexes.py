"""One KR's history from the covering indexes of migration 0003, on real SQLite and PostgreSQL.

The points must be exactly what was written (every field, types included) whichever way history reads them,
rows too large for PostgreSQL's B-tree entries must still be written and read, and the migration must upgrade a
store that already holds runs and downgrade it again.
"""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine, inspect, select, text

from okrflow.store import HistoryPoint, KRResult, ObjectiveResult, RunRecord, Store
from okrflow.store.history import history_select
from okrflow.store.models import KR_SCORE_FITS_INDEX, MEASUREMENT_FITS_INDEX, SCHEMA_HEAD, KRScoreRow, MeasurementRow
from okrflow.store.store import _MIGRATIONS

SLOT = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
OLD_INDEXES = {"ix_kr_scores_kr_slot", "ix_measurements_kr_slot"}
NEW_INDEXES = {
    "sqlite": {"ix_kr_scores_kr_slot_all", "ix_measurements_kr_slot_all"},
    "postgresql": {
        "ix_kr_scores_kr_slot",
        "ix_measurements_kr_slot",
        *(f"ix_{t}_kr_slot_{k}" for t in ("kr_scores", "measurements") for k in ("incl", "large")),
    },
}


def _noise(size: int, seed: int) -> str:
    """Text that does not compress: PostgreSQL cannot shrink it under its 2,704-byte index entry limit."""
    rng = random.Random(seed)
    return "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(size))


def _result(kr_id: str, hour: int, large: bool = False) -> KRResult:
    """A result whose every field differs from the defaults and from hour to hour."""
    missing = hour % 5 == 3
    return KRResult(
        kr_id=kr_id,
        objective_id=f"obj-{hour % 2}",
        value=None if missing else 10.0 + hour,
        measurement="no_data" if missing else "ok",
        detail=_noise(6000, hour) if large else ("query returned no rows" if missing else ""),
        observed_at=None if missing else SLOT + timedelta(hours=hour, minutes=-1 if hour % 2 else 0),
        lineage={
            "source": "warehouse",
            "query_hash": "abc",
            "rows": [1, 2],
            **({"blob": _noise(3000, -hour)} if large else {}),
        },
        score=None if missing else hour / 10,
        computed_score=None if missing else hour / 20,
        progress=None if missing else hour / 30,
        status="no_data" if missing else "on_track",
        gates=tuple(_noise(40, g) for g in range(80)) if large else (("quality", "freshness") if hour % 2 else ()),
        held=hour % 3 == 0,
        trusted=hour % 4 != 0,
        overridden=hour % 2 == 1,
        expected=None if hour == 0 else hour / 40,
        forecast=None if hour % 3 == 2 else {"score": hour / 10, "low": 0.1, "high": 0.9 + hour},
    )


def _write(store: Store, hours: range, large_hours: frozenset[int] = frozenset()) -> list[HistoryPoint]:
    """Runs of two KRs (``a`` and ``b``), one per hour; the points ``history("a")`` must return."""
    expected = []
    for hour in hours:
        slot = SLOT + timedelta(hours=hour)
        results = [_result("a", hour, hour in large_hours), _result("b", hour + 100)]
        run = RunRecord(
            slot=slot,
            started_at=slot,
            finished_at=slot + timedelta(seconds=2),
            status="partial" if hour % 4 == 1 else "completed",
            config_hash="h",
            cycle="2026-Q4",
            key_results=results,
            objectives=[ObjectiveResult("obj-0", 0.5, "on_track")],
        )
        run_id = store.write_run(run)
        expected.append(HistoryPoint(slot, run_id, run.status, results[0]))
    return expected


def _same(points: list[HistoryPoint], expected: list[HistoryPoint]) -> None:
    assert points == expected
    for point, want in zip(points, expected, strict=True):
        assert point.slot.tzinfo is UTC
        result = point.result
        assert result.observed_at is None or result.observed_at.tzinfo is UTC
        assert [type(getattr(result, f)) for f in ("held", "trusted", "overridden")] == [bool, bool, bool]
        assert type(result.gates) is tuple and result.gates == want.result.gates
        assert type(result.lineage) is dict


def _alembic(conn, action: str, revision: str) -> None:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    cfg.attributes["connection"] = conn
    getattr(command, action)(cfg, revision)


def _history_indexes(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            found = inspect(conn)
            names = {i["name"] for t in ("kr_scores", "measurements") for i in found.get_indexes(t)}
            return {name for name in names if name.startswith("ix_")}  # PostgreSQL lists unique constraints too
    finally:
        engine.dispose()


def test_history_is_every_field_as_written(store):
    expected = _write(store, range(12))
    _same(store.history("a"), expected)
    assert [p.result.kr_id for p in store.history("b")] == ["b"] * 12
    assert store.history("nobody") == []


def test_history_since_and_limit(store):
    expected = _write(store, range(12))
    _same(store.history("a", since=SLOT + timedelta(hours=5)), expected[5:])
    _same(store.history("a", limit=4), expected[:4])
    _same(store.history("a", since=SLOT + timedelta(hours=5), limit=3), expected[5:8])
    _same(store.history("a", since=SLOT + timedelta(hours=5, minutes=1), limit=100), expected[6:])


def test_points_do_not_share_mutable_values(store):
    _write(store, range(4))
    first, second, *_ = store.history("a")
    first.result.lineage["source"] = "changed"
    first.result.forecast["low"] = -1.0
    assert second.result.lineage["source"] == "warehouse"
    assert store.history("a")[0].result.lineage["source"] == "warehouse"
    assert store.history("a")[0].result.forecast["low"] == 0.1


def test_rows_too_large_for_an_index_entry_are_written_and_read(store):
    """A 6 KB error text, a 3 KB lineage and 80 gates: beyond PostgreSQL's B-tree entry limit."""
    expected = _write(store, range(8), large_hours=frozenset({2, 5}))
    _same(store.history("a"), expected)
    _same(store.history("a", since=SLOT + timedelta(hours=4), limit=2), expected[4:6])
    assert len(store.history("a")[2].result.detail) == 6000


def test_the_largest_rows_that_fit_the_covering_index_are_written(store):
    """128 four-byte characters per id and free-form texts exactly at the bounds of ``*_FITS_INDEX``."""
    wide = "\U0001f600" * 128
    result = _result(wide, 1)._replace(
        objective_id=wide,
        measurement="\U0001f600" * 16,
        status="\U0001f600" * 16,
        detail=_noise(1000, 1),
        lineage={"b": _noise(791, 2)},  # '{"b": "..."}': 800 bytes, detail + lineage = 1800
        gates=(_noise(1192, 3),),  # '["..."]': 1196 bytes, and the forecast's JSON 'null' 4: 1200
        forecast=None,
    )
    run = RunRecord(SLOT, SLOT, SLOT, "completed", "h", "2026-Q4", [result], [])
    run_id = store.write_run(run)
    if store.engine.dialect.name == "postgresql":  # in the covering indexes, not in the _large ones
        with store.engine.connect() as conn:
            fits = conn.execute(
                select(MEASUREMENT_FITS_INDEX, KR_SCORE_FITS_INDEX)
                .select_from(MeasurementRow.__table__.join(KRScoreRow.__table__, text("1 = 1")))
                .where(MeasurementRow.run_id == run_id, KRScoreRow.run_id == run_id)
            ).one()
        assert tuple(fits) == (True, True)
    _same(store.history(wide), [HistoryPoint(SLOT, run_id, "completed", result)])


def test_history_reads_indexes_only(store):
    _write(store, range(3))
    dialect = store.engine.dialect.name
    with store.engine.connect() as conn:
        if dialect == "postgresql":  # a tiny table would be scanned: ask whether the indexes can answer alone
            conn.execute(text("SET enable_seqscan = off"))
            conn.execute(text("SET enable_bitmapscan = off"))
        for model, table in ((KRScoreRow, "kr_scores"), (MeasurementRow, "measurements")):
            query = history_select(dialect, model, "a", SLOT)
            sql = str(query.compile(store.engine, compile_kwargs={"literal_binds": True}))
            if dialect == "sqlite":
                plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
                assert f"SEARCH {table} USING COVERING INDEX ix_{table}_kr_slot_all (kr_id=? AND slot>?)" in plan
            else:
                plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + sql))
                assert f"Index Only Scan using ix_{table}_kr_slot_incl on {table}" in plan
                assert f"ix_{table}_kr_slot_large" in plan
                assert "Seq Scan on kr_scores" not in plan and "Seq Scan on measurements" not in plan


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'history.db'}"
    return request.getfixturevalue("make_postgres_db")()


def test_migration_0003_upgrades_a_store_with_runs_and_downgrades(empty_url):
    with Store.open(empty_url) as old:  # runs written today, then the schema taken back to before 0003
        dialect = old.engine.dialect.name
        expected = _write(old, range(10), large_hours=frozenset({3}))
        with old.engine.begin() as conn:
            _alembic(conn, "downgrade", "0002")
        assert _history_indexes(empty_url) == OLD_INDEXES
        _same(old.history("a"), expected)  # the new reads still work on the old indexes

    with Store.open(empty_url) as store:  # opening migrates to the head
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == SCHEMA_HEAD
        assert _history_indexes(empty_url) == NEW_INDEXES[dialect]
        _same(store.history("a"), expected)
        expected += _write(store, range(10, 12))
        _same(store.history("a"), expected)
        with store.engine.begin() as conn:
            _alembic(conn, "downgrade", "0002")
        assert _history_indexes(empty_url) == OLD_INDEXES
        _same(store.history("a"), expected)
        with store.engine.begin() as conn:
            _alembic(conn, "upgrade", "head")
        assert _history_indexes(empty_url) == NEW_INDEXES[dialect]
        _same(store.history("a"), expected)
