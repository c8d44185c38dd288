"""Prefect deployments of the evaluate flow: ``okrflow serve`` (one process) and ``okrflow deploy`` (a work pool).

Both declare the same deployment: the config's schedule, the config file as a parameter and the deployment
name that history rows carry (a run is keyed by deployment and slot). Scheduling is Prefect's own: we build
no scheduler or queue of our own.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from okrflow.okr_model.config import Config
from okrflow.okr_model.errors import OkrflowError

__all__ = [
    "ENTRYPOINT",
    "REPO_ROOT",
    "DeployError",
    "catch_up_on_start",
    "deploy",
    "deployment_name",
    "flow_parameters",
    "prefetch_seconds",
    "require_api",
    "schedule_kwargs",
    "serve",
]

PREFETCH_S = 30.0
"""How long before its slot ``serve`` may start a scheduled run's process. Prefect's default, 10 s, equals the
Runner's poll interval: a run first seen on a poll 1 s before its slot then began its first line a start-up
(2-10 s on a loaded 2-core machine) late. 30 s leaves a poll and 20 s of start-up: the process then waits at the
slot for Prefect's Running state, and the run's work begins on time (benchmarks/README.md, section 6)."""
PREFECT_PREFETCH_S = 10.0
REPO_ROOT = Path(__file__).resolve().parent.parent
"""The directory holding ``flows/``: the source a work pool's workers run the flow from."""
ENTRYPOINT = "flows/evaluate.py:evaluate_flow"


class DeployError(OkrflowError):
    """The deployment cannot be created (unknown work pool, unreachable Prefect API)."""


def deployment_name(config_path: str | Path, name: str | None = None) -> str:
    """The given name, or the config file's stem (``okrflow.yaml`` -> ``okrflow``)."""
    return name or Path(config_path).stem


def flow_parameters(config_path: str | Path, name: str) -> dict[str, Any]:
    """The flow's parameters: an absolute config path (runs may start in another directory) and the name."""
    return {"config_path": str(Path(config_path).resolve()), "deployment": name}


def schedule_kwargs(config: Config) -> dict[str, Any]:
    """``schedule=`` for Prefect: a cron in the config's time zone, or an ``@every`` interval on its anchor
    (the slots catch-up walks: ``okr_model.schedule``)."""
    from prefect.schedules import Cron, Interval

    schedule = config.parsed_schedule
    if schedule.interval is None:
        return {"schedule": Cron(schedule.cron, timezone=config.timezone)}
    return {"schedule": Interval(schedule.interval, anchor_date=schedule.anchor, timezone=config.timezone)}


