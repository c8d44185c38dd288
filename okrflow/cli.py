"""The ``okrflow`` command line (the CLI contract of ARCHITECTURE.md).

Commands that do not fetch (validate, status, history, checkin, override, abandon) import neither
Prefect, MLflow nor Great Expectations, so they answer in well under a second.
Exit codes: 0 done; 1 the run or command failed; 2 bad config or bad arguments.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from okrflow.okr_model.config import Config
from okrflow.okr_model.errors import ConfigError, OkrflowError

app = typer.Typer(
    name="okrflow",
    help="OKRs as code: key results scored from live MLflow, Prometheus, Great Expectations and SQL metrics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=False, width=None if sys.stdout.isatty() else 160)  # pipes get a wide table


class TableFormat(StrEnum):
    table = "table"
    json = "json"


class HistoryFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class State:
    config_path: Path = Path("okrflow.yaml")
    own_process: bool = False
    """Set by ``main``: the process ends with the command (not so under a test runner or an embedding app)."""


SHORT_LIVED = frozenset({"validate", "status", "history", "lint"})
"""Commands that read, print and exit: in their own process they run without cyclic collection
(``okrflow.store.gc_pause``, the one documented exception: about a third of their CPU at 1,000 KRs)."""


state = State()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("-c", "--config", help="Config file (default: okrflow.yaml, or $OKRFLOW_CONFIG)."),
    ] = None,
) -> None:
    state.config_path = config or Path(os.environ.get("OKRFLOW_CONFIG", "okrflow.yaml"))
    if state.own_process and ctx.invoked_subcommand in SHORT_LIVED:
        from okrflow.store.gc_pause import pause_for_short_process

        pause_for_short_process()


def _fail(message: str, code: int) -> NoReturn:
    print(message, file=sys.stderr)  # plain text: errors are grepped and must not be re-wrapped
    raise typer.Exit(code)


def load() -> Config:
    """Load and fully validate the config (exit 2 with file, key path and reason on error)."""
    from okrflow.connectors.registry import default_registry
    from okrflow.okr_model.loader import load_config

    try:
        return load_config(state.config_path, default_registry())
    except ConfigError as exc:
        _fail(f"invalid config:\n{exc}", 2)
    except (RecursionError, MemoryError) as exc:  # the loader's limits should stop such a file first
        _fail(f"invalid config:\n{state.config_path}: too deeply nested or too large to load ({type(exc).__name__})", 2)


def store_url(config: Config) -> str:
    from okrflow.okr_model.paths import store_url as resolve

    return resolve(config)


def open_store(config: Config):  # -> Store (imported lazily for speed)
    from okrflow.store import Store, StoreError

    try:
        return Store.open(store_url(config))
    except StoreError as exc:
        _fail(str(exc), 1)


def parse_time(value: str | None, option: str, config: Config | None = None) -> datetime | None:
    """An ISO time from the command line; a naive one is read in the config's time zone (UTC without one)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{option}: expected an ISO time such as 2026-11-15T09:00:00Z (got {value!r})", 2)
    from okrflow.okr_model.cycles import read_instant

    return read_instant(parsed, config.tz if config is not None else UTC)


CONFIG_FILES_HELP = "Config files to check instead of -c (pre-commit passes the changed files); exit with the worst code."


