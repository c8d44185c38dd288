"""Senders: deliver one rendered ``Message`` on one configured channel, or raise ``DeliveryError``.

Nothing here retries or swallows: the caller (the outbox) records the error and decides
(``delivery.DeliveryError`` says whether to retry). Secrets (webhook and Slack URLs, whose path is
the Slack token, signing keys, header values, SMTP passwords) never appear in an error, a log line or
a payload: a URL is shown as ``scheme://host[:port]/…``, server answers pass through
``okrflow.okr_model.secrets.Redactor``, and exceptions are raised ``from None`` so no chained library error
(which may hold the request URL) reaches a traceback. Webhooks are signed with the Standard Webhooks
headers (``okrflow.webhooks``); link-local and metadata addresses are refused after DNS resolution
unless the channel sets ``allow_private``; refused and timed-out receivers get one wording.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import TYPE_CHECKING

from okrflow import __version__
from okrflow.alerts.alertmanager import send_alertmanager
from okrflow.alerts.delivery import DeliveryError
from okrflow.alerts.email import MESSAGE_ID_HEADER, send_email
from okrflow.alerts.http_post import configured_headers, safe_url
from okrflow.alerts.http_post import json_body as _json_body
from okrflow.alerts.http_post import post as _post
from okrflow.alerts.message import Message
from okrflow.alerts.render import slack_payload, webhook_payload
from okrflow.okr_model.config import AlertmanagerChannel, EmailChannel, SlackChannel, WebhookChannel
from okrflow.okr_model.secrets import url_secrets
from okrflow.webhooks import sign

if TYPE_CHECKING:
    import httpx

__all__ = ["DeliveryError", "safe_url", "send", "send_email", "send_slack", "send_webhook", "signature"]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Okrflow-Signature"
"""Deprecated (0.1): HMAC of the body only, so replayable; receivers should verify ``webhook-signature``."""


def send(
    channel_name: str,
    channel: WebhookChannel | SlackChannel | EmailChannel | AlertmanagerChannel,
    msg: Message,
    *,
    client: httpx.Client | None = None,
) -> None:
    """Deliver ``msg`` on ``channel``; returns on success, raises ``DeliveryError`` otherwise.

    HTTP channels use ``client`` when given (a batch shares its connections), else one of their own.
    """
    if isinstance(channel, WebhookChannel):
        send_webhook(channel_name, channel, msg, client=client)
    elif isinstance(channel, SlackChannel):
        send_slack(channel_name, channel, msg, client=client)
    elif isinstance(channel, EmailChannel):
        send_email(channel_name, channel, msg)
    elif isinstance(channel, AlertmanagerChannel):
        send_alertmanager(channel_name, channel, msg, client=client)
    else:
        raise DeliveryError(f"channel {channel_name}: unknown channel type {type(channel).__name__}", retryable=False)


def signature(secret: str, body: bytes) -> str:
    """The deprecated ``X-Okrflow-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of the body bytes only."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def send_webhook(
    channel_name: str, channel: WebhookChannel, msg: Message, *, client: httpx.Client | None = None
) -> None:
    """POST the version-1 JSON payload (see ``render``), signed (``okrflow.webhooks``) when ``secret`` is set.

    ``webhook-id`` is the message id, the same on every retry; ``webhook-timestamp`` is the attempt's time.
    """
    url = channel.url.get_secret_value()
    where = f"channel {channel_name} (webhook {safe_url(url)})"
    headers, header_secrets = configured_headers(where, channel.headers)
    secrets = url_secrets(url) + header_secrets
    body = _json_body(webhook_payload(msg))
    headers["content-type"] = "application/json"
    headers["user-agent"] = f"okrflow/{__version__}"
    headers[MESSAGE_ID_HEADER.lower()] = msg.id
    key = channel.secret.get_secret_value() if channel.secret is not None else None
    if key is not None:
        secrets.append(key)
        headers[SIGNATURE_HEADER.lower()] = signature(key, body)

    def signed() -> dict[str, str]:
        return {**headers, **sign(key, msg.id, body)} if key is not None else headers

    _post(where, url, body, signed, channel.timeout_s, secrets, client, channel.allow_private)
    log.info("delivered message %s to %s", msg.id, where)


def send_slack(channel_name: str, channel: SlackChannel, msg: Message, *, client: httpx.Client | None = None) -> None:
    """POST an incoming-webhook payload (``text`` + ``blocks``); the URL is the secret, so it is never shown."""
    url = channel.url.get_secret_value()
    where = f"channel {channel_name} (slack {safe_url(url)})"
    body = _json_body(slack_payload(msg))
    headers = {"content-type": "application/json", "user-agent": f"okrflow/{__version__}"}
    _post(where, url, body, headers, channel.timeout_s, url_secrets(url), client, channel.allow_private)
    log.info("delivered message %s to %s", msg.id, where)
