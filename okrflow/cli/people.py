"""Commands people answer with: check-ins of manual key results, overrides and abandons (stored beside the computed
scores, never replacing them).
"""

from __future__ import annotations

import getpass
import os
from datetime import UTC, datetime
from typing import Annotated

import typer

from okrflow.cli.common import fail, known_kr, load, open_store, out, parse_time, state

app = typer.Typer()
"""Merged into the root app: its commands are top-level ``okrflow`` commands."""


def _annotate(kr_id: str, kind: str, value: float | None, reason: str, author: str | None, at: str | None) -> None:
    from okrflow.store import AnnotationRecord

    config = load(check_sources=False)
    kr = known_kr(config, kr_id)
    if kind == "checkin" and kr.kind != "manual":
        fail(f"{kr_id} is measured by source {kr.metric.source!r}; check-ins are for kind: manual key results", 2)
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
        fail("override needs a SCORE between 0 and 1 and a --reason", 2)
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
        fail(f"abandon{' --undo' if undo else ''} needs a --reason", 2)
    if undo:
        kr = known_kr(load(check_sources=False), kr_id)
        if kr.abandoned is not None:
            fail(f"{kr_id} is abandoned in the config ({state.config_path}); remove its abandoned: key there", 2)
    _annotate(kr_id, "clear_abandon" if undo else "abandon", None, reason, author, at)
