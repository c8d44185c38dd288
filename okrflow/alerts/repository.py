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

from sqlalchemy import Connection, Engine, bindparam, insert, or_, select, update

from okrflow.alerts.state import AlertState
from okrflow.store.guard import guarded
from okrflow.store.locks import advisory_lock, group_lock_key, write_connection
from okrflow.store.tables import alert_groups, alert_states
from okrflow.store.tables import outbox as _outbox

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


@guarded
class AlertRepository:
    """Alert states and the outbox; with ``connection``, every call joins that (writing) transaction.

    Core statements on a ``Connection``, never an ORM session: judging is part of ``okrflow run`` (issue 18).
    """

    def __init__(self, engine: Engine, connection: Connection | None = None):
        self.engine = engine
        self.connection = connection

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        if self.connection is not None:
            yield self.connection
            return
        with self.engine.connect() as conn:
            yield conn

    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        if self.connection is not None:
            yield self.connection
            return
        with write_connection(self.engine) as conn:
            yield conn

    # -- judging ---------------------------------------------------------------------------------

    def judging(self, group: str) -> datetime | None:
        """Lock the group until the (writing) transaction ends; returns the latest slot it judged, if any."""
        if self.connection is None:
            raise RuntimeError("judging needs the run's writing transaction (Store.write_run(..., then=...))")
        advisory_lock(self.connection, group_lock_key(group))
        groups = alert_groups.c
        return self.connection.execute(select(groups.last_judged_slot).where(groups.name == group)).scalar()

    def judged(self, group: str, slot: datetime, now: datetime) -> None:
        """Record that the group judged ``slot`` (call under ``judging``; slots only move forward)."""
        groups = alert_groups.c
        with self._writing() as conn:
            known = conn.execute(select(groups.name).where(groups.name == group)).scalar()
            if known is None:
                conn.execute(insert(alert_groups).values(name=group, last_judged_slot=slot, judged_at=now))
            else:
                conn.execute(
                    update(alert_groups)
                    .where(groups.name == group, groups.last_judged_slot <= slot)
                    .values(last_judged_slot=slot, judged_at=now)
                )

    def states(self, group: str | None, phases: Sequence[str] | None = None) -> dict[str, SavedState]:
        """A group's (or every) alert states, optionally only those in some phases, by fingerprint."""
        query = select(alert_states)
        if group is not None:
            query = query.where(alert_states.c.alert_group == group)
        if phases is not None:
            query = query.where(alert_states.c.phase.in_(list(phases)))
        with self._reading() as conn:
            return {row.fingerprint: _saved(row) for row in conn.execute(query)}

    def save(self, states: Sequence[SavedState], messages: Sequence[OutboxItem]) -> None:
        """Store the judged states and enqueue the run's messages atomically (bulk statements)."""
        rows = [{"fingerprint": saved.state.fingerprint, **_row_values(saved)} for saved in states]
        fingerprint = alert_states.c.fingerprint
        with self._writing() as conn:
            existing = (
                set(
                    conn.execute(select(fingerprint).where(fingerprint.in_([r["fingerprint"] for r in rows]))).scalars()
                )
                if rows
                else set()
            )
            updates = [r for r in rows if r["fingerprint"] in existing]
            inserts = [r for r in rows if r["fingerprint"] not in existing]
            if updates:  # one executemany UPDATE by primary key (the key's parameter renamed: Core binds by name)
                by_key = [
                    {"key": r["fingerprint"], **{k: v for k, v in r.items() if k != "fingerprint"}} for r in updates
                ]
                conn.execute(update(alert_states).where(fingerprint == bindparam("key")), by_key)
            if inserts:
                conn.execute(insert(alert_states), inserts)
            if messages:
                conn.execute(
                    insert(_outbox),
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
        with self._reading() as conn:
            rows = conn.execute(select(_outbox).where(*_claimable(now)).order_by(_outbox.c.id).limit(limit))
            return [_item(row) for row in rows]

    def claim(self, now: datetime, lease: timedelta, claimer: str, skip: Sequence[int] = ()) -> OutboxItem | None:
        """Claim the oldest due message (not one of ``skip``) for ``lease``; None when none is left.

        PostgreSQL skips rows another deliverer is claiming (``FOR UPDATE SKIP LOCKED``); on SQLite the
        transaction holds the write lock. The UPDATE re-checks the claim either way, so a message is claimed
        by one deliverer at a time.
        """
        with self._writing() as conn:
            query = select(_outbox).where(*_claimable(now)).order_by(_outbox.c.id).limit(1)
            if skip:
                query = query.where(_outbox.c.id.not_in(list(skip)))
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            row = conn.execute(query).first()
            if row is None:
                return None
            taken = conn.execute(
                update(_outbox)
                .where(_outbox.c.id == row.id, *_claimable(now))
                .values(claimed_by=claimer, claimed_until=now + lease)
            )
            return _item(row) if taken.rowcount == 1 else None

    def outbox(self, status: str | None = None) -> list[OutboxItem]:
        query = select(_outbox).order_by(_outbox.c.id)
        if status is not None:
            query = query.where(_outbox.c.status == status)
        with self._reading() as conn:
            return [_item(row) for row in conn.execute(query)]

    def mark(self, item_id: int, **values: Any) -> None:
        """Record a delivery attempt's outcome (status, attempts, next_attempt_at, sent_at, last_error); the
        message's claim ends with it."""
        with self._writing() as conn:
            conn.execute(
                update(_outbox).where(_outbox.c.id == item_id).values(claimed_by=None, claimed_until=None, **values)
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