def require_api() -> str:
    """The Prefect API URL; Prefect's ephemeral server has no scheduler, so a schedule would never fire."""
    url = configured_api()
    if not url:
        raise DeployError(
            "no Prefect server: schedules need one (Prefect's ephemeral mode never schedules runs). "
            "Start one with `prefect server start` and set PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    return url


def configured_api() -> str | None:
    """``PREFECT_API_URL`` from the environment or the active Prefect profile, if any."""
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def serve(config_path: str | Path, config: Config, name: str | None = None) -> int:
    """Run the flow on the config's schedule in this process until Ctrl-C or SIGTERM; the exit status.

    The stop is ``okrflow.flows.serving``'s: runs in flight are cancelled, Ctrl-C twice quits at once. Without
    ``PREFECT_API_URL``, a local Prefect server (``flows/local_prefect.py``) serves the schedule and the UI for
    as long as this runs.
    """
    if configured_api():
        return _serve(config_path, config, name)
    from okrflow.flows.local_prefect import local_prefect_server, prefect_data_dir

    home = prefect_data_dir()
    _say(f"no PREFECT_API_URL: starting a local Prefect server (its state in {home}) ...")
    try:
        with local_prefect_server(home) as server:
            _say(f"Prefect UI: {server.ui_url} (API {server.api_url}); it stops with okrflow serve")
            try:
                return _serve(config_path, config, name, server.api_url, keep=(server.process.pid,))
            finally:
                _say("stopping the local Prefect server")
    except KeyboardInterrupt:  # Ctrl-C while the server was starting: it is stopped; nothing ran yet
        _say("stopped")
        return 0


def _serve(
    config_path: str | Path, config: Config, name: str | None, api_url: str | None = None, keep: tuple[int, ...] = ()
) -> int:
    """Serve on the configured Prefect API, or on ``api_url`` (for this process and its flow runs)."""
    import os

    from prefect.settings import PREFECT_API_URL, temporary_settings

    if api_url:
        os.environ["PREFECT_API_URL"] = api_url  # the flow-run processes inherit it
    updates = {PREFECT_API_URL: api_url} if api_url else {}
    with temporary_settings(updates=updates):  # this process read its settings when Prefect was imported
        from okrflow.flows.evaluate import evaluate_flow
        from okrflow.flows.serving import serve_until_stopped

        name = deployment_name(config_path, name)
        catch_up_on_start(config, name)
        return serve_until_stopped(
            evaluate_flow,
            name,
            keep=keep,
            prefetch_s=prefetch_seconds(config),
            parameters=flow_parameters(config_path, name),
            description=f"okrflow evaluation of {Path(config_path).resolve()} ({config.schedule})",
            **schedule_kwargs(config),
        )


def prefetch_seconds(config: Config, now: datetime | None = None) -> float:
    """How long before its slot ``serve`` starts a run's process: ``PREFETCH_S``, but never more than the
    shortest time between two slots (a short ``@every`` would keep several runs waiting in processes, up to the
    Runner's limit of 5) nor less than Prefect's own 10 s."""
    schedule = config.parsed_schedule
    if schedule.interval is not None:
        gap = schedule.interval
    else:
        start = now or datetime.now(UTC)
        slots = schedule.slots(start, start + timedelta(days=8), limit=12)
        gap = min((b - a for a, b in pairwise(slots)), default=timedelta(seconds=PREFETCH_S))
    return max(PREFECT_PREFETCH_S, min(PREFETCH_S, gap.total_seconds()))


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def catch_up_on_start(config: Config, deployment: str, now: datetime | None = None) -> None:
    """After downtime, evaluate the missed slots the ``catchup`` policy asks for before serving.

    Its progress goes to stderr (a bar on a terminal, a line a tenth otherwise); stdout gets one line when done.
    """
    from okrflow.flows.catchup import catch_up
    from okrflow.okr_model.paths import store_url

    from okrflow.store import Store
    from okrflow.views.progress import ProgressReport

    with Store.open(store_url(config)) as store, ProgressReport("catch-up", "missed slots") as shown:
        records = catch_up(config, store, now or datetime.now(UTC), deployment=deployment, progress=shown)
    if records:
        statuses = ", ".join(f"{n} {status}" for status, n in Counter(r.status for r in records).most_common())
        first, last = records[0].slot.isoformat(), records[-1].slot.isoformat()
        print(f"caught up {len(records)} missed slots from {first} to {last}: {statuses}", flush=True)


def deploy(config_path: str | Path, config: Config, pool: str, name: str | None = None) -> str:
    """Register the flow with the Prefect API for a ``process`` work pool; returns the deployment id.

    Workers run it from this checkout (``REPO_ROOT``), so they must share its file system and virtualenv.
    """
    require_api()
    from prefect import flow

    name = deployment_name(config_path, name)
    try:
        source_flow = flow.from_source(source=str(REPO_ROOT), entrypoint=ENTRYPOINT)
        deployment_id = source_flow.deploy(
            name=name,
            work_pool_name=pool,
            parameters=flow_parameters(config_path, name),
            description=f"okrflow evaluation of {Path(config_path).resolve()} ({config.schedule})",
            build=False,
            push=False,
            print_next_steps=False,
            **schedule_kwargs(config),
        )
    except ValueError as exc:  # Prefect reports a missing work pool this way
        raise DeployError(f"cannot deploy {name!r} to work pool {pool!r}: {exc}") from None
    return str(deployment_id)
