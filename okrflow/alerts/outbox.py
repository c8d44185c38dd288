"""Deliver queued notifications: at least once, retried with exponential backoff, never dropped.

A retryable failure (connection refused, timeout, HTTP 5xx or 429) keeps the message queued with its
next attempt after 30 s, 60 s, ... up to ``max_backoff`` (or the channel's ``Retry-After``); a refusal
(another 4xx, a bad channel config) marks it ``failed`` with the reason, where ``okrflow alerts``
shows it. A message is marked sent only after its channel accepted it.

Exactly once between deliverers, at least once across a crash: each message is claimed (``claim``) for a
lease before it is sent, so two deliverers never send it both; a deliverer that dies after sending and
before recording it leaves the claim to expire, and the message is sent again with the same id, which
receivers can dedupe on.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from okrflow.alerts.delivery import DeliveryError
from okrflow.alerts.message import Message
from okrflow.alerts.repository import AlertRepository, OutboxItem
from okrflow.okr_model.config import Config
from okrflow.store import Store

if TYPE_CHECKING:
    import httpx

__all__ = ["LEASE", "DeliveryReport", "deliver_due"]

log = logging.getLogger("okrflow.alerts")


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


LEASE = timedelta(minutes=5)
"""How long a deliverer holds a claimed message: longer than one delivery can take (channels time out in
seconds), short enough that a crashed deliverer's message is retried soon."""
MAX_PER_CALL = 200


def deliver_due(
    config: Config,
    store: Store,
    now: datetime | None = None,
    sender: Callable[..., None] | None = None,
    lease: timedelta = LEASE,
) -> DeliveryReport:
    """Send every queued message whose next attempt is due, each claimed first, so concurrent deliverers (two
    runs, ``okrflow alerts --deliver``) never send one message twice; HTTP channels share one client per process."""
    now = now or datetime.now(UTC)
    claimer = f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    outbox = AlertRepository(store.engine)
    report = DeliveryReport()
    tried: list[int] = []
    while len(tried) < MAX_PER_CALL:
        item = outbox.claim(now, lease, claimer, skip=tried)
        if item is None:
            break
        assert item.id is not None
        tried.append(item.id)
        if sender is None:  # the senders and renderers are imported only when a message is due
            from okrflow.alerts.channels import send

            sender = partial(send, client=_http_client())
        _deliver_one(config, outbox, now, item, sender, report)
    return report


_client: httpx.Client | None = None
_client_lock = threading.Lock()


def _http_client() -> httpx.Client:
    """One HTTP client per process for webhook and Slack channels: its pool and TLS context (~20 ms to build)
    are reused by every delivery; each request still sets its channel's own timeout."""
    global _client
    with _client_lock:
        if _client is None:
            import httpx

            _client = httpx.Client(follow_redirects=False)
        return _client


def _deliver_one(
    config: Config,
    outbox: AlertRepository,
    now: datetime,
    item: OutboxItem,
    sender: Callable[..., None],
    report: DeliveryReport,
) -> None:
    """Send one claimed message and record the outcome (which ends the claim)."""
    rules = config.defaults.alerts
    assert item.id is not None
    channel = config.channels.get(item.channel)
    if channel is None:
        outbox.mark(item.id, status="failed", last_error=f"channel {item.channel!r} is no longer configured")
        report.failed += 1
        return
    try:
        sender(item.channel, channel, Message.from_json(item.payload))
    except DeliveryError as exc:
        attempts = item.attempts + 1
        if exc.retryable:
            delay = (
                timedelta(seconds=exc.retry_after)
                if exc.retry_after is not None
                else rules.retry_backoff * 2 ** (attempts - 1)
            )
            outbox.mark(
                item.id, attempts=attempts, next_attempt_at=now + min(delay, rules.max_backoff), last_error=str(exc)
            )
            report.retrying += 1
        else:
            outbox.mark(item.id, attempts=attempts, status="failed", last_error=str(exc))
            report.failed += 1
        report.errors.append(f"{item.channel}: {exc}")
        log.warning("delivery to %s failed (attempt %d): %s", item.channel, attempts, exc)
        return
    outbox.mark(item.id, attempts=item.attempts + 1, status="sent", sent_at=datetime.now(UTC), last_error="")
    report.sent += 1
