"""A local Prometheus for the demo and the tests: Debian's binary on a free loopback port, optionally
pre-filled with history through ``promtool tsdb create-blocks-from openmetrics``.

okrflow itself never needs this in production (it queries the team's Prometheus); it exists so that
the demo and the tests run against a real server, not a fake.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["PROMETHEUS_MISSING", "LocalPrometheus", "free_port", "prometheus_binary"]

PROMETHEUS_MISSING = (
    "the prometheus binary was not found; install Debian's package: "
    "apt-get install -y --no-install-recommends prometheus"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prometheus_binary() -> str | None:
    return shutil.which("prometheus") or ("/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)


@dataclass
class LocalPrometheus:
    """Start with ``with LocalPrometheus(workdir, targets) as prom: prom.url``; stopped on exit."""

    workdir: Path
    scrape_targets: Sequence[str] = ()
    scrape_interval: str = "1s"
    history: Iterable[str] | None = None
    """OpenMetrics lines (ending with ``# EOF``) imported as blocks before start."""
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LocalPrometheus:
        binary = prometheus_binary()
        if binary is None:
            raise FileNotFoundError(PROMETHEUS_MISSING)
        data = self.workdir / "data"
        if data.exists():
            shutil.rmtree(data)
        data.mkdir(parents=True)
        if self.history is not None:
            self._import_history(data)
        config = self.workdir / "prometheus.yml"
        targets = ", ".join(f'"{t}"' for t in self.scrape_targets)
        config.write_text(
            f"global: {{scrape_interval: {self.scrape_interval}, evaluation_interval: {self.scrape_interval}}}\n"
            + (
                f"scrape_configs:\n  - job_name: okrflow-demo\n    static_configs: [{{targets: [{targets}]}}]\n"
                if targets
                else ""
            )
        )
        self.port = self.port or free_port()
        log = (self.workdir / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=10y",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self._wait_ready()
        return self

    def _import_history(self, data: Path) -> None:
        source = self.workdir / "history.om"
        with source.open("w") as out:
            for line in self.history or ():
                out.write(line if line.endswith("\n") else line + "\n")
        promtool = shutil.which("promtool") or "/usr/bin/promtool"
        subprocess.run(
            [promtool, "tsdb", "create-blocks-from", "openmetrics", "-q", str(source), str(data)],
            check=True,
            capture_output=True,
            timeout=300,
        )
        source.unlink()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(
                    f"prometheus exited with {self.process.returncode}; see {self.workdir / 'prometheus.log'}"
                )
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.__exit__()
        raise TimeoutError(f"prometheus did not become ready within {timeout:.0f} s")

    def wait_for(self, query: str, timeout: float = 20) -> None:
        """Wait until an instant query returns data (the first scrape has landed)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body = httpx.get(f"{self.url}/api/v1/query", params={"query": query}, timeout=2).json()
            if body.get("data", {}).get("result"):
                return
            time.sleep(0.2)
        raise TimeoutError(f"no data for {query!r} after {timeout:.0f} s")

    def __exit__(self, *exc: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
