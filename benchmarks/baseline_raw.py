"""The baseline of benchmark 2: the same queries as okrflow's connectors, issued one after another with the raw
clients (SQLAlchemy, prometheus-api-client, MlflowClient, Great Expectations), as a hand-written script would.

It reads the generated config as plain YAML (not through okrflow), evaluates every KR as of "now" once per
repeat after one warm-up (imports, connections), and prints JSON: the wall time of each repeat and the time
per source kind. The MLflow calls mirror the connector's (alias -> version -> metric history; experiment ->
search_runs -> registered versions -> metric history) and each repeat builds one Great Expectations context,
as the connector does per run, so both sides do the same work.

    .venv/bin/python -m benchmarks.baseline_raw CONFIG [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import yaml

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def _binds(metric: dict[str, Any], cycle: dict[str, Any], now: datetime, sqlite: bool) -> dict[str, Any]:
    def as_bind(moment: datetime) -> Any:
        naive = moment.astimezone(UTC).replace(tzinfo=None)
        return naive.isoformat(sep=" ") if sqlite else naive

    start = datetime.fromisoformat(str(cycle["start"])).replace(tzinfo=UTC)
    return {"cycle_start": as_bind(start), "now": as_bind(now), **metric.get("params", {})}


class Raw:
    """One client per source, created once (the warm-up), reused by every repeat."""

    def __init__(self, config: dict[str, Any]):
        from mlflow import MlflowClient
        from prometheus_api_client import PrometheusConnect
        from sqlalchemy import create_engine
        from urllib3.util.retry import Retry

        self.config = config
        self.sources = config["sources"]
        self.engines = {
            name: create_engine(source["url"]) for name, source in self.sources.items() if source["type"] == "sql"
        }
        self.prom = {
            name: PrometheusConnect(url=source["url"], retry=Retry(total=0), timeout=source.get("timeout_s", 30))
            for name, source in self.sources.items()
            if source["type"] == "prometheus"
        }
        self.mlflow = {
            name: MlflowClient(tracking_uri=source["tracking_uri"], registry_uri=source["tracking_uri"])
            for name, source in self.sources.items()
            if source["type"] == "mlflow"
        }

    def evaluate(self, now: datetime) -> tuple[dict[str, float], dict[str, float]]:
        """Every KR once, sequentially; (seconds per source kind, values by KR id)."""
        by_source: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for objective in self.config["objectives"]:
            for kr in objective.get("key_results", []):
                by_source[kr["metric"]["source"]].append((kr["id"], kr["metric"]))
        seconds: dict[str, float] = defaultdict(float)
        values: dict[str, float] = {}
        gx_context = None
        for name, krs in by_source.items():
            kind = self.sources[name]["type"]
            started = time.perf_counter()
            if kind == "sql":
                values.update(self._sql(name, krs, now))
            elif kind == "prometheus":
                values.update(self._prometheus(name, krs, now))
            elif kind == "mlflow":
                values.update(self._mlflow(name, krs, now))
            elif kind == "great_expectations":
                gx_context = gx_context or _gx_context()
                values.update(self._gx(name, krs, gx_context))
            seconds[kind] += time.perf_counter() - started
        return dict(seconds), values

    def _sql(self, name: str, krs: list[tuple[str, dict[str, Any]]], now: datetime) -> dict[str, float]:
        from sqlalchemy import text

        engine = self.engines[name]
        sqlite = engine.dialect.name == "sqlite"
        out = {}
        with engine.connect() as conn:
            for kr_id, metric in krs:
                rows = conn.execute(text(metric["sql"]), _binds(metric, self.config["cycle"], now, sqlite)).fetchmany(2)
                if rows and rows[0][0] is not None:
                    out[kr_id] = float(rows[0][0])
        return out

    def _prometheus(self, name: str, krs: list[tuple[str, dict[str, Any]]], now: datetime) -> dict[str, float]:
        client = self.prom[name]
        out = {}
        for kr_id, metric in krs:
            result = client.custom_query(metric["query"], params={"time": f"{now.timestamp():.3f}"})
            if result and "value" in result[0] and math.isfinite(float(result[0]["value"][1])):
                out[kr_id] = float(result[0]["value"][1])
        return out

    def _mlflow(self, name: str, krs: list[tuple[str, dict[str, Any]]], now: datetime) -> dict[str, float]:
        client = self.mlflow[name]
        cutoff = int(now.timestamp() * 1000)
        out = {}
        for kr_id, metric in krs:
            if "model" in metric:
                run_id = client.get_model_version_by_alias(metric["model"], metric["alias"]).run_id
            else:
                experiment = client.get_experiment_by_name(metric["experiment"])
                best = metric.get("run") == "best"
                runs = client.search_runs(
                    [experiment.experiment_id],
                    filter_string=f"attributes.start_time <= {cutoff}",
                    order_by=[f"metrics.`{metric['name']}` DESC"] if best else ["attributes.start_time DESC"],
                    max_results=100 if best else 1,
                )
                if best:  # finished runs rank by their final value, as the connector does
                    runs = sorted(runs, key=lambda r: -r.data.metrics.get(metric["name"], -math.inf))
                run_id = runs[0].info.run_id
                for version in client.search_model_versions(f"run_id = '{run_id}'"):
                    client.get_registered_model(version.name)  # aliases of the version, for lineage
            history = [m for m in client.get_metric_history(run_id, metric["name"]) if m.timestamp <= cutoff]
            if history:
                out[kr_id] = max(history, key=lambda m: (m.timestamp, m.step)).value
        return out

    def _gx(self, name: str, krs: list[tuple[str, dict[str, Any]]], context: Any) -> dict[str, float]:
        import great_expectations as gx
        import pandas as pd
        from great_expectations.expectations.registry import get_expectation_impl

        suites = self.sources[name]["suites"]
        out = {}
        for kr_id, metric in krs:
            suite = suites[metric["suite"]]
            data = suite["data"]
            frame = pd.read_sql(data["query"], self.engines[data["source"]])
            unique = f"{name}.{metric['suite']}.{kr_id}"
            batch = (
                context.data_sources.add_pandas(name=unique)
                .add_dataframe_asset(name=metric["suite"])
                .add_batch_definition_whole_dataframe(name="whole")
            )
            expectations = [
                get_expectation_impl(kind)(**kwargs) for item in suite["expectations"] for kind, kwargs in item.items()
            ]
            gx_suite = context.suites.add(gx.ExpectationSuite(name=unique, expectations=expectations))
            result = gx.ValidationDefinition(name=unique, data=batch, suite=gx_suite).run(
                batch_parameters={"dataframe": frame}, result_format="BASIC"
            )
            out[kr_id] = float(result.statistics["success_percent"])
        return out


def _gx_context() -> Any:
    from okrflow.connectors.great_expectations import ephemeral_context  # the same settings okrflow validates with

    return ephemeral_context()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.baseline_raw", description=__doc__.splitlines()[0])
    parser.add_argument("config", help="the generated okrflow.yaml (sources must be running)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with open(args.config) as handle:
        config = yaml.safe_load(os.path.expandvars(handle.read()))
    raw = Raw(config)
    raw.evaluate(datetime.now(UTC).replace(microsecond=0))  # warm-up: imports, connections, first queries
    totals, per_source, counts = [], [], []
    for _ in range(args.repeat):
        started = time.perf_counter()
        seconds, values = raw.evaluate(datetime.now(UTC).replace(microsecond=0))
        totals.append(time.perf_counter() - started)
        per_source.append(seconds)
        counts.append(len(values))
    for engine in raw.engines.values():
        engine.dispose()
    print(json.dumps({"totals": totals, "per_source": per_source, "values": counts}))


if __name__ == "__main__":
    main()