def for_each_config(configs: list[Path] | None, check: Callable[[], None]) -> None:
    """Run ``check`` on every config file given (or the -c one), all of them even after a failure."""
    worst = 0
    for path in configs or [state.config_path]:
        state.config_path = path
        try:
            check()
        except typer.Exit as exc:
            worst = max(worst, exc.exit_code)
    if worst:
        raise typer.Exit(worst)


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
    at: Annotated[str | None, typer.Option("--at", help="Read as of this time (default: now, within the cycle).")] = None,
) -> None:
    """Connect to a KR's source: show what its binding reads, what else is there, and the value; exit 1 if unreadable."""
    from okrflow.probe import default_time, probe_kr, render

    config = load()
    kr = _known_kr(config, kr_id)
    when = parse_time(at, "--at", config) or default_time(config)
    found = probe_kr(config, kr, when)
    print(render(kr, found, when))
    if any(f.level == "error" for f in found.findings):
        raise typer.Exit(1)


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
        _fail(f"run refused: {exc}", 2)
    if slot is not None:
        where = sys.stderr if output is TableFormat.json else sys.stdout  # JSON on stdout stays parseable
        print(f"evaluating as of {describe_instant(slot, config.tz)}", file=where)
    store = open_store(config)
    try:
        if os.environ.get("PREFECT_API_URL") and not dry_run:
            from okrflow.flows.evaluate import evaluate_flow

            # no store URL argument: Prefect keeps flow parameters in its database and UI, and the URL
            # holds the password; the flow resolves the same URL from the same config and environment
            record = evaluate_flow(str(state.config_path), slot.isoformat() if slot else None)
        else:
            record = evaluate(config, store, slot, dry_run=dry_run)
    except AlertStepFailed as exc:  # the flow failed after writing the run: print it, then exit 1 below
        if exc.record is None:
            _fail(f"run failed: {exc}", 1)
        record = exc.record
    except OutsideCycle as exc:  # the slot passed the cycle's end while the run started
        _fail(f"run refused: {exc}", 2)
    except OkrflowError as exc:
        _fail(f"run failed: {exc}", 1)
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
    if record.status == "failed":  # the contract: exit 1 when the run itself failed (every KR errored)
        _fail(f"run failed: {record.detail}", 1)
    if record.alert_error:  # stored, but nobody was told what it found: as much a failure for a scheduler
        _fail(str(alert_step_failed(record)), 1)


@app.command()
def status(output: Annotated[TableFormat, typer.Option("--format", help="Output format.")] = TableFormat.table) -> None:
    """The latest score and status of every objective and key result."""
    config = load()
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
    config = load()
    kr = _known_kr(config, kr_id, allow_removed=True)
    from okrflow.views import history_csv, history_json, history_table

    with open_store(config) as store:
        points = store.history(kr_id, since=parse_time(since, "--since", config))
    if output is HistoryFormat.json:
        print(json.dumps(history_json(kr_id, points), indent=2))
    elif output is HistoryFormat.csv:
        sys.stdout.write(history_csv(points))
    else:
        history_table(kr, kr_id, points, out)


def _known_kr(config: Config, kr_id: str, allow_removed: bool = False):
    try:
        return config.key_result(kr_id)[1]
    except KeyError:
        if allow_removed:
            return None
        known = ", ".join(kr.id for _, kr in config.key_results())
        _fail(f"unknown key result {kr_id!r} in {state.config_path} (known: {known})", 2)


def _annotate(kr_id: str, kind: str, value: float | None, reason: str, author: str | None, at: str | None) -> None:
    from okrflow.store import AnnotationRecord

    config = load()
    kr = _known_kr(config, kr_id)
    if kind == "checkin" and kr.kind != "manual":
        _fail(f"{kr_id} is measured by source {kr.metric.source!r}; check-ins are for kind: manual key results", 2)
    now = datetime.now(UTC)
    record = AnnotationRecord(
        kr_id=kr_id,
        kind=kind,
        value=value,
        reason=reason,
        author=author or os.environ.get("OKRFLOW_AUTHOR") or getpass.getuser(),
        created_at=now,
        effective_at=parse_time(at, "--at", config) or now,
    )
    with open_store(config) as store:
        store.add_annotation(record)
    out.print(f"{kind} recorded for {kr_id} by {record.author}; it counts from the next run (okrflow run).")


AuthorOption = Annotated[
    str | None, typer.Option("--author", help="Who says so (default: $OKRFLOW_AUTHOR or the OS user).")
]
AtOption = Annotated[str | None, typer.Option("--at", help="Effective ISO time (default: now).")]


@app.command()
def checkin(
    kr_id: Annotated[str, typer.Argument(help="A kind: manual key result.")],
    value: Annotated[float, typer.Argument(help="The measured value.")],
    note: Annotated[str, typer.Option("--note", help="What the number is based on.")] = "",
    author: AuthorOption = None,
    at: AtOption = None,
) -> None:
    """Record a value for a manual key result."""
    _annotate(kr_id, "checkin", value, note, author, at)


@app.command()
def override(
    kr_id: Annotated[str, typer.Argument(help="Key result id.")],
    score: Annotated[float | None, typer.Argument(min=0.0, max=1.0, help="The score to use instead (0.0-1.0).")] = None,
    reason: Annotated[str, typer.Option("--reason", help="Why the computed score is wrong.")] = "",
    clear: Annotated[bool, typer.Option("--clear", help="Remove the override.")] = False,
    author: AuthorOption = None,
    at: AtOption = None,
) -> None:
    """Override a key result's score (stored beside the computed score, never replacing it)."""
    if clear:
        _annotate(kr_id, "clear_override", None, reason or "override cleared", author, at)
        return
    if score is None or not reason.strip():
        _fail("override needs a SCORE between 0 and 1 and a --reason", 2)
    _annotate(kr_id, "override", score, reason, author, at)


