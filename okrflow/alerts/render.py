"""Pure renderers: one ``Message`` in, one channel's payload out. No I/O, no secrets (see ``channels``).

Every rendering names, per alert, the key result, its value with unit, the target, the score, the
status, what changed and the query, and escapes user text (titles, owners, queries, details) for
its medium: HTML through jinja2 with autoescape on, Slack mrkdwn by ``&``/``<``/``>`` entities,
plain text as is.

Webhook payload
---------------
``webhook_payload`` (in ``okrflow.alerts.payload``, re-exported here) builds the JSON body of the generic webhook
from the ``WebhookPayload`` pydantic model; its JSON Schema is published as ``config/webhook-payload.schema.json``.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from okrflow.alerts.message import Alert, Message
from okrflow.alerts.payload import WEBHOOK_SCHEMA_VERSION, webhook_payload
from okrflow.okr_model import formatting

__all__ = [
    "WEBHOOK_SCHEMA_VERSION",
    "email_parts",
    "facts",
    "slack_escape",
    "slack_payload",
    "summary",
    "target_text",
    "value_text",
    "webhook_payload",
]

# Slack limits (Block Kit reference): at most 50 blocks, header text 150 chars, section text 3000.
_SLACK_MAX_BLOCKS = 50
_SLACK_HEADER_MAX = 150
_SLACK_SECTION_MAX = 3000
_SLACK_FALLBACK_MAX = 3000
_SLACK_MAX_ALERTS = _SLACK_MAX_BLOCKS - 4  # header, overflow note, context, actions
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


# --- shared wording -------------------------------------------------------------------------------


def _exact(x: float | None, unit: str | None) -> str:
    """An alert carries the value someone acts on: ``exact_number``'s precision, not a table's four digits."""
    return formatting.quantity(x, unit, missing="no data", digits=formatting.exact_number)


def value_text(alert: Alert) -> str:
    return _exact(alert.value, alert.unit)


def target_text(alert: Alert) -> str:
    return formatting.target_words(alert.target, alert.unit, missing="none", digits=formatting.exact_number)


def score_text(alert: Alert) -> str:
    return formatting.score(alert.score, missing="not scored")


def scored_text(alert: Alert) -> str:
    """``0.35 (expected 0.62 now)``: the score against the score expected at this point of the cycle."""
    expected = (
        f" (expected {formatting.score(alert.expected)} now)"
        if alert.expected is not None and alert.score is not None
        else ""
    )
    return score_text(alert) + expected


def facts(alert: Alert) -> list[tuple[str, str]]:
    """The alert's facts as (label, text) rows, in reading order; every medium shows these.

    A KR shows value, target and score; an objective its score and worst key results (it has no value or target);
    a source error what failed. Then, where they apply: the forecast, the share of time held, the drift levels,
    the model version, why, what changed, and the query.
    """
    rows: list[tuple[str, str]] = []
    if alert.is_objective:
        rows.append(("Score", scored_text(alert)))
        if alert.worst:
            worst = ", ".join(
                f"{w.kr_id} {formatting.score(w.score, missing='no data')} ({w.status})" for w in alert.worst
            )
            rows.append(("Worst key results", worst))
    elif alert.kr_id:
        rows += [("Value", value_text(alert)), ("Target", target_text(alert)), ("Score", scored_text(alert))]
    rows.append(("Status", alert.status))
    if alert.forecast is not None and alert.forecast_drove:  # shown when it, not today's pace, set the status
        fc = alert.forecast
        low, high = formatting.score(fc.low), formatting.score(fc.high)
        rows.append(("Forecast", f"{formatting.score(fc.score)} at the end of the cycle, interval {low}-{high}"))
    if alert.held_share is not None:
        rows.append(("Held", f"threshold held {alert.held_share:.0%} of the time this cycle"))
    if alert.level_before is not None and alert.level_after is not None:
        before, after = (_exact(x, alert.unit) for x in (alert.level_before, alert.level_after))
        rows.append(("Level", f"{before} -> {after}"))
    if alert.model_version:
        was = f" (was {alert.model_version_before})" if alert.model_version_before else ""
        rows.append(("Model version", f"{alert.model_version}{was}"))
    if alert.detail:
        rows.append(("Why", alert.detail))
    if alert.change:
        rows.append(("Change", alert.change))
    if alert.query:
        rows.append(("Query", alert.query))
    if alert.grouped:
        rows.append(("Grouped here", ", ".join(alert.grouped)))
    if alert.grouped_under:
        rows.append(("Grouped under", f"objective {alert.grouped_under}"))
    if alert.since:
        rows.append(("Since", alert.since.isoformat()))
    return rows


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


def summary(alert: Alert) -> str:
    """One line: ``p95-latency is off track: 0.41 s (target 0.2 s, score 0.35, off_track)``; an objective shows
    its score against the expected one, a source error its source."""
    if alert.is_objective:
        return f"{alert.headline}: score {scored_text(alert)}, {alert.status}"
    if not alert.kr_id:
        return alert.headline
    return (
        f"{alert.headline}: {value_text(alert)} (target {target_text(alert)}, score {score_text(alert)}, "
        f"{alert.status})"
    )


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


_SLACK_INLINE = ("Value", "Target", "Score", "Status")


def _slack_section(alert: Alert) -> str:
    e = slack_escape
    lines = [f"*{_state_label(alert)}* — *{e(_clip(_kr_line(alert), 300))}*"]
    if objective := _objective_line(alert):
        lines.append(f"Objective: {e(_clip(objective, 300))}")
    rows = facts(alert)
    lines.append(" · ".join(f"*{label}* {e(text)}" for label, text in rows if label in _SLACK_INLINE))
    for label, text in rows:
        if label == "Query":
            lines.append(f"*Query* {_slack_code(text)}")
        elif label == "Since":
            lines.append(f"Since {text}")
        elif label not in _SLACK_INLINE:
            lines.append(f"*{label}* {e(_clip(text, 600))}")
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
        fallback.append(f"• {slack_escape(_one_line(summary(alert), 300))}")
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
  {% for label, text in a.rows %}<tr><td>{{ label }}</td><td>{% if label == 'Query' %}<code>{{ text }}</code>{% else %}{{ text }}{% endif %}</td></tr>
  {% endfor %}
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


def _email_rows(alert: Alert) -> dict[str, Any]:
    return {
        "state": alert.state,
        "label": _state_label(alert),
        "kr": _kr_line(alert),
        "objective": _objective_line(alert),
        "rows": facts(alert),
    }


def email_parts(msg: Message) -> tuple[str, str, str]:
    """``(subject, plain_text, html)``; the subject is one line (no header injection), the HTML autoescaped."""
    subject = _one_line(msg.title, 200)
    rows = [_email_rows(alert) for alert in msg.alerts]
    plain = [msg.title, ""]
    for row in rows:
        plain.append(f"[{row['label']}] {row['kr']}")
        if row["objective"]:
            plain.append(f"  Objective: {row['objective']}")
        plain += [f"  {label}: {text}" for label, text in row["rows"]]
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
