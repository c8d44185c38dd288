"""The webhook payload's published JSON Schema: the file in config/ is what the model generates, and bodies built
by ``webhook_payload`` validate against the file (real bodies as received: tests/integration/test_alert_messages)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okrflow.alerts.message import Alert, Forecast, Message, WorstKR
from okrflow.alerts.payload import payload_schema, webhook_payload

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "config" / "webhook-payload.schema.json"
SLOT = datetime(2026, 11, 3, 9, 15, tzinfo=UTC)


def published() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


def validator() -> jsonschema.Draft202012Validator:
    schema = published()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def kr_alert(**overrides: Any) -> Alert:
    fields: dict[str, Any] = dict(
        fingerprint="fp-f1-drift",
        kind="drift",
        state="firing",
        kr_id="classifier-f1",
        kr_title="Ticket classifier F1 from 0.79 to 0.87-0.92",
        objective_id="support-automation",
        objective_title="Resolve simple support tickets without an agent",
        owner="alice",
        value=0.81,
        unit=None,
        target=(0.87, 0.92),
        score=0.35,
        status="at_risk",
        change="first notification",
        query="tracking: model=ticket-classifier, alias=champion, name=f1",
        detail="classifier-f1 dropped 0.08 (9.0%) below its 7-day mean 0.89: 0.89 -> 0.81; model version 1 (was 2)",
        since=SLOT,
        source="tracking",
        expected=0.62,
        forecast=Forecast(0.5, 0.41, 0.58),
        forecast_drove=True,
        level_before=0.89,
        level_after=0.81,
        model_version="1",
        model_version_before="2",
    )
    return Alert(**{**fields, **overrides})


def objective_alert() -> Alert:
    return Alert(
        fingerprint="fp-obj",
        kind="off_track",
        state="firing",
        kr_id=None,
        kr_title=None,
        objective_id="support-automation",
        objective_title="Resolve simple support tickets without an agent",
        owner="ml-team",
        value=None,
        unit=None,
        target=None,
        score=0.21,
        status="off_track",
        change="first notification",
        query="",
        detail="objective score 0.21 against 0.55 expected at 55% of the cycle; worst: f1 0.10 off track",
        grouped=("classifier-f1",),
        expected=0.55,
        worst=(WorstKR("classifier-f1", 0.1, "off_track"), WorstKR("p95-latency", 0.4, "at_risk")),
    )


def message(*alerts: Alert) -> Message:
    return Message("m-1", SLOT, SLOT, "alice", "hook", alerts, link="https://okr.example.com/report.html")


def test_the_published_file_is_what_the_model_generates() -> None:
    assert published() == payload_schema(), "run: okrflow schema --webhook"


def test_bodies_of_every_shape_validate_against_the_published_file() -> None:
    body = webhook_payload(message(kr_alert(), objective_alert(), kr_alert(kind="no_data", state="resolved")))
    validator().validate(body)
    assert body["created_at"] == "2026-11-03T09:15:00+00:00", "times keep Python's ISO 8601 with the offset"
    assert body["alerts"][0]["forecast"] == {"score": 0.5, "low": 0.41, "high": 0.58}
    assert body["alerts"][1]["worst"][0] == {"kr_id": "classifier-f1", "score": 0.1, "status": "off_track"}
    assert body["alerts"][0]["target"] == [0.87, 0.92]


def test_the_schema_has_teeth() -> None:
    check = validator()
    body = webhook_payload(message(kr_alert()))
    for broken in (
        {**body, "alerts": []},
        {k: v for k, v in body.items() if k != "id"},
        {**body, "alerts": [{**body["alerts"][0], "kind": "meltdown"}]},
        {**body, "alerts": [{**body["alerts"][0], "score": "high"}]},
        {**body, "created_at": "yesterday"},
        {**body, "version": 2},
    ):
        with pytest.raises(jsonschema.ValidationError):
            check.validate(broken)
    check.validate({**body, "added_in_a_later_release": True})  # receivers keep accepting additions


numbers = st.none() | st.floats(-1e6, 1e6, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(
    value=numbers,
    score=numbers,
    expected=numbers,
    held=numbers,
    target=st.none() | st.floats(0, 10) | st.tuples(st.floats(0, 1), st.floats(1, 2)),
    offset=st.integers(-12 * 60, 14 * 60),
    kind=st.sampled_from(["off_track", "at_risk", "drift", "no_data", "source_error"]),
    text=st.text(max_size=40),
)
def test_any_alert_validates(value, score, expected, held, target, offset, kind, text) -> None:
    since = SLOT.astimezone(timezone(timedelta(minutes=offset)))
    alert = kr_alert(
        kind=kind, value=value, score=score, expected=expected, held_share=held, target=target, since=since, detail=text
    )
    validator().validate(webhook_payload(message(alert)))
