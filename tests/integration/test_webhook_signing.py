"""Webhooks a receiver can trust: Standard Webhooks signatures over id.timestamp.body, a shipped
verifier that refuses replays and forgeries, strong secrets only, and no sends to metadata endpoints.

Every message goes to a real loopback HTTP receiver; what it recorded is verified with our
``okrflow.webhooks.verify`` and with the ``standardwebhooks`` package.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from okrflow.okr_model.config import SlackChannel, WebhookChannel
from okrflow.okr_model.errors import ConfigError
from okrflow.okr_model.loader import parse_config
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError as LibraryVerificationError

from okrflow.alerts.channels import DeliveryError, send
from okrflow.alerts.message import Message
from okrflow.webhooks import WebhookVerificationError, sign, verify
from tests.integration.test_alert_channels import make_alert, make_message

RAW_SECRET = "räw-secret:@/%#'\"-with-odd-chars-0123456789"  # > 32 UTF-8 bytes, used as bytes
WHSEC = "whsec_" + base64.b64encode(bytes(range(200, 232))).decode()  # 32 random-looking bytes, spec form
OLD_ENOUGH = timedelta(minutes=5, seconds=1)


def _channel(url: str, secret: str = RAW_SECRET, **extra) -> WebhookChannel:
    return WebhookChannel(type="webhook", url=url, secret=secret, **extra)


def _config(channel: str) -> str:
    return textwrap.dedent(
        f"""\
        version: 1
        cycle: {{name: q, start: 2026-10-01, end: 2026-12-31}}
        channels:
          team-hook: {channel}
        objectives:
          - {{id: o, title: O}}
        """
    )


# --- what okrflow sends verifies with our verifier and with the standardwebhooks package -----------


@pytest.mark.parametrize("secret", [RAW_SECRET, WHSEC], ids=["raw-bytes", "whsec"])
def test_sent_messages_verify_with_ours_and_standardwebhooks(http_receiver, secret) -> None:
    msg = make_message(make_alert(kr_title='Latency ünder 200 ms "quoted" & <tags>'))
    send("team-hook", _channel(http_receiver.url + "/okr", secret), msg)
    [request] = http_receiver.requests

    assert request.headers["webhook-id"] == msg.id
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
    assert request.headers["webhook-signature"].startswith("v1,")
    payload = verify(request.body, request.headers, secret)
    assert payload["id"] == msg.id and payload["alerts"][0]["kr_title"].startswith("Latency ünder")
    library = Webhook(secret) if secret.startswith("whsec_") else Webhook(secret.encode())
    assert library.verify(request.body, request.headers) == payload


def test_the_message_id_is_stable_across_retries_and_each_attempt_verifies(http_receiver) -> None:
    channel = _channel(http_receiver.url + "/okr")
    msg = make_message()
    http_receiver.respond(503)
    with pytest.raises(DeliveryError) as failed:
        send("team-hook", channel, msg)
    assert failed.value.retryable
    send("team-hook", channel, Message.from_json(msg.to_json()))  # what the outbox resends
    first, second = http_receiver.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == msg.id
    assert first.body == second.body
    for request in (first, second):
        verify(request.body, request.headers, RAW_SECRET)
        Webhook(RAW_SECRET.encode()).verify(request.body, request.headers)


def test_a_replayed_message_is_rejected(http_receiver) -> None:
    send("team-hook", _channel(http_receiver.url + "/okr"), make_message())
    [captured] = http_receiver.requests
    sent_at = datetime.fromtimestamp(int(captured.headers["webhook-timestamp"]), UTC)
    assert verify(captured.body, captured.headers, RAW_SECRET, now=sent_at + timedelta(minutes=4))
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(captured.body, captured.headers, RAW_SECRET, now=sent_at + OLD_ENOUGH)
    with pytest.raises(WebhookVerificationError, match="future"):
        verify(captured.body, captured.headers, RAW_SECRET, now=sent_at - OLD_ENOUGH)
    # an attacker who re-stamps the captured message cannot re-sign it
    restamped = {**captured.headers, "webhook-timestamp": str(int(captured.headers["webhook-timestamp"]) + 60)}
    with pytest.raises(WebhookVerificationError, match="no valid signature"):
        verify(captured.body, restamped, RAW_SECRET)
    with pytest.raises(LibraryVerificationError):
        Webhook(RAW_SECRET.encode()).verify(captured.body, restamped)


def test_forged_and_altered_messages_are_rejected(http_receiver) -> None:
    send("team-hook", _channel(http_receiver.url + "/okr"), make_message())
    [captured] = http_receiver.requests
    altered = captured.body.replace(b'"alice"', b'"mallory"')
    assert altered != captured.body
    forged = sign("another-secret-that-is-long-enough-000", captured.headers["webhook-id"], captured.body)
    cases = {
        "altered body": (altered, captured.headers),
        "wrong key": (captured.body, {**captured.headers, **forged}),
        "no signature": (captured.body, {k: v for k, v in captured.headers.items() if k != "webhook-signature"}),
        "other version": (
            captured.body,
            {**captured.headers, "webhook-signature": captured.headers["webhook-signature"].replace("v1,", "v2,")},
        ),
        "garbage": (captured.body, {**captured.headers, "webhook-signature": "v1,not base64!"}),
        "bad timestamp": (captured.body, {**captured.headers, "webhook-timestamp": "1e9"}),
    }
    for name, (body, headers) in cases.items():
        with pytest.raises(WebhookVerificationError):
            verify(body, headers, RAW_SECRET)
            pytest.fail(f"{name} was accepted")
    # several signatures (key rotation): one valid one is enough
    rotated = {
        **captured.headers,
        "webhook-signature": f"{forged['webhook-signature']} {captured.headers['webhook-signature']}",
    }
    assert verify(captured.body, rotated, RAW_SECRET)


def test_the_verifier_imports_without_heavy_dependencies() -> None:
    code = (
        "import sys; import okrflow.webhooks; "
        "heavy = [m for m in ('sqlalchemy', 'httpx', 'prefect', 'mlflow', 'pandas', 'great_expectations') "
        "if m in sys.modules]; "
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"


def test_the_deprecated_body_signature_is_still_sent(http_receiver) -> None:
    import hashlib
    import hmac

    send("team-hook", _channel(http_receiver.url + "/okr"), make_message())
    [request] = http_receiver.requests
    expected = "sha256=" + hmac.new(RAW_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-okrflow-signature"], expected)


# --- secrets must be strong -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "env", "message"),
    [
        ("short-secret", {}, "the signing secret has 12 bytes"),
        ("${HOOK_SECRET:-}", {}, "the signing secret is empty"),
        ("${HOOK_SECRET}", {"HOOK_SECRET": ""}, "the signing secret is empty"),
        ("whsec_" + base64.b64encode(b"x" * 31).decode(), {}, "has 31 bytes"),
        ("whsec_not*base64", {}, "must be base64"),
        ("é" * 15, {}, "has 30 bytes"),
    ],
)
def test_weak_secrets_are_refused_at_validate(http_receiver, secret, env, message) -> None:
    channel = f'{{type: webhook, url: "{http_receiver.url}/okr", secret: "{secret}"}}'
    with pytest.raises(ConfigError, match=message) as refused:
        parse_config(_config(channel), "c.yaml", environ=env)
    assert "channels.team-hook.secret" in str(refused.value)
    if len(secret) > 6 and not secret.startswith("$"):
        assert secret.removeprefix("whsec_") not in str(refused.value)


def test_strong_secrets_are_accepted(http_receiver) -> None:
    for secret in (RAW_SECRET, WHSEC, "x" * 32):
        config = parse_config(_config(json.dumps({"type": "webhook", "url": http_receiver.url, "secret": secret})))
        assert config.channels["team-hook"].secret.get_secret_value() == secret


def test_validate_exits_2_naming_the_channel(tmp_path: Path) -> None:
    path = tmp_path / "okrflow.yaml"
    path.write_text(_config('{type: webhook, url: "http://127.0.0.1:9/okr", secret: "${OKR_UNSET_SECRET:-}"}'))
    result = subprocess.run(
        [sys.executable, "-m", "okrflow.cli", "-c", str(path), "validate"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result
    assert "channels.team-hook.secret" in result.stderr and "empty" in result.stderr
    assert "Traceback" not in result.stderr


# --- link-local and metadata destinations ---------------------------------------------------------

METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "http://169.254.170.2/v2/credentials",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[fe80::1]:8080/hook",
    "http://[::ffff:169.254.169.254]/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://METADATA.google.internal./computeMetadata/v1/",
    "http://metadata/computeMetadata/v1/",
    "http://2852039166/latest/meta-data/",  # 169.254.169.254 as one decimal number
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://user:p%40ss@169.254.169.254/",
]


@pytest.mark.parametrize("url", METADATA_URLS)
@pytest.mark.parametrize("kind", ["webhook", "slack"])
def test_metadata_urls_are_refused_at_validate(url, kind) -> None:
    with pytest.raises(ConfigError, match="allow_private: true") as refused:
        parse_config(_config(json.dumps({"type": kind, "url": url})))
    assert "channels.team-hook" in str(refused.value)
    assert "p%40ss" not in str(refused.value)
    allowed = parse_config(_config(json.dumps({"type": kind, "url": url, "allow_private": True})))
    assert allowed.channels["team-hook"].allow_private


def test_email_to_a_metadata_host_is_refused_at_validate() -> None:
    channel = "{type: email, host: 169.254.169.254, sender: a@example.com, to: [b@example.com]}"
    with pytest.raises(ConfigError, match="allow_private: true"):
        parse_config(_config(channel))


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/okr",
        "http://localhost/okr",
        "http://10.1.2.3/okr",
        "http://192.168.1.20:9000/okr",
        "http://172.16.0.5/okr",
        "http://[::1]:8080/okr",
        "http://[fd12:3456::1]/okr",
        "https://alerts.internal.example.com/okr",
        "https://metadata.example.com/okr",
    ],
)
def test_loopback_private_and_ordinary_hosts_stay_allowed(url) -> None:
    config = parse_config(_config(json.dumps({"type": "webhook", "url": url, "secret": RAW_SECRET})))
    assert not config.channels["team-hook"].allow_private


@pytest.mark.parametrize("url", ["http://169.254.169.254/x", "http://[::ffff:a9fe:a9fe]/x", "http://metadata/x"])
def test_metadata_destinations_are_refused_at_send_time_too(http_receiver, url) -> None:
    # A channel built without validation (model_construct) still does not send: the sender checks again.
    hook = WebhookChannel.model_construct(
        type="webhook", url=_secret(url), secret=None, headers={}, timeout_s=2, allow_private=False
    )
    slack = SlackChannel.model_construct(type="slack", url=_secret(url), timeout_s=2, allow_private=False)
    for channel in (hook, slack):
        with pytest.raises(DeliveryError, match="allow_private: true") as refused:
            send("team-hook", channel, make_message())
        assert not refused.value.retryable


def test_names_are_checked_after_dns_resolution(http_receiver) -> None:
    # localhost resolves (DNS / hosts file) to loopback: allowed, and delivered.
    port = http_receiver.url.rsplit(":", 1)[1]
    send("team-hook", _channel(f"http://localhost:{port}/okr"), make_message())
    assert len(http_receiver.requests) == 1


def _secret(value: str):
    from pydantic import SecretStr

    return SecretStr(value)


# --- errors do not tell an open port from a closed one ----------------------------------------------


def test_refused_and_timed_out_receivers_get_the_same_words(http_receiver, refused_port) -> None:
    http_receiver.respond(200, delay=1.5)
    messages = []
    for url in (f"http://127.0.0.1:{refused_port}/okr", http_receiver.url + "/okr"):
        with pytest.raises(DeliveryError) as failed:
            send("team-hook", _channel(url, timeout_s=0.5), make_message())
        assert failed.value.retryable
        messages.append(str(failed.value).replace(url.rsplit("/", 1)[0], "<receiver>"))
    refused, timed_out = messages
    assert refused == timed_out, messages


def test_smtp_refused_and_silent_servers_get_the_same_words(refused_port) -> None:
    import socket

    from okrflow.okr_model.config import EmailChannel

    from okrflow.alerts.channels import send_email

    with socket.socket() as silent:  # accepts connections (backlog) and never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        messages = []
        for port in (refused_port, silent.getsockname()[1]):
            channel = EmailChannel(
                type="email", host="127.0.0.1", port=port, sender="a@example.com", to=["b@example.com"], timeout_s=0.5
            )
            with pytest.raises(DeliveryError) as failed:
                send_email("mail", channel, make_message())
            assert failed.value.retryable
            messages.append(str(failed.value).replace(f":{port})", ":<port>)"))
    assert messages[0] == messages[1], messages
