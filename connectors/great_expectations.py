"""Great Expectations suites as metrics (percent of expectations passed, one expectation's figure) and as quality gates.

A suite validates one dataframe: a table or query of a ``sql`` source of the same config (read
read-only through that source's engine, so its timeout and read-only session apply) or a CSV/Parquet
file. Each suite runs at most once per connector instance, i.e. once per run, however many KRs and
gates read it; results are cached under a lock because the pipeline fetches from several threads.
What GX needs to validate a suite (data source, asset, batch definition, suite, validation definition)
is built once per process and suite definition, then reused by later runs with each run's dataframe.

great_expectations takes seconds to import, so it is imported only when a suite runs; config-time
checks (``okrflow validate``) use the generated catalog in ``connectors.gx_catalog`` instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from connectors.base import Connector, ConnectorContext, GateOutcome, Measurement, OnlineFinding
from connectors.gx_catalog import check_source, describe
from okr_model.config import Config, MetricBinding, SourceConfig
from okr_model.errors import ConfigIssue
from okr_model.paths import anchor_file
from okr_model.types import Id

__all__ = ["DataRef", "GreatExpectationsConnector", "GxMetric", "GxSource", "Suite", "ephemeral_context"]

log = logging.getLogger(__name__)

QUERY_BINDS = ("cycle_start", "cycle_end", "now")
FILE_SUFFIXES = (".csv", ".parquet", ".pq")
_GX_LOCK = threading.Lock()
"""GX keeps process-wide state (the current project); suites of all connectors validate one at a time."""


class DataRef(BaseModel):
    """The data a suite validates: ``table`` or ``query`` on a ``sql`` source, or a file ``path``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Id | None = Field(None, description="a sql source of this config (with table or query)")
    table: str | None = Field(None, pattern=r"^[A-Za-z_][\w$]*(\.[A-Za-z_][\w$]*)?$", description="[schema.]table")
    query: str | None = Field(None, min_length=1, description="one SELECT; binds :cycle_start, :cycle_end, :now")
    path: str | None = Field(
        None, min_length=1, description="CSV or Parquet file, relative to the config file's folder"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> DataRef:
        given = [key for key in ("table", "query", "path") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of table, query or path (got {', '.join(given) or 'none'})")
        if self.path is not None:
            if self.source is not None:
                raise ValueError("a file path takes no source (source names the sql source of a table or query)")
            if not self.path.lower().endswith(FILE_SUFFIXES):
                raise ValueError(f"path must end with {', '.join(FILE_SUFFIXES)} (got {self.path!r})")
        elif self.source is None:
            raise ValueError(f"{given[0]} needs source: the name of a sql source of this config")
        if self.query is not None:
            from connectors.sql import _bind_names

            unknown = sorted(_bind_names(self.query) - set(QUERY_BINDS))
            if unknown:
                raise ValueError(
                    f"the query uses {', '.join(':' + n for n in unknown)}; only :cycle_start, :cycle_end, :now exist"
                )
        return self

    def label(self) -> str:
        if self.path is not None:
            return f"file {self.path}"
        return f"table {self.table} of source {self.source!r}" if self.table else f"query on source {self.source!r}"


def _one_expectation(value: Any) -> Any:
    """``- expect_x: {kwargs}`` (kwargs may be empty); anything else is explained."""
    if isinstance(value, str):
        return {value: {}}
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(
            "each expectation is a one-key mapping, e.g. - expect_column_values_to_not_be_null: {column: x}"
        )
    (name, kwargs), *_ = value.items()
    if kwargs is None:
        kwargs = {}
    if not isinstance(name, str) or not isinstance(kwargs, dict):
        raise ValueError(f"the arguments of {name} must be a mapping, e.g. {{column: x}} (got {kwargs!r})")
    return {name: kwargs}


class Suite(BaseModel):
    """A named list of expectations over one data reference."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: DataRef
    expectations: list[Annotated[dict[str, dict[str, Any]], BeforeValidator(_one_expectation)]] = Field(min_length=1)

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        return [next(iter(e.items())) for e in self.expectations]


class GxSource(SourceConfig):
    """A Great Expectations source: named suites, each over a table, query or file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["great_expectations"]
    suites: dict[Id, Suite] = Field(min_length=1)


class GxMetric(MetricBinding):
    """``{suite}``: percent of expectations passed; ``{suite, expectation: N, result}``: that expectation's figure."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    suite: Id
    expectation: int | None = Field(None, ge=0, description="index into the suite's expectations (from 0)")
    result: Literal["unexpected_percent", "observed_value", "success_percent"] | None = None

    @model_validator(mode="after")
    def _result_fits(self) -> GxMetric:
        if self.expectation is None and self.result not in (None, "success_percent"):
            raise ValueError(f"result {self.result} is a figure of one expectation: add expectation: N (from 0)")
        if self.expectation is not None and self.result in (None, "success_percent"):
            raise ValueError("with expectation: N, say which figure: result: unexpected_percent or observed_value")
        return self

    @property
    def figure(self) -> str:
        return self.result or "success_percent"


@dataclass(frozen=True)
class Outcome:
    """One expectation's result, as plain data (no GX objects outlive a validation)."""

    label: str
    success: bool
    figures: dict[str, Any]
    exception: str | None = None

    def summary(self) -> str:
        if self.exception:
            return f"{self.label} [raised: {self.exception}]"
        if isinstance(self.figures.get("unexpected_percent"), (int, float)):
            return f"{self.label} [{self.figures['unexpected_percent']:.4g}% unexpected]"
        if "observed_value" in self.figures:
            return f"{self.label} [observed {str(self.figures['observed_value'])[:60]}]"
        return self.label


@dataclass(frozen=True)
class SuiteRun:
    """A suite's validation, or why it could not run (``error``)."""

    data: str
    error: str | None = None
    rows: int = 0
    success_percent: float | None = None
    outcomes: tuple[Outcome, ...] = ()


class GreatExpectationsConnector(Connector[GxSource, GxMetric]):
    """Runs suites with one ephemeral GX context per instance (= per run); each suite at most once."""

    type_name = "great_expectations"
    config_model = GxSource
    metric_model = GxMetric
    keeps_history = False
    """A suite validates the data as it is now; backfill reports its KRs instead of inventing the past."""

    def __init__(self, name: str, config: GxSource, context: ConnectorContext):
        super().__init__(name, config, context)
        self._lock = threading.Lock()
        self._runs: dict[tuple[str, datetime | None], SuiteRun] = {}
        self._sql: dict[str, Any] = {}
        self.runs_executed = 0
        """Suites actually validated by this instance (cached results are not counted)."""

    @classmethod
    def anchor(cls, config: GxSource, base: Path) -> GxSource:
        """A suite's relative data ``path`` is relative to the config file's folder."""
        suites = dict(config.suites)
        for name, suite in config.suites.items():
            if suite.data.path is not None:
                data = suite.data.model_copy(update={"path": anchor_file(suite.data.path, base)})
                suites[name] = suite.model_copy(update={"data": data})
        return config.model_copy(update={"suites": suites})

    @classmethod
    def check(cls, name: str, config: GxSource, full: Config) -> list[ConfigIssue]:
        """Expectation names and arguments (from the catalog), data sources, the suites KRs name, and that each
        query is one read statement (as a sql metric's)."""
        from connectors.sql import query_problem

        issues = check_source(name, config, full)
        for suite_name, suite in config.suites.items():
            data = suite.data
            if data.query is not None and (problem := query_problem(data.query, full.sources.get(data.source or ""))):
                issues.append(ConfigIssue(f"sources.{name}.suites.{suite_name}.data.query", f"refused: {problem}"))
        return issues

    def fetch(self, metric: GxMetric, at: datetime) -> Measurement:
        as_of = at - metric.offset if metric.offset else at
        suite = self.config.suites.get(metric.suite)
        lineage: dict[str, Any] = {"source": self.name, "suite": metric.suite}
        if suite is None:
            return Measurement.error(f"suite {metric.suite!r} is not defined in source {self.name!r}", **lineage)
        lineage["query_hash"] = _suite_hash(metric, suite)
        run = self._run_suite(metric.suite, as_of)
        lineage["data"] = run.data
        if run.error is not None:
            return Measurement.error(f"suite {metric.suite!r} could not run: {run.error}", **lineage)
        lineage.update(rows=run.rows, success_percent=run.success_percent)
        if metric.expectation is None:
            if broken := _broken(metric.suite, run):  # a share that counts a broken check as failed data
                return Measurement.error(broken, **lineage)
            return _number(run.success_percent, "success_percent of the suite", as_of, lineage)
        if metric.expectation >= len(run.outcomes):
            return Measurement.error(
                f"suite {metric.suite!r} has {len(run.outcomes)} expectations; there is no index {metric.expectation}",
                **lineage,
            )
        outcome = run.outcomes[metric.expectation]
        if outcome.exception is not None:
            return Measurement.error(f"{outcome.label} could not be evaluated: {outcome.exception}", **lineage)
        if metric.figure not in outcome.figures:
            reported = ", ".join(sorted(outcome.figures)) or "nothing"
            return Measurement.no_data(f"{outcome.label} reports no {metric.figure} (it reports {reported})", **lineage)
        return _number(outcome.figures[metric.figure], f"{metric.figure} of {outcome.label}", as_of, lineage)

    def check_suite(self, suite: str, at: datetime) -> GateOutcome:
        """Run (or reuse this run's result of) ``suite`` as a quality gate; never raises."""
        if suite not in self.config.suites:
            return GateOutcome("error", f"suite {suite!r} is not defined in source {self.name!r}")
        try:
            run = self._run_suite(suite, at)
        except Exception as exc:  # defensive: _run_suite already turns failures into run.error
            log.exception("suite %s of %s", suite, self.name)
            return GateOutcome("error", f"suite {suite!r} could not run: {type(exc).__name__}: {exc}")
        if run.error is not None:
            return GateOutcome("error", f"suite {suite!r} could not run: {run.error}")
        if broken := _broken(suite, run):
            return GateOutcome("error", broken)
        failed = [o for o in run.outcomes if not o.success]
        if not failed:
            return GateOutcome(
                "passed", f"all {len(run.outcomes)} expectations passed on {run.rows} rows of {run.data}"
            )
        return GateOutcome(
            "failed",
            f"{len(failed)} of {len(run.outcomes)} expectations failed on {run.rows} rows of {run.data}: "
            + "; ".join(o.summary() for o in failed),
        )

    def check_online(self) -> list[OnlineFinding]:
        """``okrflow validate --online``: every suite runs on its data now (within the cycle); a suite that cannot
        run, or names a column its data does not have, is an error."""
        at = min(datetime.now(UTC), self.context.cycle_end - timedelta(seconds=1)).replace(microsecond=0)
        findings = []
        for name in self.config.suites:
            run = self._run_suite(name, at)
            problem = f"suite {name!r} could not run: {run.error}" if run.error is not None else _broken(name, run)
            if problem:
                findings.append(OnlineFinding("error", problem))
        return findings

    def close(self) -> None:
        with self._lock:
            sql, self._sql = self._sql, {}
        for connector in sql.values():
            connector.close()

    def _run_suite(self, name: str, as_of: datetime) -> SuiteRun:
        """The suite's result for this run: validated on first use, then cached."""
        suite = self.config.suites[name]
        uses_time = suite.data.query is not None and "now" in _binds(suite.data.query)
        key = (name, as_of if uses_time else None)
        with self._lock:
            if key not in self._runs:
                started = time.monotonic()
                self._runs[key] = self._execute(name, suite, as_of)
                self.runs_executed += 1
                log.debug("suite %s of %s ran in %.2f s", name, self.name, time.monotonic() - started)
            return self._runs[key]

    def _execute(self, name: str, suite: Suite, as_of: datetime) -> SuiteRun:
        label = suite.data.label()
        try:
            frame = self._read(suite.data, as_of)
        except Exception as exc:
            return SuiteRun(label, error=f"reading the {label} failed: {self._explain(suite.data, exc)}")
        if len(frame) == 0:
            return SuiteRun(label, error=f"the {label} has no rows to validate")
        try:
            return self._validate(name, suite, frame, label)
        except Exception as exc:
            log.debug("suite %s of %s failed to validate", name, self.name, exc_info=True)
            return SuiteRun(label, error=f"Great Expectations could not validate it: {_first_line(exc)}")

    def _read(self, data: DataRef, as_of: datetime) -> Any:
        import pandas as pd

        if data.path is not None:
            path = Path(data.path)
            if not path.is_file():
                raise FileNotFoundError(f"no such file: {path.resolve()}")
            return pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)
        from sqlalchemy import literal_column, select, table, text

        from connectors.retry import retry_call

        sql = self._sql_connector(data.source or "")
        if sql._backend == "sqlite" and not Path(sql._url.database.removeprefix("file:")).is_file():
            raise FileNotFoundError(f"the SQLite file {sql._url.database} of source {data.source!r} does not exist")
        if data.table is not None:
            schema, _, name = data.table.rpartition(".")
            statement: Any = select(literal_column("*")).select_from(table(name, schema=schema or None))
            binds: dict[str, Any] = {}
        else:
            from okr_model.sql_check import read_query_problem

            if problem := read_query_problem(data.query or "", sql._dialect):
                raise _Refused(f"refused before running: {problem}")
            statement = text(data.query or "")
            available = {
                "cycle_start": sql._bind_time(self.context.cycle_start),
                "cycle_end": sql._bind_time(self.context.cycle_end),
                "now": sql._bind_time(as_of),
            }
            binds = {key: available[key] for key in _binds(data.query or "")}
        return retry_call(
            lambda: self._read_sql(sql, statement, binds),
            retries=sql.config.retries,
            is_transient=lambda exc: sql._is_transient(_unwrap(exc)),
        )

    @staticmethod
    def _read_sql(sql: Any, statement: Any, binds: dict[str, Any]) -> Any:
        """One read through the sql source's connection in a fresh read-only transaction, bounded by its timeout."""
        import pandas as pd

        with sql.reading() as conn:
            return pd.read_sql(statement, conn, params=binds or None)

    def _sql_connector(self, source: str) -> Any:
        """The sql source's own connector: its engine is read-only and bounded by its ``timeout_s``."""
        from connectors.sql import SqlConnector, SqlSource

        if source not in self._sql:
            config = self.context.config.sources.get(source)
            if not isinstance(config, SqlSource) and getattr(config, "type", None) == "sql":
                config = SqlSource.model_validate(config.model_dump())  # a config read without the registry
            if not isinstance(config, SqlSource):
                kind = getattr(config, "type", None)
                raise LookupError(
                    f"source {source!r} is {'not defined' if kind is None else kind}; a sql source is needed"
                )
            self._sql[source] = SqlConnector(source, config, self.context)
        return self._sql[source]

    def _explain(self, data: DataRef, exc: Exception) -> str:
        if data.path is not None or isinstance(exc, (LookupError, FileNotFoundError, _Refused)):
            return _first_line(exc)
        sql = self._sql.get(data.source or "")
        return sql._scrub(sql._describe(_unwrap(exc))) if sql is not None else _first_line(exc)

    def _validate(self, name: str, suite: Suite, frame: Any, label: str) -> SuiteRun:
        with _GX_LOCK:
            prepared = self._prepared(name, suite)
            result = prepared.validation.run(batch_parameters={"dataframe": frame}, result_format="BASIC")
        by_id = {r.expectation_config.id: r for r in result.results}
        outcomes = []
        for (expectation, kwargs), eid in zip(suite.items(), prepared.ids, strict=True):
            r = by_id[eid]
            figures = {
                k: _plain(r.result[k]) for k in ("unexpected_percent", "observed_value") if k in (r.result or {})
            }
            outcomes.append(
                Outcome(describe(expectation, kwargs), bool(r.success), figures, _exception(r.exception_info))
            )
        percent = result.statistics.get("success_percent")
        return SuiteRun(label, None, len(frame), _plain(percent), tuple(outcomes))

    def _prepared(self, name: str, suite: Suite) -> _Prepared:
        """The suite's validation definition, built once per process (under ``_GX_LOCK``) and reused by later
        runs: registering a data source, asset, batch definition and suite costs GX more than validating."""
        import great_expectations as gx
        from great_expectations.expectations.registry import get_expectation_impl

        blob = json.dumps([self.name, name, suite.model_dump(mode="json")], sort_keys=True, default=str)
        key = hashlib.sha256(blob.encode()).hexdigest()[:24]
        prepared = _PREPARED.get(key)
        if prepared is not None:
            return prepared
        if len(_PREPARED) >= _PREPARED_MAX:  # many edited suites in one long-lived process: start afresh
            _PREPARED.clear()
            _CONTEXT.clear()
        expectations = []
        for index, (expectation, kwargs) in enumerate(suite.items()):
            try:
                expectations.append(get_expectation_impl(expectation)(**kwargs))
            except Exception as exc:
                raise ValueError(f"expectation {index} ({expectation}) is invalid: {_pydantic(exc)}") from exc
        context = _shared_context()
        unique = f"{self.name}.{name}.{key}"
        batch = (
            context.data_sources.add_pandas(name=unique)
            .add_dataframe_asset(name=name)
            .add_batch_definition_whole_dataframe(name="whole")
        )
        gx_suite = context.suites.add(gx.ExpectationSuite(name=unique, expectations=expectations))
        validation = gx.ValidationDefinition(name=unique, data=batch, suite=gx_suite)
        prepared = _PREPARED[key] = _Prepared(validation, [e.id for e in gx_suite.expectations])
        return prepared


class _Refused(Exception):
    """The suite's query is not one read statement (checked before it reaches the database)."""


@dataclass(frozen=True)
class _Prepared:
    validation: Any
    ids: list[str]
    """The suite's expectation ids, in the config's order (results are matched by id)."""


_PREPARED: dict[str, _Prepared] = {}
"""Validation definitions by (source, suite, definition) hash, shared by the process's runs (under ``_GX_LOCK``)."""
_PREPARED_MAX = 256
_CONTEXT: list[Any] = []


def _shared_context() -> Any:
    """One ephemeral GX context per process (under ``_GX_LOCK``)."""
    if not _CONTEXT:
        _CONTEXT.append(ephemeral_context())
    return _CONTEXT[0]


def ephemeral_context() -> Any:
    """A new in-memory GX context with analytics and progress bars off."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    project = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(project_config=project, mode="ephemeral")


def _binds(query: str) -> set[str]:
    from connectors.sql import _bind_names

    return _bind_names(query)


def _suite_hash(metric: GxMetric, suite: Suite) -> str:
    """Which binding and suite definition produced a number: changes when either changes."""
    blob = json.dumps(
        [metric.model_dump(mode="json", exclude={"source"}), suite.model_dump(mode="json")], sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _number(value: Any, what: str, at: datetime, lineage: dict[str, Any]) -> Measurement:
    if value is None:
        return Measurement.no_data(f"{what} is empty (no rows it applies to)", **lineage)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return Measurement.no_data(f"{what} is not a finite number (got {str(value)[:60]!r})", **lineage)
    return Measurement.ok(float(value), observed_at=at, **lineage)


def _plain(value: Any) -> Any:
    """numpy scalars -> Python numbers, so results compare, hash and serialise plainly."""
    item = getattr(value, "item", None)
    if callable(item) and not isinstance(value, (list, dict, str)):
        try:
            return item()
        except (TypeError, ValueError):
            return value
    return value


def _broken(suite: str, run: SuiteRun) -> str | None:
    """Why a suite is a broken check (an expectation raised, e.g. it names a missing column), or None."""
    raised = [o.summary() for o in run.outcomes if o.exception is not None]
    if not raised:
        return None
    return (
        f"suite {suite!r} is a broken check, not bad data: {len(raised)} of {len(run.outcomes)} expectations "
        f"could not be evaluated on {run.data}: " + "; ".join(raised)
    )


def _exception(info: Any) -> str | None:
    """The first exception message GX recorded for an expectation (flat or keyed by metric)."""
    if not isinstance(info, dict):
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "raised an exception")
    for nested in info.values():
        if isinstance(nested, dict) and nested.get("raised_exception"):
            return str(nested.get("exception_message") or "raised an exception")
    return None


def _pydantic(exc: BaseException) -> str:
    """A GX (pydantic v1) validation error as ``field: message; ...`` instead of its multi-line text."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:
            return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors())[:300]
        except (TypeError, KeyError):
            pass
    return _first_line(exc)


def _unwrap(exc: BaseException) -> BaseException:
    """The database error behind pandas' ``DatabaseError`` wrapper (whose text repeats the whole query)."""
    while type(exc).__module__.startswith("pandas") and exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:300]
