"""Deliver queued notifications: at least once, retried with exponential backoff, never dropped.

A retryable failure (connection refused, timeout, HTTP 5xx or 429) keeps the message queued with its
next attempt after 30 s, 60 s, ... up to ``max_backoff`` (or the channel's ``Retry-After``); a refusal
(another 4xx, a bad channel config) marks it ``failed`` with the reason, where ``okrflow alerts``
shows it. A message is marked sent only after its channel accepted it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING

from okr_model.config import Config
from okrflow.alerts.channels import DeliveryError, send
from okrflow.alerts.message import Message
from okrflow.store import Store
from okrflow.store.alerts import OutboxItem

if TYPE_CHECKING:
    import httpx

__all__ = ["DeliveryReport", "deliver_due"]

log = logging.getLogger("okrflow.alerts")


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)


def deliver_due(
    config: Config, store: Store, now: datetime | None = None, sender: Callable[..., None] | None = None
) -> DeliveryReport:
    """Try every queued message whose next attempt is due (HTTP channels share one client per process)."""
    now = now or datetime.now(UTC)
    due = store.alerts.due(now)
    if not due:
        return DeliveryReport()
    return _deliver(config, store, now, due, sender or partial(send, client=_http_client()))


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


def _deliver(
    config: Config, store: Store, now: datetime, due: Sequence[OutboxItem], sender: Callable[..., None]
) -> DeliveryReport:
    rules = config.defaults.alerts
    report = DeliveryReport()
    outbox = store.alerts
    for item in due:
        channel = config.channels.get(item.channel)
        if channel is None:
            outbox.mark(item.id, status="failed", last_error=f"channel {item.channel!r} is no longer configured")
            report.failed += 1
            continue
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
            continue
        outbox.mark(item.id, attempts=item.attempts + 1, status="sent", sent_at=datetime.now(UTC), last_error="")
        report.sent += 1
    return report
