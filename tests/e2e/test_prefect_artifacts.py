"""What a flow run shows in the Prefect UI: ``okrflow run`` through a real ``prefect server`` publishes a table
and a markdown artifact under a key stable per config (two runs: one key, two versions) and an event per alert
moved and per KR status changed, with the KR's labels; no secret of the config reaches either. A direct
``okrflow run`` without a Prefect API does not import Prefect for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from okrflow.flows.prefect_publish import artifact_key

from tests.e2e.test_serve import PrefectServer, prefect_server
from tests.fixtures.databases import free_port
from tests.fixtures.polling import wait_for
from tests.fixtures.warehouse import F1_KR, LATENCY_KR, metrics_warehouse, set_metrics

T1 = datetime(2026, 11, 15, 0, 0, tzinfo=UTC)
T2 = T1 + timedelta(hours=1)
PROM_PASSWORD = "pr0m-Pass-word-7f3a9c"
PROM_TOKEN = "tok-4b1d8e2f9a6c3e7b"
SECRETS = [PROM_PASSWORD, PROM_TOKEN]

CONFIG = """
version: 1
cycle: {{name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}}
store: "sqlite:///{store}"
sources:
  warehouse: {{type: sql, url: "sqlite:///{warehouse}", timeout_s: 5, retries: 0}}
  prom:
    type: prometheus
    url: "http://127.0.0.1:{closed}"
    username: okr
    password: "${{PROM_PASSWORD}}"
    headers: {{Authorization: "Bearer ${{PROM_TOKEN}}"}}
    timeout_s: 2
    retries: 0
objectives:
  - id: platform
    title: Reliable AI platform
    owner: ml-team
  - id: quality
    parent: platform
    title: Classifier quality
    owner: ml-team
    key_results:
      - {f1_kr}
      - {latency_kr}
      - id: error-rate
        kind: decrease
        baseline: 5
        target: 1
        unit: "%"
        metric: {{source: prom, query: "sum(rate(errors_total[5m]))"}}
