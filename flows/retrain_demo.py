"""A demo retraining deployment and the Prefect Automation that runs it when a KR's metric drifts.

The seeds' "alerts triggering retraining within 24 hours of detection", done with Prefect's own machinery:
every run of ``evaluate_flow`` emits ``okrflow.key-result.drift`` when a drift alert fires
(``okrflow.flows.prefect_publish``); the automation made by ``drift_automation`` reacts to that event at once
and runs the deployment, passing the event's KR, objective, model version and run slot as parameters.

``retrain_demo`` only logs and returns what it was asked to retrain: point the automation at your own training
deployment (same parameters, or your own ``parameters``) for the real thing. Run the demo side with::

    PREFECT_API_URL=http://127.0.0.1:4200/api python -m okrflow.flows.retrain_demo --automation

which serves the ``okrflow-retrain-demo/retrain-demo`` deployment in this process and, with ``--automation``,
creates the automation (once per name) through the Prefect API.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from uuid import UUID

from prefect import flow, get_run_logger

if TYPE_CHECKING:
    from prefect.automations import Automation

__all__ = ["DEPLOYMENT", "DRIFT_EVENT", "drift_automation", "ensure_automation", "main", "retrain_demo"]

DRIFT_EVENT = "okrflow.key-result.drift"
DEPLOYMENT = "retrain-demo"
FLOW = "okrflow-retrain-demo"
AUTOMATION = "okrflow: retrain when a key result's metric drifts"


@flow(name=FLOW, log_prints=False)
def retrain_demo(key_result: str, objective: str = "", model_version: str = "", slot: str = "") -> dict[str, str]:
    """Stands in for a retraining job: says which model it would retrain, for which drifting KR, and returns it."""
    get_run_logger().info(
        "retraining the model behind %s (objective %s, model version %s) after drift at slot %s",
        key_result,
        objective or "-",
        model_version or "unknown",
        slot or "-",
    )
    return {"key_result": key_result, "objective": objective, "model_version": model_version, "slot": slot}


def _from_event(template: str) -> dict[str, str]:
    """A deployment parameter that Prefect renders from the triggering event (Jinja)."""
    return {"__prefect_kind": "jinja", "template": template}


def drift_automation(deployment_id: UUID, match: dict[str, str] | None = None, name: str = AUTOMATION) -> Automation:
    """React to every drift event (or those whose resource labels ``match``, e.g. ``{"okrflow.config": key}``)
    by running the deployment with the KR, objective, model version and slot the event names."""
    from prefect.automations import Automation, EventTrigger, RunDeployment

    return Automation(
        name=name,
        description="okrflow: a drifting key result's metric starts its model's retraining",
        trigger=EventTrigger(
            expect={DRIFT_EVENT},
            match={"prefect.resource.id": "okrflow.key-result.*", **(match or {})},
            posture="Reactive",
            threshold=1,
        ),
        actions=[
            RunDeployment(
                source="selected",
                deployment_id=deployment_id,
                parameters={
                    "key_result": _from_event("{{ event.resource['okrflow.kr'] }}"),
                    "objective": _from_event("{{ event.resource['okrflow.objective'] }}"),
                    "model_version": _from_event("{{ event.resource.get('okrflow.model-version', '') }}"),
                    "slot": _from_event("{{ event.payload.slot }}"),
                },
            )
        ],
    )


def ensure_automation(deployment_id: UUID, name: str = AUTOMATION) -> Any:
    """The automation named ``name``, created through the Prefect API unless one of that name exists."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        existing = client.read_automations_by_name(name)
    return existing[0] if existing else drift_automation(deployment_id, name=name).create()


def main(argv: Sequence[str] | None = None) -> None:
    """Serve the demo retraining deployment (and, with ``--automation``, create the drift automation first)."""
    parser = argparse.ArgumentParser(prog="python -m okrflow.flows.retrain_demo", description=__doc__.splitlines()[0])
    parser.add_argument("--automation", action="store_true", help="create the drift automation if it is missing")
    args = parser.parse_args(argv)
    from prefect import serve

    deployment = retrain_demo.to_deployment(name=DEPLOYMENT, description="okrflow demo: retrain on drift")
    if args.automation:
        ensure_automation(deployment.apply())
    serve(deployment)


if __name__ == "__main__":
    main()
