"""Exactly once under concurrency: what two Prefect workers (or two cron jobs) do to one slot.

Each round, two processes evaluate the same fresh slot at the same moment while two more deliver the outbox
(``okrflow alerts --deliver``), all against one history store (SQLite file, then real PostgreSQL) and one real
loopback webhook receiver. Rounds alternate a source going down (``source_error`` fires at once) and coming
back (it resolves), so every round owes the owner exactly one message. The receiver counts total POSTs and
distinct message ids separately: a duplicate delivery and a duplicate message are different defects.

A sender killed after claiming a message (and after POSTing it) leaves the message to its lease: once the lease
expires another deliverer sends it again, with the same id: the only duplicate allowed (at-least-once).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from okrflow.alerts.repository import AlertRepository
from okrflow.store import Store
from tests.fixtures.warehouse import metrics_warehouse
from tests.fixtures.warehouse import set_source as set_table

T0 = datetime(2026, 11, 16, 9, 0, tzinfo=UTC)
ROUNDS = 10
RUNNERS = 2
DELIVERERS = 2


def write_config(tmp_path: Path, store_url: str, receiver_url: str) -> tuple[Path, Path]:
    """A config whose KR ``f1`` reads a SQLite warehouse table that a round renames away (its source is down);
    ``uptime`` reads a source that stays up, so a run with the table away is partial, not failed."""
    warehouse = tmp_path / "warehouse.db"
    metrics_warehouse(warehouse, f1=0.90).dispose()
    path = tmp_path / "okrs.yaml"
    path.write_text(
        textwrap.dedent(
            f"""
            version: 1
            cycle: {{name: Q4, start: 2026-10-01, end: 2026-12-31}}
            store: "{store_url}"
            defaults:
              alerts: {{repeat_interval: 24h, retry_backoff: 0s}}
            sources:
              warehouse: {{type: sql, url: "sqlite:///{warehouse}", retries: 0}}
              steady: {{type: sql, url: "sqlite:///{warehouse}", retries: 0}}
            channels:
              hook: {{type: webhook, url: "{receiver_url}/race"}}
            owners:
              alice: {{channels: [hook]}}
            objectives:
              - id: platform
                title: Reliable AI platform
                owner: alice
                key_results:
                  - id: f1
                    title: Classifier F1 to 0.9
                    kind: increase
                    baseline: 0.79
                    target: 0.9
                    metric: {{source: warehouse, sql: "SELECT v FROM m WHERE k = 'f1'"}}
                  - id: uptime
                    title: Uptime stays above 99%
                    kind: maintain_above
                    target: 99
                    metric: {{source: steady, sql: "SELECT 99.9"}}
            """
        )
    )
    return path, warehouse


def set_source(warehouse: Path, up: bool) -> None:
    """Down: the KR's table is renamed away, so every KR of the source errors (a ``source_error``)."""
    engine = sa.create_engine(f"sqlite:///{warehouse}")
    set_table(engine, up)
    engine.dispose()


def _quiet_logging(log_path: str) -> None:
    logging.basicConfig(filename=log_path, level=logging.WARNING, format="%(levelname)s %(name)s %(message)s")


def _runner(config_path: str, rounds: int, barrier, log_path: str) -> None:
    """One worker: each round, wait for the others, then evaluate the round's slot (write, judge, deliver)."""
    _quiet_logging(log_path)
    from okrflow.connectors.registry import default_registry
    from okrflow.flows.pipeline import evaluate
    from okrflow.okr_model.loader import load_config

    config = load_config(config_path, default_registry())
    for i in range(rounds):
        barrier.wait()
        with Store.open(config.store) as store:
            evaluate(config, store, T0 + timedelta(hours=i))
        barrier.wait()


def _deliverer(config_path: str, rounds: int, barrier, log_path: str) -> None:
    """``okrflow alerts --deliver`` in a loop while the runners run (what a cron'd deliverer does)."""
    _quiet_logging(log_path)
    from okrflow.connectors.registry import default_registry
    from okrflow.okr_model.loader import load_config

    from okrflow.alerts.outbox import deliver_due

    config = load_config(config_path, default_registry())
    for _ in range(rounds):
        barrier.wait()
        with Store.open(config.store) as store:
            until = time.monotonic() + 1.5
            while time.monotonic() < until:
                deliver_due(config, store)
        barrier.wait()