"""


def config_text(store: Path, warehouse: Path) -> str:
    """``CONFIG`` on these files, its Prometheus source on a closed port."""
    return CONFIG.format(store=store, warehouse=warehouse, closed=free_port(), f1_kr=F1_KR, latency_kr=LATENCY_KR)


class World:
    """A config on a SQLite warehouse (and a Prometheus source that is down, its URL and header secret), run with
    ``okrflow run`` against a Prefect server."""

    def __init__(self, tmp_path: Path, server: PrefectServer):
        self.tmp_path, self.server = tmp_path, server
        self.warehouse = metrics_warehouse(tmp_path / "warehouse.db", f1=0.90, latency=0.15)
        self.config = tmp_path / "models-okrs.yaml"
        self.config.write_text(config_text(store=tmp_path / "history.db", warehouse=tmp_path / "warehouse.db"))
        self.key = artifact_key(self.config)

    def run(self, at: datetime, **metrics: float) -> subprocess.CompletedProcess[str]:
        """``okrflow run --at`` through the Prefect flow (PREFECT_API_URL set), with the warehouse's values."""
        set_metrics(self.warehouse, **metrics)
        env = self.server.env(PROM_PASSWORD=PROM_PASSWORD, PROM_TOKEN=PROM_TOKEN)
        cmd = [str(Path(sys.executable).parent / "okrflow"), "-c", str(self.config), "run", "--at", at.isoformat()]
        done = subprocess.run(cmd, env=env, cwd=self.tmp_path, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"okrflow run failed:\n{done.stdout}\n{done.stderr}"
        return done


def api(server: PrefectServer, path: str, body: dict[str, Any]) -> Any:
    answer = httpx.post(f"{server.api_url}{path}", json=body, timeout=10)
    answer.raise_for_status()
    return answer.json()


def artifacts(server: PrefectServer, key: str) -> list[dict[str, Any]]:
    """Every version of the artifact ``key``, newest first."""
    return api(server, "/artifacts/filter", {"artifacts": {"key": {"any_": [key]}}, "sort": "CREATED_DESC"})


def events(server: PrefectServer, prefix: str = "okrflow.") -> list[dict[str, Any]]:
    """The events whose names start with ``prefix`` that the server stored (the last day's)."""
    body = {"filter": {"event": {"prefix": [prefix]}, "order": "ASC"}, "limit": 50}
    return api(server, "/events/filter", body)["events"]


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[PrefectServer]:
    with prefect_server(tmp_path_factory.mktemp("prefect-artifacts")) as running:
        yield running


@pytest.mark.slow
@pytest.mark.prefect
def test_each_run_publishes_the_table_the_tree_and_its_alert_events(tmp_path, server):
    world = World(tmp_path, server)
    world.run(T1, f1=0.90, latency=0.15)
    world.run(T2, f1=0.85, latency=0.15)  # five points down: drift fires at once

    tables = artifacts(server, f"{world.key}-key-results")
    summaries = artifacts(server, f"{world.key}-summary")
    assert len(tables) == len(summaries) == 2, "one version per run, under one key per config"
    assert len({a["flow_run_id"] for a in summaries}) == 2 and all(a["flow_run_id"] for a in summaries)
    rows = {row["key_result"]: row for row in json.loads(tables[0]["data"])}
    assert rows["f1"] | {"reason": ""} == {
        "objective": "quality",
        "key_result": "f1",
        "value": "0.85",
        "target": "0.9",
        "score": rows["f1"]["score"],
        "status": rows["f1"]["status"],
        "reason": "",
    }
    assert rows["f1"]["reason"] and rows["f1"]["score"] == "0.55"
    assert rows["latency"]["value"] == "0.15 s" and rows["latency"]["target"] == "0.2 s"
    assert rows["error-rate"]["value"] == "error" and rows["error-rate"]["score"] == "-"
    assert "127.0.0.1" in rows["error-rate"]["reason"]  # why: the source's (redacted) error

    markdown = summaries[0]["data"]
    assert markdown.startswith("# models-okrs.yaml: run of 2026-11-15 01:00 UTC")
    assert "- **platform** Reliable AI platform:" in markdown
    assert "  - **quality** Classifier quality:" in markdown  # the child objective, under its parent
    assert "    - `f1` 0.85 (target 0.9): score 0.55," in markdown
    assert "## Changed since the last run (slot 2026-11-15 00:00 UTC)" in markdown
    assert "- alert drift of `f1` fired: " in markdown
    assert "- `f1`: score 1.00 -> 0.55, still on track" in markdown
    first = summaries[1]["data"]
    assert "First run of this store" in first and "- alert source error of `prom` fired: " in first

    def drift_event() -> dict[str, Any] | None:
        return next((e for e in events(server) if e["event"] == "okrflow.key-result.drift"), None)

    drift = wait_for(drift_event, 30, 0.5, lambda: f"a drift event; stored: {[e['event'] for e in events(server)]}")
    assert {k: v for k, v in drift["resource"].items() if k.startswith(("okrflow.", "prefect.resource.id"))} == {
        "prefect.resource.id": f"okrflow.key-result.{world.key}.f1",
        "okrflow.config": world.key,
        "okrflow.kr": "f1",
        "okrflow.objective": "quality",
        "okrflow.owner": "alice",
        "okrflow.value": "0.85",
        "okrflow.score": "0.55",
        "okrflow.status": drift["resource"]["okrflow.status"],
        "okrflow.alert": "drift",
    }
    assert drift["payload"]["slot"] == T2.isoformat() and drift["payload"]["state"] == "firing"
    roles = {r.get("prefect.resource.role") for r in drift["related"]}
    assert {"flow-run", "okrflow-config"} <= roles, drift["related"]
    names = [e["event"] for e in events(server)]
    assert names.count("okrflow.source.error") == 1, names  # prom is down from the first run: fired once
    assert names.count("okrflow.key-result.drift") == 1, names

    world.run(T2 + timedelta(hours=1), f1=0.90, latency=0.15)  # F1 back: the drift resolves

    def resolved() -> dict[str, Any] | None:
        return next((e for e in events(server) if e["event"] == "okrflow.key-result.resolved"), None)

    event = wait_for(resolved, 30, 0.5, "a resolved event")
    assert event["resource"]["okrflow.kr"] == "f1" and event["resource"]["okrflow.alert"] == "drift"
    assert event["payload"]["state"] == "resolved"
    assert "- alert drift of `f1` resolved" in artifacts(server, f"{world.key}-summary")[0]["data"]

    shown = json.dumps([tables, summaries, artifacts(server, f"{world.key}-summary"), events(server)])
    for secret in SECRETS:
        assert secret not in shown


def test_a_direct_run_does_not_import_prefect(tmp_path):
    """Without a Prefect API, ``okrflow run`` calls the pipeline directly: no Prefect, no publishing."""
    world_dir = tmp_path
    metrics_warehouse(world_dir / "warehouse.db", f1=0.90, latency=0.15)
    config = world_dir / "models-okrs.yaml"
    config.write_text(config_text(store=world_dir / "h.db", warehouse=world_dir / "warehouse.db"))
    script = textwrap.dedent(
        f"""
        import sys
        from okrflow.cli import app
        try:
            app(["-c", {str(config)!r}, "run", "--at", {T1.isoformat()!r}])
        except SystemExit as exc:
            assert not exc.code, exc.code
        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "prefect" or m.endswith("prefect_publish"))
        print("LOADED", ",".join(loaded[:5]))
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"} | {"PROM_PASSWORD": "x", "PROM_TOKEN": "y"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("LOADED ")[1].strip() == ""
