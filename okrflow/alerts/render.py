"""Pure renderers: one ``Message`` in, one channel's payload out. No I/O, no secrets (see ``channels``).

Every rendering names, per alert, the key result, its value with unit, the target, the score, the
status, what changed and the query, and escapes user text (titles, owners, queries, details) for
its medium: HTML through jinja2 with autoescape on, Slack mrkdwn by ``&``/``<``/``>`` entities,
plain text as is.

Webhook payload, version 1
--------------------------
``webhook_payload`` returns the JSON object POSTed to a generic webhook (UTF-8, ``Content-Type:
application/json``). Headers: ``X-Okrflow-Message-Id`` (the message id) and, when the channel has a
``secret``, ``X-Okrflow-Signature: sha256=<hex HMAC-SHA256 of the raw body bytes>``: verify it over
the bytes received, before parsing. A retry resends the same body with the same ``id``: dedupe on it.
Fields are only ever added within a version; a breaking change bumps ``version``.

=====================  ==========================  =============================================
field                  type                        meaning
=====================  ==========================  =============================================
version                integer, always 1           schema version of this payload
id                     string                      message id, stable across retries
title                  string                      one-line summary (also the email subject)
created_at             string, ISO 8601 + offset   when the message was built
slot                   string, ISO 8601 + offset   the evaluation slot (run time) it reports on
owner                  string                      the owner the message is routed to
link                   string or null              e.g. the report URL
alerts                 array of alert (below)      at least one
alerts[].fingerprint   string                      stable identity of the alert (KR + kind)
alerts[].kind          string                      off_track | at_risk | drift | no_data | source_error
alerts[].state         string                      firing | resolved
alerts[].kr_id         string or null              key result id; null for a source_error
alerts[].kr_title      string or null              key result title
alerts[].objective_id  string or null              objective of the key result
alerts[].objective_title string or null            its title
alerts[].owner         string or null              owner of the key result
alerts[].value         number or null              latest metric value; null when there is none
alerts[].unit          string or null              unit of value and target, e.g. "s", "%"
alerts[].target        number, [low, high] or null the target, or its confidence band (low, high)
alerts[].score         number or null              score in [0, 1]; null when not scored
alerts[].status        string                      e.g. on_track, at_risk, off_track, no_data
alerts[].change        string                      what changed since the last message, in words
alerts[].query         string                      the metric binding, rendered without secrets
alerts[].detail        string                      why, in words (e.g. the no_data reason)
alerts[].grouped       array of string             child KR ids grouped under this alert
alerts[].since         string (ISO 8601) or null   when the condition started
alerts[].source        string or null              source id of the binding
=====================  ==========================  =============================================
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from okrflow.alerts.message import Alert, Message

__all__ = [
    "WEBHOOK_SCHEMA_VERSION",
    "email_parts",
    "format_number",
    "slack_escape",
    "slack_payload",
    "target_text",
    "value_text",
    "webhook_payload",
]

WEBHOOK_SCHEMA_VERSION = 1

# Slack limits (Block Kit reference): at most 50 blocks, header text 150 chars, section text 3000.
_SLACK_MAX_BLOCKS = 50
_SLACK_HEADER_MAX = 150
_SLACK_SECTION_MAX = 3000
_SLACK_FALLBACK_MAX = 3000
_SLACK_MAX_ALERTS = _SLACK_MAX_BLOCKS - 4  # header, overflow note, context, actions
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def webhook_payload(msg: Message) -> dict[str, Any]:
    """The version-1 JSON object documented in this module's docstring."""
    return {
        "version": WEBHOOK_SCHEMA_VERSION,
        "id": msg.id,
        "title": msg.title,
        "created_at": msg.created_at.isoformat(),
        "slot": msg.slot.isoformat(),
        "owner": msg.owner,
        "link": msg.link,
        "alerts": [alert.to_dict() for alert in msg.alerts],
    }


# --- shared wording -------------------------------------------------------------------------------


def format_number(x: float) -> str:
    """Short and exact enough to read: 0.4123 -> 0.4123, 12345.678 -> 12345.68, 1e-07 -> 1e-07."""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    if 1e-3 <= abs(x) < 1e6:
        return f"{x:.6g}" if abs(x) < 1 else f"{x:.2f}".rstrip("0").rstrip(".")
    return f"{x:.4g}"


