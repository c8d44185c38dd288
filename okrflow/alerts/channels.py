"""Senders: deliver one rendered ``Message`` on one configured channel, or raise ``DeliveryError``.

    OkrflowError
    └── DeliveryError    a send failed; ``retryable`` says whether the outbox should try again
                         (connection errors, timeouts, HTTP 408/425/429/5xx, SMTP 4xx), and
                         ``retry_after`` carries an HTTP ``Retry-After`` in seconds when given

Nothing here retries or swallows: the caller (the outbox) records the error and decides. Secrets
(webhook and Slack URLs, whose path is the Slack token, HMAC keys, header values, SMTP passwords)
never appear in an error, a log line or a payload: a URL is shown as ``scheme://host[:port]/…``,
server answers are redacted, and exceptions are raised ``from None`` so no chained library error
(which may hold the request URL) reaches a traceback.
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
from email.utils import format_datetime, parsedate_to_datetime
from typing import TYPE_CHECKING

from okr_model.config import EmailChannel, SlackChannel, WebhookChannel
from okr_model.errors import OkrflowError
from okrflow import __version__
from okrflow.alerts.message import Message
from okrflow.alerts.render import email_parts, slack_payload, webhook_payload

if TYPE_CHECKING:
    import ssl

    import httpx

__all__ = ["DeliveryError", "safe_url", "send", "send_email", "send_slack", "send_webhook", "signature"]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Okrflow-Signature"
MESSAGE_ID_HEADER = "X-Okrflow-Message-Id"
_RETRYABLE_STATUS = {408, 425, 429}
_MIN_SECRET = 4  # shorter strings are not redacted (they would shred every message and protect nothing)


class DeliveryError(OkrflowError):
    """A send failed. ``str()`` is safe to store and show: it names the channel, never a secret."""

    def __init__(self, message: str, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


def send(
    channel_name: str,
    channel: WebhookChannel | SlackChannel | EmailChannel,
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
    else:
        raise DeliveryError(f"channel {channel_name}: unknown channel type {type(channel).__name__}", retryable=False)


# --- secrets --------------------------------------------------------------------------------------


def safe_url(url: str) -> str:
    """``https://hooks.slack.com/…``: scheme, host and port only, never user info, path or query."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "<unparseable URL>"
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme or '?'}://{host}{f':{port}' if port else ''}/…"


def _url_secrets(url: str) -> list[str]:
    """The URL and the pieces of it that may be credentials."""
    parts = urllib.parse.urlsplit(url)
    pieces = [url, parts.path, parts.query, parts.password or "", parts.username or ""]
    pieces += [urllib.parse.unquote(p) for p in pieces]
    pieces += [segment for segment in parts.path.split("/") if len(segment) >= 8]  # Slack: T…/B…/token
    return pieces


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


