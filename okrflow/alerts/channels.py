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

import contextlib
import hashlib
import hmac
import json
import logging
import re
import time
import urllib.parse
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from okrflow import __version__
from okrflow.alerts.alertmanager import send_alertmanager
from okrflow.alerts.delivery import DeliveryError, refuse_blocked, unreachable
from okrflow.alerts.email import MESSAGE_ID_HEADER, send_email
from okrflow.alerts.message import Message
from okrflow.alerts.render import slack_payload, webhook_payload
from okrflow.okr_model.config import AlertmanagerChannel, EmailChannel, SlackChannel, WebhookChannel
from okrflow.okr_model.secrets import Redactor, host_only, split_url, url_secrets
from okrflow.webhooks import sign

if TYPE_CHECKING:
    import httpx

__all__ = ["DeliveryError", "safe_url", "send", "send_email", "send_slack", "send_webhook", "signature"]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Okrflow-Signature"
"""Deprecated (0.1): HMAC of the body only, so replayable; receivers should verify ``webhook-signature``."""
_RETRYABLE_STATUS = {408, 425, 429}


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


# --- secrets --------------------------------------------------------------------------------------


safe_url = host_only
"""``https://hooks.slack.com/…``: scheme, host and port only, never user info, path or query."""


class _HttpxUrlRedactor(logging.Filter):
    """httpx logs every request's full URL at INFO ("HTTP Request: POST https://hooks.slack.com/services/T/B/token").

    Installed once on the ``httpx`` logger, this rewrites the URL of our channels' requests (only
    those) to ``safe_url`` before any handler sees the record.
    """

    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) > 1 and str(args[1]) in self.urls:
            record.args = (args[0], safe_url(str(args[1])), *args[2:])
        return True


_httpx_redactor = _HttpxUrlRedactor()


def _hide_in_httpx_logs(url: str) -> None:
    import httpx

    logger = logging.getLogger("httpx")
    if _httpx_redactor not in logger.filters:
        logger.addFilter(_httpx_redactor)
    with contextlib.suppress(httpx.InvalidURL, TypeError, ValueError):  # then the request fails too, reported safely
        _httpx_redactor.urls.add(str(httpx.URL(url)))


def signature(secret: str, body: bytes) -> str:
    """The deprecated ``X-Okrflow-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of the body bytes only."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


# --- HTTP (webhook, Slack) ------------------------------------------------------------------------


def _check_url(where: str, url: str, allow_private: bool) -> None:
    """An http(s) URL with a host that is not (and does not resolve to) a link-local or metadata address."""
    parts = split_url(url)
    try:
        split = urllib.parse.urlsplit(f"{parts.prefix}{parts.rest}")
        port = split.port
    except ValueError:
        raise DeliveryError(f"{where}: the URL cannot be parsed; check the channel's url", retryable=False) from None
    if split.scheme.lower() not in ("http", "https"):
        shown = f"{split.scheme}:" if split.scheme else "no scheme"
        raise DeliveryError(f"{where}: the URL must be http:// or https:// (got {shown})", retryable=False)
    if not split.hostname:
        raise DeliveryError(f"{where}: the URL has no host", retryable=False)
    refuse_blocked(where, split.hostname, port or (443 if split.scheme.lower() == "https" else 80), allow_private)


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: a number of seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError):
            return None
    return max(0.0, seconds) if seconds == seconds and seconds != float("inf") else None


def _post(
    where: str,
    url: str,
    body: bytes,
    headers: dict[str, str] | Callable[[], dict[str, str]],
    timeout: float,
    secrets: list[str],
    client: httpx.Client | None,
    allow_private: bool = False,
) -> None:
    """POST ``body``; ``headers`` may be a function, called just before sending (a fresh signature timestamp)."""
    import httpx

    _check_url(where, url, allow_private)
    redact = Redactor(secrets)
    _hide_in_httpx_logs(url)
    try:
        sent = headers() if callable(headers) else headers
        if client is None:
            with httpx.Client(timeout=timeout, follow_redirects=False) as own:
                response = own.post(url, content=body, headers=sent)
        else:
            response = client.post(url, content=body, headers=sent, timeout=timeout, follow_redirects=False)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
        detail = redact(str(exc))
        raise DeliveryError(f"{where}: invalid request: {type(exc).__name__}: {detail}", retryable=False) from None
    except httpx.TransportError as exc:  # refused, reset, DNS, TLS, timeouts, a server that hung up
        if "[SSL" in str(exc):  # a TLS receiver with a bad certificate: worth saying, and not a port scan
            raise DeliveryError(f"{where}: TLS failed: {redact(str(exc))[:200]}", retryable=True) from None
        raise unreachable(where, timeout) from None

    code = response.status_code
    if 200 <= code < 300:
        return
    answer = redact(" ".join(response.text.split()))[:200]
    reason = f"HTTP {code} {response.reason_phrase}".rstrip() + (f": {answer}" if answer else "")
    if 300 <= code < 400:
        raise DeliveryError(f"{where}: {reason} (a redirect: set the channel url to the final URL)", retryable=False)
    if code in _RETRYABLE_STATUS or code >= 500:
        after = _retry_after(response.headers.get("Retry-After"))
        suffix = f" (retry after {after:g}s)" if after is not None else ""
        raise DeliveryError(f"{where}: {reason}{suffix}", retryable=True, retry_after=after)
    raise DeliveryError(f"{where}: {reason} (not retried: fix the channel or the receiver)", retryable=False)


def _json_body(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def send_webhook(
    channel_name: str, channel: WebhookChannel, msg: Message, *, client: httpx.Client | None = None
) -> None:
    """POST the version-1 JSON payload (see ``render``), signed (``okrflow.webhooks``) when ``secret`` is set.

    ``webhook-id`` is the message id, the same on every retry; ``webhook-timestamp`` is the attempt's time.
    """
    url = channel.url.get_secret_value()
    where = f"channel {channel_name} (webhook {safe_url(url)})"
    secrets = url_secrets(url) + [value.get_secret_value() for value in channel.headers.values()]
    headers: dict[str, str] = {}
    for name, value in channel.headers.items():
        if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name) or re.search(r"[\r\n\x00]", value.get_secret_value()):
            raise DeliveryError(f"{where}: header {name[:60]!r} has an invalid name or value", retryable=False)
        headers[name.lower()] = value.get_secret_value()
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
