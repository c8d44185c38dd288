"""Great Expectations suites as metrics (percent of expectations passed, one expectation's figure) and as quality gates.

A suite is inline (``okrflow.connectors.gx_inline``: a table or query of a ``sql`` source of the same config, read through
that source's ``SqlConnector.read_frame``, or a CSV/Parquet file) or belongs to the team's GX project
(``okrflow.connectors.gx_project``: run a checkpoint or suite, or read the latest stored result as of the slot). The config
shapes live in ``okrflow.connectors.gx_config``; results as plain data in ``okrflow.connectors.gx_results``.

Each suite runs at most once per connector instance and slot, i.e. once per run, however many KRs and gates read
it; results are cached under a lock because the pipeline fetches from several threads.

great_expectations takes seconds to import, so it is imported only when a suite runs; config-time checks
(``okrflow validate``) use the generated catalog in ``okrflow.connectors.gx_catalog`` instead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from okrflow.connectors.base import Connector, ConnectorContext, GateOutcome, Measurement, OnlineFinding, Probe
from okrflow.connectors.gx_catalog import check_source
from okrflow.connectors.gx_config import DataRef, GxMetric, GxSource, ProjectSuite, Suite
from okrflow.connectors.gx_inline import ephemeral_context, read_file, validate_frame
from okrflow.connectors.gx_project import GxProject, explain, project_problem
from okrflow.connectors.gx_results import SuiteRun, broken, first_line, gate, number
from okrflow.okr_model.config import Config
from okrflow.okr_model.errors import ConfigIssue
from okrflow.okr_model.paths import anchor_file

__all__ = ["DataRef", "GreatExpectationsConnector", "GxMetric", "GxSource", "Suite", "ephemeral_context"]

log = logging.getLogger(__name__)


class GreatExpectationsConnector(Connector[GxSource, GxMetric]):
    """Runs or reads suites for one run; each suite at most once per slot it is asked about."""

    type_name = "great_expectations"
    config_model = GxSource
    metric_model = GxMetric
    keeps_history = False
    """Most suites validate the data as it is now; ``history_gap`` names the ones that can read the past."""

    def __init__(self, name: str, config: GxSource, context: ConnectorContext):
        super().__init__(name, config, context)
        self._lock = threading.RLock()  # reentrant: a suite's first run opens its sql source under it
        self._runs: dict[tuple[str, datetime | None], SuiteRun] = {}
        self._sql: dict[str, Any] = {}
        self._project = GxProject(config.context_root_dir) if config.context_root_dir else None
        self.runs_executed = 0
        """Suites actually validated or read by this instance (cached results are not counted)."""

    @classmethod
    def anchor(cls, config: GxSource, base: Path) -> GxSource:
        """A suite's relative data ``path`` and ``context_root_dir`` are relative to the config file's folder."""
        suites = dict(config.suites)
        for name, suite in config.suites.items():
            if isinstance(suite, Suite) and suite.data.path is not None:
                data = suite.data.model_copy(update={"path": anchor_file(suite.data.path, base)})
                suites[name] = suite.model_copy(update={"data": data})
        update: dict[str, Any] = {"suites": suites}
        if config.context_root_dir is not None:
            update["context_root_dir"] = anchor_file(config.context_root_dir, base)
        return config.model_copy(update=update)

    @classmethod
    def check(cls, name: str, config: GxSource, full: Config) -> list[ConfigIssue]:
        """Expectation names and arguments (from the catalog), data sources, the suites KRs name, that each
        query is one read statement (as a sql metric's), and that ``context_root_dir`` holds a GX project."""
        from okrflow.connectors.sql import query_problem

        issues = check_source(name, config, full)
        root = config.context_root_dir  # a relative one is anchored after checks: validate --online reads it
        if root is not None and Path(root).is_absolute() and (problem := project_problem(root)):
            issues.append(ConfigIssue(f"sources.{name}.context_root_dir", problem))
        for suite_name, suite in config.suites.items():
            data = suite.data if isinstance(suite, Suite) else None
            if (
                data
                and data.query is not None
                and (problem := query_problem(data.query, full.sources.get(data.source or "")))
            ):
                issues.append(ConfigIssue(f"sources.{name}.suites.{suite_name}.data.query", f"refused: {problem}"))
        return issues

    @classmethod
    def history_gap(cls, name: str, config: Any, metric: Any) -> str | None:
        """A stored result and a query over a time window (``:now``) read the past; other suites only today."""
        suite = config.suites.get(getattr(metric, "suite", ""))
        if suite is None or suite.past_readable():
            return None
        if isinstance(suite, ProjectSuite):
            what = (
                f"runs checkpoint {suite.checkpoint!r}" if suite.checkpoint else f"runs project suite {suite.suite!r}"
            )
            fix = "bind stored: true to read the results your pipeline stored"
        else:
            what, fix = f"validates the {suite.data.label()}", "a query with :now validates each past window"
        return (
            f"source {name!r} (great_expectations) keeps no history: suite {metric.suite!r} {what} as it is now ({fix})"
        )

    def fetch(self, metric: GxMetric, at: datetime) -> Measurement:
        as_of = at - metric.offset if metric.offset else at
        suite = self.config.suites.get(metric.suite)
        lineage: dict[str, Any] = {"source": self.name, "suite": metric.suite}
        if suite is None:
            return Measurement.error(f"suite {metric.suite!r} is not defined in source {self.name!r}", **lineage)
        lineage["query_hash"] = _suite_hash(metric, suite)
        run = self._run_suite(metric.suite, as_of)
        lineage.update(data=run.data, **dict(run.lineage))
        if run.missing:
            return Measurement.no_data(run.error or "", **lineage)
        if run.error is not None:
            return Measurement.error(f"suite {metric.suite!r} could not run: {run.error}", **lineage)
        if run.rows is not None:
            lineage["rows"] = run.rows
        lineage["success_percent"] = run.success_percent
        observed = run.validated_at or as_of
        if metric.expectation is None:
            if problem := broken(metric.suite, run):  # a share that counts a broken check as failed data
                return Measurement.error(problem, **lineage)
            return number(run.success_percent, "success_percent of the suite", observed, lineage)
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
        return number(outcome.figures[metric.figure], f"{metric.figure} of {outcome.label}", observed, lineage)

    def check_suite(self, suite: str, at: datetime) -> GateOutcome:
        """Run (or reuse this run's result of) ``suite`` as a quality gate; never raises."""
        if suite not in self.config.suites:
            return GateOutcome("error", f"suite {suite!r} is not defined in source {self.name!r}")
        try:
            run = self._run_suite(suite, at)
        except Exception as exc:  # defensive: _run_suite already turns failures into run.error
            log.exception("suite %s of %s", suite, self.name)
            return GateOutcome("error", f"suite {suite!r} could not run: {type(exc).__name__}: {exc}")
        return gate(suite, run)

    def check_online(self) -> list[OnlineFinding]:
        """``okrflow validate --online``: every suite runs (or its stored result is read) now, within the cycle;
        a suite that cannot, or names a column its data does not have, is an error."""
        at = min(datetime.now(UTC), self.context.cycle_end - timedelta(seconds=1)).replace(microsecond=0)
        findings = []
        if self._project is not None and (problem := project_problem(self._project.root)):
            return [OnlineFinding("error", problem)]
        for name, suite in self.config.suites.items():
            if isinstance(suite, ProjectSuite) and suite.checkpoint is not None:
                continue  # running the team's checkpoint (and its actions) is not a check: probe it instead
            run = self._run_suite(name, at)
            problem = f"suite {name!r} could not run: {run.error}" if run.error is not None else broken(name, run)
            if problem:
                findings.append(OnlineFinding("error", problem))
        return findings

    def probe(self, metric: GxMetric, at: datetime, kr: Any = None) -> Probe:
        """The suite's expectations and the columns they name (and what the project holds), then the value."""
        from okrflow.connectors.gx_probe import probe_suite

        return probe_suite(self, metric, at)

    def close(self) -> None:
        with self._lock:
            sql, self._sql = self._sql, {}
        for connector in sql.values():
            connector.close()

    def _run_suite(self, name: str, as_of: datetime) -> SuiteRun:
        """The suite's result for this run and slot: validated (or read) on first use, then cached."""
        suite = self.config.suites[name]
        key = (name, as_of if suite.past_readable() else None)
        with self._lock:
            if key not in self._runs:
                started = time.monotonic()
                self._runs[key] = self._execute(name, suite, as_of)
                self.runs_executed += 1
                log.debug("suite %s of %s ran in %.2f s", name, self.name, time.monotonic() - started)
            return self._runs[key]

    def _execute(self, name: str, suite: Suite | ProjectSuite, as_of: datetime) -> SuiteRun:
        if isinstance(suite, ProjectSuite):
            return self._project_run(suite, as_of)
        label = suite.data.label()
        try:
            frame = self._read(suite.data, as_of)
        except Exception as exc:
            return SuiteRun(label, error=f"reading the {label} failed: {first_line(exc)}")
        if len(frame) == 0:
            return SuiteRun(label, error=f"the {label} has no rows to validate")
        try:
            return validate_frame(self.name, name, suite, frame, label)
        except Exception as exc:
            log.debug("suite %s of %s failed to validate", name, self.name, exc_info=True)
            return SuiteRun(label, error=f"Great Expectations could not validate it: {first_line(exc)}")

    def _project_run(self, suite: ProjectSuite, as_of: datetime) -> SuiteRun:
        project = self.project()
        try:
            if suite.checkpoint is not None:
                return project.run_checkpoint(suite.checkpoint)
            if not suite.stored:
                return project.run_suite(suite.suite or "")
            stored = project.stored(suite.suite or "", as_of)
        except Exception as exc:
            log.debug("%s of %s failed", suite.label(), self.name, exc_info=True)
            return SuiteRun(suite.label(), error=explain(exc))
        if stored is None:
            moment = as_of.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
            reason = f"no validation result of suite {suite.suite!r} stored before {moment}"
            return SuiteRun(suite.label(), error=reason, rows=None, missing=True)
        return stored

    def project(self) -> GxProject:
        if self._project is None:  # the source model refuses project suites without context_root_dir
            raise LookupError(f"source {self.name!r} has no context_root_dir")
        return self._project

    def _read(self, data: DataRef, as_of: datetime) -> Any:
        if data.path is not None:
            return read_file(data)
        return self.sql_connector(data.source or "").read_frame(query=data.query, table=data.table, now=as_of)

    def sql_connector(self, source: str) -> Any:
        """The sql source's own connector: its engine is read-only and bounded by its ``timeout_s``."""
        from okrflow.connectors.sql import SqlConnector, SqlSource

        with self._lock:
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


def _suite_hash(metric: GxMetric, suite: Suite | ProjectSuite) -> str:
    """Which binding and suite definition produced a number: changes when either changes."""
    blob = json.dumps(
        [metric.model_dump(mode="json", exclude={"source"}), suite.model_dump(mode="json")], sort_keys=True, default=str
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