@app.command()
def abandon(
    kr_id: Annotated[str, typer.Argument(help="Key result id.")],
    reason: Annotated[str, typer.Option("--reason", help="What was learned (e.g. a data limitation).")] = "",
    undo: Annotated[bool, typer.Option("--undo", help="Take the abandon back: the KR scores normally again.")] = False,
    author: AuthorOption = None,
    at: AtOption = None,
) -> None:
    """Stop a key result on purpose; it scores 0.4 (an early stop on a bad bet is good judgment)."""
    if not reason.strip():
        _fail(f"abandon{' --undo' if undo else ''} needs a --reason", 2)
    if undo:
        kr = _known_kr(load(), kr_id)
        if kr.abandoned is not None:
            _fail(f"{kr_id} is abandoned in the config ({state.config_path}); remove its abandoned: key there", 2)
    _annotate(kr_id, "clear_abandon" if undo else "abandon", None, reason, author, at)


@app.command()
def serve() -> None:
    """Run the evaluate flow on the config's schedule with Prefect until stopped.

    Ctrl-C (or SIGTERM) cancels the runs in flight and exits 0; a second Ctrl-C quits at once (130).
    """
    config = load()
    from okrflow.flows.deploy import serve as serve_deployment

    try:
        code = serve_deployment(state.config_path, config)
    except OkrflowError as exc:
        _fail(str(exc), 1)
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
        _fail(str(exc), 1)
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
        _fail(f"--step: {exc}", 2)
    from okrflow.flows.backfill import backfill as run_backfill

    store = open_store(config)
    try:
        report = run_backfill(
            config, store, parse_time(since, "--since", config), parse_time(until, "--until", config), interval
        )
    except OkrflowError as exc:
        _fail(f"backfill failed: {exc}", 1)
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
        _fail("nothing to do: set retention: {raw_days: N} in the config or pass --raw-days N", 2)
    from okrflow.store.retention import compact as compact_history
    from okrflow.store.retention import vacuum as vacuum_store

    with open_store(config) as store:
        report = compact_history(store, timedelta(days=days), tz=config.tz)
        if vacuum:
            vacuum_store(store)
    out.print(report.summary(), markup=False, highlight=False)


@app.command()
def alerts(
    output: Annotated[TableFormat, typer.Option("--format", help="Output format.")] = TableFormat.table,
    deliver: Annotated[bool, typer.Option("--deliver", help="Try queued messages now.")] = False,
) -> None:
    """Alerts that are pending or firing, and messages queued or refused by their channel."""
    config = load()
    with open_store(config) as store:
        if deliver:
            from okrflow.alerts.outbox import deliver_due

            report = deliver_due(config, store)
            out.print(f"delivered {report.sent}, retrying {report.retrying}, failed {report.failed}")
        from okrflow.alerts.repository import AlertRepository

        alerts = AlertRepository(store.engine)
        states = [s for s in alerts.states(None, ["pending", "firing"]).values()]
        messages = [m for m in alerts.outbox() if m.status != "sent"]
    rows = [
        {
            "kind": s.kind,
            "subject": s.subject,
            "phase": s.state.phase,
            "since": _iso(s.state.fired_at),
            "last_slot": _iso(s.state.last_slot),
        }
        for s in states
    ]
    queue = [
        {
            "channel": m.channel,
            "owner": m.owner,
            "status": m.status,
            "attempts": m.attempts,
            "next_attempt_at": _iso(m.next_attempt_at),
            "last_error": m.last_error,
        }
        for m in messages
    ]
    if output is TableFormat.json:
        print(json.dumps({"alerts": rows, "outbox": queue}, indent=2))
        return
    from rich.table import Table

    table = Table(title="alerts", title_justify="left")
    for column in ("kind", "subject", "phase", "since"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["kind"], row["subject"], row["phase"], row["since"] or "")
    out.print(table if rows else "No alert is pending or firing.")
    for m in queue:
        out.print(
            f"{m['status']}: to {m['channel']} ({m['owner']}), {m['attempts']} attempts, next {m['next_attempt_at']}: {m['last_error']}"
        )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


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
    config = load()
    from okrflow.report.html import write_report

    with open_store(config) as store:
        path = write_report(config, store, out_path)
    out.print(f"wrote {path}")