def _with_unit(x: float, unit: str | None) -> str:
    if not unit:
        return format_number(x)
    return f"{format_number(x)}{unit}" if unit == "%" else f"{format_number(x)} {unit}"


def value_text(alert: Alert) -> str:
    return "no data" if alert.value is None else _with_unit(alert.value, alert.unit)


def target_text(alert: Alert) -> str:
    if alert.target is None:
        return "none"
    if isinstance(alert.target, tuple):
        low, high = (_with_unit(t, alert.unit) for t in alert.target)
        return f"{low} to {high}"
    return _with_unit(alert.target, alert.unit)


def score_text(alert: Alert) -> str:
    return "not scored" if alert.score is None else f"{alert.score:.2f}"


def _state_label(alert: Alert) -> str:
    return f"{alert.state.upper()} · {alert.kind.replace('_', ' ')}"


def _kr_line(alert: Alert) -> str:
    return f"{alert.subject}: {alert.kr_title}" if alert.kr_title else alert.subject


def _objective_line(alert: Alert) -> str | None:
    if not alert.objective_id:
        return None
    return f"{alert.objective_id}: {alert.objective_title}" if alert.objective_title else alert.objective_id


def _one_line(text: str, limit: int) -> str:
    """Collapse control characters (newlines included) and clip: for subjects, headers, code spans."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- Slack ----------------------------------------------------------------------------------------


def slack_escape(text: str) -> str:
    """Slack's three control characters as entities: no mention, link or channel ping from user text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_code(text: str) -> str:
    """An inline code span: one line, and no backtick that could close it early."""
    return "`" + slack_escape(_one_line(text, 1200).replace("`", "'")) + "`"


