"""MLflow connector: a key result reads a metric of a registered model version or of an experiment's run, or a
lifecycle figure (runs launched, deployments, rollbacks, model age, time to production, training duration).

Metric forms (one per binding):

- ``{model, alias, name}``: metric ``name`` of the run behind the version of registered model ``model``
  that holds ``alias`` (MLflow 3 aliases; the stages of MLflow 2 are gone), or ``{model, version, name}``
  for a pinned version;
- ``{experiment, name, run: latest|best, filter}``: the latest run (by start time) or the best run
  (max, or min for ``decrease``/``maintain_below`` KRs) matching an MLflow filter string;
- ``measure: runs | deployments | rollbacks | age | time_to_production | training_duration``: the MLOps key
  results of the templates, counted or timed by ``okrflow.connectors.mlflow_lifecycle``.

Metadata only: the connector reads runs, metric histories and the registry; it never loads a model or
downloads an artifact. The reads, each asked once per evaluation run, are in ``okrflow.connectors.mlflow_reads``;
the client, its timeouts, retries and bearer token in ``okrflow.connectors.mlflow_client``.

As of a time: the value is the last metric-history entry logged at or before ``at - offset`` and runs
started after that time are not considered, so a backfill reads what was there then. Aliases have no
history in MLflow: a model form resolves the alias *now*. okrflow's own measurements are the alias's
history (``ConnectorContext.alias_history``): a measurement says when the alias moved since okrflow last
looked (lineage ``alias_moved_from``), and a past slot's measurement says which version okrflow saw then.

HTTP tracking servers: MLflow's REST client reads its timeout and retries from process-global
environment variables; creating the client of an ``http(s)`` source sets them from the source's
``timeout_s`` (0 retries: the source's ``retries`` are done here). A local SQLite store is read in-process.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from okrflow.connectors.base import Connector, ConnectorContext, Measurement, Probe, apply_max_age, query_hash
from okrflow.connectors.mlflow_client import NoData, ms, quoted, time_of
from okrflow.connectors.mlflow_lifecycle import DEFAULT_UNITS, MEASURES, Measure, MlflowLifecycle
from okrflow.okr_model.config import KeyResult, MetricBinding, SourceConfig
from okrflow.okr_model.paths import anchor_sqlite_url
from pydantic import ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

__all__ = ["MlflowConnector", "MlflowMetric", "MlflowSource"]

_quoted = quoted  # the name tests and older callers import

_STAGE_HINT = (
    "MLflow 3 dropped model stages (Staging/Production): bind an alias instead, e.g. alias: champion "
    "(set it with MlflowClient().set_registered_model_alias(model, 'champion', version)), or pin version: N"
)


class MlflowSource(SourceConfig):
    """An MLflow tracking server or store; ``production_aliases`` decide ``requires_production``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["mlflow"]
    tracking_uri: str = Field(min_length=1, description="e.g. sqlite:///mlflow.db or http://127.0.0.1:5000")
    registry_uri: str | None = Field(None, description="model registry URI; defaults to the tracking URI")
    production_aliases: list[str] = Field(
        default_factory=lambda: ["champion", "production"],
        description="a model version holding one of these aliases is in production",
    )
    token: SecretStr | None = Field(None, description="bearer token for the tracking server (never logged)")


