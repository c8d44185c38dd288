"""POSTing to an HTTP channel (webhook, Slack, Alertmanager) safely, or raising ``DeliveryError``.

One transport for every HTTP sender: the URL is checked (http(s), no link-local or metadata host after DNS),
httpx's request log shows only ``safe_url``, answers pass through ``Redactor``, refused and timed-out receivers
get one wording, and the status code decides whether the outbox retries (``Retry-After`` honoured). The
senders (``okrflow.alerts.channels``, ``okrflow.alerts.alertmanager``) build the body and headers.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from okrflow.alerts.delivery import DeliveryError, refuse_blocked, unreachable
from okrflow.okr_model.secrets import Redactor, host_only, split_url

if TYPE_CHECKING:
    import httpx
    from pydantic import SecretStr

__all__ = ["configured_headers", "json_body", "post", "safe_url"]

_RETRYABLE_STATUS = {408, 425, 429}


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


def configured_headers(where: str, configured: Mapping[str, SecretStr]) -> tuple[dict[str, str], list[str]]:
    """A channel's ``headers:`` as lower-cased request headers, and their values as secrets to redact.

    A name that is not an HTTP token, or a value with CR, LF or NUL, would split or smuggle headers: it is
    refused before anything is sent (not retryable, the config must change).
    """
    headers: dict[str, str] = {}
    for name, value in configured.items():
        if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name) or re.search(r"[\r\n\x00]", value.get_secret_value()):
            raise DeliveryError(f"{where}: header {name[:60]!r} has an invalid name or value", retryable=False)
        headers[name.lower()] = value.get_secret_value()
    return headers, [value.get_secret_value() for value in configured.values()]


def _hide_in_httpx_logs(url: str) -> None:
    import httpx

    logger = logging.getLogger("httpx")
    if _httpx_redactor not in logger.filters:
        logger.addFilter(_httpx_redactor)
    with contextlib.suppress(httpx.InvalidURL, TypeError, ValueError):  # then the request fails too, reported safely
        _httpx_redactor.urls.add(str(httpx.URL(url)))


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


def post(
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


def json_body(payload: dict) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