def _slack_clip(text: str, limit: int) -> str:
    """Clip escaped mrkdwn without cutting an entity (``&amp;``) in half."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def _slack_section(alert: Alert) -> str:
    e = slack_escape
    lines = [f"*{_state_label(alert)}* — *{e(_clip(_kr_line(alert), 300))}*"]
    if objective := _objective_line(alert):
        lines.append(f"Objective: {e(_clip(objective, 300))}")
    lines.append(
        f"*Value* {e(value_text(alert))} · *Target* {e(target_text(alert))} · "
        f"*Score* {score_text(alert)} · *Status* {e(alert.status)}"
    )
    if alert.change:
        lines.append(f"*Change* {e(_clip(alert.change, 400))}")
    lines.append(f"*Query* {_slack_code(alert.query)}")
    if alert.detail:
        lines.append(e(_clip(alert.detail, 600)))
    if alert.grouped:
        lines.append(f"Grouped here: {e(_clip(', '.join(alert.grouped), 400))}")
    if alert.since:
        lines.append(f"Since {alert.since.isoformat()}")
    return _slack_clip("\n".join(lines), _SLACK_SECTION_MAX)


def _http_link(link: str | None) -> str | None:
    if link and re.match(r"^https?://", link, re.IGNORECASE) and len(link) <= 3000 and not _CONTROL.search(link):
        return link
    return None


def slack_payload(msg: Message) -> dict[str, Any]:
    """An incoming-webhook payload: ``text`` (notification fallback) plus Block Kit ``blocks``."""
    shown, hidden = msg.alerts[:_SLACK_MAX_ALERTS], msg.alerts[_SLACK_MAX_ALERTS:]
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": _slack_clip(slack_escape(_one_line(msg.title, 500)), _SLACK_HEADER_MAX),
            },
        }
    ]
    blocks += [{"type": "section", "text": {"type": "mrkdwn", "text": _slack_section(alert)}} for alert in shown]
    if hidden:
        names = ", ".join(alert.subject for alert in hidden)
        note = f"…and {len(hidden)} more: {slack_escape(names)}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _slack_clip(note, _SLACK_SECTION_MAX)}})
    context = f"slot {msg.slot.isoformat()} · owner {slack_escape(msg.owner)} · message {slack_escape(msg.id)}"
    link = _http_link(msg.link)
    if msg.link and not link:
        context += f" · {slack_escape(msg.link)}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _slack_clip(context, 2000)}]})
    if link:
        button = {"type": "button", "text": {"type": "plain_text", "text": "Open report"}, "url": link}
        blocks.append({"type": "actions", "elements": [button]})

    fallback = [slack_escape(msg.title)]
    for alert in msg.alerts:
        fallback.append(
            f"• {slack_escape(_one_line(alert.headline, 200))}: {slack_escape(value_text(alert))} "
            f"(target {slack_escape(target_text(alert))}, score {score_text(alert)}, {slack_escape(alert.status)})"
        )
    return {"text": _slack_clip("\n".join(fallback), _SLACK_FALLBACK_MAX), "blocks": blocks}


# --- email ----------------------------------------------------------------------------------------

_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{ title }}</title></head>
<body style="font-family: sans-serif; font-size: 14px;">
<h2 style="font-size: 16px;">{{ title }}</h2>
{% for a in alerts %}
<table style="border-collapse: collapse; margin-bottom: 16px;" cellpadding="4">
  <tr><th colspan="2" style="text-align: left; background: {{ '#e6f4ea' if a.state == 'resolved' else '#fdecea' }};">
    {{ a.label }} — {{ a.kr }}</th></tr>
  {% if a.objective %}<tr><td>Objective</td><td>{{ a.objective }}</td></tr>{% endif %}
  <tr><td>Value</td><td>{{ a.value }}</td></tr>
  <tr><td>Target</td><td>{{ a.target }}</td></tr>
  <tr><td>Score</td><td>{{ a.score }}</td></tr>
  <tr><td>Status</td><td>{{ a.status }}</td></tr>
  {% if a.change %}<tr><td>Change</td><td>{{ a.change }}</td></tr>{% endif %}
  <tr><td>Query</td><td><code>{{ a.query }}</code></td></tr>
  {% if a.detail %}<tr><td>Detail</td><td>{{ a.detail }}</td></tr>{% endif %}
  {% if a.grouped %}<tr><td>Grouped here</td><td>{{ a.grouped }}</td></tr>{% endif %}
  {% if a.since %}<tr><td>Since</td><td>{{ a.since }}</td></tr>{% endif %}
</table>
{% endfor %}
{% if link %}<p><a href="{{ link }}">Open report</a></p>{% elif raw_link %}<p>Report: {{ raw_link }}</p>{% endif %}
<p style="color: #666; font-size: 12px;">slot {{ slot }} · owner {{ owner }} · message {{ id }}</p>
</body></html>
"""


@cache
def _html_template():  # jinja2 is imported only when an email is rendered
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.from_string(_HTML)


def _email_rows(alert: Alert) -> dict[str, str | None]:
    return {
        "state": alert.state,
        "label": _state_label(alert),
        "kr": _kr_line(alert),
        "objective": _objective_line(alert),
        "value": value_text(alert),
        "target": target_text(alert),
        "score": score_text(alert),
        "status": alert.status,
        "change": alert.change,
        "query": alert.query,
        "detail": alert.detail,
        "grouped": ", ".join(alert.grouped),
        "since": alert.since.isoformat() if alert.since else None,
    }


def email_parts(msg: Message) -> tuple[str, str, str]:
    """``(subject, plain_text, html)``; the subject is one line (no header injection), the HTML autoescaped."""
    subject = _one_line(msg.title, 200)
    rows = [_email_rows(alert) for alert in msg.alerts]
    plain = [msg.title, ""]
    for row in rows:
        plain.append(f"[{row['label']}] {row['kr']}")
        for key in ("objective", "value", "target", "score", "status", "change", "query", "detail", "grouped", "since"):
            if row[key]:
                plain.append(f"  {key.capitalize() if key != 'grouped' else 'Grouped here'}: {row[key]}")
        plain.append("")
    if msg.link:
        plain.append(f"Report: {msg.link}")
    plain.append(f"slot {msg.slot.isoformat()} · owner {msg.owner} · message {msg.id}")
    html = _html_template().render(
        title=msg.title,
        alerts=rows,
        link=_http_link(msg.link),
        raw_link=msg.link,
        slot=msg.slot.isoformat(),
        owner=msg.owner,
        id=msg.id,
    )
    return subject, "\n".join(plain) + "\n", html
