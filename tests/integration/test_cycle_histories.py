"""``okrflow.store.cycle_histories`` (issue 18, the report's read): every KR's points over a window in two scans,
the same points as one ``history()`` per KR, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from okrflow.connectors.registry import default_registry
from okrflow.okr_model.loader import load_config

from benchmarks.history import fill_history
from okrflow.store.cycle_histories import cycle_histories

KR_IDS = [f"kr-{i}" for i in range(12)]  # "kr-10" sorts before "kr-2": the database's order, not the config's


def test_every_kr_reads_as_its_own_history(store, tmp_path):
    lines = ["version: 1", "cycle: {name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}", "objectives:"]
    lines += ["  - id: o", "    title: O", "    key_results:"]
    lines += [f"      - {{id: {kr}, kind: manual, baseline: 0, target: 10}}" for kr in KR_IDS]
    (tmp_path / "okrflow.yaml").write_text("\n".join(lines) + "\n")
    config = load_config(tmp_path / "okrflow.yaml", default_registry())
    end = datetime(2026, 11, 2, 6, tzinfo=UTC)
    fill_history(store, config, 60, timedelta(hours=7), end)  # Oct 15 to Nov 2, some rows no_data
    start, before = datetime(2026, 10, 20, tzinfo=UTC), datetime(2026, 10, 30, tzinfo=UTC)

    wanted = [*KR_IDS[:-1], "gone"]  # the last KR not asked for, one asked for that has no rows
    read = list(cycle_histories(store.engine, wanted, start, before))

    assert [kr for kr, _ in read] == sorted(KR_IDS[:-1])  # each KR with rows once, in the database's order
    for kr_id, points in read:
        expected = [p for p in store.history(kr_id, since=start) if p.slot < before]
        assert points == expected and 30 < len(points) < 40, kr_id
    assert list(cycle_histories(store.engine, [], start, before)) == []
    assert list(cycle_histories(store.engine, KR_IDS, end + timedelta(seconds=1), end + timedelta(days=1))) == []
