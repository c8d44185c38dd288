"""The scheduled evaluation as a Prefect 3 flow: the pipeline's steps, with one task per source
(or, with ``fetch: {processes: N}``, the sources fetched in the pipeline's worker processes).

The flow holds no scoring logic; it calls ``okrflow.flows.pipeline`` exactly as ``okrflow run`` does, so both
paths write identical rows. A scheduled run evaluates as of its scheduled slot time, not the wall clock. After the
write it publishes the run to Prefect (``okrflow.flows.prefect_publish``): a table and a markdown artifact under
a key stable per config file, and an event per alert moved and per KR status changed, for Automations.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from okrflow.connectors.base import Measurement
from okrflow.connectors.registry import default_registry
from okrflow.flows.catchup import catch_up
from okrflow.flows.fetching import SourceJob, fetch_source, map_in_threads
from okrflow.flows.pipeline import evaluate
from okrflow.flows.prefect_publish import publish
from okrflow.flows.report_refresh import refresh_report
from okrflow.okr_model.loader import load_config
from okrflow.okr_model.paths import store_url as resolve_store_url
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from okrflow.alerts.notify import alert_step_failed
from okrflow.store import RunRecord, Store

__all__ = ["evaluate_flow"]


@task(name="fetch-source", cache_policy=NO_CACHE, task_run_name="fetch-{job[0].name}")
def fetch_source_task(job: SourceJob) -> dict[str, Measurement]:
    """All KRs of one source: one task per source, never one per KR."""
    return fetch_source(*job)


def map_as_tasks(jobs: Sequence[SourceJob]) -> list[dict[str, Measurement]]:
    futures = [fetch_source_task.submit(job) for job in jobs]
    return [future.result() for future in futures]


def _scheduled_slot() -> datetime | None:
    """The scheduled start of this flow run, when Prefect scheduled it."""
    from prefect.runtime import flow_run

    scheduled: Any = flow_run.scheduled_start_time
    return datetime.fromisoformat(scheduled.isoformat()) if scheduled is not None else None


@flow(name="okrflow-evaluate", log_prints=False)
def evaluate_flow(
    config_path: str,
    at: str | None = None,
    deployment: str = "default",
    store_url: str | None = None,
) -> RunRecord:
    """Evaluate every KR of a config as of ``at`` (default: the scheduled slot) and write the run."""
    logger = get_run_logger()
    config = load_config(config_path, default_registry())
    slot = datetime.fromisoformat(at) if at else _scheduled_slot()
    url = store_url or resolve_store_url(config)
    # With fetch: {processes: N} the sources are fetched in the pipeline's worker processes, not as tasks.
    mapping = map_in_threads if config.fetch.processes else map_as_tasks
    with Store.open(url) as store:
        before = store.status()  # the run stored before this one: what the summary says changed since
        record = evaluate(config, store, slot, deployment=deployment, map_sources=mapping)
        if at is None and config.catchup == "all":  # repair missed or errored slots once sources answer again
            from okrflow.views.progress import PlainProgress

            repaired = catch_up(
                config,
                store,
                record.slot,
                deployment=deployment,
                current_errors=record.error_count,
                map_sources=mapping,
                progress=PlainProgress("catch-up", "missed slots", logger.info),  # plain lines in the run's log
            )
            if repaired:  # older than the slot just judged: stored, not judged (past data pages nobody)
                logger.info(
                    "caught up %d missed slots (history only, alerts not judged): %s",
                    len(repaired),
                    ", ".join(r.slot.isoformat() for r in repaired),
                )
        report_note = refresh_report(config, store, logger)  # after the write: a failure here keeps the run
    try:  # the run is stored: a Prefect API that refuses an artifact or event is logged, never fails the run
        started = time.perf_counter()
        published = publish(config, config_path, record, before)
        logger.info(
            "published artifacts %s-* and %d event%s in %.2f s",
            published.key,
            len(published.events),
            "" if len(published.events) == 1 else "s",
            time.perf_counter() - started,
        )
    except Exception as exc:
        logger.warning("artifacts and events not published: %s: %s (the run is stored)", type(exc).__name__, exc)
    logger.info(
        "run of slot %s: %s (%d key results%s)%s%s",
        record.slot.isoformat(),
        record.status,
        len(record.key_results),
        f"; {record.detail}" if record.detail else "",
        f"; {record.alert_note}" if record.alert_note else "",
        f"; {report_note}" if report_note else "",
    )
    if record.alert_error:  # the run is written; the flow run fails so Prefect shows nobody was told
        raise alert_step_failed(record)
    return record
