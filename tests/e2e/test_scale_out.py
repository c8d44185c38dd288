"""Scaling out for real: a Prefect server on PostgreSQL, a ``process`` work pool with two workers, and
``okrflow deploy`` on an ``@every`` schedule writing into one shared PostgreSQL history store.

Also checks that the shipped ``prefect.yaml`` declares the same deployment and that ``prefect deploy``
accepts it.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from okrflow.flows.deploy import ENTRYPOINT, REPO_ROOT
from okrflow.okr_model.config import Config

from okrflow.store import Store
from tests.e2e.test_serve import (
    CONFIG,
    PrefectServer,
    prefect_server,
    read_flow_runs,
    scheduled_at,
    start,
    stop_process_group,
    tail,
    wait_for_runs,
)
from tests.fixtures.cycles import cycle_around_now

POOL = "okrflow-test"
DEPLOYMENT = "scale-test"
INTERVAL_S = 5
WORKERS = ("okrflow-worker-a", "okrflow-worker-b")


def prefect_cli(server: PrefectServer, *args: str, cwd: Path | None = None, **env: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        env=server.env(**env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"prefect {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def postgres_prefect_server(tmp_path_factory, postgres_server) -> Iterator[PrefectServer]:
    """A ``prefect server start`` whose database is a fresh PostgreSQL database (asyncpg driver)."""
    import asyncpg  # noqa: F401  Prefect's server needs it for PostgreSQL: a missing driver fails, never skips
    import psycopg
    from psycopg import sql

    name = f"okrflow_prefect_{time.time_ns()}"
    admin = postgres_server.replace("postgresql+psycopg://", "postgresql://", 1) + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database_url = postgres_server.replace("postgresql+psycopg://", "postgresql+asyncpg://", 1) + f"/{name}"
    try:
        with prefect_server(tmp_path_factory.mktemp("prefect-pg"), database_url) as server:
            yield server
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def submitted_runs(log: Path) -> set[str]:
    """Flow run ids a worker submitted (both may try one run: the server aborts the loser's submission)."""
    text = tail(log, 1_000_000)
    tried = set(re.findall(r"submitting flow run '([0-9a-f-]{36})'", text))
    return tried - set(re.findall(r"Aborted submission of flow run '([0-9a-f-]{36})'", text))


def wait_for_both_workers(logs: list[Path], timeout_s: float, why: Callable[[], str]) -> None:
    """Each worker runs at most one flow at a time (``--limit 1``), so the other takes slots that fall due
    while the first is busy; wait until each has submitted at least one."""
    deadline = time.monotonic() + timeout_s
    while not all(submitted_runs(log) for log in logs):
        if time.monotonic() > deadline:
            pytest.fail(f"one worker got every run for {timeout_s:.0f} s\n{why()}")
        time.sleep(1)


@pytest.mark.slow
@pytest.mark.prefect
@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_two_workers_run_the_deployment_into_one_postgres_store(
    tmp_path, postgres_prefect_server, postgres_warehouse, make_postgres_db: Callable[..., str]
):
    server = postgres_prefect_server
    store_url = make_postgres_db(prefix="okrflow_history")
    Store.open(store_url).close()  # migrate once up front: the first runs of two workers may start together
    config = tmp_path / "scale.yaml"
    config.write_text(
        CONFIG.format(interval=INTERVAL_S, store=store_url, warehouse=postgres_warehouse, cycle=cycle_around_now())
    )

    prefect_cli(server, "work-pool", "create", POOL, "--type", "process")
    worker_logs = [tmp_path / f"{name}.log" for name in WORKERS]
    workers = [
        start(
            [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--name", name, "--limit", "1"],
            server.env(PREFECT_WORKER_QUERY_SECONDS="2", PREFECT_WORKER_PREFETCH_SECONDS="5"),
            log,
            cwd=tmp_path,
        )
        for name, log in zip(WORKERS, worker_logs, strict=True)
    ]

    def why() -> str:
        logs = "\n".join(f"--- {log.name}:\n{tail(log, 1500)}" for log in worker_logs)
        return f"{logs}\n{server.problems()}"

    try:
        deployed = subprocess.run(
            [sys.executable, "-m", "okrflow.cli", "-c", str(config), "deploy", "--pool", POOL, "--name", DEPLOYMENT],
            env=server.env(),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert deployed.returncode == 0, f"okrflow deploy failed:\n{deployed.stdout}\n{deployed.stderr}"
        assert f"registered on work pool {POOL!r}" in deployed.stdout
        wait_for_runs(store_url, DEPLOYMENT, 3, 100, server, why, *workers)
        wait_for_both_workers(worker_logs, 40, why)
        online = online_workers(server.api_url)
    finally:
        for proc in workers:
            stop_process_group(proc)

    with Store.open(store_url) as store:
        runs = [r for r in store.runs() if r.deployment == DEPLOYMENT]
    flow_runs = {str(fr.id): fr for fr in read_flow_runs(server.api_url, DEPLOYMENT)}
    completed = {scheduled_at(fr) for fr in flow_runs.values() if fr.state is not None and fr.state.is_completed()}
    slots = [r.slot for r in runs]

    assert set(online) >= set(WORKERS), f"workers online: {online}"
    assert len(set(slots)) == len(slots) >= 3, slots
    assert len(completed) >= 3, {fr.name: fr.state_name for fr in flow_runs.values()}
    assert completed <= set(slots) <= {scheduled_at(fr) for fr in flow_runs.values()}
    assert all(r.status == "completed" and r.kr_count == 1 for r in runs), runs
    by_worker = {name: submitted_runs(log) & set(flow_runs) for name, log in zip(WORKERS, worker_logs, strict=True)}
    assert all(by_worker.values()), f"runs per worker: {by_worker}\n{why()}"
    assert not set.intersection(*by_worker.values()), f"a flow run was submitted by both workers: {by_worker}"


def online_workers(api_url: str) -> dict[str, str]:
    """Worker name -> status, as the server sees the pool's workers."""
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def read() -> dict[str, str]:
        async with get_client() as client:
            workers = await client.read_workers_for_work_pool(POOL)
        return {w.name: str(w.status.value if w.status else None) for w in workers}

    with temporary_settings(updates={PREFECT_API_URL: api_url}):
        return {name: status for name, status in asyncio.run(read()).items() if status == "ONLINE"}


def test_prefect_yaml_declares_the_evaluate_deployment():
    spec = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())
    (deployment,) = spec["deployments"]
    assert deployment["entrypoint"] == ENTRYPOINT
    assert deployment["work_pool"]["name"] == "okrflow"
    assert deployment["parameters"]["deployment"] == deployment["name"]
    assert (REPO_ROOT / deployment["parameters"]["config_path"]).is_file()
    (schedule,) = deployment["schedules"]
    Config.model_validate(  # the cron passes our own schedule check
        {"cycle": {"name": "q", "start": "2026-10-01", "end": "2026-12-31"}, "schedule": schedule["cron"]}
        | {"objectives": [{"id": "o", "title": "t"}]}
    )
    (pull,) = spec["pull"]
    assert "prefect.deployments.steps.set_working_directory" in pull

    from prefect.flows import load_flow_from_entrypoint

    flow = load_flow_from_entrypoint(str(REPO_ROOT / deployment["entrypoint"]))
    assert flow.name == "okrflow-evaluate"
    assert set(deployment["parameters"]) <= set(flow.parameters.properties)


@pytest.mark.slow
@pytest.mark.prefect
@pytest.mark.postgres
def test_prefect_deploy_accepts_prefect_yaml(tmp_path, postgres_prefect_server):
    server = postgres_prefect_server
    prefect_cli(server, "work-pool", "create", "okrflow", "--type", "process")
    prefect_cli(server, "--no-prompt", "deploy", "--all", cwd=REPO_ROOT, PWD=str(REPO_ROOT))

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: server.api_url}), get_client(sync_client=True) as client:
        deployment = client.read_deployment_by_name("okrflow-evaluate/example")
    assert deployment.entrypoint == ENTRYPOINT
    assert deployment.work_pool_name == "okrflow"
    assert deployment.parameters == {"config_path": "config/example.yaml", "deployment": "example"}
    assert deployment.pull_steps == [{"prefect.deployments.steps.set_working_directory": {"directory": str(REPO_ROOT)}}]
    (schedule,) = deployment.schedules
    assert schedule.schedule.cron == "*/15 * * * *"
