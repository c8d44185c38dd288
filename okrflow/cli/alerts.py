"""``okrflow alerts``: what is pending or firing, and what the outbox holds."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer

from okrflow.cli.common import TableFormat, load, open_store, out

app = typer.Typer()
"""Merged into the root app: its commands are top-level ``okrflow`` commands."""


@app.command()
def alerts(
    output: Annotated[TableFormat, typer.Option("--format", help="Output format.")] = TableFormat.table,
    deliver: Annotated[bool, typer.Option("--deliver", help="Try queued messages now.")] = False,
) -> None:
    """Alerts that are pending or firing, and messages queued or refused by their channel."""
    config = load(check_sources=False)
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
