"""Great Expectations the way teams already use it (issue 16): a source points at the team's GX project folder
(a File Data Context, ``context_root_dir``) and binds KRs and quality gates to running one of its checkpoints or
suites, or to the latest validation result it stored as of the slot. And backfill of a suite over a time window.

Everything runs against real GX 1.24: the project is built here with GX's public API only (a SQLite data source
on the ``tests.fixtures.gx`` warehouse, a suite, a validation definition, a checkpoint), and the checkpoint is
run twice at known times so two validation results are stored: 2026-10-02 with 5 NULL ``resolution_hours``
(the suite passes 1 of 2), 2026-10-05 after the NULLs were filled (2 of 2).
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from okrflow.connectors.base import ConnectorContext
from okrflow.connectors.great_expectations import GreatExpectationsConnector
from okrflow.connectors.registry import Registry
from okrflow.flows.backfill import backfill
from okrflow.okr_model.errors import ConfigError
from okrflow.okr_model.loader import load_config, parse_config
from typer.testing import CliRunner

from okrflow.cli import app
from okrflow.store import Store
from tests.fixtures.gx import GxWarehouse, write_warehouse

FIRST_RUN = datetime(2026, 10, 2, tzinfo=UTC)
SECOND_RUN = datetime(2026, 10, 5, tzinfo=UTC)


def stored_results(gx_dir: Path) -> list[Path]:
    return sorted((gx_dir / "uncommitted" / "validations").rglob("*.json"))


def build_project(root: Path, warehouse: GxWarehouse) -> Path:
    """A GX File Data Context under ``root/gx`` with checkpoint ``nightly`` over suite ``tickets_quality``."""
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=str(root))
    context.enable_analytics(False)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.variables.save()
    asset = context.data_sources.add_sqlite(name="warehouse", connection_string=f"sqlite:///{warehouse.db}")
    batch = asset.add_table_asset(name="tickets", table_name="tickets").add_batch_definition_whole_table("all")
    suite = context.suites.add(
        gx.ExpectationSuite(
            name="tickets_quality",
            expectations=[
                gxe.ExpectColumnValuesToNotBeNull(column="resolution_hours"),
                gxe.ExpectColumnValuesToBeBetween(column="resolution_hours", min_value=0, max_value=720),
            ],
        )
    )
    validation = context.validation_definitions.add(gx.ValidationDefinition(name="tickets", data=batch, suite=suite))
    checkpoint = context.checkpoints.add(gx.Checkpoint(name="nightly", validation_definitions=[validation]))
    assert not checkpoint.run(run_id=gx.RunIdentifier(run_name="nightly", run_time=FIRST_RUN)).success
    with sqlite3.connect(warehouse.db) as conn:  # the team fixed the data; the next nightly run passes
        conn.execute("UPDATE tickets SET resolution_hours = 1 WHERE resolution_hours IS NULL")
    conn.close()
    assert checkpoint.run(run_id=gx.RunIdentifier(run_name="nightly", run_time=SECOND_RUN)).success
    return root / "gx"


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, GxWarehouse]:
    warehouse = write_warehouse(tmp_path / "data", nulls=5)
    gx_dir = build_project(tmp_path / "team", warehouse)
    assert len(stored_results(gx_dir)) == 2
    return gx_dir, warehouse


def config_text(gx_dir: Path | str, warehouse: GxWarehouse, extra_krs: str = "") -> str:
    return f"""
version: 1
cycle: {{name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}}
sources:
  warehouse: {{type: sql, url: "sqlite:///{warehouse.db}", retries: 0}}
  quality:
    type: great_expectations
    context_root_dir: "{gx_dir}"
    suites:
      nightly: {{checkpoint: nightly}}
      tickets: {{suite: tickets_quality}}
      last_night: {{suite: tickets_quality, stored: true}}
      recent:
        data: {{source: warehouse, query: "SELECT * FROM tickets WHERE closed_at < :now"}}
        expectations:
          - expect_table_row_count_to_be_between: {{min_value: 30}}
