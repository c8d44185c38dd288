"""``okrflow serve``'s process: Prefect's ``Runner`` with a Ctrl-C that stops it promptly and cleanly.

With Prefect's own ``serve()``, the terminal's SIGINT reaches every flow-run process too (they share the
terminal's process group): runs still importing die with a KeyboardInterrupt traceback each, the others are
recorded as Crashed, and with several runs queued on a loaded machine the stop took longer than 20 s. Here this
process alone decides what happens to its runs:

- The flow-run processes never see SIGINT: it is blocked in every thread that starts one, and a blocked signal
  stays blocked in the child (across fork and exec). One receiver thread takes it for this process.
- First Ctrl-C (or SIGTERM, as ``docker stop`` sends): every run in flight is cancelled at once, not one after
  the other as the Runner's own ``astop`` does (each of those waits for its process, 3 s at least, and a run
  stuck on a source up to its 30 s grace): Prefect records the runs Cancelled (the states of runs that finished
  meanwhile are kept), then their processes are killed. A run writes its rows in one transaction, so a
  cancelled run leaves none in the store. The Runner's ``astop`` then stops taking new runs (and cancels any
  that started meanwhile). Exit status 0.
- A second Ctrl-C, or a stop that takes longer than ``grace_s``: the flow-run processes are killed and the
  process exits at once with status 130.

Runs in flight are the pending and running flow runs of the served deployments: a second ``serve`` of the same
deployment would see its runs cancelled too (serve a deployment from one process).

``keep`` names child processes that are not flow runs (the local Prefect server of ``flows/local_prefect.py``):
the first stop spares them (the API must answer while the runs are recorded Cancelled; their owner stops them
afterwards); a quit at once kills their process groups on its way out (SIGKILL: a SIGTERMed Prefect server was
seen still shutting down 20 s later, with nobody left to wait for it; its SQLite database survives a kill), so
none outlives ``serve``.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uuid import UUID

    from prefect.flows import Flow
    from prefect.runner import Runner

__all__ = ["EXIT_AT_ONCE", "STOP_GRACE_S", "serve_until_stopped", "sigint_kept_from_children"]

STOP_GRACE_S = 20.0
"""How long the first Ctrl-C may take to stop; after that the process quits at once, as on a second Ctrl-C."""
EXIT_AT_ONCE = 130
"""The exit status of a stop that had to kill runs (128 + SIGINT, as a shell reports an interrupted command)."""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
SWEEP_EVERY_S = 0.5
"""While stopping, how often to look for a flow-run process the Runner started after the first pass."""
STOP_MESSAGE = "okrflow serve was stopped (Ctrl-C or SIGTERM) while this run was in flight"


def serve_until_stopped(
    flow: Flow[..., Any],
    name: str,
    *,
    grace_s: float = STOP_GRACE_S,
    keep: Collection[int] = (),
    prefetch_s: float = 10,
    **deployment: Any,
) -> int:
    """Serve ``flow`` as the deployment ``name`` in this process until Ctrl-C or SIGTERM; the exit status (0
    after a clean stop). ``deployment``: ``Runner.add_flow``'s keywords (schedule, parameters, description).

    The Runner is given the flow object itself, so it starts a run by unpickling it in a fresh process; given a
    ``RunnerDeployment`` it ran ``python -m prefect.engine``, which reads the deployment and loads the flow from
    its storage and file again: a run's start-up 2.74 -> 2.33 s, its overhead (wall - work) 4.03 -> 3.53 s
    (medians, ``benchmarks/served_run.py``; benchmarks/README.md, section 6).
    ``keep``: pids of children that are not flow runs (each leads its own process group), see the docstring.
    ``prefetch_s``: how long before its slot the Runner may start a scheduled run's process (Prefect's 10 s).
    """
    from multiprocessing import resource_tracker

    from prefect.runner import Runner

    # The runs' processes are multiprocessing "spawn" children, whose resource tracker, started on the first
    # spawn, unblocks SIGINT in the thread that started it (CPython's ensure_running): later runs would see the
    # terminal's Ctrl-C. Started here, before the block, it is running already when the first run starts.
    resource_tracker.ensure_running()
    with sigint_kept_from_children():  # before the Runner starts any thread or flow-run process
        runner = Runner(pause_on_shutdown=True, prefetch_seconds=prefetch_s)
        deployment_id = runner.add_flow(flow, name=name, **deployment)
        _say(f"serving {flow.name}/{name}: runs start on its schedule. Ctrl-C stops (cancelling runs in flight).")
        return asyncio.run(_Serving(runner, [deployment_id], grace_s, frozenset(keep)).run())


@contextlib.contextmanager
def sigint_kept_from_children() -> Iterator[None]:
    """Block SIGINT in this thread, so in every thread and process started from it until the block ends.

    A SIGINT that arrives meanwhile stays pending for a thread that unblocks it (``_receive_sigint``); one still
    pending at the end is consumed, so that it cannot surface as a KeyboardInterrupt afterwards.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        if signal.SIGINT in signal.sigpending():
            signal.sigwait({signal.SIGINT})
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _receive_sigint(done: threading.Event) -> None:
    """The one thread that takes SIGINT; Python's handler then wakes the event loop (``add_signal_handler``)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    done.wait()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class _Serving:
    """One run of the Runner and what each stop signal does to it."""

    def __init__(self, runner: Runner, deployment_ids: list[UUID], grace_s: float, keep: frozenset[int]):
        self.runner = runner
        self.keep = keep
        self.deployment_ids = deployment_ids
        self.grace_s = grace_s
        self.signals = 0
        self.started: asyncio.Task[None] | None = None
        self.stopping: asyncio.Task[None] | None = None
        self.deadline: asyncio.TimerHandle | None = None

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.started = asyncio.create_task(self.runner.start())
        await asyncio.sleep(0)  # Runner.start installs Prefect's own SIGTERM handler first; ours replace it
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, self.on_signal, sig)
        received = threading.Event()
        threading.Thread(target=_receive_sigint, args=(received,), name="okrflow-sigint", daemon=True).start()
        try:
            await self.started
        except asyncio.CancelledError:
            if not self.signals:  # cancelled by something else than our stop
                raise
        finally:
            received.set()
            for sig in STOP_SIGNALS:
                loop.remove_signal_handler(sig)
            if self.deadline is not None:
                self.deadline.cancel()
        if self.stopping is not None:
            await self.stopping  # surfaces an error of astop
        _say("stopped")
        return 0

    def on_signal(self, sig: signal.Signals) -> None:
        self.signals += 1
        if self.signals > 1:
            self.quit_at_once(f"second {sig.name}")
            return
        _say(
            f"{sig.name}: stopping: no new runs, cancelling the runs in flight "
            f"(up to {self.grace_s:g} s; Ctrl-C again to quit at once)"
        )
        loop = asyncio.get_running_loop()
        self.deadline = loop.call_later(
            self.grace_s, self.quit_at_once, f"the runs in flight did not stop within {self.grace_s:g} s"
        )
        if self.runner.started:
            self.stopping = asyncio.ensure_future(self.stop())
        elif self.started is not None:
            self.started.cancel()  # still starting: no run can be in flight yet

    async def stop(self) -> None:
        """Cancel every run in flight at once, then let the Runner stop taking new ones."""
        try:
            cancelled = ", ".join(await self.record_in_flight_cancelled()) or "none"
        except Exception as exc:  # the API is down: the processes are stopped all the same
            cancelled = f"not recorded in Prefect: {type(exc).__name__}: {exc}"
        killed = kill_flow_run_processes(self.keep)
        _say(f"runs in flight cancelled ({cancelled}); killed {killed} processes")
        sweeping = asyncio.ensure_future(
            self.sweep()
        )  # a run the Runner launched just before it stopped taking new ones
        try:
            await self.runner.astop()
        finally:
            sweeping.cancel()

    async def sweep(self) -> None:
        """Until the Runner has stopped: cancel and kill any flow run whose process appears after the first pass."""
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            if _descendants(os.getpid(), self.keep):
                with contextlib.suppress(Exception):  # the API down: the processes are stopped all the same
                    await self.record_in_flight_cancelled()
                kill_flow_run_processes(self.keep)

    async def record_in_flight_cancelled(self) -> list[str]:
        """Set the pending and running flow runs of the served deployments to Cancelled; the names of those
        Prefect accepted it for (a run that completed in the meantime keeps its state)."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import (
            DeploymentFilter,
            DeploymentFilterId,
            FlowRunFilter,
            FlowRunFilterState,
            FlowRunFilterStateType,
        )
        from prefect.client.schemas.objects import StateType
        from prefect.client.schemas.responses import SetStateStatus
        from prefect.states import Cancelled

        in_flight = FlowRunFilterStateType(any_=[StateType.PENDING, StateType.RUNNING])
        async with get_client() as client:
            runs = await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=self.deployment_ids)),
                flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=in_flight)),
            )
            results = await asyncio.gather(
                *(client.set_flow_run_state(run.id, Cancelled(message=STOP_MESSAGE)) for run in runs),
                return_exceptions=True,
            )
        return [
            run.name
            for run, result in zip(runs, results, strict=True)
            if not isinstance(result, BaseException) and result.status == SetStateStatus.ACCEPT
        ]

    def quit_at_once(self, reason: str) -> None:
        """Kill the flow-run processes and exit now (their Prefect states stay as they were)."""
        killed = kill_flow_run_processes(self.keep)
        for pid in self.keep:  # os._exit skips their owner's stop
            with contextlib.suppress(OSError):
                os.killpg(pid, signal.SIGKILL)
        _say(f"stopped at once ({reason}); killed {killed} flow-run processes")
        sys.stdout.flush()
        os._exit(EXIT_AT_ONCE)


def kill_flow_run_processes(keep: Collection[int] = ()) -> int:
    """SIGKILL every descendant of this process (the Runner's flow-run processes and theirs) but ``keep`` and
    theirs; how many.

    SIGKILL, not SIGTERM: a run's process may be blocked in a source that does not answer, and its state in
    Prefect is recorded by the caller. Its store write is one transaction, which a kill rolls back whole.
    """
    descendants = _descendants(os.getpid(), frozenset(keep))
    for pid in descendants:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)  # reaped by the Runner's task that waits for it
    return len(descendants)


def _descendants(root: int, keep: frozenset[int] = frozenset()) -> list[int]:
    """Pids of ``root``'s children, their children and so on (but ``keep`` and theirs), read from /proc (Linux,
    as in the image); where there is no /proc, the children this process started with ``multiprocessing``."""
    proc = Path("/proc")
    if not proc.is_dir():
        return [p.pid for p in multiprocessing.active_children() if p.pid is not None]
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # exited meanwhile
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])  # after "pid (comm) state": the parent's pid
        children.setdefault(parent, []).append(int(entry.name))
    found: list[int] = []
    todo = [pid for pid in children.get(root, []) if pid not in keep]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found
