"""Why a Prometheus query failed, in words a user can act on, and which failures are worth a retry.

The exceptions come from ``requests`` (under prometheus-api-client) and from ``HttpAnswer``, raised by the
session's response hook for a non-200 answer (``prometheus_http``). Credentials never reach a message:
the connector passes every reason through its ``okrflow.okr_model.secrets.Redactor``.

Trap: with ``Retry(total=0)`` requests reports a *read* timeout as ``ConnectionError`` (urllib3 wraps it in
``MaxRetryError``), so timeouts are told apart by urllib3's ``reason``, not by the requests type.
"""

from __future__ import annotations

import json
from typing import Any

from okrflow.okr_model.errors import SourceError

__all__ = ["HttpAnswer", "SourceQueryError", "failure_reason", "is_transient"]


class SourceQueryError(SourceError):
    """A range query (backfill) failed; the message says why and never carries credentials."""


class HttpAnswer(SourceError):
    """Prometheus answered with a status other than 200: its status and body (Prometheus puts its reason there).

    ``PrometheusApiClientException`` would carry only a ``repr`` of the body inside its message.
    """

    def __init__(self, status: int, body: bytes):
        super().__init__(f"HTTP {status}")
        self.status, self.body = status, body


def failure_reason(exc: BaseException, *, where: str, timeout_s: float, retries: int) -> str:
    """The user-facing reason for ``exc``, a failed query to the server ``where`` names (not yet redacted)."""
    import requests

    tries = f" (after {retries + 1} attempts)" if retries else ""
    if isinstance(exc, HttpAnswer):
        message = _api_message(exc.body)
        if exc.status in (401, 403):
            return f"{where} refused the credentials (HTTP {exc.status}): {message}"
        return f"{where} rejected the query (HTTP {exc.status}): {message}"
    if _is_timeout(exc):
        retried = tries if is_transient(exc) else ""
        return f"{where} did not answer within {timeout_s:g} s{retried}"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"{where}: TLS verification failed; set ca_file to the CA that signed its certificate"
    if isinstance(exc, requests.ConnectionError):
        return f"{where}: {_connection_reason(str(exc))}{tries}"
    if isinstance(exc, (ValueError, KeyError, TypeError)):
        return f"{where} did not answer with the Prometheus HTTP API; check that url is the server's base URL"
    return f"{where}: unexpected {type(exc).__name__}: {str(exc)[:200]}"


def is_transient(exc: BaseException) -> bool:
    """Connection failures are retried; a slow query (read timeout), TLS and HTTP errors are not."""
    import requests
    from urllib3.exceptions import ReadTimeoutError

    if not isinstance(exc, requests.ConnectionError) or isinstance(exc, requests.exceptions.SSLError):
        return False
    return not isinstance(_reason(exc), ReadTimeoutError)


def _is_timeout(exc: BaseException) -> bool:
    import requests
    from urllib3.exceptions import NewConnectionError
    from urllib3.exceptions import TimeoutError as Urllib3Timeout

    reason = _reason(exc)
    if isinstance(reason, NewConnectionError):  # a subclass of ConnectTimeoutError in urllib3, yet not a timeout
        return False
    return isinstance(exc, requests.Timeout) or isinstance(reason, Urllib3Timeout)


def _reason(exc: BaseException) -> Any:
    """urllib3's own error inside a requests exception (``MaxRetryError.reason``), else what it wraps."""
    inner = exc.args[0] if exc.args else None
    return getattr(inner, "reason", inner)


def _connection_reason(text: str) -> str:
    lowered = text.lower()
    if "connection refused" in lowered:
        return "connection refused"
    if "failed to resolve" in lowered or "name or service not known" in lowered:
        return "host name not found"
    if "connection reset" in lowered:
        return "connection reset"
    if "remotedisconnected" in lowered or "connection aborted" in lowered:
        return "connection closed without an answer"
    return "connection failed"


def _api_message(body: bytes) -> str:
    """Prometheus's ``error`` (and ``errorType``) from an answer's body, else the body's first words."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = None
    if isinstance(payload, dict) and payload.get("error"):
        kind = payload.get("errorType")
        return str(payload["error"]) + (f" ({kind})" if kind else "")
    return " ".join(body.decode("utf-8", "replace").split())[:200] or "empty answer"
