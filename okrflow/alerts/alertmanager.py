"""The ``alertmanager`` channel: okrflow's alerts posted to a Prometheus Alertmanager's ``/api/v2/alerts``.

Each alert becomes one Alertmanager alert, identified by its labels:

- ``alertname``: ``OkrOffTrack``, ``OkrAtRisk``, ``OkrDrift``, ``OkrNoData``, ``OkrSourceError``;
- ``okr_objective``, ``okr_key_result`` (absent for an objective's own alert), ``okr_source`` (a source error);
- ``owner`` (who okrflow routes it to: route on it), ``kind`` (the okrflow kind), ``severity`` (``critical`` for
  off_track and source_error, ``warning`` for at_risk, drift and no_data).

Annotations: ``summary`` (one line) and ``description`` (the facts: value, target, score against expected, why,
what changed, the query). ``generatorURL`` is ``defaults.alerts.link`` when it is an http(s) URL.

Timing, as Prometheus does it: Alertmanager resolves an alert by itself at its ``endsAt``, so a firing alert is
posted on every run that still sees it (``refresh_messages``), each time with ``endsAt`` = now + the lease (the
channel's ``lease``, else 4 x the longest gap between two scheduled runs: 1h for ``*/15``); a resolved alert is
posted once with ``endsAt`` = the resolving run's slot, and Alertmanager sends its resolved notification. If
okrflow stops running, its alerts expire one lease after the last run.
"""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from okrflow import __version__
from okrflow.alerts.http_post import configured_headers, json_body, post, safe_url
from okrflow.alerts.message import Alert, Message
from okrflow.alerts.render import facts, summary
from okrflow.alerts.routing import has_alertmanager
from okrflow.okr_model.config import AlertmanagerChannel, Config
from okrflow.okr_model.secrets import url_secrets

if TYPE_CHECKING:
    import httpx

    from okrflow.alerts.repository import OutboxItem

__all__ = [
    "ALERT_NAMES",
    "SEVERITY",
    "alertmanager_alerts",
    "has_alertmanager",
    "lease",
    "refresh_messages",
    "send_alertmanager",
]

log = logging.getLogger(__name__)

ALERT_NAMES = {
    "off_track": "OkrOffTrack",
    "at_risk": "OkrAtRisk",
    "drift": "OkrDrift",
    "no_data": "OkrNoData",
    "source_error": "OkrSourceError",
}
SEVERITY = {"off_track": "critical", "source_error": "critical", "at_risk": "warning", "drift": "warning"}
"""Severity label by kind; other kinds are ``warning``."""
LEASE_RUNS = 4
"""A firing alert stays valid for this many of the schedule's longest gaps (Prometheus: 4 x its resend interval)."""
MIN_LEASE = timedelta(minutes=5)
_DESCRIPTION_MAX = 4000


def lease(config: Config) -> timedelta:
    """How long a posted firing alert stays firing without another post: 4 x the schedule's longest gap."""
    start, _ = config.cycle_bounds()
    gap = config.parsed_schedule.longest_gap(start)
    return max(MIN_LEASE, LEASE_RUNS * gap)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _labels(alert: Alert, owner: str) -> dict[str, str]:
    labels = {
        "alertname": ALERT_NAMES[alert.kind],
        "okr_objective": alert.objective_id or "",
        "okr_key_result": alert.kr_id or "",
        "okr_source": alert.source if alert.kind == "source_error" and alert.source else "",
        "owner": owner,
        "severity": SEVERITY.get(alert.kind, "warning"),
        "kind": alert.kind,
    }
    return {name: value for name, value in labels.items() if value}  # Alertmanager drops empty labels anyway


def _description(alert: Alert) -> str:
    text = "\n".join(f"{label}: {value}" for label, value in facts(alert))
    return text if len(text) <= _DESCRIPTION_MAX else text[: _DESCRIPTION_MAX - 1] + "…"


def alertmanager_alerts(msg: Message, now: datetime, lease_override: timedelta | None = None) -> list[dict[str, Any]]:
    """The ``/api/v2/alerts`` body of one message: firing alerts valid until now + the lease, resolved ones ended."""
    valid_for = lease_override or msg.valid_for or timedelta(hours=1)
    link = msg.link if msg.link and re.match(r"^https?://", msg.link, re.IGNORECASE) else None
    body = []
    for alert in msg.alerts:
        starts = alert.since or msg.slot
        ends = max(msg.slot, starts) if alert.state == "resolved" else max(now, msg.created_at) + valid_for
        item: dict[str, Any] = {
            "labels": _labels(alert, msg.owner),
            "annotations": {"summary": summary(alert), "description": _description(alert)},
            "startsAt": _iso(starts),
            "endsAt": _iso(ends),
        }
        if link:
            item["generatorURL"] = link
        body.append(item)
    return body


def send_alertmanager(
    channel_name: str, channel: AlertmanagerChannel, msg: Message, *, client: httpx.Client | None = None
) -> None:
    """POST the message's alerts to ``<url>/api/v2/alerts``; Alertmanager answers 200 with an empty body."""
    base = channel.url.get_secret_value().rstrip("/")
    url = f"{base}/api/v2/alerts"
    where = f"channel {channel_name} (alertmanager {safe_url(base)})"
    headers, header_secrets = configured_headers(where, channel.headers)
    secrets = url_secrets(base) + header_secrets
    if channel.username is not None and channel.password is not None:
        password = channel.password.get_secret_value()
        token = base64.b64encode(f"{channel.username}:{password}".encode()).decode()
        headers["authorization"] = f"Basic {token}"
        secrets += [password, token]
    headers["content-type"] = "application/json"
    headers["user-agent"] = f"okrflow/{__version__}"
    body = json_body(alertmanager_alerts(msg, datetime.now(UTC), channel.lease))  # type: ignore[arg-type]
    post(where, url, body, headers, channel.timeout_s, secrets, client, channel.allow_private)
    log.info("delivered message %s (%d alerts) to %s", msg.id, len(msg.alerts), where)


def refresh_messages(
    config: Config, record_slot: datetime, standing: Sequence[tuple[str, Alert]], now: datetime
) -> list[OutboxItem]:
    """One message per owner and Alertmanager channel re-posting the alerts that still fire (no transition this
    run), so Alertmanager keeps them firing one more lease; other channels hear nothing new."""
    import uuid

    from okrflow.alerts.repository import OutboxItem
    from okrflow.alerts.routing import channels_of

    by_owner: dict[str, list[Alert]] = {}
    for owner, alert in standing:
        if alert not in by_owner.setdefault(owner, []):
            by_owner[owner].append(alert)
    valid_for = lease(config)
    items = []
    for owner, alerts in by_owner.items():
        message_id = uuid.uuid4().hex
        for channel in channels_of(config, owner):
            if not isinstance(config.channels.get(channel), AlertmanagerChannel):
                continue
            message = Message(
                message_id, now, record_slot, owner, channel, tuple(alerts), config.defaults.alerts.link, valid_for
            )
            items.append(OutboxItem(None, message_id, channel, owner, record_slot, message.to_json(), created_at=now))
    return items