@app.command()
def exporter(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port of the /metrics endpoint.")] = 9465,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
) -> None:
    """Serve the latest KR and objective scores from the store as Prometheus gauges on /metrics."""
    config = load()
    from okrflow.report.exporter import serve_exporter

    out.print(f"serving okrflow metrics on http://{host}:{port}/metrics")
    try:
        serve_exporter(config, store_url(config), port=port, host=host)
    except OkrflowError as exc:
        _fail(str(exc), 1)


@app.command()
def schema(
    out_path: Annotated[Path | None, typer.Option("--out", help="Where to write the JSON schema.")] = None,
    webhook: Annotated[
        bool, typer.Option("--webhook", help="The webhook payload's schema (config/webhook-payload.schema.json).")
    ] = False,
) -> None:
    """Write the JSON schema of the config (for editor autocompletion), or with --webhook of the webhook payload."""
    if webhook:
        from okrflow.alerts.payload import payload_schema

        document, default = payload_schema(), Path("config/webhook-payload.schema.json")
    else:
        from okrflow.schema import config_schema

        document, default = config_schema(), Path("config/okrflow.schema.json")
    out_path = out_path or default
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(document, indent=2) + "\n")
    out.print(f"wrote {out_path}")


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option("--workdir", help="Where the demo world is created.")] = Path("okrflow-demo"),
    runs: Annotated[int, typer.Option("--runs", min=1, max=52, help="Evaluations spread over the cycle so far.")] = 8,
) -> None:
    """Create a self-contained demo world, run evaluations over simulated time, print the KR tree."""
    from okrflow.demo import run_demo

    try:
        run_demo(workdir, runs, out)
    except ConfigError as exc:
        _fail(f"invalid demo config:\n{exc}", 2)


@app.command()
def init(
    team: Annotated[str, typer.Option("--team", help="The team named in the config's header.")] = "our team",
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing config and .env.")] = False,
) -> None:
    """Write a commented starter config (-c path, default okrflow.yaml) and a .env with a webhook secret."""
    from okrflow.starter import write_starter

    try:
        written = write_starter(state.config_path, team, force=force)
    except FileExistsError as exc:
        _fail(f"not overwriting {exc} (pass --force)", 2)
    out.print(f"wrote {written.config} and {written.env} (mode 0600: keep it out of git)")
    out.print(f"next: okrflow -c {written.config} validate, then edit the queries and run --dry-run")


import_app = typer.Typer(help="Turn other tools' definitions into okrflow config (written for review).", no_args_is_help=True)
app.add_typer(import_app, name="import")


@import_app.command("openslo")
def import_openslo(
    paths: Annotated[list[Path], typer.Argument(help="OpenSLO v1 YAML files or folders (searched for *.yaml).")],
    output: Annotated[Path | None, typer.Option("--out", "-o", help="Write the config here (default: stdout).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --out file.")] = False,
) -> None:
    """SLO/SLI/DataSource documents with Prometheus sources -> maintain KRs; lists what it cannot translate."""
    from datetime import date

    from okrflow.openslo import read_documents, translate
    from okrflow.openslo_yaml import render_config

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        _fail(f"no such file or folder: {', '.join(missing)}", 2)
    if output is not None and output.exists() and not force:
        _fail(f"not overwriting {output} (pass --force)", 2)
    documents, unreadable = read_documents(paths)
    result = translate(documents)
    result.skipped[:0] = unreadable
    for skipped in result.skipped:
        print(f"not translated: {skipped.render()}", file=sys.stderr)
    if not result.key_results:
        _fail(f"nothing to write: no SLO translated ({len(result.skipped)} not translated, listed above)", 1)
    text = render_config(result, [str(p) for p in paths], date.today())
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
    print(
        f"{len(result.key_results)} key results written{f' to {output}' if output else ''}, "
        f"{len(result.skipped)} not translated",
        file=sys.stderr,
    )


def main() -> None:
    state.own_process = True
    try:
        app()
    except OkrflowError as exc:  # e.g. StoreError: the store failed after it opened (one line, exit 1)
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