def message_ids(receiver, path: str = "/race") -> list[str]:
    return [request.json()["id"] for request in receiver.requests if request.path == path]


def drain(config_path: Path) -> None:
    from okrflow.connectors.registry import default_registry
    from okrflow.okr_model.loader import load_config

    from okrflow.alerts.outbox import deliver_due

    config = load_config(config_path, default_registry())
    with Store.open(config.store) as store:
        deliver_due(config, store)


def test_two_processes_ten_rounds_one_message_per_condition_one_post_per_message(store_url, tmp_path, http_receiver):
    config_path, warehouse = write_config(tmp_path, store_url, http_receiver.url)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(RUNNERS + DELIVERERS + 1)
    logs = [tmp_path / f"worker-{n}.log" for n in range(RUNNERS + DELIVERERS)]
    workers = [
        context.Process(target=_runner, args=(str(config_path), ROUNDS, barrier, str(logs[n]))) for n in range(RUNNERS)
    ] + [
        context.Process(target=_deliverer, args=(str(config_path), ROUNDS, barrier, str(logs[RUNNERS + n])))
        for n in range(DELIVERERS)
    ]
    for worker in workers:
        worker.start()
    try:
        for i in range(ROUNDS):
            set_source(warehouse, up=i % 2 == 1)  # even rounds: the source is down; odd rounds: it is back
            barrier.wait(timeout=120)  # the round starts
            barrier.wait(timeout=120)  # every worker finished it
    finally:
        for worker in workers:
            worker.join(timeout=60)
            if worker.is_alive():
                worker.kill()
    assert [w.exitcode for w in workers] == [0] * len(workers)
    problems = "\n".join(text for log in logs if log.exists() and (text := log.read_text()).strip())
    assert "Traceback" not in problems and "locked" not in problems and "failed" not in problems, problems
    drain(config_path)  # whatever a round left queued (nothing, normally)

    ids = message_ids(http_receiver)
    posts_per_id = Counter(ids)
    with Store.open(store_url) as store:
        outbox = AlertRepository(store.engine).outbox()
    # One message per condition change: ten rounds, each firing or resolving the source error once.
    assert len({item.message_id for item in outbox}) == ROUNDS, [(i.slot, i.message_id) for i in outbox]
    assert all(item.status == "sent" for item in outbox)
    # Exactly one POST per message id.
    assert len(ids) == len(posts_per_id) == ROUNDS, posts_per_id
    states = [
        (alert["kind"], alert["state"]) for request in http_receiver.requests for alert in request.json()["alerts"]
    ]
    assert states == [("source_error", "firing" if i % 2 == 0 else "resolved") for i in range(ROUNDS)], states


