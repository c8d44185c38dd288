"""`okrflow serve` for real: a Prefect-served deployment on an ``@every`` schedule writes one run per slot.

Schedules need Prefect's scheduler service, which the ephemeral server (and so ``prefect_test_harness``)
does not run: these tests start a real ``prefect server start`` on loopback (SQLite, the one-machine
set-up). The slots in the history store must be the scheduled start times that Prefect gave the runs, and
Ctrl-C (SIGINT to the process group, as a terminal sends it) must stop ``serve`` cleanly and promptly, also
while a run is in flight and the machine is loaded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy
from okrflow.okr_model.config import Config

from okrflow.store import RunSummary, Store
from tests.fixtures.cycles import cycle_around_now
from tests.fixtures.databases import free_port
from tests.fixtures.polling import wait_for

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT = "serve-test"  # the config file's stem
INTERVAL_S = 4
SCHEDULER_CRASH = "Can't evaluate bulk DML statement"
STOP_BOUND_S = 30
"""How long Ctrl-C may take to stop ``serve``, in-flight run included, on a loaded 2-core machine."""

CONFIG = """
version: 1
cycle: {cycle}
schedule: "@every {interval}s"
store: "{store}"
sources:
  warehouse: {{type: sql, url: "{warehouse}", timeout_s: 5, retries: 0}}
objectives:
  - id: team
    title: Team objective
    key_results:
      - id: hours
        kind: decrease
        baseline: 4
        target: 2
        metric: {{source: warehouse, sql: "SELECT value FROM metrics WHERE name = 'hours'"}}
"""


def prefect_env(home: Path, api_url: str | None = None, **extra: str) -> dict[str, str]:
    """A subprocess environment: its own PREFECT_HOME, no telemetry, and the given API (or none)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "OKRFLOW_STORE_URL")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="true",
        PREFECT_UI_ENABLED="false",
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="90",
        **extra,
    )
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def start(
    cmd: list[str], env: dict[str, str], log: Path, cwd: Path | None = None, errors: Path | None = None
) -> subprocess.Popen[bytes]:
    """A subprocess in its own process group (so teardown reaches its children), output to ``log`` (and its
    stderr to ``errors`` when given)."""
    with log.open("ab") as out, contextlib.ExitStack() as stack:
        err = stack.enter_context(errors.open("ab")) if errors else subprocess.STDOUT
        return subprocess.Popen(
            cmd,
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def stop_process_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT, grace_s: float = 20) -> None:
    """``sig`` (SIGINT is what Ctrl-C sends) to the whole group, then SIGKILL whatever is left."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # children (flow runs, uvicorn) that outlived their parent
    proc.wait(timeout=10)


def ctrl_c(proc: subprocess.Popen[bytes], bound_s: float = STOP_BOUND_S, how: str = "ctrl-c") -> float:
    """Stop ``proc`` as a user or a supervisor does; the seconds until it exited.

    ``ctrl-c``: SIGINT to the whole process group, as a terminal sends it; ``sigterm``: SIGTERM to the process
    alone, as ``docker stop`` sends it to a container's first process. Fails (after killing the group) when
    the process did not exit within ``bound_s``.
    """
    assert proc.poll() is None, f"{proc.args} had exited before {how} ({proc.returncode})"
    sent = time.monotonic()
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=bound_s)
    except subprocess.TimeoutExpired:
        stop_process_group(proc, signal.SIGKILL, grace_s=0)
        pytest.fail(f"{proc.args} did not stop within {bound_s:g} s of {how} (killed: {proc.returncode})")
    return time.monotonic() - sent


def group_is_gone(pgid: int) -> bool:
    """No process of the group is left (flow-run children of ``serve`` included)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


