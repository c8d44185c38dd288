"""Alert state and the notification outbox in the history database.

Judging a run saves the new alert states and enqueues its messages in one transaction; delivery then
marks each outbox row sent, or schedules its retry. A message is never dropped: a row stays ``queued``
until a channel accepts it, or becomes ``failed`` (kept, with the reason) when the channel refuses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.orm import Session

from okrflow.alerts.state import AlertState
from okrflow.store.models import AlertStateRow, OutboxRow

__all__ = ["AlertRepository", "OutboxItem", "SavedState"]


@dataclass(frozen=True)
class SavedState:
    """An alert state plus what identifies it for people (kind, subject) and what it last reported."""

    state: AlertState
    deployment: str
    kind: str
    subject: str
    last_seen: dict[str, Any] | None = None


@dataclass(frozen=True)
class OutboxItem:
    id: int | None
    message_id: str
    channel: str
    owner: str
    slot: datetime
    payload: str
    status: str = "queued"
    attempts: int = 0
    created_at: datetime | None = None
    next_attempt_at: datetime | None = None
    sent_at: datetime | None = None
    last_error: str = ""


class AlertRepository:
    def __init__(self, engine: Engine):
        self.engine = engine

    def load(self, fingerprints: Iterable[str]) -> dict[str, SavedState]:
        keys = list(fingerprints)
        if not keys:
            return {}
        with Session(self.engine) as session:
            rows = session.execute(select(AlertStateRow).where(AlertStateRow.fingerprint.in_(keys))).scalars()
            return {row.fingerprint: _saved(row) for row in rows}

    def states(self, deployment: str | None, phases: Sequence[str] | None = None) -> dict[str, SavedState]:
        """A deployment's (or every) alert states, optionally only those in some phases, by fingerprint."""
        query = select(AlertStateRow)
        if deployment is not None:
            query = query.where(AlertStateRow.deployment == deployment)
        if phases is not None:
            query = query.where(AlertStateRow.phase.in_(list(phases)))
        with Session(self.engine) as session:
            return {row.fingerprint: _saved(row) for row in session.execute(query).scalars()}

    def save(self, states: Sequence[SavedState], messages: Sequence[OutboxItem]) -> None:
        """Store the judged states and enqueue the run's messages atomically (bulk statements)."""
        rows = [{"fingerprint": saved.state.fingerprint, **_row_values(saved)} for saved in states]
        with Session(self.engine) as session, session.begin():
            existing = (
                set(
                    session.execute(
                        select(AlertStateRow.fingerprint).where(
                            AlertStateRow.fingerprint.in_([r["fingerprint"] for r in rows])
                        )
                    ).scalars()
                )
                if rows
                else set()
            )
            updates = [r for r in rows if r["fingerprint"] in existing]
            inserts = [r for r in rows if r["fingerprint"] not in existing]
            if updates:
                session.execute(update(AlertStateRow), updates)  # bulk UPDATE by primary key
            if inserts:
                session.execute(insert(AlertStateRow), inserts)
            if messages:
                session.execute(
                    insert(OutboxRow),
                    [
                        {
                            "message_id": item.message_id,
                            "channel": item.channel,
                            "owner": item.owner,
                            "slot": item.slot,
                            "payload": item.payload,
                            "status": "queued",
                            "attempts": 0,
                            "created_at": item.created_at,
                            "next_attempt_at": item.next_attempt_at or item.created_at,
                            "last_error": "",
                        }
                        for item in messages
                    ],
                )

    def due(self, now: datetime, limit: int = 200) -> list[OutboxItem]:
        """Queued messages whose next attempt is due, oldest first."""
        with Session(self.engine) as session:
            rows = session.execute(
                select(OutboxRow)
                .where(OutboxRow.status == "queued", OutboxRow.next_attempt_at <= now)
                .order_by(OutboxRow.id)
                .limit(limit)
            ).scalars()
            return [_item(row) for row in rows]

    def outbox(self, status: str | None = None) -> list[OutboxItem]:
        query = select(OutboxRow).order_by(OutboxRow.id)
        if status is not None:
            query = query.where(OutboxRow.status == status)
        with Session(self.engine) as session:
            return [_item(row) for row in session.execute(query).scalars()]

    def mark(self, item_id: int, **values: Any) -> None:
        """Record a delivery attempt's outcome (status, attempts, next_attempt_at, sent_at, last_error)."""
        with Session(self.engine) as session, session.begin():
            session.execute(update(OutboxRow).where(OutboxRow.id == item_id).values(**values))


def _row_values(saved: SavedState) -> dict[str, Any]:
    state = saved.state
    return {
        "deployment": saved.deployment,
        "kind": saved.kind,
        "subject": saved.subject,
        "phase": state.phase,
        "consecutive": state.consecutive,
        "last_slot": state.last_slot,
        "fired_at": state.fired_at,
        "last_notified_at": state.last_notified_at,
        "resolved_at": state.resolved_at,
        "active_since": state.active_since,
        "last_seen": saved.last_seen,
    }


def _saved(row: AlertStateRow) -> SavedState:
    state = AlertState(
        fingerprint=row.fingerprint,
        phase=row.phase,  # type: ignore[arg-type]
        consecutive=row.consecutive,
        last_slot=row.last_slot,
        fired_at=row.fired_at,
        last_notified_at=row.last_notified_at,
        resolved_at=row.resolved_at,
        active_since=row.active_since,
    )
    return SavedState(state, row.deployment, row.kind, row.subject, row.last_seen)


def _item(row: OutboxRow) -> OutboxItem:
    return OutboxItem(
        id=row.id,
        message_id=row.message_id,
        channel=row.channel,
        owner=row.owner,
        slot=row.slot,
        payload=row.payload,
        status=row.status,
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        sent_at=row.sent_at,
        last_error=row.last_error,
    )