def okrflow(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(Path(sys.executable).with_name("okrflow")), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_okrflow_run_commands_of_one_slot_send_one_message(store_url, tmp_path, http_receiver):
    """The real CLI: two ``okrflow run --at`` of one slot and an ``okrflow alerts --deliver``, three rounds."""
    config_path, warehouse = write_config(tmp_path, store_url, http_receiver.url)
    for i in range(3):
        set_source(warehouse, up=i % 2 == 1)
        at = (T0 + timedelta(hours=i)).isoformat()
        processes = [okrflow("-c", str(config_path), "run", "--at", at) for _ in range(2)]
        processes.append(okrflow("-c", str(config_path), "alerts", "--deliver"))
        for process in processes:
            _, err = process.communicate(timeout=180)
            assert process.returncode == 0, err
            assert "Traceback" not in err and "locked" not in err, err
    drain(config_path)
    ids = message_ids(http_receiver)
    assert len(ids) == len(set(ids)) == 3, Counter(ids)


def _claim_and_hang(config_path: str, lease_s: float) -> None:
    """A deliverer that claims a message, POSTs it, and hangs before recording it as sent (then is killed)."""
    from okrflow.connectors.registry import default_registry
    from okrflow.okr_model.loader import load_config

    from okrflow.alerts.channels import send
    from okrflow.alerts.outbox import deliver_due

    config = load_config(config_path, default_registry())

    def send_then_hang(*args, **kwargs) -> None:
        send(*args, **kwargs)
        time.sleep(3600)

    with Store.open(config.store) as store:
        deliver_due(config, store, sender=send_then_hang, lease=timedelta(seconds=lease_s))


def test_a_sender_killed_after_claiming_is_retried_after_its_lease_with_the_same_id(store_url, tmp_path, http_receiver):
    from okrflow.connectors.registry import default_registry
    from okrflow.flows.pipeline import evaluate
    from okrflow.okr_model.loader import load_config

    from okrflow.alerts.outbox import deliver_due

    config_path, warehouse = write_config(tmp_path, store_url, http_receiver.url)
    config = load_config(config_path, default_registry())
    set_source(warehouse, up=False)
    http_receiver.respond(503, times=1)  # the run's own delivery fails: the message stays queued, due at once
    with Store.open(store_url) as store:
        evaluate(config, store, T0)
        (queued,) = AlertRepository(store.engine).outbox()
        assert queued.status == "queued"
    http_receiver.reset()

    lease_s = 4.0
    context = multiprocessing.get_context("spawn")
    crashing = context.Process(target=_claim_and_hang, args=(str(config_path), lease_s))
    crashing.start()
    try:
        deadline = time.monotonic() + 60
        while not message_ids(http_receiver) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert message_ids(http_receiver) == [queued.message_id]
    finally:
        os.kill(crashing.pid, signal.SIGKILL)  # dies after POSTing, before recording the delivery
        crashing.join(timeout=30)
    killed_at = time.monotonic()

    with Store.open(store_url) as store:
        report = deliver_due(config, store)  # still leased to the dead sender: not sent again yet
        assert report.sent == 0 and message_ids(http_receiver) == [queued.message_id]
        time.sleep(max(0.0, lease_s + 0.5 - (time.monotonic() - killed_at)))
        report = deliver_due(config, store)
        assert report.sent == 1
        assert deliver_due(config, store).sent == 0
        (item,) = AlertRepository(store.engine).outbox()
    assert item.status == "sent" and item.message_id == queued.message_id
    # At-least-once after a crash: the same message twice, with the same id, and never a third time.
    assert message_ids(http_receiver) == [queued.message_id, queued.message_id]


def _open_store(url: str, barrier, results) -> None:
    barrier.wait()
    try:
        Store.open(url).close()
        results.put("ok")
    except Exception as exc:  # reported to the test, which names it
        results.put(f"{type(exc).__name__}: {exc}")


def test_processes_opening_a_new_sqlite_store_at_once_all_succeed(tmp_path):
    """Two workers' first runs on a fresh SQLite store both migrate it: the second waits, it does not fail."""
    context = multiprocessing.get_context("spawn")
    for attempt in range(3):
        url = f"sqlite:///{tmp_path / f'fresh-{attempt}.db'}"
        barrier, results = context.Barrier(3), context.Queue()
        openers = [context.Process(target=_open_store, args=(url, barrier, results)) for _ in range(3)]
        for opener in openers:
            opener.start()
        outcomes = [results.get(timeout=120) for _ in openers]
        for opener in openers:
            opener.join(timeout=30)
        assert outcomes == ["ok"] * 3, outcomes


def test_two_okrflow_alerts_deliver_commands_send_each_queued_message_once(store_url, tmp_path, http_receiver):
    """Messages queued while the channel was down, then two ``okrflow alerts --deliver`` at once."""
    from okrflow.connectors.registry import default_registry
    from okrflow.flows.pipeline import evaluate
    from okrflow.okr_model.loader import load_config

    config_path, warehouse = write_config(tmp_path, store_url, http_receiver.url)
    config = load_config(config_path, default_registry())
    http_receiver.respond(503, times=1000)
    with Store.open(store_url) as store:
        for i in range(6):  # the source goes down and comes back three times: six messages queued
            set_source(warehouse, up=i % 2 == 1)
            evaluate(config, store, T0 + timedelta(hours=i))
        queued = [item.message_id for item in AlertRepository(store.engine).outbox("queued")]
    assert len(queued) == 6
    http_receiver.reset()  # the channel is back
    deliverers = [okrflow("-c", str(config_path), "alerts", "--deliver") for _ in range(2)]
    for deliverer in deliverers:
        _, err = deliverer.communicate(timeout=180)
        assert deliverer.returncode == 0 and "Traceback" not in err, err
    ids = message_ids(http_receiver)
    assert sorted(ids) == sorted(queued), Counter(ids)  # each message once, none twice
