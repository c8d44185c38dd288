"""Fetching sources in worker processes that stay up between runs (``fetch: {processes: N}``).

Threads of one process share one GIL, so the client-side CPU of MLflow's store, Great Expectations and
hundreds of HTTP queries adds up even when the sources answer at once. With ``processes: N`` every source is
fetched in one of N single-worker processes (started with ``forkserver``, so safe beside the run's threads);
a source always goes to the same process, which keeps its imports and caches warm from run to run.

A job carries the pickled config (sent once per run, unpickled once per worker and config) and the ids of
the KRs to fetch; it returns the measurements and the quality-gate outcomes of suites run on that source.
A worker that dies (killed, out of memory) marks its sources' KRs ``error`` for this run only; the next run
starts a fresh process.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing
import pickle
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from okrflow.connectors.base import GateOutcome, Measurement
from okrflow.flows.fetching import check_gates, close_connectors, fetch_source, open_connectors

if TYPE_CHECKING:
    from okrflow.okr_model.config import Config

__all__ = ["FetchJob", "collect", "run_job", "shutdown_workers", "submit_jobs"]

log = logging.getLogger("okrflow.workers")

_executors: dict[int, ProcessPoolExecutor] = {}
_executors_lock = threading.Lock()
_configs: dict[str, Config] = {}
"""In a worker: the configs it has seen, by hash (the latest few)."""


@dataclass(frozen=True)
class FetchJob:
    """One source's share of a run, as sent to a worker process."""

    config_key: str
    config_blob: bytes
    source: str
    kr_ids: tuple[str, ...]
    at: datetime
    threads: int
    gated_kr_ids: tuple[str, ...] = ()
    """KRs whose quality gate runs a suite of this source (an error outcome for each if the worker fails)."""


Outcome = tuple[dict[str, Measurement], dict[str, GateOutcome]]


def run_job(job: FetchJob) -> Outcome:
    """In the worker: fetch the job's KRs from its source and run the quality gates bound to that source."""
    config = _config(job.config_key, job.config_blob)
    by_id = {kr.id: kr for _, kr in config.key_results()}
    connectors = open_connectors(config, [job.source])
    try:
        krs = [by_id[kr_id] for kr_id in job.kr_ids]
        measurements = fetch_source(connectors[job.source], krs, job.at, job.threads) if krs else {}
        return measurements, check_gates(config, connectors, job.at)
    finally:
        close_connectors(connectors)


def _config(key: str, blob: bytes) -> Config:
    config = _configs.get(key)
    if config is None:
        config = pickle.loads(blob)
        if len(_configs) >= 4:
            _configs.pop(next(iter(_configs)))
        _configs[key] = config
    return config


def _executor(slot: int) -> ProcessPoolExecutor:
    with _executors_lock:
        executor = _executors.get(slot)
        if executor is None:
            context = multiprocessing.get_context("forkserver")
            executor = _executors[slot] = ProcessPoolExecutor(max_workers=1, mp_context=context)
        return executor


def _discard(slot: int, executor: ProcessPoolExecutor) -> None:
    with _executors_lock:
        if _executors.get(slot) is executor:
            del _executors[slot]
    executor.shutdown(wait=False, cancel_futures=True)


Submitted = tuple[FetchJob, int, ProcessPoolExecutor, "Future[Outcome] | None", "BaseException | None"]


def submit_jobs(jobs: Sequence[FetchJob], processes: int) -> list[Submitted]:
    """Hand the jobs to the worker processes (source i of the sorted names goes to process i mod N)."""
    order = sorted({job.source for job in jobs})
    submitted: list[Submitted] = []
    for job in jobs:
        slot = order.index(job.source) % processes
        executor = _executor(slot)
        try:
            submitted.append((job, slot, executor, executor.submit(run_job, job), None))
        except Exception as exc:  # a broken pool refuses new work
            submitted.append((job, slot, executor, None, exc))
    return submitted


def collect(submitted: Sequence[Submitted]) -> list[Outcome]:
    """Wait for submitted jobs; a job whose worker failed errors its KRs and gates (for this run only)."""
    outcomes: list[Outcome] = []
    for job, slot, executor, future, error in submitted:
        try:
            if future is None:
                raise error or RuntimeError("not submitted")
            outcomes.append(future.result())
        except Exception as exc:
            log.error("worker process for source %s failed: %s", job.source, exc)
            _discard(slot, executor)
            detail = f"worker process for source {job.source!r} failed: {type(exc).__name__}: {exc}"
            gates = {kr_id: GateOutcome("error", detail) for kr_id in job.gated_kr_ids}
            outcomes.append(({kr_id: Measurement.error(detail) for kr_id in job.kr_ids}, gates))
    return outcomes


def shutdown_workers() -> None:
    """Stop every worker process (at exit, and for tests)."""
    with _executors_lock:
        executors = list(_executors.values())
        _executors.clear()
    for executor in executors:
        executor.shutdown(wait=True, cancel_futures=True)


atexit.register(shutdown_workers)
