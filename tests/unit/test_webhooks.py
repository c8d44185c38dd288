"""okrflow.webhooks as properties: what ``sign`` makes, ``verify`` and ``standardwebhooks`` accept; any change is refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks import Webhook

from okrflow.webhooks import WebhookVerificationError, sign, verify

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
secrets = st.one_of(
    st.text(min_size=32, max_size=64).filter(lambda s: len(s.encode()) >= 32 and not s.startswith("whsec_")),
    st.binary(min_size=32, max_size=64).map(lambda b: "whsec_" + base64.b64encode(b).decode()),
)
bodies = st.dictionaries(st.text(max_size=8), st.text(max_size=20) | st.integers(), max_size=4).map(
    lambda d: __import__("json").dumps(d, ensure_ascii=False).encode()
)
ids = st.text(alphabet="abcdef0123456789-", min_size=1, max_size=36)


@settings(max_examples=150, deadline=None)
@given(secret=secrets, body=bodies, msg_id=ids, skew=st.integers(min_value=-300, max_value=300))
def test_signed_messages_verify_within_five_minutes(secret, body, msg_id, skew) -> None:
    headers = sign(secret, msg_id, body, timestamp=int(NOW.timestamp()))
    assert verify(body, headers, secret, now=NOW + timedelta(seconds=skew)) is not None
    key = secret if secret.startswith("whsec_") else secret.encode()
    expected = Webhook(key).sign(msg_id, NOW, body.decode())
    assert headers["webhook-signature"] == expected


@settings(max_examples=150, deadline=None)
@given(secret=secrets, body=bodies, msg_id=ids, flip=st.integers(min_value=0))
def test_any_changed_byte_or_header_is_refused(secret, body, msg_id, flip) -> None:
    headers = sign(secret, msg_id, body, timestamp=int(NOW.timestamp()))
    position = flip % len(body)
    altered = body[:position] + bytes([body[position] ^ 0x01]) + body[position + 1 :]
    with pytest.raises(WebhookVerificationError):
        verify(altered, headers, secret, now=NOW)
    with pytest.raises(WebhookVerificationError):
        verify(body, {**headers, "webhook-id": msg_id + "x"}, secret, now=NOW)
    other = "whsec_" + base64.b64encode(b"another key of thirty-two bytes!").decode()
    with pytest.raises(WebhookVerificationError):
        verify(body, headers, other if other != secret else "x" * 32, now=NOW)
    if secret.startswith("whsec_"):  # a receiver's broken secret is its configuration error, said as such
        with pytest.raises(ValueError, match="base64"):
            verify(body, headers, secret + "*", now=NOW)
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(body, headers, secret, now=NOW + timedelta(minutes=5, seconds=1))