class MlflowMetric(MetricBinding):
    """``{model, alias|version, name}``, ``{experiment, name, run, filter}`` or a lifecycle ``measure``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str | None = Field(None, min_length=1, description="metric key, e.g. f1_score (what autolog logs)")
    model: str | None = Field(None, min_length=1, description="registered model name")
    alias: str | None = Field(None, min_length=1, description="alias of the version to read, e.g. champion")
    version: int | None = Field(None, ge=1, description="a pinned model version number (instead of alias)")
    experiment: str | None = Field(None, min_length=1, description="experiment name")
    run: Literal["latest", "best"] = Field("latest", description="latest run by start time, or best by the metric")
    filter: str | None = Field(None, description="MLflow search filter, e.g. \"params.algo = 'bert'\"")
    goal: Literal["max", "min"] | None = Field(None, description="best = max or min; default from the KR kind")
    measure: Measure = Field("value", description="value (a metric), or a lifecycle figure: " + ", ".join(MEASURES))
    since: Literal["trained", "registered"] = Field("trained", description="age: since the run ended or registration")
    units: Literal["seconds", "minutes", "hours", "days"] | None = Field(
        None, description="durations in these units (default: days for age, hours otherwise)"
    )
    stage: SkipJsonSchema[str | None] = Field(None, exclude=True)  # refused with a pointer to aliases

    @field_validator("stage")
    @classmethod
    def _no_stages(cls, stage: str | None) -> str | None:
        if stage is not None:
            raise ValueError(f"stage {stage!r}: {_STAGE_HINT}")
        return stage

    @model_validator(mode="after")
    def _one_form(self) -> MlflowMetric:
        if self.model is not None and self.experiment is not None:
            raise ValueError(
                "an mlflow metric reads either a registered model (model, alias) or an experiment "
                "(experiment, run, filter), not both"
            )
        if self.model is None and self.experiment is None:
            raise ValueError(
                "an mlflow metric needs model + alias (a registered model version) or experiment (its latest or best run)"
            )
        if self.model is not None:
            if self.alias is None and self.version is None:
                raise ValueError(
                    f"model {self.model!r} needs alias (e.g. alias: champion) or version (e.g. version: 3); "
                    "MLflow 3 selects versions by alias"
                )
            if self.alias is not None and self.version is not None:
                raise ValueError("give alias or version, not both: an alias moves, a version is pinned")
            extra = sorted({"run", "filter", "goal"} & self.model_fields_set)
            if extra:
                raise ValueError(f"{', '.join(extra)} apply to the experiment form only, not to model + alias")
        elif self.alias is not None or self.version is not None:
            raise ValueError("alias and version apply to the model form: add model (the registered model name)")
        self._check_measure()
        return self

    def _check_measure(self) -> None:
        measure = self.measure
        if measure == "value" and self.name is None:
            raise ValueError("name is the metric to read, e.g. name: f1_score (or set measure: for a lifecycle figure)")
        if measure == "runs" and self.experiment is None:
            raise ValueError("measure: runs counts the runs of an experiment: give experiment (and a filter)")
        if measure in ("deployments", "rollbacks", "time_to_production") and self.alias is None:
            raise ValueError(f"measure: {measure} follows an alias of a model: give model and alias (e.g. champion)")
        if measure == "age" and self.since == "registered" and self.model is None:
            raise ValueError("age since registered reads a model version: give model and alias (or version)")
        if self.run == "best" and self.name is None:
            raise ValueError("run: best ranks runs by a metric: give name")
        if measure != "value" and self.name is not None and self.run != "best":
            raise ValueError(f"measure: {measure} reads no metric: drop name (it ranks runs only with run: best)")
        durations = ("age", "time_to_production", "training_duration")
        if self.units is not None and measure not in durations:
            raise ValueError(f"units apply to the durations ({', '.join(durations)}), not to measure: {measure}")
        if "since" in self.model_fields_set and measure != "age":
            raise ValueError("since applies to measure: age")

    @property
    def unit_seconds(self) -> float:
        """Seconds per unit of a duration measure."""
        units = self.units or DEFAULT_UNITS.get(self.measure, "hours")
        return {"seconds": 1.0, "minutes": 60.0, "hours": 3600.0, "days": 86400.0}[units]


class MlflowConnector(MlflowLifecycle, Connector[MlflowSource, MlflowMetric]):
    """Reads MLflow as of the run's slot time; one ``MlflowClient`` per instance."""

    type_name = "mlflow"
    config_model = MlflowSource
    metric_model = MlflowMetric
    knows_production = True  # a version holding one of production_aliases (model form, or the run's version)

    @classmethod
    def anchor(cls, config: MlflowSource, base: Path) -> MlflowSource:
        """A relative ``sqlite:///`` tracking or registry store is relative to the config file's folder."""
        uris = {"tracking_uri": config.tracking_uri, "registry_uri": config.registry_uri}
        anchored = {key: anchor_sqlite_url(uri, base) for key, uri in uris.items() if uri is not None}
        return config.model_copy(update=anchored)

    def __init__(self, name: str, config: MlflowSource, context: ConnectorContext, client: Any = None):
        Connector.__init__(self, name, config, context)
        MlflowLifecycle.__init__(self, client)

    @classmethod
    def bind(cls, raw: dict[str, Any], kr: KeyResult) -> MlflowMetric:
        """The experiment form's ``best`` is the minimum for KRs where lower is better, unless ``goal`` says."""
        if raw.get("experiment") is not None and raw.get("goal") is None and "model" not in raw:
            raw = {**raw, "goal": "min" if kr.direction == "down" else "max"}
        return MlflowMetric.model_validate(raw)

    def fetch(self, metric: MlflowMetric, at: datetime) -> Measurement:
        as_of = at - (metric.offset or timedelta(0))
        base = {"source": self.name, "query_hash": query_hash(metric)}
        try:
            if metric.measure != "value":
                return self._lifecycle(metric, at, as_of, base)
            assert metric.name is not None  # the binding's validator: a value needs a name
            run_id, found = self._resolve(metric, as_of)
            note, moved = self._alias_facts(metric, at, found)
            history = self._history(run_id, metric.name)
            lineage = {**base, **found, **moved}
            cutoff = ms(as_of)
            before = [m for m in history if m.timestamp <= cutoff]
            if not before:
                return Measurement.no_data(self._missing_metric(run_id, metric.name, history, as_of), **lineage)
            last = max(before, key=lambda m: (m.timestamp, m.step))
            observed_at = time_of(last.timestamp)
            lineage["step"] = int(last.step)
            if not math.isfinite(last.value):
                return Measurement.no_data(
                    f"run {run_id} logged {metric.name!r} = {last.value} at {observed_at.isoformat()}", **lineage
                )
            found_value = Measurement(float(last.value), "ok", observed_at, note, lineage)
            return apply_max_age(found_value, metric.max_age, as_of)
        except NoData as exc:
            return Measurement.no_data(exc.detail, **base)
        except Exception as exc:
            return Measurement.error(self._describe(exc), **base)

    def fetch_series(self, metric: MlflowMetric, slots: Sequence[datetime]) -> dict[datetime, Measurement]:
        """Measurements as of each slot from one run resolution and ONE metric-history read (backfill).

        The run is resolved once, as of the last slot (minus ``offset``): the model form reads the run
        behind the alias now (MLflow keeps no alias history), the experiment form the latest or best
        run as of the last slot, for every slot. Each slot then takes the last entry logged at or
        before ``slot - offset``, as ``fetch`` does (same NaN and ``max_age`` rules and lineage).
        Lifecycle measures are counted or timed per slot (``fetch``).
        """
        if not slots:
            return {}
        if metric.measure != "value":
            return {slot: self.fetch(metric, slot) for slot in slots}
        assert metric.name is not None
        shift = metric.offset or timedelta(0)
        last_as_of = max(slots) - shift
        base = {"source": self.name, "query_hash": query_hash(metric)}
        try:
            run_id, found = self._resolve(metric, last_as_of)
            history = sorted(self._history(run_id, metric.name), key=lambda m: (m.timestamp, m.step))
        except NoData as exc:
            return {slot: Measurement.no_data(exc.detail, **base) for slot in slots}
        except Exception as exc:
            return {slot: Measurement.error(self._describe(exc), **base) for slot in slots}
        lineage = {**base, **found}
        chosen = ""
        if metric.experiment is not None:
            chosen = f" (the {metric.run} run as of {last_as_of.isoformat()}; backfill reads one run for all slots)"
        note = self._past_note(metric, found, max(slots)) if metric.alias is not None else ""
        stamps = [m.timestamp for m in history]
        out: dict[datetime, Measurement] = {}
        for slot in slots:
            as_of = slot - shift
            i = bisect.bisect_right(stamps, ms(as_of))
            if not history:  # never logged: the same answer as fetch, naming the metrics the run has
                out[slot] = Measurement.no_data(self._missing_metric(run_id, metric.name, history, as_of), **lineage)
                continue
            if i == 0:
                out[slot] = Measurement.no_data(
                    f"no value of metric {metric.name!r} before {as_of.isoformat()} in run {run_id}{chosen}", **lineage
                )
                continue
            entry = history[i - 1]
            observed_at = time_of(entry.timestamp)
            found_lineage = {**lineage, "step": int(entry.step)}
            if not math.isfinite(entry.value):
                out[slot] = Measurement.no_data(
                    f"run {run_id} logged {metric.name!r} = {entry.value} at {observed_at.isoformat()}",
                    **found_lineage,
                )
            else:
                value = Measurement(float(entry.value), "ok", observed_at, note, found_lineage)
                out[slot] = apply_max_age(value, metric.max_age, as_of)
        return out

    def probe(self, metric: MlflowMetric, at: datetime, kr: Any = None) -> Probe:
        """``okrflow probe``: the model's aliases and versions, the run's metric names (``okrflow.connectors.mlflow_probe``)."""
        from okrflow.connectors.mlflow_probe import probe_mlflow

        return probe_mlflow(self, metric, at)

    def close(self) -> None:
        self._forget_client()
