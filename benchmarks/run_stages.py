"""Where a fresh ``okrflow run`` spends its CPU and memory: the run's path step by step, in one process.

Each stage is timed with ``resource.getrusage`` (CPU user + system, and the peak RSS after it), bottom up: the
config models, SQLAlchemy's Core and the store (Core tables: a run imports no ORM, issue 18), the pipeline and
alert judging, the Prometheus client, the CLI, loading the config, opening the store, and the evaluation itself
(history reads, the queries, scoring, writing the run, judging alerts). ``slo_compare --stages N`` runs it in N
fresh processes next to its pairs.

    .venv/bin/python -m benchmarks.run_stages CONFIG        # prints one JSON list of [stage, cpu_s, rss_mib]
"""

from __future__ import annotations

import importlib
import json
import resource
import sys

STAGES = [
    ("pydantic", "pydantic"),
    ("okr_model config and loader", "okrflow.okr_model.loader"),
    ("sqlalchemy (Core, engine)", "sqlalchemy"),
    ("okrflow.store (Core tables)", "okrflow.store.store"),
    ("pipeline", "okrflow.flows.pipeline"),
    ("alert judging", "okrflow.alerts.notify"),
    ("requests, prometheus-api-client", "prometheus_api_client.prometheus_connect"),
    ("okrflow.cli (typer, rich, the rest)", "okrflow.cli"),
]
"""Bottom up, so each stage is charged for its own library whichever module of okrflow imports it first."""


def main() -> None:
    marks: list[tuple[str, float, float]] = []

    def mark(stage: str) -> None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        marks.append((stage, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024))

    mark("interpreter start")
    for stage, module in STAGES:
        importlib.import_module(module)
        mark(stage)
    from okrflow.connectors.registry import default_registry
    from okrflow.flows.pipeline import evaluate
    from okrflow.okr_model.loader import load_config
    from okrflow.okr_model.paths import store_url

    from okrflow.store import Store

    config = load_config(sys.argv[1], default_registry())
    mark("load and validate the config")
    store = Store.open(store_url(config))
    mark("open the store")
    try:
        evaluate(config, store)
        mark("evaluate (history, queries, score, write, alerts)")
    finally:
        store.close()
    print(json.dumps(marks))


if __name__ == "__main__":
    main()
