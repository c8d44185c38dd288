"""Commands that evaluate and keep history: run, backfill, serve and deploy (Prefect), compact."""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta
from typing import Annotated

import typer

from okrflow.cli.common import TableFormat, fail, load, open_store, out, parse_time, state
from okrflow.okr_model.errors import OkrflowError

app = typer.Typer()
"""Merged into the root app: its commands are top-level ``okrflow`` commands."""


@app.command()
def run(
    at: Annotated[str | None, typer.Option("--at", help="Evaluate as of this ISO time (the run's slot).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Preview values and scores without writing.")] = False,
    output: Annotated[TableFormat, typer.Option("--format", help="Output format.")] = TableFormat.table,
) -> None:
    """Evaluate every key result once (now, or as of --at) and store the run."""
    config = load()
    slot = parse_time(at, "--at", config)
    from okrflow.alerts.notify import AlertStepFailed, alert_step_failed
    from okrflow.flows.pipeline import evaluate, normalize_slot
    from okrflow.okr_model.cycles import OutsideCycle, check_in_cycle, describe_instant

    try:
        check_in_cycle(config, normalize_slot(slot))
    except OutsideCycle as exc:
        fail(f"run refused: {exc}", 2)
    if slot is not None:
        where = sys.stderr if output is TableFormat.json else sys.stdout  # JSON on stdout stays parseable
        print(f"evaluating as of {describe_instant(slot, config.tz)}", file=where)
    store = open_store(config)
    report_note = None
    try:
        if os.environ.get("PREFECT_API_URL") and not dry_run:
            from okrflow.flows.evaluate import evaluate_flow

            # no store URL argument: Prefect keeps flow parameters in its database and UI, and the URL
            # holds the password; the flow resolves the same URL from the same config and environment
            record = evaluate_flow(str(state.config_path), slot.isoformat() if slot else None)
        else:
            record = evaluate(config, store, slot, dry_run=dry_run)
            if record.run_id and config.report.path:  # stored: keep the page current, as the served flow does
                from okrflow.flows.report_refresh import refresh_report

                report_note = refresh_report(config, store, logger=None)
    except AlertStepFailed as exc:  # the flow failed after writing the run: print it, then exit 1 below
        if exc.record is None:
            fail(f"run failed: {exc}", 1)
        record = exc.record
    except OutsideCycle as exc:  # the slot passed the cycle's end while the run started
        fail(f"run refused: {exc}", 2)
    except OkrflowError as exc:
        fail(f"run failed: {exc}", 1)
    finally:
        store.close()
    from okrflow.views import record_summary, status_json, status_table

    summary = record_summary(record, record.run_id or 0)
    if output is TableFormat.json:
        print(json.dumps(status_json(summary, record.objectives, record.key_results, config), indent=2))
    else:
        status_table(summary, record.objectives, record.key_results, config, out)
    if dry_run and output is TableFormat.table:
        out.print("dry run: nothing was written")
    if record.alert_note:  # e.g. "alerts: not judged (slot older than the latest judged slot ...)"
        print(record.alert_note, file=sys.stderr if output is TableFormat.json else sys.stdout)
    if report_note:  # the run is stored: a page that could not be written is a warning, never a failed run
        print(f"warning: {report_note} (the run is stored)", file=sys.stderr)
    if record.status == "failed":  # the contract: exit 1 when the run itself failed (every KR errored)
        fail(f"run failed: {record.detail}", 1)
    if record.alert_error:  # stored, but nobody was told what it found: as much a failure for a scheduler
        fail(str(alert_step_failed(record)), 1)


@app.command()
def serve() -> None:
    """Run the evaluate flow on the config's schedule with Prefect until stopped.

    On PREFECT_API_URL's Prefect server, or without it on a local one it starts (the UI URL is printed).

    Ctrl-C (or SIGTERM) cancels the runs in flight and exits 0; a second Ctrl-C quits at once (130).
    """
    config = load()
    from okrflow.flows.deploy import serve as serve_deployment

    try:
        code = serve_deployment(state.config_path, config)
    except OkrflowError as exc:
        fail(str(exc), 1)
    if code:
        raise typer.Exit(code)


@app.command()
def deploy(
    pool: Annotated[str, typer.Option("--pool", help="Prefect work pool (type process) whose workers run it.")],
    name: Annotated[
        str | None, typer.Option("--name", help="Deployment name (default: the cycle's config file stem).")
    ] = None,
) -> None:
    """Register the evaluate flow with a Prefect server's work pool, on the config's schedule."""
    config = load()
    from okrflow.flows.deploy import deploy as register_deployment

    try:
        deployment_id = register_deployment(state.config_path, config, pool=pool, name=name)
    except OkrflowError as exc:
        fail(str(exc), 1)
    out.print(
        f"deployment {deployment_id} registered on work pool {pool!r}; start workers with: prefect worker start --pool {pool}"
    )


@app.command()
def backfill(
    since: Annotated[str, typer.Option("--since", help="First slot (ISO date or time).")],
    until: Annotated[str | None, typer.Option("--until", help="Last slot (default: now).")] = None,
    step: Annotated[str, typer.Option("--step", help="Distance between slots, e.g. 1h, 1d.")] = "1d",
) -> None:
    """Reconstruct history for past slots from sources that keep it (rows are marked backfilled)."""
    from okrflow.okr_model.types import parse_duration

    config = load()
    try:
        interval = parse_duration(step)
    except ValueError as exc:
        fail(f"--step: {exc}", 2)
    from okrflow.flows.backfill import backfill as run_backfill
    from okrflow.views.progress import ProgressReport

    store = open_store(config)
    try:
        with ProgressReport("backfill", "slots") as shown:
            report = run_backfill(
                config,
                store,
                parse_time(since, "--since", config),
                parse_time(until, "--until", config),
                interval,
                progress=shown,
            )
    except OkrflowError as exc:
        fail(f"backfill failed: {exc}", 1)
    finally:
        store.close()
    out.print(report.summary(), markup=False, highlight=False)


@app.command()
def compact(
    raw_days: Annotated[
        int | None,
        typer.Option("--raw-days", min=1, help="Keep every run this many days (default: the config's retention)."),
    ] = None,
    vacuum: Annotated[bool, typer.Option("--vacuum", help="Give the freed space back to the disk afterwards.")] = False,
) -> None:
    """Collapse runs older than retention.raw_days to the last run of each day (in batches; safe to rerun)."""
    config = load()
    days = raw_days or config.retention.raw_days
    if days is None:
        fail("nothing to do: set retention: {raw_days: N} in the config or pass --raw-days N", 2)
    from okrflow.store.retention import compact as compact_history
    from okrflow.store.retention import vacuum as vacuum_store
    from okrflow.views.progress import ProgressReport

    with open_store(config) as store:
        with ProgressReport("compact", "runs deleted") as shown:
            report = compact_history(store, timedelta(days=days), tz=config.tz, progress=shown)
        if vacuum:
            vacuum_store(store)
    out.print(report.summary(), markup=False, highlight=False)
