"""The ``okrflow`` command line (the CLI contract of ARCHITECTURE.md).

Commands that do not fetch (validate, status, history, checkin, override, abandon) import neither
Prefect, MLflow nor Great Expectations, so they answer in well under a second.
Exit codes: 0 done; 1 the run or command failed; 2 bad config or bad arguments.

Each group of commands is a typer sub-app in its own module, merged into ``app`` so every command stays
top-level: ``read`` (validate, probe, status, history, lint, report, exporter), ``runs`` (run, backfill,
serve, deploy, compact), ``people`` (checkin, override, abandon), ``alerts``, ``getting_started`` (init,
demo, schema, import openslo). Shared helpers live in ``common``; modules import heavy libraries inside commands.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from okrflow.cli import alerts, getting_started, people, read, runs
from okrflow.cli.common import state
from okrflow.okr_model.errors import OkrflowError

__all__ = ["app", "main"]

HELP_ORDER = [
    "validate",
    "probe",
    "run",
    "status",
    "history",
    "checkin",
    "override",
    "abandon",
    "serve",
    "deploy",
    "backfill",
    "compact",
    "alerts",
    "lint",
    "report",
    "exporter",
    "schema",
    "demo",
    "init",
    "import",
]
"""The order ``okrflow --help`` lists commands in: the order a user meets them, whatever module holds them."""


class _InHelpOrder(TyperGroup):
    def list_commands(self, ctx: typer.Context) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names, key=lambda name: HELP_ORDER.index(name) if name in HELP_ORDER else len(HELP_ORDER))


app = typer.Typer(
    cls=_InHelpOrder,
    name="okrflow",
    help="OKRs as code: key results scored from live MLflow, Prometheus, Great Expectations and SQL metrics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


SHORT_LIVED = frozenset({"validate", "status", "history", "lint"})
"""Commands that read, print and exit: in their own process they run without cyclic collection
(``okrflow.store.gc_pause``, the one documented exception: about a third of their CPU at 1,000 KRs)."""


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


for _group in (read, runs, people, alerts):
    app.add_typer(_group.app)
app.add_typer(getting_started.app)
app.add_typer(getting_started.import_app, name="import")


def main() -> None:
    state.own_process = True
    try:
        app()
    except OkrflowError as exc:  # e.g. StoreError: the store failed after it opened (one line, exit 1)
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
