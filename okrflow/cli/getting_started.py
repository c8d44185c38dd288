"""Commands that start a project: init (a starter config), demo, schema, import openslo."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from okrflow.cli.common import fail, out, state
from okrflow.okr_model.errors import ConfigError

app = typer.Typer()
"""Merged into the root app: its commands are top-level ``okrflow`` commands."""


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
    from okrflow.views.progress import ProgressReport

    try:
        # stdout on a terminal: the bar shares the story's console, so rich prints each line above it (two
        # consoles on one screen would overwrite each other); otherwise stderr's (a bar, or plain lines in a log)
        with ProgressReport("demo", "steps", out if out.is_terminal else None) as shown:
            run_demo(workdir, runs, out, progress=shown)
    except ConfigError as exc:
        fail(f"invalid demo config:\n{exc}", 2)


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
        fail(f"not overwriting {exc} (pass --force)", 2)
    out.print(f"wrote {written.config} and {written.env} (mode 0600: keep it out of git)")
    out.print(f"next: okrflow -c {written.config} validate, then edit the queries and run --dry-run")


import_app = typer.Typer(
    help="Turn other tools' definitions into okrflow config (written for review).", no_args_is_help=True
)


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
        fail(f"no such file or folder: {', '.join(missing)}", 2)
    if output is not None and output.exists() and not force:
        fail(f"not overwriting {output} (pass --force)", 2)
    documents, unreadable = read_documents(paths)
    result = translate(documents)
    result.skipped[:0] = unreadable
    for skipped in result.skipped:
        print(f"not translated: {skipped.render()}", file=sys.stderr)
    if not result.key_results:
        fail(f"nothing to write: no SLO translated ({len(result.skipped)} not translated, listed above)", 1)
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
