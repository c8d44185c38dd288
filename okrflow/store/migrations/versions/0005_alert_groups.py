"""Alert state per config (alert group), not per deployment; the judged-slot clock; outbox claims with a lease.

``alert_states.deployment`` becomes ``alert_group``. Rows of every deployment are carried over into the group
``default`` (what a config without ``defaults.alerts.group`` uses), re-keyed to that group's fingerprint: where
several deployments hold a state for one (kind, subject), the one furthest along is kept (firing before
pending before resolved, then the latest notified, then the latest judged). ``notified`` says that an alert's
firing was told, so only what was told is resolved; rows carried over count as told (they were, before).

``alert_groups`` holds each group's latest judged slot (runs of older slots are stored, not judged); the
``default`` group starts at the latest live (not backfilled) run, the slot the old code judged last.
``outbox.claimed_by`` / ``claimed_until``: a deliverer claims a message before sending it.

Revision ID: 0005
Revises: 0004
"""

import hashlib
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from okrflow.store.models import UTCDateTime

revision = "0005"
down_revision = "0004"

GROUP = "default"
_RANK = {"firing": 3, "pending": 2, "resolved": 1}


def _fingerprint(group: str, kind: str, subject: str) -> str:
    """``okrflow.alerts.judge.fingerprint`` as of this revision."""
    return hashlib.sha256(f"{group}|{kind}|{subject}".encode()).hexdigest()[:32]


def _carry_over(conn: sa.Connection) -> None:
    states = sa.table(
        "alert_states",
        sa.column("fingerprint", sa.String),
        sa.column("alert_group", sa.String),
        sa.column("kind", sa.String),
        sa.column("subject", sa.String),
        sa.column("phase", sa.String),
        sa.column("last_notified_at", UTCDateTime()),
        sa.column("last_slot", UTCDateTime()),
    )
    rows = conn.execute(
        sa.select(
            states.c.fingerprint,
            states.c.kind,
            states.c.subject,
            states.c.phase,
            states.c.last_notified_at,
            states.c.last_slot,
        )
    ).all()
    best: dict[tuple[str, str], tuple] = {}
    for row in rows:
        key = (row.kind, row.subject)
        rank = (_RANK.get(row.phase, 0), row.last_notified_at is not None, row.last_notified_at, row.last_slot)
        if key not in best or _sort(rank) > _sort(best[key][0]):
            best[key] = (rank, row.fingerprint)
    keep = {fingerprint for _, fingerprint in best.values()}
    dropped = [row.fingerprint for row in rows if row.fingerprint not in keep]
    if dropped:
        conn.execute(sa.delete(states).where(states.c.fingerprint.in_(dropped)))
    for (kind, subject), (_, fingerprint) in best.items():
        conn.execute(
            sa.update(states)
            .where(states.c.fingerprint == fingerprint)
            .values(fingerprint=_fingerprint(GROUP, kind, subject), alert_group=GROUP)
        )


def _sort(rank: tuple) -> tuple:
    """None-safe ordering of (phase rank, was notified, last notified, last slot)."""
    phase, told, notified_at, slot = rank
    return (phase, told, notified_at.timestamp() if notified_at else 0.0, slot.timestamp() if slot else 0.0)


def upgrade() -> None:
    with op.batch_alter_table("alert_states") as batch:
        batch.add_column(sa.Column("alert_group", sa.String(160), nullable=True))
        batch.add_column(sa.Column("notified", sa.Boolean(), nullable=False, server_default=sa.true()))
    conn = op.get_bind()
    _carry_over(conn)
    with op.batch_alter_table("alert_states") as batch:
        batch.alter_column("alert_group", existing_type=sa.String(160), nullable=False)
        batch.alter_column("notified", existing_type=sa.Boolean(), server_default=None)
        batch.drop_column("deployment")
        batch.create_index("ix_alert_states_group", ["alert_group"])

    groups = op.create_table(
        "alert_groups",
        sa.Column("name", sa.String(160), primary_key=True),
        sa.Column("last_judged_slot", UTCDateTime(), nullable=False),
        sa.Column("judged_at", UTCDateTime(), nullable=False),
    )
    runs = sa.table("runs", sa.column("slot", UTCDateTime()), sa.column("backfilled", sa.Boolean))
    latest = conn.execute(sa.select(sa.func.max(runs.c.slot)).where(runs.c.backfilled == sa.false())).scalar()
    if latest is not None:
        if isinstance(latest, str):  # SQLite returns max() of a datetime column as text
            latest = datetime.fromisoformat(latest)
        latest = latest.replace(tzinfo=UTC)  # stored as naive UTC
        op.bulk_insert(groups, [{"name": GROUP, "last_judged_slot": latest, "judged_at": latest}])

    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("claimed_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("claimed_until", UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("claimed_until")
        batch.drop_column("claimed_by")
    op.drop_table("alert_groups")
    with op.batch_alter_table("alert_states") as batch:
        batch.drop_index("ix_alert_states_group")
        batch.add_column(sa.Column("deployment", sa.String(128), nullable=False, server_default=GROUP))
        batch.drop_column("notified")
        batch.drop_column("alert_group")
