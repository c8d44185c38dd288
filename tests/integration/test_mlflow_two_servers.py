"""Two MLflow sources in one config, one with a ``token``, against two real ``mlflow server`` processes.

Each attempt is a fresh interpreter (MLflow is imported once per process, which is where it used to break: the
token source imported MLflow's request-header modules under a lock in one fetch thread while the other
source's thread imported ``mlflow`` outside it: ``ImportError`` / ``_DeadlockError`` in 5 of 5 runs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.mlflow import T0, _stop_group, _wait_healthy, free_port, seed_demo_registry

ATTEMPTS = 5
SCRIPT = """
import json, sys
from datetime import datetime
from okrflow.connectors.registry import default_registry
from okrflow.flows.pipeline import start_fetch
from okrflow.okr_model.loader import load_config

config = load_config(sys.argv[1], default_registry())
measurements, _ = start_fetch(config, datetime.fromisoformat(sys.argv[2]))([])
print(json.dumps({kr_id: [m.status, m.value, m.detail] for kr_id, m in measurements.items()}))
"""


@pytest.fixture(scope="module")
def second_mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Another real ``mlflow server`` over its own seeded store (the session fixture serves the first)."""
    mlflow_bin = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or shutil.which("mlflow")
    assert mlflow_bin is not None, "the mlflow CLI is not installed"
    shm = Path("/dev/shm")
    directory = Path(tempfile.mkdtemp(prefix="okrflow-mlflow-2-", dir=shm if shm.is_dir() else None))
    seed_demo_registry(f"sqlite:///{directory / 'mlflow.db'}")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    workdir = tmp_path_factory.mktemp("mlflow-server-2")
    log_path = workdir / "server.log"
    command = [
        mlflow_bin, "server", "--backend-store-uri", f"sqlite:///{directory / 'mlflow.db'}",
        "--default-artifact-root", str(workdir / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        _wait_healthy(process, url, log_path, deadline=__import__("time").monotonic() + 120)
        yield url
    finally:
        _stop_group(process)
        shutil.rmtree(directory, ignore_errors=True)


def kr_block(source: str) -> str:
    return textwrap.indent(
        textwrap.dedent(
            f"""
            - id: {source}-champion
              kind: increase
              baseline: 0.79
              target: 0.9
              metric: {{source: {source}, model: ticket-classifier, alias: champion, name: f1}}
            - id: {source}-challenger
              kind: increase
              baseline: 0.79
              target: 0.9
              metric: {{source: {source}, model: ticket-classifier, alias: challenger, name: f1}}
            - id: {source}-latest
              kind: increase
              baseline: 0.79
              target: 0.9
              metric: {{source: {source}, experiment: ticket-classifier, run: latest, name: f1}}
            """
        ),
        "      ",
    )


def test_two_mlflow_servers_one_with_a_token_fetch_in_every_fresh_process(
    mlflow_http_server, second_mlflow_server, tmp_path
):
    config = tmp_path / "okrs.yaml"
    config.write_text(
        textwrap.dedent(
            f"""
            version: 1
            cycle: {{name: Q4, start: 2026-10-01, end: 2026-12-31}}
            store: "sqlite:///{tmp_path / "history.db"}"
            sources:
              tracked: {{type: mlflow, tracking_uri: "{mlflow_http_server}", token: "tok-3141592653", timeout_s: 20}}
              registry: {{type: mlflow, tracking_uri: "{second_mlflow_server}", timeout_s: 20}}
            objectives:
              - id: models
                title: Better models
                owner: ml-team
                key_results:
            """
        )
        + kr_block("registry")  # its fetch thread starts first and imports mlflow while the token source sets up
        + kr_block("tracked")
    )
    at = (T0.replace(day=20)).isoformat()
    outcomes = []
    for _ in range(ATTEMPTS):
        result = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(config), at], capture_output=True, text=True, timeout=300
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert "ImportError" not in result.stderr and "Deadlock" not in result.stderr, result.stderr[-3000:]
        outcomes.append(json.loads(result.stdout.strip().splitlines()[-1]))
    for measured in outcomes:
        assert {kr_id: status for kr_id, (status, _, _) in measured.items()} == dict.fromkeys(measured, "ok"), measured
        assert measured["tracked-champion"][1] == measured["registry-champion"][1] == pytest.approx(0.88)