def half_written_runs(store_url: str) -> list[tuple[Any, ...]]:
    """Runs whose stored rows do not match their ``kr_count`` (a write interrupted half-way)."""
    query = sqlalchemy.text(
        "SELECT r.id, r.slot, r.kr_count,"
        " (SELECT count(*) FROM kr_scores k WHERE k.run_id = r.id),"
        " (SELECT count(*) FROM measurements m WHERE m.run_id = r.id)"
        " FROM runs r"
    )
    engine = sqlalchemy.create_engine(store_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(query).tuples().all()
    finally:
        engine.dispose()
    return [row for row in rows if not row[2] == row[3] == row[4]]


def tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else "(no output)"


@dataclass
class PrefectServer:
    """A running ``prefect server start``: its API URL, home and log."""

    api_url: str
    home: Path
    log: Path
    proc: subprocess.Popen[bytes]

    def env(self, **extra: str) -> dict[str, str]:
        return prefect_env(self.home, self.api_url, **extra)

    def problems(self) -> str:
        """The server's log, for failure messages (e.g. a scheduler that cannot insert runs)."""
        return f"prefect server log:\n{tail(self.log)}"

    def check_scheduler(self) -> None:
        """Fail at once on the known scheduler crash instead of waiting for runs that never come."""
        if SCHEDULER_CRASH in tail(self.log, 200_000):
            pytest.fail(
                "the Prefect server's scheduler cannot insert scheduled flow runs: Prefect 3.8.8 with "
                f"SQLAlchemy {sqlalchemy.__version__} raises {SCHEDULER_CRASH!r} (SQLAlchemy 2.1 rejects the "
                "hybrid `state` key in its bulk insert); SQLAlchemy 2.0.x works\n" + self.problems()
            )


@contextlib.contextmanager
def prefect_server(workdir: Path, database_url: str | None = None, timeout_s: float = 90) -> Iterator[PrefectServer]:
    """Start ``prefect server start`` on a free loopback port (its database: SQLite in ``workdir`` or the URL)."""
    home = workdir / "prefect-home"
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    extra = {"PREFECT_API_DATABASE_CONNECTION_URL": database_url} if database_url else {}
    log = workdir / "prefect-server.log"
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    proc = start(cmd, prefect_env(home, **extra), log)
    server = PrefectServer(f"http://127.0.0.1:{port}/api", home, log, proc)

    def healthy() -> bool:
        assert proc.poll() is None, f"prefect server exited with {proc.returncode}\n{server.problems()}"
        return httpx.get(f"{server.api_url}/health", timeout=2).status_code == 200

    try:
        wait_for(healthy, timeout_s, 0.5, lambda: f"prefect server health\n{server.problems()}", (httpx.HTTPError,))
        yield server
    finally:
        stop_process_group(proc, signal.SIGTERM, grace_s=15)


def read_flow_runs(api_url: str, deployment: str) -> list[Any]:
    """Flow runs of one deployment, read from the given server's API (whatever the ambient settings)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterName
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: api_url}), get_client(sync_client=True) as client:
        return client.read_flow_runs(deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment])))


def scheduled_at(flow_run: Any) -> datetime:
    return datetime.fromisoformat(flow_run.expected_start_time.isoformat()).astimezone(UTC)


def completed_slots(api_url: str, deployment: str) -> set[datetime]:
    return {scheduled_at(fr) for fr in read_flow_runs(api_url, deployment) if fr.state and fr.state.is_completed()}


def wait_for_runs(
    store_url: str,
    deployment: str,
    count: int,
    timeout_s: float,
    server: PrefectServer,
    why: Any,
    *procs: subprocess.Popen[bytes],
) -> None:
    """Poll until the store holds ``count`` runs and Prefect calls as many flow runs completed (a run writes
    its slot before Prefect marks it completed); ``why()`` explains a failure."""

    def done() -> bool:
        server.check_scheduler()
        for proc in procs:
            assert proc.poll() is None, f"{proc.args} exited with {proc.returncode}\n{why()}"
        with Store.open(store_url) as store:
            stored = len(store.runs())
        return stored >= count and len(completed_slots(server.api_url, deployment)) >= count

    wait_for(done, timeout_s, 1, lambda: f"{count} completed runs in the store\n{why()}")


@pytest.fixture(scope="module")
def sqlite_prefect_server(tmp_path_factory) -> Iterator[PrefectServer]:
    with prefect_server(tmp_path_factory.mktemp("prefect-sqlite")) as server:
        yield server


@dataclass
class Served:
    """``okrflow serve`` of one config file, started by a test on a Prefect server; stdout and stderr apart."""

    proc: subprocess.Popen[bytes]
    server: PrefectServer
    deployment: str
    log: Path
    errors: Path

    @classmethod
    def start(cls, config: Path, server: PrefectServer) -> Served:
        """Serve ``config`` (its deployment is its file stem) from its folder."""
        log, errors = config.with_suffix(".log"), config.with_suffix(".err")
        cmd = [sys.executable, "-m", "okrflow.cli", "-c", str(config), "serve"]
        env = server.env(PREFECT_RUNNER_POLL_FREQUENCY="2")  # default 10 s: pick up each 4 s slot promptly
        return cls(start(cmd, env, log, config.parent, errors), server, config.stem, log, errors)

    def why(self) -> str:
        return f"okrflow serve said:\n{tail(self.log)}\n{tail(self.errors)}\n{self.server.problems()}"

    def stderr(self) -> str:
        return self.errors.read_text(errors="replace")

    def running(self) -> list[Any]:
        """The deployment's running flow runs (while ``serve`` is up)."""
        self.server.check_scheduler()
        assert self.proc.poll() is None, f"okrflow serve exited with {self.proc.returncode}\n{self.why()}"
        runs = read_flow_runs(self.server.api_url, self.deployment)
        return [fr for fr in runs if fr.state and fr.state.is_running()]

    def stopped_cleanly(self, after: str) -> None:
        """Exit 0, no traceback, no process of its group left (flow-run processes included)."""
        assert self.proc.returncode == 0, f"okrflow serve did not stop cleanly on {after}:\n{self.why()}"
        assert "Traceback" not in self.stderr(), self.why()
        wait_for(lambda: group_is_gone(self.proc.pid), 10, 0.2, f"no process left in serve's group {self.proc.pid}")


@pytest.mark.slow
@pytest.mark.prefect
@pytest.mark.timeout(180)
def test_served_deployment_writes_one_run_per_scheduled_slot(tmp_path, sqlite_warehouse, sqlite_prefect_server):
    server = sqlite_prefect_server
    store_url = f"sqlite:///{tmp_path / 'history.db'}"
    config = tmp_path / f"{DEPLOYMENT}.yaml"
    config.write_text(
        CONFIG.format(interval=INTERVAL_S, store=store_url, warehouse=sqlite_warehouse, cycle=cycle_around_now())
    )
    started = datetime.now(UTC)
    served = Served.start(config, server)
    try:
        wait_for_runs(store_url, DEPLOYMENT, 2, 90, server, served.why, served.proc)
        completed_before_stop = completed_slots(server.api_url, DEPLOYMENT)
        stopped_in = ctrl_c(served.proc)  # while later slots fall due and a run may be in flight
    finally:
        stop_process_group(served.proc)
    print(f"okrflow serve stopped {stopped_in:.1f} s after Ctrl-C")
    served.stopped_cleanly("Ctrl-C")
    assert half_written_runs(store_url) == []

    with Store.open(store_url) as store:
        runs: list[RunSummary] = store.runs()
    flow_runs = read_flow_runs(server.api_url, DEPLOYMENT)
    # Sets, not a dict by start time: Prefect may hold two flow runs for one slot (one completed, one the stop
    # cancelled), and a dict would keep whichever came last.
    scheduled = {scheduled_at(fr) for fr in flow_runs}
    # What Prefect called completed before the stop: a run whose process is still exiting when Ctrl-C comes is
    # marked Cancelled afterwards by Prefect's Runner (it forces that state on every process it still tracks),
    # though its rows were written; so the count after the stop can be lower (seen 1 in 3 tries here).
    completed = completed_before_stop
    slots = [r.slot for r in runs]

    states = sorted((scheduled_at(fr), fr.state.type.value if fr.state else None) for fr in flow_runs)
    assert len(runs) >= 2 and len(completed) >= 2, (slots, states)
    assert len(set(slots)) == len(slots), f"a slot was written twice: {slots}"
    assert {r.deployment for r in runs} == {DEPLOYMENT}
    assert all(r.status == "completed" and r.kr_count == 1 for r in runs), runs
    # Every completed flow run wrote its scheduled start time as the slot, and nothing else was written
    # (a run interrupted by the stop may have written its slot before Prefect marked it completed).
    assert completed <= set(slots) <= set(scheduled), (sorted(completed), sorted(slots), sorted(scheduled))
    assert all(slot >= started - timedelta(seconds=2 * INTERVAL_S) for slot in slots)
    # @every slots sit on whole multiples of the interval (anchored), not wherever serve happened to start.
    assert all(slot.microsecond == 0 and int(slot.timestamp()) % INTERVAL_S == 0 for slot in slots)
    for fr in flow_runs:
        assert fr.parameters == {"config_path": str(config.resolve()), "deployment": DEPLOYMENT}
    # Nothing is left running: every flow run the stop interrupted was cancelled, none stays Running.
    assert not [fr for fr in flow_runs if fr.state is not None and fr.state.is_running()], served.why()


HANGING_CONFIG = """
version: 1
cycle: {cycle}
schedule: "@every {interval}s"
store: "{store}"
sources:
  prom: {{type: prometheus, url: "{url}", timeout_s: 600, retries: 0}}
objectives:
  - id: team
    title: Team objective
    key_results:
      - id: uptime
        kind: increase
        baseline: 0.9
        target: 0.99
        metric: {{source: prom, query: "avg(up)"}}
"""


@pytest.mark.slow
@pytest.mark.prefect
@pytest.mark.timeout(240)
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_ctrl_c_cancels_an_in_flight_run_and_stops_serve_cleanly(
    tmp_path, hanging_http_server, sqlite_prefect_server, how
):
    """A run stuck on a source that never answers (for up to 600 s) must not hold Ctrl-C (or ``docker stop``'s
    SIGTERM) up: it is cancelled, Prefect records it as cancelled, no row of it is stored, and ``serve`` exits
    0 without a traceback, leaving no process behind."""
    server = sqlite_prefect_server
    store_url = f"sqlite:///{tmp_path / 'history.db'}"
    config = tmp_path / f"serve-hanging-{how}.yaml"
    config.write_text(
        HANGING_CONFIG.format(interval=INTERVAL_S, store=store_url, url=hanging_http_server, cycle=cycle_around_now())
    )
    served = Served.start(config, server)
    try:
        in_flight = wait_for(served.running, 120, 0.5, lambda: f"a running flow run\n{served.why()}")
        stopped_in = ctrl_c(served.proc, how=how)
    finally:
        stop_process_group(served.proc)
    print(f"okrflow serve stopped {stopped_in:.1f} s after {how} with {len(in_flight)}+ runs in flight")
    served.stopped_cleanly(how)

    states = {fr.id: fr.state for fr in read_flow_runs(server.api_url, served.deployment)}
    for flow_run in in_flight:
        state = states[flow_run.id]
        assert state is not None and (state.is_cancelled() or state.is_completed()), (state, served.why())
    assert not [s for s in states.values() if s is not None and s.is_running()], (states, served.why())
    with Store.open(store_url) as store:
        assert store.runs() == [], "a run whose source never answered was stored"
    assert half_written_runs(store_url) == []


@pytest.mark.slow
@pytest.mark.prefect
@pytest.mark.timeout(240)
def test_a_second_ctrl_c_quits_at_once(tmp_path, hanging_http_server, sqlite_prefect_server):
    """Ctrl-C twice: no waiting for the cancellations to be recorded; the run processes are killed, exit 130."""
    from okrflow.flows.serving import EXIT_AT_ONCE

    server = sqlite_prefect_server
    store_url = f"sqlite:///{tmp_path / 'history.db'}"
    config = tmp_path / "serve-twice.yaml"
    config.write_text(
        HANGING_CONFIG.format(interval=INTERVAL_S, store=store_url, url=hanging_http_server, cycle=cycle_around_now())
    )
    served = Served.start(config, server)
    try:
        wait_for(served.running, 120, 0.5, lambda: f"a running flow run\n{served.why()}")
        os.killpg(served.proc.pid, signal.SIGINT)
        wait_for(lambda: "stopping" in served.stderr(), 10, 0.05, served.why)
        stopped_in = ctrl_c(served.proc, 10)
    finally:
        stop_process_group(served.proc)
    print(f"okrflow serve quit {stopped_in:.1f} s after the second Ctrl-C")
    assert served.proc.returncode == EXIT_AT_ONCE, served.why()
    assert "Traceback" not in served.stderr(), served.why()
    wait_for(lambda: group_is_gone(served.proc.pid), 10, 0.2, f"no process left in serve's group {served.proc.pid}")
    assert half_written_runs(store_url) == []


def config_with(schedule: str, timezone: str = "UTC") -> Config:
    return Config.model_validate(
        {
            "cycle": {"name": "q", "start": "2026-10-01", "end": "2026-12-31"},
            "timezone": timezone,
            "schedule": schedule,
            "objectives": [{"id": "o", "title": "t"}],
        }
    )


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("*/15 * * * *", {"cron": "*/15 * * * *", "timezone": "Europe/Paris"}),
        ("0 9 * * mon-fri", {"cron": "0 9 * * mon-fri", "timezone": "Europe/Paris"}),
        ("@every 10s", {"interval": timedelta(seconds=10), "timezone": "Europe/Paris"}),
        ("@every 2h", {"interval": timedelta(hours=2), "timezone": "Europe/Paris"}),
    ],
)
def test_schedule_kwargs_follow_the_config(schedule, expected):
    from okrflow.flows.deploy import schedule_kwargs

    prefect_schedule = schedule_kwargs(config_with(schedule, "Europe/Paris"))["schedule"]
    for key, value in expected.items():
        assert getattr(prefect_schedule, key) == value
    if "interval" in expected:
        assert prefect_schedule.anchor_date.microsecond == 0


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("@every 4s", 10.0),  # never under Prefect's own 10 s
        ("@every 20s", 20.0),  # never more than one slot ahead
        ("@every 2h", 30.0),
        ("*/15 * * * *", 30.0),
        ("0 9 * * mon-fri", 30.0),
    ],
)
def test_serve_starts_a_run_process_ahead_of_its_slot(schedule, expected):
    from okrflow.flows.deploy import prefetch_seconds

    assert prefetch_seconds(config_with(schedule), datetime(2026, 12, 7, 12, tzinfo=UTC)) == expected


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("* * * *", "expected a 5-field cron"),
        ("61 * * * *", "'61 * * * *': minute '61' is not in 0-59"),
        ("0 0 * 13 *", "month '13' is not in 1-12 or jan..dec"),
        ("*/0 * * * *", "expected *, N, N-M or */STEP"),
        ("@every 1.5s", "whole number of seconds"),
        ("@every soon", "expected @every DURATION"),
    ],
)
def test_bad_schedules_are_config_errors(schedule, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="schedule") as info:
        config_with(schedule)
    assert message in str(info.value)
