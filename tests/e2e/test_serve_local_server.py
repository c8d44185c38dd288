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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from okrflow.store import Store
from tests.e2e.test_serve import (
    CONFIG,
    HANGING_CONFIG,
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


@dataclass
class LocalServe:
    """``okrflow serve`` without PREFECT_API_URL, once it printed its server's UI URL."""

    served: Served
    ui_url: str
    port: int
    leftover: list[int] = field(default_factory=list)
    """Processes of its server still alive after serve was stopped (killed by the test)."""

    def server_gone(self) -> None:
        assert port_is_closed(self.port), f"the local Prefect server still listens on {self.port}\n{self.served.why()}"
        assert self.leftover == [], f"server processes left after serve: {self.leftover}\n{self.served.why()}"


@contextlib.contextmanager
def serving_locally(tmp_path: Path, config: Path) -> Iterator[LocalServe]:
    """Start ``okrflow serve`` of ``config`` with no Prefect server configured and its data folder in
    ``tmp_path``; afterwards kill its process group and any process of its server that is left."""
    data_home = tmp_path / "xdg-data"
    env = prefect_env(tmp_path / "client-home", XDG_DATA_HOME=str(data_home), PREFECT_RUNNER_POLL_FREQUENCY="2")
    env["PREFECT_UI_ENABLED"] = "true"  # prefect_env turns it off; no PREFECT_API_URL in it
    log, errors = config.with_suffix(".log"), config.with_suffix(".err")
    proc = start([sys.executable, "-m", "okrflow.cli", "-c", str(config), "serve"], env, log, tmp_path, errors)
    prefect_home = data_home / "okrflow" / "prefect"
    served = Served(proc, PrefectServer("", prefect_home, prefect_home / "server.log", proc), config.stem, log, errors)
    local = None
    try:

        def ui_line() -> re.Match[str] | None:
            assert proc.poll() is None, f"okrflow serve exited with {proc.returncode}\n{served.why()}"
            return UI_LINE.search(served.stderr())

        found = wait_for(ui_line, 150, 0.5, lambda: f"the UI URL on stderr\n{served.why()}")
        served.server.api_url = found.group(3)
        assert served.server.api_url == f"{found.group(1)}/api"
        local = LocalServe(served, found.group(1), int(found.group(2)))
        yield local
    finally:
        stop_process_group(proc)
        if local is not None:
            # after a quit at once the server gets SIGTERM as serve exits: allow it its shutdown (server_gone()
            # fails the test if it did not go)
            with contextlib.suppress(pytest.fail.Exception):
                wait_for(lambda: port_is_closed(local.port), 20, 0.2)
            local.leftover = processes_naming(f"--port {local.port}")
            for pid in local.leftover:  # a server that outlived serve: killed; server_gone() fails
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
@pytest.mark.prefect
@pytest.mark.timeout(300)
def test_serve_without_prefect_api_url_runs_a_local_server_and_stops_it(tmp_path, sqlite_warehouse):
    store_url = f"sqlite:///{tmp_path / 'history.db'}"
    config = tmp_path / "serve-local.yaml"
    config.write_text(CONFIG.format(interval=4, store=store_url, warehouse=sqlite_warehouse, cycle=cycle_around_now()))
    with serving_locally(tmp_path, config) as local:
        served = local.served
        page = httpx.get(local.ui_url, timeout=10)
        assert page.status_code == 200 and "<html" in page.text.lower(), page.text[:300]
        prefect_home = tmp_path / "xdg-data" / "okrflow" / "prefect"
        assert (prefect_home / "prefect.db").is_file(), sorted(p.name for p in prefect_home.iterdir())
        wait_for_runs(store_url, served.deployment, 1, 120, served.server, served.why, served.proc)
        stopped_in = ctrl_c(served.proc)
    print(f"okrflow serve and its Prefect server stopped {stopped_in:.1f} s after Ctrl-C")
    served.stopped_cleanly("Ctrl-C")
    local.server_gone()
    assert "stopping the local Prefect server" in served.stderr()
    with Store.open(store_url) as store:
        assert {r.deployment for r in store.runs()} == {"serve-local"}


@pytest.mark.slow
@pytest.mark.prefect
@pytest.mark.timeout(300)
def test_a_second_ctrl_c_quits_at_once_and_stops_the_local_server(tmp_path, hanging_http_server):
    """The quit at once exits with ``os._exit``, past the ``finally`` that stops the server: it must not be left."""
    from okrflow.flows.serving import EXIT_AT_ONCE

    store_url = f"sqlite:///{tmp_path / 'history.db'}"
    config = tmp_path / "serve-local-twice.yaml"
    config.write_text(
        HANGING_CONFIG.format(interval=4, store=store_url, url=hanging_http_server, cycle=cycle_around_now())
    )
    with serving_locally(tmp_path, config) as local:
        served = local.served
        wait_for(served.running, 120, 0.5, lambda: f"a running flow run\n{served.why()}")
        os.killpg(served.proc.pid, signal.SIGINT)
        wait_for(lambda: "stopping" in served.stderr(), 10, 0.05, served.why)
        ctrl_c(served.proc, 10)
    assert served.proc.returncode == EXIT_AT_ONCE, served.why()
    assert "Traceback" not in served.stderr(), served.why()
    local.server_gone()


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
