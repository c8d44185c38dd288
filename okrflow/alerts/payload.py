"""The generic webhook's JSON body, version 1, as pydantic models: ``webhook_payload`` builds every body through
``WebhookPayload``, and ``payload_schema`` is the JSON Schema published as ``config/webhook-payload.schema.json``
(``okrflow schema --webhook``; a test keeps the file equal to it and validates real sent bodies against it).

Within version 1 fields are only ever added (receivers should ignore fields they do not know); a breaking change
bumps ``version``. A retry resends the same body with the same ``id``: dedupe on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema

from okrflow.alerts.message import Alert, Message

__all__ = ["SCHEMA_ID", "WEBHOOK_SCHEMA_VERSION", "AlertPayload", "WebhookPayload", "payload_schema", "webhook_payload"]

WEBHOOK_SCHEMA_VERSION = 1
SCHEMA_ID = "urn:okrflow:webhook-payload:1"
"""The schema's ``$id``: a name, not a download location (the file lives in the repository's config/)."""

IsoTime = Annotated[
    datetime,
    PlainSerializer(lambda at: at.isoformat(), return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
"""ISO 8601 with the offset as Python writes it (``2026-11-03T09:15:00+00:00``)."""


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class WorstKRPayload(_Part):
    """One of an objective's lowest-scoring key results."""

    kr_id: str
    score: float | None = Field(description="its score in [0, 1]; null without data")
    status: str = Field(description="on_track | at_risk | off_track | no_data")


class ForecastPayload(_Part):
    """End-of-cycle projection of a KR's score."""

    score: float = Field(description="projected score at the end of the cycle")
    low: float = Field(description="lower end of its interval")
    high: float = Field(description="upper end of its interval")


class AlertPayload(_Part):
    """One alert of a message: a key result's, an objective's or a source's."""

    fingerprint: str = Field(description="stable identity of the alert (its config group, kind and subject)")
    kind: Literal["off_track", "at_risk", "drift", "no_data", "source_error"]
    state: Literal["firing", "resolved"]
    kr_id: str | None = Field(description="key result id; null for an objective's alert or a source_error")
    kr_title: str | None = Field(description="key result title")
    objective_id: str | None = Field(description="the objective (of the key result, or the objective alerting)")
    objective_title: str | None = Field(description="its title")
    owner: str | None = Field(description="owner of the key result (else of the objective)")
    value: float | None = Field(description="latest metric value; null when there is none (objectives have none)")
    unit: str | None = Field(description='unit of value and target, e.g. "s", "%"')
    target: float | list[float] | None = Field(description="the target, or its confidence band [low, high]")
    score: float | None = Field(description="score in [0, 1] (an objective's rolled-up score); null when not scored")
    status: str = Field(description="on_track | at_risk | off_track | no_data (error for a source)")
    change: str = Field(description="what changed since the last message, in words")
    query: str = Field(description="the metric binding, rendered without secrets")
    detail: str = Field(description="why it fires or resolved, in words, with the numbers it rests on")
    grouped: list[str] = Field(description="child KR ids grouped under this objective's alert (cascade)")
    since: IsoTime | None = Field(description="when the alert fired (ISO 8601 with offset)")
    source: str | None = Field(description="source id of the binding; names the source of a source_error")
    expected: float | None = Field(None, description="score expected at this point of the cycle")
    forecast: ForecastPayload | None = Field(None, description="the KR's end-of-cycle projection, when it has one")
    forecast_drove: bool = Field(False, description="the forecast, not today's pace, made the status")
    held_share: float | None = Field(None, description="maintain KRs: share of the cycle's time the threshold held")
    level_before: float | None = Field(None, description="drift: the level the metric moved from")
    level_after: float | None = Field(None, description="drift: the level it is at now")
    model_version: str | None = Field(None, description="MLflow: the registered model version measured")
    model_version_before: str | None = Field(
        None, description="MLflow: the version the last message reported, when it changed (the alias moved)"
    )
    worst: list[WorstKRPayload] = Field(
        default_factory=list, description="objective alerts: its lowest-scoring key results"
    )
    grouped_under: str | None = Field(
        None,
        description="the objective whose alert carries this one to its owner; this copy goes to the KR's own owner",
    )

    @classmethod
    def of(cls, alert: Alert) -> AlertPayload:
        return cls.model_validate(alert.to_dict())


class WebhookPayload(_Part):
    """The JSON object POSTed to a generic webhook (UTF-8, ``Content-Type: application/json``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", title="okrflow webhook payload, version 1")

    version: Literal[1] = Field(description="schema version of this payload")
    id: str = Field(description="message id, stable across retries: dedupe on it")
    title: str = Field(description="one-line summary (also the email subject)")
    created_at: IsoTime = Field(description="when the message was built")
    slot: IsoTime = Field(description="the evaluation slot (run time) it reports on")
    owner: str = Field(description="the owner the message is routed to")
    link: str | None = Field(description="e.g. the report URL")
    alerts: list[AlertPayload] = Field(min_length=1)

    @classmethod
    def of(cls, msg: Message) -> WebhookPayload:
        return cls(
            version=WEBHOOK_SCHEMA_VERSION,
            id=msg.id,
            title=msg.title,
            created_at=msg.created_at,
            slot=msg.slot,
            owner=msg.owner,
            link=msg.link,
            alerts=[AlertPayload.of(alert) for alert in msg.alerts],
        )


def webhook_payload(msg: Message) -> dict[str, Any]:
    """The version-1 JSON object of one message (times as ISO 8601 with their offset)."""
    return WebhookPayload.of(msg).model_dump(mode="json")


def payload_schema() -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12) of ``webhook_payload``'s output.

    Every field is required (a body always carries all of them, null where empty); other properties are allowed,
    so a receiver validating with this file keeps accepting bodies of later okrflow releases that add fields.
    """
    schema = WebhookPayload.model_json_schema(mode="serialization")
    for part in (schema, *schema.get("$defs", {}).values()):
        part.pop("additionalProperties", None)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
