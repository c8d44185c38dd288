"""`okrflow serve` without ``PREFECT_API_URL``: it starts a Prefect server of its own (state under the user's data
folder), prints the UI's URL, runs the schedule on it, and stops it on Ctrl-C (no server left behind).

Real processes throughout: ``okrflow serve`` in its own process group, its ``prefect server start`` child, the
flow-run processes, a SQLite warehouse and store. ``okrflow deploy`` still refuses without a server: a work
pool's workers need one that outlives the command.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from okrflow.store import Store
from tests.e2e.test_serve import (
    CONFIG,
    PrefectServer,
    Served,
    ctrl_c,
    prefect_env,
    start,
    stop_process_group,
    wait_for_runs,
)
from tests.fixtures.cycles import cycle_around_now
from tests.fixtures.polling import wait_for

UI_LINE = re.compile(r"Prefect UI: (http://127\.0\.0\.1:(\d+)) \(API (\S+)\)")


def port_is_closed(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def processes_naming(text: str) -> list[int]:
    """Pids of live processes whose command line holds ``text`` (e.g. a server's ``--port N``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.prefect
@pytest.mark.timeout(300)
def test_serve_without_prefect_api_url_runs_a_local_server_and_stops_it(tmp_path, sqlite_warehouse):
    data_home = tmp_path / "xdg-data"
    store_url = f"sqlite:///{tmp_path / 'history.db'}"
    config = tmp_path / "serve-local.yaml"
    config.write_text(CONFIG.format(interval=4, store=store_url, warehouse=sqlite_warehouse, cycle=cycle_around_now()))
    env = prefect_env(tmp_path / "client-home", XDG_DATA_HOME=str(data_home), PREFECT_RUNNER_POLL_FREQUENCY="2")
    env["PREFECT_UI_ENABLED"] = "true"  # prefect_env turns it off; no PREFECT_API_URL in it
    log, errors = tmp_path / "serve.log", tmp_path / "serve.err"
    proc = start([sys.executable, "-m", "okrflow.cli", "-c", str(config), "serve"], env, log, tmp_path, errors)
    prefect_home = data_home / "okrflow" / "prefect"
    served = Served(
        proc, PrefectServer("", prefect_home, prefect_home / "server.log", proc), "serve-local", log, errors
    )
    port = None
    try:

        def ui_line() -> re.Match[str] | None:
            assert proc.poll() is None, f"okrflow serve exited with {proc.returncode}\n{served.why()}"
            return UI_LINE.search(served.stderr())

        found = wait_for(ui_line, 150, 0.5, lambda: f"the UI URL on stderr\n{served.why()}")
        ui_url, port, api_url = found.group(1), int(found.group(2)), found.group(3)
        served.server.api_url = api_url
        assert api_url == f"{ui_url}/api"
        page = httpx.get(ui_url, timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower(), page.text[:300]
        assert (prefect_home / "prefect.db").is_file(), sorted(p.name for p in prefect_home.iterdir())

        wait_for_runs(store_url, served.deployment, 1, 120, served.server, served.why, proc)
        stopped_in = ctrl_c(proc)
    finally:
        stop_process_group(proc)
        leftover = processes_naming(f"--port {port}") if port is not None else []
        for pid in leftover:  # a server that outlived serve: killed, and the test fails below
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    print(f"okrflow serve and its Prefect server stopped {stopped_in:.1f} s after Ctrl-C")
    served.stopped_cleanly("Ctrl-C")
    assert port_is_closed(port), f"the local Prefect server still listens on {port}\n{served.why()}"
    assert leftover == [], f"processes left after Ctrl-C: {leftover}\n{served.why()}"
    assert "stopping the local Prefect server" in served.stderr()
    with Store.open(store_url) as store:
        assert {r.deployment for r in store.runs()} == {"serve-local"}


def test_deploy_without_a_prefect_server_says_how_to_start_one(tmp_path, sqlite_warehouse):
    """A work pool's workers need a server that outlives the command: ``deploy`` does not start one."""
    config = tmp_path / "okrflow.yaml"
    config.write_text(
        CONFIG.format(
            interval=5, store=f"sqlite:///{tmp_path / 'h.db'}", warehouse=sqlite_warehouse, cycle=cycle_around_now()
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "okrflow.cli", "-c", str(config), "deploy", "--pool", "p"],
        env=prefect_env(tmp_path / "prefect-home"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "prefect server start" in result.stderr and "PREFECT_API_URL" in result.stderr