def _redact(text: str, secrets: list[str]) -> str:
    for secret in sorted({s for s in secrets if len(s) >= _MIN_SECRET}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def signature(secret: str, body: bytes) -> str:
    """The ``X-Okrflow-Signature`` value: ``sha256=`` + hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


# --- HTTP (webhook, Slack) ------------------------------------------------------------------------


def _check_url(where: str, url: str) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise DeliveryError(f"{where}: the URL cannot be parsed; check the channel's url", retryable=False) from None
    if parts.scheme.lower() not in ("http", "https"):
        shown = f"{parts.scheme}:" if parts.scheme else "no scheme"
        raise DeliveryError(f"{where}: the URL must be http:// or https:// (got {shown})", retryable=False)
    if not parts.hostname:
        raise DeliveryError(f"{where}: the URL has no host", retryable=False)


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
    headers: dict[str, str],
    timeout: float,
    secrets: list[str],
    client: httpx.Client | None,
) -> None:
    import httpx

    _hide_in_httpx_logs(url)
    try:
        if client is None:
            with httpx.Client(timeout=timeout, follow_redirects=False) as own:
                response = own.post(url, content=body, headers=headers)
        else:
            response = client.post(url, content=body, headers=headers, timeout=timeout, follow_redirects=False)
    except httpx.TimeoutException:
        raise DeliveryError(f"{where}: no answer within {timeout:g}s (timeout_s)", retryable=True) from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol, httpx.LocalProtocolError) as exc:
        detail = _redact(str(exc), secrets)
        raise DeliveryError(f"{where}: invalid request: {type(exc).__name__}: {detail}", retryable=False) from None
    except httpx.TransportError as exc:  # refused, reset, DNS, TLS, a server that hung up
        detail = _redact(str(exc), secrets) or "connection failed"
        raise DeliveryError(f"{where}: cannot deliver: {type(exc).__name__}: {detail}", retryable=True) from None

    code = response.status_code
    if 200 <= code < 300:
        return
    answer = _redact(" ".join(response.text.split())[:200], secrets)
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
    """POST the version-1 JSON payload (see ``render``), signed with HMAC-SHA256 when ``secret`` is set."""
    url = channel.url.get_secret_value()
    where = f"channel {channel_name} (webhook {safe_url(url)})"
    _check_url(where, url)
    secrets = _url_secrets(url) + [value.get_secret_value() for value in channel.headers.values()]
    headers: dict[str, str] = {}
    for name, value in channel.headers.items():
        if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name) or re.search(r"[\r\n\x00]", value.get_secret_value()):
            raise DeliveryError(f"{where}: header {name[:60]!r} has an invalid name or value", retryable=False)
        headers[name.lower()] = value.get_secret_value()
    body = _json_body(webhook_payload(msg))
    headers["content-type"] = "application/json"
    headers["user-agent"] = f"okrflow/{__version__}"
    headers[MESSAGE_ID_HEADER.lower()] = msg.id
    if channel.secret is not None:
        key = channel.secret.get_secret_value()
        secrets.append(key)
        headers[SIGNATURE_HEADER.lower()] = signature(key, body)
    _post(where, url, body, headers, channel.timeout_s, secrets, client)
    log.info("delivered message %s to %s", msg.id, where)


def send_slack(channel_name: str, channel: SlackChannel, msg: Message, *, client: httpx.Client | None = None) -> None:
    """POST an incoming-webhook payload (``text`` + ``blocks``); the URL is the secret, so it is never shown."""
    url = channel.url.get_secret_value()
    where = f"channel {channel_name} (slack {safe_url(url)})"
    _check_url(where, url)
    body = _json_body(slack_payload(msg))
    headers = {"content-type": "application/json", "user-agent": f"okrflow/{__version__}"}
    _post(where, url, body, headers, channel.timeout_s, _url_secrets(url), client)
    log.info("delivered message %s to %s", msg.id, where)


# --- email ----------------------------------------------------------------------------------------


def _email(channel: EmailChannel, msg: Message) -> object:
    from email.message import EmailMessage

    subject, plain, html = email_parts(msg)
    domain = channel.sender.rpartition("@")[2] or "okrflow.invalid"
    local = re.sub(r"[^A-Za-z0-9._-]", "-", msg.id)
    email = EmailMessage()
    email["Subject"] = subject
    email["From"] = channel.sender
    email["To"] = ", ".join(channel.to)
    email["Date"] = format_datetime(msg.created_at)
    email["Message-ID"] = f"<okrflow.{local}@{re.sub(r'[^A-Za-z0-9.-]', '-', domain)}>"
    email[MESSAGE_ID_HEADER] = local
    email.set_content(plain)
    email.add_alternative(html, subtype="html")
    return email


def _smtp_reason(code: int, text: bytes | str, secrets: list[str]) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return _redact(f"{code} {' '.join(text.split())}"[:300], secrets)


def send_email(
    channel_name: str, channel: EmailChannel, msg: Message, *, ssl_context: ssl.SSLContext | None = None
) -> None:
    """Send multipart/alternative (plain + HTML) over SMTP; STARTTLS is required when ``starttls`` is true.

    ``ssl_context`` defaults to ``ssl.create_default_context()`` (system CAs, hostname check); pass
    one to trust a private CA.
    """
    import smtplib
    import ssl

    where = f"channel {channel_name} (email smtp://{channel.host}:{channel.port})"
    password = channel.password.get_secret_value() if channel.password else None
    secrets = [password] if password else []
    if (channel.username is None) != (password is None):
        raise DeliveryError(f"{where}: set both username and password, or neither", retryable=False)
    try:
        email = _email(channel, msg)
    except (ValueError, TypeError) as exc:  # e.g. a newline in sender or to: header injection refused
        raise DeliveryError(f"{where}: cannot build the email: {exc}", retryable=False) from None

    try:
        with smtplib.SMTP(channel.host, channel.port, timeout=channel.timeout_s) as smtp:
            smtp.ehlo()
            if channel.starttls:
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(
                        f"{where}: starttls is true but the server does not offer STARTTLS; refusing to send in "
                        "clear text (set starttls: false only for a trusted local relay)",
                        retryable=False,
                    )
                smtp.starttls(context=ssl_context or ssl.create_default_context())
                smtp.ehlo()
            if channel.username is not None and password is not None:
                smtp.login(channel.username, password)
            refused = smtp.send_message(email)
    except DeliveryError:
        raise
    except smtplib.SMTPAuthenticationError as exc:
        reason = _smtp_reason(exc.smtp_code, exc.smtp_error, secrets)
        raise DeliveryError(f"{where}: login as {channel.username!r} refused: {reason}", retryable=False) from None
    except smtplib.SMTPNotSupportedError as exc:
        detail = _redact(str(exc), secrets)
        raise DeliveryError(f"{where}: the server does not support what we need: {detail}", retryable=False) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        reasons = "; ".join(f"{rcpt}: {_smtp_reason(c, t, secrets)}" for rcpt, (c, t) in exc.recipients.items())
        retryable = all(400 <= code < 500 for code in codes)
        raise DeliveryError(f"{where}: every recipient refused: {reasons}", retryable=retryable) from None
    except smtplib.SMTPResponseException as exc:  # sender refused, data refused, connect refused with a code
        reason = _smtp_reason(exc.smtp_code, exc.smtp_error, secrets)
        raise DeliveryError(f"{where}: the server answered {reason}", retryable=400 <= exc.smtp_code < 500) from None
    except smtplib.SMTPServerDisconnected as exc:
        detail = _redact(str(exc), secrets) or "connection closed"
        raise DeliveryError(f"{where}: the server hung up: {detail}", retryable=True) from None
    except ssl.SSLCertVerificationError as exc:
        detail = exc.verify_message or str(exc)
        raise DeliveryError(
            f"{where}: STARTTLS certificate not trusted: {detail} (pass the CA, or fix the server's certificate)",
            retryable=False,
        ) from None
    except ssl.SSLError as exc:
        raise DeliveryError(f"{where}: TLS failed: {exc.reason or exc}", retryable=False) from None
    except TimeoutError:
        raise DeliveryError(f"{where}: no answer within {channel.timeout_s:g}s (timeout_s)", retryable=True) from None
    except smtplib.SMTPException as exc:
        detail = _redact(str(exc), secrets)
        raise DeliveryError(f"{where}: SMTP error: {type(exc).__name__}: {detail}", retryable=True) from None
    except OSError as exc:  # refused, unreachable, DNS
        detail = _redact(exc.strerror or str(exc), secrets)
        raise DeliveryError(f"{where}: cannot connect: {type(exc).__name__}: {detail}", retryable=True) from None
    if refused:
        reasons = "; ".join(f"{rcpt}: {_smtp_reason(c, t, secrets)}" for rcpt, (c, t) in refused.items())
        raise DeliveryError(
            f"{where}: delivered, but some recipients were refused (not retried, to avoid duplicates): {reasons}",
            retryable=False,
        )
    log.info("delivered message %s to %s", msg.id, where)
