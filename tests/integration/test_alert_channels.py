"""Alert delivery against real receivers on loopback: webhook (HMAC), Slack (validated Block Kit), SMTP.

Covers what a receiver sees (signature, payload, escaping, email parts), how every failure is
classified for the outbox (retryable or not, ``retry_after``), that no secret leaks into an error,
a log line or a payload, and that a ``Message`` survives the outbox's JSON exactly.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from okrflow.okr_model.config import EmailChannel, SlackChannel, WebhookChannel
from okrflow.okr_model.errors import ConfigError
from okrflow.okr_model.loader import parse_config
from pydantic import SecretStr

from okrflow.alerts.channels import DeliveryError, safe_url, send, send_email, send_slack, send_webhook
from okrflow.alerts.message import Alert, Message
from okrflow.alerts.render import email_parts, slack_payload, webhook_payload
from tests.fixtures.receivers import SMTP_PASSWORD, SMTP_USER, slack_problems

SLOT = datetime(2026, 11, 3, 9, 15, tzinfo=UTC)
HMAC_SECRET = "hmac-k3y-9f8e7d6c5b4a@:/%#'\"-é-0123456789abcdef"  # >= 32 bytes, odd characters
HEADER_TOKEN = "Bearer hdr-t0ken-5e6f7a8b"
SLACK_TOKEN = "xoxSecretT0kenAbCdEf123456"
SLACK_PATH = f"/services/T0ABCDEF1/B0GHIJKL2/{SLACK_TOKEN}"
HOSTILE = "<script>alert(1)</script> & <@channel> <!here>"


def email_channel(host: str, port: int, **settings: Any) -> EmailChannel:
    """An email channel to ``host:port`` from okr@example.com to a@example.com; ``settings`` add or override."""
    fields = {"type": "email", "host": host, "port": port, "sender": "okr@example.com", "to": ["a@example.com"]}
    return EmailChannel(**{**fields, **settings})


def make_alert(**overrides) -> Alert:
    fields = dict(
        fingerprint="p95-latency:off_track",
        kind="off_track",
        state="firing",
        kr_id="p95-latency",
        kr_title="P95 latency under 200 ms",
        objective_id="support-automation",
        objective_title="Resolve simple support tickets without an agent",
        owner="alice",
        value=0.41,
        unit="s",
        target=0.2,
        score=0.35,
        status="off_track",
        change="score 0.62 -> 0.35; status on_track -> off_track",
        query="prom: histogram_quantile(0.95, sum(rate(request_latency_seconds_bucket[5m])) by (le))",
        detail="0.41 s is above the 0.2 s limit",
        since=SLOT - timedelta(minutes=30),
        source="prom",
    )
    fields.update(overrides)
    return Alert(**fields)


def make_message(*alerts: Alert, link: str | None = "https://okr.example.com/report/2026-Q4") -> Message:
    return Message(
        id="6f1c2a52-1d3b-4c4e-9a55-0b7e1f0c9d11",
        created_at=SLOT + timedelta(seconds=12),
        slot=SLOT,
        owner="alice",
        channel="test",
        alerts=alerts or (make_alert(),),
        link=link,
    )


def band_alert() -> Alert:
    return make_alert(
        fingerprint="classifier-f1:drift",
        kind="drift",
        kr_id="classifier-f1",
        kr_title="Ticket classifier F1 from 0.79 to 0.87-0.92",
        value=0.81,
        unit=None,
        target=[0.87, 0.92],
        score=0.25,
        status="at_risk",
        change="f1 0.85 -> 0.81 (drop 0.04 > max_drop 0.03)",
        query="tracking: model ticket-classifier@champion metric f1",
        grouped=("classifier-recall", "classifier-precision"),
    )


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text, f"secret {secret[:4]}… leaked into: {text}"


# --- webhook --------------------------------------------------------------------------------------


def test_webhook_is_signed_over_the_raw_body(http_receiver) -> None:
    msg = make_message(make_alert(), band_alert())
    channel = WebhookChannel(
        type="webhook", url=f"{http_receiver.url}/okr/hook", secret=HMAC_SECRET, headers={"Authorization": HEADER_TOKEN}
    )
    send("ops-hook", channel, msg)

    [request] = http_receiver.requests
    assert (request.method, request.path) == ("POST", "/okr/hook")
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-okrflow-message-id"] == msg.id
    assert request.headers["authorization"] == HEADER_TOKEN
    expected = "sha256=" + hmac.new(HMAC_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-okrflow-signature"], expected)
    forged = "sha256=" + hmac.new(b"another-key", request.body, hashlib.sha256).hexdigest()
    assert not hmac.compare_digest(request.headers["x-okrflow-signature"], forged)

    payload = request.json()
    assert payload == json.loads(json.dumps(webhook_payload(msg)))
    assert payload["version"] == 1
    assert (payload["id"], payload["owner"], payload["link"]) == (msg.id, "alice", msg.link)
    assert datetime.fromisoformat(payload["slot"]) == SLOT
    assert [a["kr_id"] for a in payload["alerts"]] == ["p95-latency", "classifier-f1"]
    first, second = payload["alerts"]
    assert set(first) == set(Alert.__dataclass_fields__)
    assert (first["value"], first["unit"], first["target"], first["score"]) == (0.41, "s", 0.2, 0.35)
    assert second["target"] == [0.87, 0.92] and second["grouped"] == ["classifier-recall", "classifier-precision"]
    assert_no_secret(request.body.decode(), HMAC_SECRET, HEADER_TOKEN)


def test_webhook_without_secret_sends_no_signature(http_receiver) -> None:
    send("ops-hook", WebhookChannel(type="webhook", url=http_receiver.url + "/hook"), make_message())
    [request] = http_receiver.requests
    assert "x-okrflow-signature" not in request.headers
    assert request.headers["x-okrflow-message-id"] == make_message().id


def test_a_retried_message_is_the_same_bytes_with_the_same_id(http_receiver) -> None:
    """The outbox retries after a 503: the receiver gets an identical body it can dedupe on ``id``."""
    channel = WebhookChannel(type="webhook", url=http_receiver.url + "/hook", secret=HMAC_SECRET)
    msg = make_message()
    http_receiver.respond(503)
    with pytest.raises(DeliveryError) as failed:
        send("ops-hook", channel, msg)
    assert failed.value.retryable
    send("ops-hook", channel, Message.from_json(msg.to_json()))  # what the outbox would resend
    first, second = http_receiver.requests
    assert first.body == second.body
    assert first.headers["x-okrflow-signature"] == second.headers["x-okrflow-signature"]


# --- Slack ----------------------------------------------------------------------------------------


def _slack_texts(payload: dict) -> list[str]:
    texts = [payload["text"]]
    for block in payload["blocks"]:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts += [e["text"] for e in block.get("elements", []) if isinstance(e.get("text"), str)]
    return texts


def test_slack_payload_is_accepted_and_names_everything(slack_receiver) -> None:
    msg = make_message(make_alert(), band_alert())
    send("ml-slack", SlackChannel(type="slack", url=slack_receiver.url + SLACK_PATH), msg)

    [request] = slack_receiver.requests
    assert request.path == SLACK_PATH
    assert slack_receiver.rejections == []
    payload = request.json()
    assert payload["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": msg.title}}
    assert msg.title == "okrflow: 2 key results need attention (owner alice)"
    first, second = (b["text"]["text"] for b in payload["blocks"][1:3])
    for needle in ("p95-latency", "0.41 s", "*Target* 0.2 s", "*Score* 0.35", "off_track", "`prom: histogram_quantile"):
        assert needle in first
    assert "score 0.62 -&gt; 0.35; status on_track -&gt; off_track" in first
    for needle in (
        "classifier-f1",
        "*Value* 0.81",
        "0.87 to 0.92",
        "at_risk",
        "classifier-recall, classifier-precision",
    ):
        assert needle in second
    assert payload["blocks"][-1]["elements"][0]["url"] == msg.link
    assert "p95-latency is off track: 0.41 s (target 0.2 s, score 0.35, off_track)" in payload["text"]


def test_slack_receiver_rejects_what_slack_rejects(slack_receiver) -> None:
    """The validating fixture must be able to say no, or the acceptance above proves nothing."""
    bad = {"text": "x", "blocks": [{"type": "header", "text": {"type": "mrkdwn", "text": "y" * 200}}, {"type": "nope"}]}
    assert len(slack_problems(bad)) == 2
    response = httpx.post(slack_receiver.url + "/services/x", json=bad)
    assert (response.status_code, response.text) == (400, "invalid_blocks")
    msg = make_message()
    ok = slack_payload(msg)
    ok["blocks"].append({"type": "section", "text": {"type": "mrkdwn", "text": "z" * 3001}})
    with pytest.raises(DeliveryError, match="HTTP 400 Bad Request: invalid_blocks") as failed:
        from okrflow.alerts.channels import _json_body, _post  # the sender's transport, with a broken payload

        _post("channel s", slack_receiver.url + "/x", _json_body(ok), {"content-type": "application/json"}, 5, [], None)
    assert not failed.value.retryable


def test_slack_big_message_stays_within_slack_limits(slack_receiver) -> None:
    long_text = "word " * 2000
    alerts = [
        make_alert(
            fingerprint=f"kr-{i}:off_track", kr_id=f"kr-{i}", kr_title=long_text, query=long_text, detail="&" * 3000
        )
        for i in range(60)
    ]
    msg = make_message(*alerts)
    send_slack("ml-slack", SlackChannel(type="slack", url=slack_receiver.url + SLACK_PATH), msg)
    assert slack_receiver.rejections == []
    payload = slack_receiver.requests[0].json()
    assert len(payload["blocks"]) <= 50
    assert any("…and 14 more: kr-46" in t for t in _slack_texts(payload))


def test_user_text_is_escaped_in_slack(slack_receiver) -> None:
    alert = make_alert(
        kr_title=HOSTILE, objective_title=HOSTILE, detail=HOSTILE, change=HOSTILE, query="sql: SELECT `a` < 3 & <b>"
    )
    msg = Message(
        id="m-1", created_at=SLOT, slot=SLOT, owner="<!channel>", channel="s", alerts=(alert, band_alert()), link=None
    )
    send_slack("ml-slack", SlackChannel(type="slack", url=slack_receiver.url + SLACK_PATH), msg)
    assert slack_receiver.rejections == []
    payload = slack_receiver.requests[0].json()
    texts = _slack_texts(payload)
    for text in texts:
        assert "<" not in text and ">" not in text, text  # no raw markup at all: no mention, link or ping
        assert re.search(r"&(?!amp;|lt;|gt;)", text) is None, text
    section = payload["blocks"][1]["text"]["text"]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;@channel&gt; &lt;!here&gt;" in section
    assert "`sql: SELECT 'a' &lt; 3 &amp; &lt;b&gt;`" in section
    assert "owner &lt;!channel&gt;" in payload["text"] + payload["blocks"][0]["text"]["text"] + "".join(texts)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=80), st.text(max_size=80))
def test_slack_mrkdwn_never_carries_raw_control_characters(title: str, query: str) -> None:
    payload = slack_payload(make_message(make_alert(kr_title=title, query=query, detail=title, change=query)))
    for text in _slack_texts(payload):
        assert "<" not in text and ">" not in text
        assert re.search(r"&(?!amp;|lt;|gt;)", text) is None
    assert slack_problems(payload) == []


# --- email ----------------------------------------------------------------------------------------


def _parts(mail) -> tuple[str, str]:
    message = mail.message
    assert message.get_content_type() == "multipart/alternative"
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    return plain, html


def test_email_has_plain_and_html_parts(smtp_receiver) -> None:
    msg = make_message(make_alert(), band_alert())
    channel = email_channel(
        smtp_receiver.host, smtp_receiver.port, to=["ml@example.com", "lead@example.com"], starttls=False
    )
    send("ml-mail", channel, msg)

    [mail] = smtp_receiver.messages
    assert mail.mail_from == "okr@example.com"
    assert mail.rcpt_tos == ["ml@example.com", "lead@example.com"]
    assert not mail.tls
    message = mail.message
    assert message["Subject"] == msg.title == "okrflow: 2 key results need attention (owner alice)"
    assert message["To"] == "ml@example.com, lead@example.com"
    assert message["X-Okrflow-Message-Id"] == msg.id
    assert message["Date"] == format_datetime(msg.created_at)
    plain, html = _parts(mail)
    for text in (plain, html):
        for needle in ("p95-latency", "0.41 s", "0.2 s", "0.35", "off_track", "classifier-f1", "0.87 to 0.92"):
            assert needle in text
        assert "histogram_quantile(0.95" in text
    assert "Change: score 0.62 -> 0.35; status on_track -> off_track" in plain
    assert "score 0.62 -&gt; 0.35; status on_track -&gt; off_track" in html
    assert f'<a href="{msg.link}">' in html


def test_user_text_is_escaped_in_html_email(smtp_receiver) -> None:
    msg = make_message(
        make_alert(kr_title=HOSTILE, detail=HOSTILE, query="sql: SELECT 1 WHERE a < 3"), link="javascript:alert(1)"
    )
    channel = email_channel(smtp_receiver.host, smtp_receiver.port, starttls=False)
    send_email("ml-mail", channel, msg)
    plain, html = _parts(smtp_receiver.messages[0])
    assert "<script>" not in html and "<@channel>" not in html and "<!here>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;@channel&gt; &lt;!here&gt;" in html
    assert "a &lt; 3" in html
    assert 'href="javascript' not in html  # only http(s) links become links
    assert HOSTILE in plain  # plain text is not markup: shown as written


def test_starttls_required_but_not_offered_is_refused(smtp_receiver) -> None:
    channel = email_channel(smtp_receiver.host, smtp_receiver.port)
    with pytest.raises(DeliveryError, match="does not offer STARTTLS") as failed:
        send("ml-mail", channel, make_message())
    assert not failed.value.retryable
    assert smtp_receiver.messages == []


def test_starttls_with_login_delivers(smtp_tls_receiver) -> None:
    channel = email_channel(smtp_tls_receiver.host, smtp_tls_receiver.port, username=SMTP_USER, password=SMTP_PASSWORD)
    send_email("ml-mail", channel, make_message(), ssl_context=smtp_tls_receiver.client_context())
    [mail] = smtp_tls_receiver.messages
    assert mail.tls and mail.authenticated
    assert mail.message["Subject"] == "okrflow: p95-latency is off track"
    assert SMTP_PASSWORD.encode() not in mail.raw


def test_starttls_certificate_is_verified_by_default(smtp_tls_receiver) -> None:
    channel = email_channel(smtp_tls_receiver.host, smtp_tls_receiver.port)
    with pytest.raises(DeliveryError, match="certificate not trusted") as failed:
        send_email("ml-mail", channel, make_message())
    assert not failed.value.retryable
    assert smtp_tls_receiver.messages == []


def test_wrong_smtp_password_is_not_retried_and_not_shown(smtp_tls_receiver) -> None:
    wrong = "wr0ng-pa55word-X7"
    channel = email_channel(smtp_tls_receiver.host, smtp_tls_receiver.port, username=SMTP_USER, password=wrong)
    with pytest.raises(DeliveryError, match=r"login as 'okrflow-bot' refused: 535") as failed:
        send_email("ml-mail", channel, make_message(), ssl_context=smtp_tls_receiver.client_context())
    assert not failed.value.retryable
    assert_no_secret(str(failed.value) + repr(failed.value.args), wrong, SMTP_PASSWORD)
    assert failed.value.__cause__ is None and failed.value.__suppress_context__


def test_login_without_auth_support_is_a_config_error(smtp_receiver) -> None:
    channel = email_channel(
        smtp_receiver.host, smtp_receiver.port, username="u", password=SMTP_PASSWORD, starttls=False
    )
    with pytest.raises(DeliveryError, match="does not support") as failed:
        send_email("ml-mail", channel, make_message())
    assert not failed.value.retryable
    assert_no_secret(str(failed.value), SMTP_PASSWORD)


@pytest.mark.parametrize(
    ("to", "retryable", "match", "delivered"),
    [
        (["nobody@example.com"], False, "every recipient refused: nobody@example.com: 550 5.1.1", 0),
        (["busy@example.com"], True, "every recipient refused: busy@example.com: 451 4.3.0", 0),
        (["ok@example.com", "nobody@example.com"], False, "some recipients were refused", 1),
    ],
)
def test_smtp_recipient_refusals(smtp_receiver, to, retryable, match, delivered) -> None:
    channel = email_channel(smtp_receiver.host, smtp_receiver.port, to=to, starttls=False)
    with pytest.raises(DeliveryError, match=match) as failed:
        send_email("ml-mail", channel, make_message())
    assert failed.value.retryable is retryable
    assert len(smtp_receiver.messages) == delivered


def test_smtp_connection_refused_is_retryable(refused_port) -> None:
    channel = email_channel("127.0.0.1", refused_port, password=SMTP_PASSWORD, username="u")
    with pytest.raises(DeliveryError, match=r"cannot deliver: no answer") as failed:
        send_email("ml-mail", channel, make_message())
    assert failed.value.retryable
    assert f"smtp://127.0.0.1:{refused_port}" in str(failed.value)


def test_header_injection_in_addresses_is_refused(smtp_receiver) -> None:
    channel = email_channel(
        smtp_receiver.host, smtp_receiver.port, to=["a@example.com\r\nBcc: evil@example.com"], starttls=False
    )
    with pytest.raises(DeliveryError, match="cannot build the email") as failed:
        send_email("ml-mail", channel, make_message())
    assert not failed.value.retryable
    assert smtp_receiver.messages == []


# --- HTTP failure classification and secrets ------------------------------------------------------


def _webhook(url: str, timeout_s: float = 5) -> WebhookChannel:
    return WebhookChannel(
        type="webhook", url=url, secret=HMAC_SECRET, headers={"Authorization": HEADER_TOKEN}, timeout_s=timeout_s
    )


@pytest.mark.parametrize("kind", ["webhook", "slack"])
@pytest.mark.parametrize(
    ("status", "headers", "retryable", "retry_after", "match"),
    [
        (503, {}, True, None, "HTTP 503 Service Unavailable"),
        (500, {}, True, None, "HTTP 500 Internal Server Error"),
        (429, {"Retry-After": "7"}, True, 7.0, r"HTTP 429 Too Many Requests.*\(retry after 7s\)"),
        (400, {}, False, None, "HTTP 400 Bad Request.*not retried"),
        (404, {}, False, None, "HTTP 404 Not Found"),
        (301, {"Location": "https://elsewhere.example.com/x"}, False, None, "a redirect"),
    ],
)
def test_http_status_classification(http_receiver, kind, status, headers, retryable, retry_after, match) -> None:
    http_receiver.respond(status, headers=headers, body=f"answer for {SLACK_TOKEN}")  # a receiver echoing the URL
    url = http_receiver.url + SLACK_PATH
    channel = _webhook(url) if kind == "webhook" else SlackChannel(type="slack", url=url)
    with pytest.raises(DeliveryError, match=match) as failed:
        send("ch", channel, make_message())
    assert (failed.value.retryable, failed.value.retry_after) == (retryable, retry_after)
    assert f"{kind} {http_receiver.url}/…" in str(failed.value)
    assert_no_secret(str(failed.value), SLACK_TOKEN, SLACK_PATH, HMAC_SECRET, HEADER_TOKEN)


def test_retry_after_as_http_date(http_receiver) -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    http_receiver.respond(503, headers={"Retry-After": format_datetime(when, usegmt=True)})
    with pytest.raises(DeliveryError) as failed:
        send("ch", _webhook(http_receiver.url), make_message())
    assert failed.value.retryable and 100 < failed.value.retry_after <= 121


def test_connection_refused_is_retryable(refused_port) -> None:
    url = f"http://127.0.0.1:{refused_port}{SLACK_PATH}"
    for channel in (_webhook(url), SlackChannel(type="slack", url=url)):
        with pytest.raises(DeliveryError, match="cannot deliver: no answer") as failed:
            send("ch", channel, make_message())
        assert failed.value.retryable and failed.value.retry_after is None
        assert_no_secret(str(failed.value), SLACK_TOKEN, HMAC_SECRET, HEADER_TOKEN)


def test_timeout_is_retryable(http_receiver) -> None:
    http_receiver.respond(200, delay=1.5)
    with pytest.raises(DeliveryError, match=r"cannot deliver: no answer .*within 0.3s") as failed:
        send("ch", _webhook(http_receiver.url + SLACK_PATH, timeout_s=0.3), make_message())
    assert failed.value.retryable


@pytest.mark.parametrize(
    "url",
    [
        f"ftp://files.example.com{SLACK_PATH}",
        f"file:///etc{SLACK_PATH}",
        f"hooks.slack.com{SLACK_PATH}",
        f"javascript:alert('{SLACK_TOKEN}')",
        f"http://{SLACK_TOKEN}:{HMAC_SECRET}@/nohost",
    ],
)
def test_non_http_urls_are_refused_without_sending(http_receiver, url) -> None:
    # The config refuses such URLs (okrflow validate); the sender refuses them too, as a second line.
    for kind in ("webhook", "slack"):
        text = (
            "version: 1\ncycle: {name: q, start: 2026-10-01, end: 2026-12-31}\n"
            f"channels:\n  c: {{type: {kind}, url: {json.dumps(url)}}}\nobjectives:\n  - {{id: o, title: O}}\n"
        )
        with pytest.raises(ConfigError, match=r"channels\.c\.url: expected an http:// or https:// URL") as refused:
            parse_config(text, "c.yaml")
        assert_no_secret(str(refused.value), SLACK_TOKEN, SLACK_PATH, HMAC_SECRET)
    webhook = WebhookChannel.model_construct(
        type="webhook", url=SecretStr(url), secret=SecretStr(HMAC_SECRET), headers={}, timeout_s=5
    )
    slack = SlackChannel.model_construct(type="slack", url=SecretStr(url), timeout_s=5)
    for channel in (webhook, slack):
        with pytest.raises(DeliveryError, match=r"must be http|has no host|cannot be parsed") as failed:
            send("ch", channel, make_message())
        assert not failed.value.retryable
        assert_no_secret(str(failed.value), SLACK_TOKEN, SLACK_PATH, HMAC_SECRET, HEADER_TOKEN)
    assert http_receiver.requests == []


def test_invalid_header_value_is_refused_without_showing_it(http_receiver) -> None:
    channel = WebhookChannel(
        type="webhook", url=http_receiver.url, headers={"Authorization": HEADER_TOKEN + "\r\nX-Evil: 1"}
    )
    with pytest.raises(DeliveryError, match="header 'Authorization' has an invalid name or value") as failed:
        send("ch", channel, make_message())
    assert not failed.value.retryable
    assert_no_secret(str(failed.value), HEADER_TOKEN)
    assert http_receiver.requests == []


def test_secrets_stay_out_of_logs_and_payloads(http_receiver, slack_receiver, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    send_slack("ml-slack", SlackChannel(type="slack", url=slack_receiver.url + SLACK_PATH), make_message())
    send_webhook("ops-hook", _webhook(http_receiver.url + SLACK_PATH), make_message())
    http_receiver.respond(503)
    with pytest.raises(DeliveryError):
        send_webhook("ops-hook", _webhook(http_receiver.url + SLACK_PATH), make_message())
    assert "HTTP Request: POST" in caplog.text  # httpx did log its requests ...
    assert f"{slack_receiver.url}/…" in caplog.text  # ... with the URL reduced to scheme://host:port/…
    assert_no_secret(caplog.text, SLACK_TOKEN, SLACK_PATH, HMAC_SECRET, HEADER_TOKEN)
    bodies = [r.body.decode() for r in slack_receiver.requests + http_receiver.requests]
    assert_no_secret("".join(bodies), SLACK_TOKEN, HMAC_SECRET, HEADER_TOKEN)


def test_safe_url_shows_scheme_host_port_only() -> None:
    assert safe_url(f"https://hooks.slack.com{SLACK_PATH}?token=abc") == "https://hooks.slack.com/…"
    assert safe_url("http://user:pw@[::1]:8080/x") == "http://[::1]:8080/…"
    assert safe_url("http://h:99999999/x") == "<unparseable URL>"


# --- the message model ----------------------------------------------------------------------------


def test_titles() -> None:
    resolved = make_alert(state="resolved", status="on_track")
    assert make_message(resolved).title == "okrflow: p95-latency resolved"
    assert make_message(make_alert()).title == "okrflow: p95-latency is off track"
    mixed = make_message(band_alert(), make_alert(), replace_state(resolved, "kr-x"))
    assert mixed.title == "okrflow: 2 key results need attention, 1 resolved (owner alice)"
    src = make_alert(kind="source_error", kr_id=None, kr_title=None, fingerprint="source:prom", status="error")
    assert make_message(src).title == "okrflow: source prom cannot be read"
    subject, plain, _ = email_parts(make_message(src))
    assert "source prom" in plain and subject == "okrflow: source prom cannot be read"
    objective = make_alert(
        kr_id=None, kr_title=None, source=None, fingerprint="support-automation:at_risk", kind="at_risk"
    )
    assert make_message(objective).title == "okrflow: objective support-automation is at risk"


def replace_state(alert: Alert, kr_id: str) -> Alert:
    from dataclasses import replace

    return replace(alert, kr_id=kr_id, fingerprint=f"{kr_id}:off_track")


def test_message_rejects_what_json_cannot_carry() -> None:
    with pytest.raises(ValueError, match="finite"):
        make_alert(value=float("nan"))
    with pytest.raises(ValueError, match="timezone-aware"):
        make_alert(since=datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="must name a key result, an objective or a source"):
        make_alert(kr_id=None, objective_id="", source=None)
    with pytest.raises(ValueError, match="version"):
        Message.from_json(json.dumps({**make_message().to_dict(), "storage_version": 99}))


_texts = st.text(max_size=40)
_numbers = st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**12), 10**12)
_zones = st.builds(timezone, st.integers(-14 * 60, 14 * 60).map(lambda m: timedelta(minutes=m))) | st.just(UTC)
_moments = st.datetimes(timezones=_zones)
_ids = st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)


@st.composite
def alerts(draw) -> Alert:
    kind = draw(st.sampled_from(["off_track", "at_risk", "drift", "no_data", "source_error"]))
    return Alert(
        fingerprint=draw(_texts),
        kind=kind,
        state=draw(st.sampled_from(["firing", "resolved"])),
        kr_id=draw(st.none() if kind == "source_error" else _ids),
        kr_title=draw(st.none() | _texts),
        objective_id=draw(st.none() | _texts),
        objective_title=draw(st.none() | _texts),
        owner=draw(st.none() | _texts),
        value=draw(st.none() | _numbers),
        unit=draw(st.none() | st.sampled_from(["s", "%", "ms", "tickets"])),
        target=draw(st.none() | _numbers | st.lists(_numbers, min_size=2, max_size=2)),
        score=draw(st.none() | st.floats(0, 1)),
        status=draw(_texts),
        change=draw(_texts),
        query=draw(_texts),
        detail=draw(_texts),
        grouped=tuple(draw(st.lists(_texts, max_size=3))),
        since=draw(st.none() | _moments),
        source=draw(_ids if kind == "source_error" else st.none() | _texts),
    )


@settings(max_examples=200, deadline=None)
@given(st.lists(alerts(), min_size=1, max_size=4), _moments, _moments, st.none() | _texts)
def test_message_json_round_trip(alert_list, created_at, slot, link) -> None:
    msg = Message(
        id="m-1", created_at=created_at, slot=slot, owner="alice", channel="c", alerts=tuple(alert_list), link=link
    )
    text = msg.to_json()
    again = Message.from_json(text)
    assert again == msg
    assert again.to_json() == text
    assert [a.target for a in again.alerts] == [a.target for a in msg.alerts]
    assert webhook_payload(again) == webhook_payload(msg)
    subject, plain, html = email_parts(msg)  # every message renders in every medium
    assert "\n" not in subject and plain and html
    assert slack_payload(msg)["blocks"]


def test_zoneinfo_slot_in_a_dst_fold_round_trips() -> None:
    from zoneinfo import ZoneInfo

    slot = datetime(2026, 10, 25, 2, 30, tzinfo=ZoneInfo("Europe/Paris"), fold=1)
    msg = make_message()
    msg = Message(id=msg.id, created_at=slot, slot=slot, owner="a", channel="c", alerts=msg.alerts)
    assert Message.from_json(msg.to_json()) == msg
    assert msg.slot.utcoffset() == timedelta(hours=1)
