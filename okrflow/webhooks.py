"""Signed webhooks (the Standard Webhooks scheme): how okrflow signs, and how a receiver verifies.

Every message of a ``webhook`` channel with a ``secret`` carries three headers
(https://www.standardwebhooks.com)::

    webhook-id:         the message id; the same on every retry of one message (dedupe on it)
    webhook-timestamp:  Unix seconds when this attempt was sent
    webhook-signature:  v1,<base64 HMAC-SHA256(key, f"{id}.{timestamp}.".encode() + body)>

The key is ``okrflow.okr_model.secrets.signing_key(secret)``: a ``whsec_<base64>`` secret is decoded, any
other secret is its UTF-8 bytes; either way at least 32 bytes (``okrflow validate`` refuses less).
Because the timestamp is signed, a receiver that checks it rejects a captured message replayed later.

A receiver verifies with ``verify`` (``pip install okrflow``; importing it loads neither SQLAlchemy,
httpx nor Prefect) or with the ``standardwebhooks`` package (``Webhook(secret)`` for a
``whsec_`` secret, ``Webhook(secret.encode())`` for any other)::

    from okrflow.webhooks import WebhookVerificationError, verify

    try:
        payload = verify(request.body, request.headers, os.environ["OKRFLOW_HOOK_SECRET"])
    except WebhookVerificationError:
        return 401
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from datetime import datetime, timedelta

from okrflow.okr_model.errors import OkrflowError
from okrflow.okr_model.secrets import signing_key

__all__ = ["ID_HEADER", "SIGNATURE_HEADER", "TIMESTAMP_HEADER", "WebhookVerificationError", "sign", "verify"]

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
DEFAULT_TOLERANCE = timedelta(minutes=5)


class WebhookVerificationError(OkrflowError, ValueError):
    """The message is not authentic or not fresh; answer 4xx and do not act on it."""


def _signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def sign(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body`` (``timestamp`` defaults to now)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = _signature(signing_key(secret), msg_id, stamp, body)
    return {
        ID_HEADER: msg_id,
        TIMESTAMP_HEADER: stamp,
        SIGNATURE_HEADER: "v1," + base64.b64encode(digest).decode("ascii"),
    }


def verify(
    payload: bytes,
    headers: Mapping[str, str],
    secret: str,
    tolerance: timedelta = DEFAULT_TOLERANCE,
    *,
    now: datetime | None = None,
) -> dict:
    """The JSON object of an authentic, fresh message; raises ``WebhookVerificationError`` otherwise.

    ``payload`` is the raw request body (verify before parsing: re-serialised JSON does not match).
    ``headers`` may use any letter case. The message is refused when a header is missing, when its
    timestamp is more than ``tolerance`` (default five minutes) before or after ``now``, or when no
    ``v1`` signature matches (compared in constant time with ``hmac.compare_digest``). A ``whsec_`` secret
    that is not base64 is the receiver's configuration error: ``ValueError``, not a verification failure.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    msg_id, stamp, signatures = (lowered.get(name) for name in (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER))
    if not (msg_id and stamp and signatures):
        raise WebhookVerificationError(f"missing {ID_HEADER}, {TIMESTAMP_HEADER} or {SIGNATURE_HEADER} header")
    if not stamp.isascii() or not stamp.isdigit() or len(stamp) > 12:
        raise WebhookVerificationError(f"{TIMESTAMP_HEADER} is not a Unix time in seconds")
    sent = int(stamp)
    current = (now or datetime.now().astimezone()).timestamp()
    if sent < current - tolerance.total_seconds():
        raise WebhookVerificationError("message too old (a replay, or a clock out of step)")
    if sent > current + tolerance.total_seconds():
        raise WebhookVerificationError("message timestamp too far in the future")
    expected = _signature(signing_key(secret), msg_id, stamp, payload)
    matched = False
    for candidate in signatures.split():
        version, _, value = candidate.partition(",")
        try:
            given = base64.b64decode(value, validate=True)
        except ValueError:
            continue
        matched |= version == "v1" and hmac.compare_digest(expected, given)
    if not matched:
        raise WebhookVerificationError("no valid signature (wrong secret, or the body was altered)")
    try:
        parsed = json.loads(payload)
    except ValueError:
        raise WebhookVerificationError("the signed body is not JSON") from None
    if not isinstance(parsed, dict):
        raise WebhookVerificationError("the signed body is not a JSON object")
    return parsed
