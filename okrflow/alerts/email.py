"""The email channel: multipart/alternative (plain + HTML) over SMTP, STARTTLS required by default.

Server replies go into ``DeliveryError`` only after ``okrflow.okr_model.secrets.Redactor`` has blanked the
password in every form a server may echo (an ``AUTH PLAIN`` line is base64 of ``\\0user\\0password``),
and only then are they shortened. A refused, silent or unreachable server gets one wording
(``delivery.unreachable``), so errors do not tell which internal ports are open.
"""

from __future__ import annotations

import logging
import re
from email.utils import format_datetime
from typing import TYPE_CHECKING

from okrflow.alerts.delivery import DeliveryError, refuse_blocked, unreachable
from okrflow.alerts.message import Message
from okrflow.alerts.render import email_parts
from okrflow.okr_model.config import EmailChannel
from okrflow.okr_model.secrets import Redactor

if TYPE_CHECKING:
    import ssl
    from email.message import EmailMessage

__all__ = ["MESSAGE_ID_HEADER", "send_email"]

log = logging.getLogger(__name__)

MESSAGE_ID_HEADER = "X-Okrflow-Message-Id"


def _email(channel: EmailChannel, msg: Message) -> EmailMessage:
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


def _reason(code: int, text: bytes | str, redact: Redactor) -> str:
    """A server reply as one short line: redacted first, then cut (a cut could split a secret's shape)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return redact(f"{code} {' '.join(text.split())}")[:300]


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
    redact = Redactor([password])
    if (channel.username is None) != (password is None):
        raise DeliveryError(f"{where}: set both username and password, or neither", retryable=False)
    try:
        email = _email(channel, msg)
    except (ValueError, TypeError) as exc:  # e.g. a newline in sender or to: header injection refused
        raise DeliveryError(f"{where}: cannot build the email: {exc}", retryable=False) from None
    if not f"{channel.username or ''}{password or ''}".isascii():  # smtplib's error would name the character
        raise DeliveryError(
            f"{where}: the username or password has non-ASCII characters, which SMTP AUTH (smtplib) cannot send",
            retryable=False,
        )
    refuse_blocked(where, channel.host, channel.port, channel.allow_private)

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
        reason = _reason(exc.smtp_code, exc.smtp_error, redact)
        raise DeliveryError(f"{where}: login as {channel.username!r} refused: {reason}", retryable=False) from None
    except smtplib.SMTPNotSupportedError as exc:
        detail = redact(str(exc))[:300]
        raise DeliveryError(f"{where}: the server does not support what we need: {detail}", retryable=False) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        reasons = "; ".join(f"{rcpt}: {_reason(c, t, redact)}" for rcpt, (c, t) in exc.recipients.items())
        retryable = all(400 <= code < 500 for code in codes)
        raise DeliveryError(f"{where}: every recipient refused: {reasons}", retryable=retryable) from None
    except smtplib.SMTPResponseException as exc:  # sender refused, data refused, connect refused with a code
        reason = _reason(exc.smtp_code, exc.smtp_error, redact)
        raise DeliveryError(f"{where}: the server answered {reason}", retryable=400 <= exc.smtp_code < 500) from None
    except smtplib.SMTPServerDisconnected:
        raise unreachable(where, channel.timeout_s) from None
    except ssl.SSLCertVerificationError as exc:
        detail = exc.verify_message or str(exc)
        raise DeliveryError(
            f"{where}: STARTTLS certificate not trusted: {detail} (pass the CA, or fix the server's certificate)",
            retryable=False,
        ) from None
    except ssl.SSLError as exc:
        raise DeliveryError(f"{where}: TLS failed: {exc.reason or exc}", retryable=False) from None
    except smtplib.SMTPException as exc:
        detail = redact(str(exc))[:300]
        raise DeliveryError(f"{where}: SMTP error: {type(exc).__name__}: {detail}", retryable=True) from None
    except OSError:  # refused, unreachable, DNS, timeout: one wording (see delivery.unreachable)
        raise unreachable(where, channel.timeout_s) from None
    if refused:
        reasons = "; ".join(f"{rcpt}: {_reason(c, t, redact)}" for rcpt, (c, t) in refused.items())
        raise DeliveryError(
            f"{where}: delivered, but some recipients were refused (not retried, to avoid duplicates): {reasons}",
            retryable=False,
        )
    log.info("delivered message %s to %s", msg.id, where)
