"""Alert state, each alert group's judging clock, and the notification outbox in the history database.

Judging a run happens in the run's own writing transaction (``Store.write_run(..., then=...)``): the group's
lock is taken (``judging``), its states read, the new states saved and the run's messages enqueued, and all of
it commits with the run or not at all. Delivery claims one queued message at a time (``claim``: PostgreSQL
``FOR UPDATE SKIP LOCKED``, then a conditional UPDATE that SQLite's write lock serialises) with a lease, sends
it, and records the outcome (``mark``); a deliverer that dies holding a claim leaves the message to be
retried once the lease expires. A message is never dropped: a row stays ``queued`` until a channel accepts
it, or becomes ``failed`` (kept, with the reason) when the channel refuses it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert, or_, select, update
from sqlalchemy.orm import Session

from okrflow.alerts.state import AlertState
from okrflow.store.guard import guarded
from okrflow.store.locks import advisory_lock, group_lock_key, write_session
from okrflow.store.models import AlertGroupRow, AlertStateRow, OutboxRow

__all__ = ["AlertRepository", "OutboxItem", "SavedState"]


@dataclass(frozen=True)
class SavedState:
    """An alert state plus what identifies it for people (kind, subject), what it last reported, and
    whether its firing was told (only a told alert is told that it resolved)."""

    state: AlertState
    group: str
    kind: str
    subject: str
    last_seen: dict[str, Any] | None = None
    notified: bool = False


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


_outbox = OutboxRow.__table__


@guarded
class AlertRepository:
    """Alert states and the outbox; with ``session``, every call joins that (writing) transaction."""

    def __init__(self, engine: Engine, session: Session | None = None):
        self.engine = engine
        self.session = session

    @contextmanager
    def _reading(self) -> Iterator[Session]:
        if self.session is not None:
            yield self.session
            return
        with Session(self.engine) as session:
            yield session

    @contextmanager
    def _writing(self) -> Iterator[Session]:
        if self.session is not None:
            yield self.session
            return
        with write_session(self.engine) as session:
            yield session

    # -- judging ---------------------------------------------------------------------------------

    def judging(self, group: str) -> datetime | None:
        """Lock the group until the (writing) transaction ends; returns the latest slot it judged, if any."""
        if self.session is None:
            raise RuntimeError("judging needs the run's writing transaction (Store.write_run(..., then=...))")
        advisory_lock(self.session, group_lock_key(group))
        return self.session.execute(select(AlertGroupRow.last_judged_slot).where(AlertGroupRow.name == group)).scalar()

    def judged(self, group: str, slot: datetime, now: datetime) -> None:
        """Record that the group judged ``slot`` (call under ``judging``; slots only move forward)."""
        with self._writing() as session:
            known = session.execute(select(AlertGroupRow.name).where(AlertGroupRow.name == group)).scalar()
            if known is None:
                session.execute(insert(AlertGroupRow).values(name=group, last_judged_slot=slot, judged_at=now))
            else:
                session.execute(
                    update(AlertGroupRow)
                    .where(AlertGroupRow.name == group, AlertGroupRow.last_judged_slot <= slot)
                    .values(last_judged_slot=slot, judged_at=now)
                )

    def states(self, group: str | None, phases: Sequence[str] | None = None) -> dict[str, SavedState]:
        """A group's (or every) alert states, optionally only those in some phases, by fingerprint."""
        query = select(*AlertStateRow.__table__.c)  # plain rows: no ORM objects, identity map or mapper setup
        if group is not None:
            query = query.where(AlertStateRow.alert_group == group)
        if phases is not None:
            query = query.where(AlertStateRow.phase.in_(list(phases)))
        with self._reading() as session:
            return {row.fingerprint: _saved(row) for row in session.execute(query)}

    def save(self, states: Sequence[SavedState], messages: Sequence[OutboxItem]) -> None:
        """Store the judged states and enqueue the run's messages atomically (bulk statements)."""
        rows = [{"fingerprint": saved.state.fingerprint, **_row_values(saved)} for saved in states]
        with self._writing() as session:
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

    # -- delivery --------------------------------------------------------------------------------

    def due(self, now: datetime, limit: int = 200) -> list[OutboxItem]:
        """Queued messages whose next attempt is due and that nobody holds a live claim on, oldest first."""
        with self._reading() as session:
            rows = session.execute(select(_outbox).where(*_claimable(now)).order_by(_outbox.c.id).limit(limit))
            return [_item(row) for row in rows]

    def claim(self, now: datetime, lease: timedelta, claimer: str, skip: Sequence[int] = ()) -> OutboxItem | None:
        """Claim the oldest due message (not one of ``skip``) for ``lease``; None when none is left.

        PostgreSQL skips rows another deliverer is claiming (``FOR UPDATE SKIP LOCKED``); on SQLite the
        transaction holds the write lock. The UPDATE re-checks the claim either way, so a message is claimed
        by one deliverer at a time.
        """
        with self._writing() as session:
            query = select(_outbox).where(*_claimable(now)).order_by(_outbox.c.id).limit(1)
            if skip:
                query = query.where(_outbox.c.id.not_in(list(skip)))
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            row = session.execute(query).first()
            if row is None:
                return None
            taken = session.execute(
                update(OutboxRow)
                .where(OutboxRow.id == row.id, *_claimable(now))
                .values(claimed_by=claimer, claimed_until=now + lease)
            )
            return _item(row) if taken.rowcount == 1 else None

    def outbox(self, status: str | None = None) -> list[OutboxItem]:
        query = select(_outbox).order_by(_outbox.c.id)
        if status is not None:
            query = query.where(_outbox.c.status == status)
        with self._reading() as session:
            return [_item(row) for row in session.execute(query)]

    def mark(self, item_id: int, **values: Any) -> None:
        """Record a delivery attempt's outcome (status, attempts, next_attempt_at, sent_at, last_error); the
        message's claim ends with it."""
        with self._writing() as session:
            session.execute(
                update(OutboxRow).where(OutboxRow.id == item_id).values(claimed_by=None, claimed_until=None, **values)
            )


def _claimable(now: datetime) -> tuple[Any, ...]:
    return (
        _outbox.c.status == "queued",
        _outbox.c.next_attempt_at <= now,
        or_(_outbox.c.claimed_until.is_(None), _outbox.c.claimed_until < now),
    )


def _row_values(saved: SavedState) -> dict[str, Any]:
    state = saved.state
    return {
        "alert_group": saved.group,
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
        "notified": saved.notified,
    }


def _saved(row: Any) -> SavedState:
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
    return SavedState(state, row.alert_group, row.kind, row.subject, row.last_seen, bool(row.notified))


def _item(row: Any) -> OutboxItem:
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
