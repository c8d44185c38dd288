"""A Prefect server of ``okrflow serve``'s own, for when no ``PREFECT_API_URL`` names one.

Schedules need a real Prefect server (the ephemeral one never schedules), so ``okrflow serve`` without
``PREFECT_API_URL`` starts ``prefect server start`` as a child process on a free loopback port, with its home and
SQLite database under the user's data folder (``$XDG_DATA_HOME/okrflow/prefect``, by default
``~/.local/share/okrflow/prefect``), so the flow runs and their logs outlive one ``serve``. The server has a
session of its own: the terminal's Ctrl-C does not reach it, and it answers the Runner while ``serve`` records
the runs it cancels; ``serve`` stops it after the Runner (also on an error), so no server outlives ``serve``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from okrflow.okr_model.errors import OkrflowError

__all__ = ["LocalPrefectError", "LocalServer", "local_prefect_server", "prefect_data_dir"]

STARTUP_TIMEOUT_S = 120.0
"""A first start creates and migrates the database: 10-30 s on a loaded 2-core machine."""
STOP_GRACE_S = 15.0
"""How long the server may take to exit after SIGTERM before it is killed."""
LOG_NAME = "server.log"


class LocalPrefectError(OkrflowError):
    """The local Prefect server did not start (its log says why)."""


def prefect_data_dir() -> Path:
    """Where the local server keeps its home and database: ``$XDG_DATA_HOME/okrflow/prefect`` (XDG's default
    ``~/.local/share`` when unset or not absolute, as the XDG base directory spec says)."""
    xdg = os.environ.get("XDG_DATA_HOME", "")
    base = Path(xdg) if xdg and Path(xdg).is_absolute() else Path.home() / ".local" / "share"
    return base / "okrflow" / "prefect"


@dataclass(frozen=True)
class LocalServer:
    """A running local Prefect server: where its API and UI answer, its process and its log."""

    api_url: str
    ui_url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextlib.contextmanager
def local_prefect_server(home: Path | None = None, timeout_s: float = STARTUP_TIMEOUT_S) -> Iterator[LocalServer]:
    """Start ``prefect server start`` on a free loopback port with ``home`` as its PREFECT_HOME (default:
    ``prefect_data_dir()``), wait until its API is healthy, and stop it when the block ends, however it ends."""
    home = home or prefect_data_dir()
    home.mkdir(parents=True, exist_ok=True)
    port = _free_loopback_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["PREFECT_HOME"] = str(home)  # its database defaults to PREFECT_HOME/prefect.db
    log = home / LOG_NAME
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:  # the log of the latest server only
        process = subprocess.Popen(
            cmd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = LocalServer(f"{base}/api", base, process, log)
    try:
        with _sigterm_interrupts():  # a stop while it starts must not orphan it
            _wait_healthy(server, timeout_s)
        yield server
    finally:
        stop(server.process)


def stop(process: subprocess.Popen[bytes], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM to the server's process group (uvicorn shuts down cleanly), SIGKILL after ``grace_s``."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace_s)
    with contextlib.suppress(ProcessLookupError):  # what outlived it, or all of it after the grace
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM raises KeyboardInterrupt in the main thread (as Ctrl-C does), so the ``finally`` that stops the
    server runs; elsewhere, or outside the block, SIGTERM does what it did."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(server: LocalServer, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        if server.process.poll() is not None:
            raise LocalPrefectError(
                f"the local Prefect server exited with status {server.process.returncode}; "
                f"its log ({server.log}) ends with:\n{_tail(server.log)}"
            )
        # refused while it starts (URLError and timeouts are OSErrors)
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{server.api_url}/health", timeout=2) as answer:
            if answer.status == 200:
                return
        if time.monotonic() > deadline:
            raise LocalPrefectError(
                f"the local Prefect server did not answer within {timeout_s:g} s; "
                f"its log ({server.log}) ends with:\n{_tail(server.log)}"
            )
        time.sleep(0.25)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
