"""Commands that read: validate and lint a config, probe a binding, show status and history, write the report,
serve the exporter. None fetches but validate --online and probe.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from okrflow.cli.common import (
    CONFIG_FILES_HELP,
    HistoryFormat,
    TableFormat,
    fail,
    for_each_config,
    known_kr,
    load,
    open_store,
    out,
    parse_time,
    state,
    store_url,
)
from okrflow.okr_model.errors import OkrflowError

app = typer.Typer()
"""Merged into the root app: its commands are top-level ``okrflow`` commands."""


@app.command()
def validate(
    configs: Annotated[list[Path] | None, typer.Argument(help=CONFIG_FILES_HELP, show_default=False)] = None,
    online: Annotated[
        bool,
        typer.Option(
            "--online", help="Also connect to each source: warn when a warehouse role can write; exit 1 if unreachable."
        ),
    ] = False,
) -> None:
    """Parse and check the config; exit 2 with file, key path and reason on error."""
    for_each_config(configs, lambda: validate_one(online))


def validate_one(online: bool) -> None:
    config = load()
    krs = len(config.key_results())
    out.print(
        f"{state.config_path}: ok ({len(config.objectives)} objectives, {krs} key results, {len(config.sources)} sources)"
    )
    if online:
        from okrflow.online import check_sources

        findings = check_sources(config)
        for finding in findings:
            print(finding.render(), file=sys.stderr if finding.level == "error" else sys.stdout)
        if any(finding.level == "error" for finding in findings):
            raise typer.Exit(1)


@app.command()
def probe(
    kr_id: Annotated[str, typer.Argument(help="The key result whose binding to probe.")],
    at: Annotated[
        str | None, typer.Option("--at", help="Read as of this time (default: now, within the cycle).")
    ] = None,
) -> None:
    """Connect to a KR's source: show what its binding reads, what else is there, and the value; exit 1 if unreadable."""
    from okrflow.probe import default_time, probe_kr, render

    config = load()
    kr = known_kr(config, kr_id)
    when = parse_time(at, "--at", config) or default_time(config)
    found = probe_kr(config, kr, when)
    print(render(kr, found, when))
    if any(f.level == "error" for f in found.findings):
        raise typer.Exit(1)


@app.command()
def status(output: Annotated[TableFormat, typer.Option("--format", help="Output format.")] = TableFormat.table) -> None:
    """The latest score and status of every objective and key result."""
    config = load(check_sources=False)
    from okrflow.okr_model.paths import sqlite_file
    from okrflow.okr_model.secrets import hide_password
    from okrflow.views import status_json, status_table

    url, where = store_url(config), sys.stderr if output is TableFormat.json else sys.stdout
    file = sqlite_file(url)
    missing = file is not None and not file.exists()  # a read must not create an empty store
    note = " (does not exist yet: okrflow run creates it)" if missing else ""
    print(f"store: {hide_password(url)}{note}", file=where)  # which history this is: another folder, another store
    snapshot = None
    if not missing:
        with open_store(config) as store:
            snapshot = store.status()
    _, end = config.cycle_bounds()
    if snapshot is not None and datetime.now(UTC) >= end:
        print(f"cycle {config.cycle.name} ended on {config.cycle.end}: this is its final result", file=where)
    run_, objectives, results = (
        (snapshot.run, snapshot.objectives, snapshot.key_results) if snapshot else (None, [], [])
    )
    if output is TableFormat.json:
        print(json.dumps(status_json(run_, objectives, results, config), indent=2))
    else:
        status_table(run_, objectives, results, config, out)


@app.command()
def history(
    kr_id: Annotated[str, typer.Argument(help="Key result id.")],
    output: Annotated[HistoryFormat, typer.Option("--format", help="Output format.")] = HistoryFormat.table,
    since: Annotated[str | None, typer.Option("--since", help="Only runs at or after this ISO time.")] = None,
) -> None:
    """One key result's measurements and scores over time."""
    config = load(check_sources=False)
    kr = known_kr(config, kr_id, allow_removed=True)
    from okrflow.views import history_csv, history_json, history_table

    with open_store(config) as store:
        points = store.history(kr_id, since=parse_time(since, "--since", config))
    if output is HistoryFormat.json:
        print(json.dumps(history_json(kr_id, points), indent=2))
    elif output is HistoryFormat.csv:
        sys.stdout.write(history_csv(points))
    else:
        history_table(kr, kr_id, points, out)


@app.command()
def lint(
    configs: Annotated[list[Path] | None, typer.Argument(help=CONFIG_FILES_HELP, show_default=False)] = None,
    output: Annotated[TableFormat, typer.Option("--format", help="Output format.")] = TableFormat.table,
) -> None:
    """Check the OKRs for anti-patterns; exit 1 when a rule of severity error fires (gate a pull request)."""
    for_each_config(configs, lambda: lint_one(output))


def lint_one(output: TableFormat) -> None:
    config = load()
    from okrflow.okr_model.lint import lint as lint_config

    findings = lint_config(config)
    if output is TableFormat.json:
        print(json.dumps([f.as_dict() for f in findings], indent=2))
    elif not findings:
        out.print(f"{state.config_path}: no findings")
    for finding in findings if output is TableFormat.table else ():
        out.print(
            f"{finding.severity}: {finding.rule}: {finding.subject}: {finding.message} (fix: {finding.fix})",
            markup=False,
            highlight=False,
        )
    if any(f.severity == "error" for f in findings):
        raise typer.Exit(1)


@app.command()
def report(
    out_path: Annotated[Path, typer.Option("--out", help="Where to write the HTML report.")] = Path("report.html"),
) -> None:
    """Write a self-contained HTML report: the OKR tree, a chart per key result, the mid-cycle review."""
    config = load(check_sources=False)
    from okrflow.report.html import write_report
    from okrflow.views.progress import ProgressReport

    with open_store(config) as store, ProgressReport("report", "key result reads and charts") as shown:
        path = write_report(config, store, out_path, progress=shown)
    out.print(f"wrote {path}")


@app.command()
def exporter(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port of the /metrics endpoint.")] = 9465,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Serve the latest KR and objective scores from the store as Prometheus gauges on /metrics."""
    config = load(check_sources=False)
    from okrflow.report.exporter import serve_exporter

    out.print(f"serving okrflow metrics on http://{host}:{port}/metrics")
    try:
        serve_exporter(config, store_url(config), port=port, host=host)
    except OkrflowError as exc:
        fail(str(exc), 1)