objectives:
  - id: data
    title: Trustworthy ticket data
    key_results:
      - {{id: nightly-pass, kind: increase, baseline: 0, target: 100, metric: {{source: quality, suite: nightly}}}}
      - {{id: suite-pass, kind: increase, baseline: 0, target: 100, metric: {{source: quality, suite: tickets}}}}
      - {{id: stored-pass, kind: increase, baseline: 0, target: 100, metric: {{source: quality, suite: last_night}}}}
      - id: stored-nulls
        kind: decrease
        baseline: 10
        target: 0
        metric: {{source: quality, suite: last_night, expectation: 0, result: unexpected_percent}}
      - id: tickets-mttr
        kind: decrease
        baseline: 100
        target: 10
        metric: {{source: warehouse, sql: "SELECT avg(resolution_hours) FROM tickets"}}
        quality_gate: {{source: quality, suite: last_night}}
      - {{id: recent-rows, kind: increase, baseline: 0, target: 100, metric: {{source: quality, suite: recent}}}}
{extra_krs}"""


def load(gx_dir: Path | str, warehouse: GxWarehouse):
    return parse_config(config_text(gx_dir, warehouse), resolver=Registry())


def connector(config) -> GreatExpectationsConnector:
    return GreatExpectationsConnector("quality", config.sources["quality"], ConnectorContext(config))


def metric(config, kr_id: str):
    return config.key_result(kr_id)[1].metric


def test_a_checkpoint_of_the_project_runs_and_its_result_is_the_value(project):
    gx_dir, warehouse = project
    config = load(gx_dir, warehouse)
    at = datetime(2026, 10, 6, tzinfo=UTC)
    with connector(config) as gx:
        got = gx.fetch(metric(config, "nightly-pass"), at)
        gate = gx.check_suite("nightly", at)
    assert (got.status, got.value) == ("ok", 100.0), got
    assert got.lineage["checkpoint"] == "nightly"
    assert gate.status == "passed", gate
    assert len(stored_results(gx_dir)) == 3  # the checkpoint really ran (and stored its result, as GX does)


def test_a_project_suite_runs_through_its_validation_definition(project):
    gx_dir, warehouse = project
    config = load(gx_dir, warehouse)
    with sqlite3.connect(warehouse.db) as conn:  # the data broke again: a run sees it, the stored result not
        conn.execute("UPDATE tickets SET resolution_hours = NULL WHERE id > 90")
    conn.close()
    at = datetime(2026, 10, 6, tzinfo=UTC)
    with connector(config) as gx:
        run = gx.fetch(metric(config, "suite-pass"), at)
        stored = gx.fetch(metric(config, "stored-pass"), at)
    assert (run.status, run.value) == ("ok", 50.0), run
    assert (stored.status, stored.value) == ("ok", 100.0), stored


def test_the_latest_stored_result_as_of_the_slot_is_read_without_running(project):
    gx_dir, warehouse = project
    config = load(gx_dir, warehouse)
    with connector(config) as gx:
        between = gx.fetch(metric(config, "stored-pass"), datetime(2026, 10, 3, tzinfo=UTC))
        nulls = gx.fetch(metric(config, "stored-nulls"), datetime(2026, 10, 3, tzinfo=UTC))
        after = gx.fetch(metric(config, "stored-pass"), datetime(2026, 10, 6, tzinfo=UTC))
        before = gx.fetch(metric(config, "stored-pass"), datetime(2026, 10, 1, 12, tzinfo=UTC))
        gate = gx.check_suite("last_night", datetime(2026, 10, 3, tzinfo=UTC))
    assert (between.status, between.value, between.observed_at) == ("ok", 50.0, FIRST_RUN), between
    assert (nulls.status, nulls.value) == ("ok", 5.0), nulls
    assert (after.status, after.value, after.observed_at) == ("ok", 100.0, SECOND_RUN), after
    assert before.status == "no_data", before
    assert "no validation result of suite 'tickets_quality' stored before 2026-10-01 12:00" in before.detail
    assert gate.status == "failed", gate
    assert "expect_column_values_to_not_be_null(column=resolution_hours)" in gate.detail
    assert len(stored_results(gx_dir)) == 2  # nothing was run


def test_stored_result_max_age_says_how_old_it_is(project):
    gx_dir, warehouse = project
    text = config_text(gx_dir, warehouse).replace(
        "metric: {source: quality, suite: last_night}}", "metric: {source: quality, suite: last_night, max_age: 1d}}"
    )
    config = parse_config(text, resolver=Registry())
    from okrflow.flows.pipeline import evaluate

    run = evaluate(config, None, datetime(2026, 10, 4, tzinfo=UTC), registry=Registry(), alerts=False)
    result = next(r for r in run.key_results if r.kr_id == "stored-pass")
    assert result.measurement == "no_data" and "stale" in result.detail, result


def test_names_the_project_does_not_hold_are_errors_with_what_it_holds(project):
    gx_dir, warehouse = project
    text = config_text(gx_dir, warehouse).replace("{checkpoint: nightly}", "{checkpoint: nighty}")
    config = parse_config(text.replace("{suite: tickets_quality}", "{suite: ticket_quality}"), resolver=Registry())
    at = datetime(2026, 10, 6, tzinfo=UTC)
    with connector(config) as gx:
        checkpoint = gx.fetch(metric(config, "nightly-pass"), at)
        suite = gx.fetch(metric(config, "suite-pass"), at)
    assert checkpoint.status == "error" and "no checkpoint 'nighty'" in checkpoint.detail, checkpoint
    assert "nightly" in checkpoint.detail
    assert suite.status == "error" and "no suite 'ticket_quality'" in suite.detail, suite
    assert "tickets_quality" in suite.detail


def test_context_root_dir_is_checked_at_validate_and_relative_to_the_config(project, tmp_path: Path):
    gx_dir, warehouse = project
    with pytest.raises(ConfigError) as caught:
        load(tmp_path / "nowhere", warehouse)
    assert "sources.quality.context_root_dir" in str(caught.value)
    assert "no Great Expectations project" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        parse_config(
            config_text(gx_dir, warehouse).replace(
                "      nightly: {checkpoint: nightly}\n", "      x: {stored: true}\n"
            ),
            resolver=Registry(),
        )
    assert "sources.quality.suites.x" in str(caught.value)
    folder = gx_dir.parent  # the config next to the project: context_root_dir: gx
    (folder / "okrflow.yaml").write_text(config_text("gx", warehouse))
    config = load_config(folder / "okrflow.yaml", resolver=Registry())
    assert config.sources["quality"].context_root_dir == str(gx_dir)
    (folder / "okrflow.yaml").write_text(config_text("gx-typo", warehouse))  # relative: read by validate --online
    result = CliRunner().invoke(app, ["-c", str(folder / "okrflow.yaml"), "validate", "--online"])
    assert result.exit_code == 1, result.output
    assert f"no Great Expectations project in {folder / 'gx-typo'}" in result.output


def test_a_project_without_the_context_dir_refuses_project_suites(project):
    gx_dir, warehouse = project
    text = config_text(gx_dir, warehouse).replace(f'    context_root_dir: "{gx_dir}"\n', "")
    with pytest.raises(ConfigError) as caught:
        parse_config(text, resolver=Registry())
    assert "context_root_dir" in str(caught.value)


def test_backfill_reads_stored_results_and_time_window_suites_for_past_slots(project, tmp_path: Path):
    """Backfill and ``run --at`` agree: a stored result as of each slot, a ``:now`` suite over each past window;
    only suites that validate the data as it is now (a checkpoint run, a table) keep no history."""
    gx_dir, warehouse = project
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "okrflow.yaml").write_text(
        config_text(gx_dir, warehouse) + f'store: "sqlite:///{folder / "history.db"}"\n'
    )
    config = load_config(folder / "okrflow.yaml", resolver=Registry())
    slots = [datetime(2026, 10, 1, 12, tzinfo=UTC) + timedelta(days=d) for d in range(4)]
    with Store.open(config.store) as store:
        report = backfill(config, store, slots[0], slots[-1], timedelta(days=1), registry=Registry())
        assert report.written == tuple(slots)
        history = {kr: [p.result.value for p in store.history(kr)] for kr in ("stored-pass", "recent-rows")}
        gated = store.history("tickets-mttr")
    assert history["stored-pass"] == [None, 50.0, 50.0, 50.0]
    # rows closed before each slot (one per hour from 2026-10-01): 12, 36, 60, 84 -> the suite needs 30
    assert history["recent-rows"] == [0.0, 100.0, 100.0, 100.0]
    assert set(report.no_history) == {"nightly-pass", "suite-pass"}
    assert "suite 'nightly' runs checkpoint 'nightly' as it is now" in report.no_history["nightly-pass"]
    assert "stored-pass" not in report.no_history and "recent-rows" not in report.no_history
    assert len(stored_results(gx_dir)) == 2  # backfill never runs the team's checkpoint
    # the gate on the stored result is applied as of each slot, as run --at applies it
    assert report.ungated == ()
    first, *later = [p.result for p in gated]
    assert first.score is None and "quality gate could not run" in first.detail, first
    assert "no validation result of suite 'tickets_quality' stored before 2026-10-01 12:00" in first.detail
    assert all("quality_gate" in r.gates and r.score <= 0.2 for r in later), later  # failed: capped at 0.2

    # run --at for one of those slots measures the same (the pipeline fetches as of the slot)
    with connector(config) as gx:
        assert gx.fetch(metric(config, "recent-rows"), slots[1]).value == history["recent-rows"][1]
        assert gx.fetch(metric(config, "stored-pass"), slots[1]).value == history["stored-pass"][1]
