"""The MLOps key results of the templates, read from MLflow as of a slot and within the cycle.

- ``runs``: runs of an experiment (matching ``filter``) started in the cycle up to the slot;
- ``deployments`` / ``rollbacks``: how often an alias moved to a newer / back to an older version this cycle;
- ``age``: time since the version's run ended (``since: trained``) or the version was registered;
- ``time_to_production``: from a version's registration to okrflow first seeing it hold the alias;
- ``training_duration``: the run's end minus its start.

MLflow keeps no alias history: okrflow's own measurements are the record (``ConnectorContext.alias_history``,
the version each alias-bound KR saw per scheduled run). An alias resolves to what it holds *now*, so a run for a
past slot says which version okrflow had seen by then, and counts and times only from its observations.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, get_args

from okrflow.connectors.base import ConnectorContext, Measurement
from okrflow.connectors.mlflow_client import Failed, NoData, error_code, ms, time_of
from okrflow.connectors.mlflow_reads import MlflowReads

if TYPE_CHECKING:
    from okrflow.connectors.mlflow import MlflowMetric

__all__ = ["DEFAULT_UNITS", "MEASURES", "PAST_SLOT", "Measure", "MlflowLifecycle"]

log = logging.getLogger("okrflow.connectors.mlflow")
Measure = Literal["value", "runs", "deployments", "rollbacks", "age", "time_to_production", "training_duration"]
MEASURES: tuple[str, ...] = get_args(Measure)[1:]
DEFAULT_UNITS = {"age": "days"}
"""Units of a duration measure when the binding gives none (hours for the others)."""
PAST_SLOT = timedelta(minutes=15)
"""A slot further back than this from now is a past slot: the alias resolved now may not be what it held then."""
PAGE = 1000
"""Runs per search page when counting."""


def _version_key(version: str) -> tuple[int, str]:
    return (int(version), version) if version.isdigit() else (-1, version)


class MlflowLifecycle(MlflowReads):
    """Counts and durations over MLflow runs and okrflow's alias observations (a base of ``MlflowConnector``)."""

    name: str
    context: ConnectorContext

    def _lifecycle(self, metric: MlflowMetric, at: datetime, as_of: datetime, base: dict[str, Any]) -> Measurement:
        handler = {
            "runs": self._runs_launched,
            "deployments": self._alias_moves,
            "rollbacks": self._alias_moves,
            "age": self._age,
            "time_to_production": self._time_to_production,
            "training_duration": self._training_duration,
        }[metric.measure]
        return handler(metric, at, as_of, base)

    # -- okrflow's alias observations ------------------------------------------------------------

    def _is_past(self, at: datetime) -> bool:
        return datetime.now(UTC) - at > PAST_SLOT

    def _alias_observations(self, metric: MlflowMetric) -> list[tuple[datetime, str]]:
        """Every (slot, version) okrflow saw ``metric``'s alias at in its scheduled runs, oldest first."""
        history = self.context.alias_history
        if history is None or metric.model is None or metric.alias is None:
            return []
        model, alias = metric.model, metric.alias
        kr_ids = sorted(
            kr.id
            for _, kr in self.context.config.key_results()
            if kr.metric is not None
            and kr.metric.source == self.name
            and getattr(kr.metric, "model", None) == model
            and getattr(kr.metric, "alias", None) == alias
        )
        far = datetime(9999, 1, 1, tzinfo=UTC)
        return self._once.get(
            ("alias-history", model, alias), lambda: history.alias_versions(kr_ids, model, alias, far)
        )

    def _alias_facts(self, metric: MlflowMetric, at: datetime, found: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """A note for the measurement's detail and lineage keys saying whether the alias moved since okrflow last
        looked (``alias_moved_from``, ``alias_moved_after``); for a past slot, what could and could not be known."""
        if metric.alias is None:
            return "", {}
        try:
            if self._is_past(at):
                return self._past_note(metric, found, at), {}
            seen = [(slot, v) for slot, v in self._alias_observations(metric) if slot < at]
        except Exception:  # the value stands without the record; the move is simply not reported
            log.warning("could not read okrflow's observations of @%s", metric.alias, exc_info=True)
            return "", {}
        now = found.get("model_version")
        if not seen or now is None or seen[-1][1] == now:
            return "", {}
        after, before = seen[-1]
        note = (
            f"@{metric.alias} moved from v{before} to v{now} (seen at {at.isoformat()}; "
            f"okrflow last saw v{before} at {after.isoformat()})"
        )
        return note, {"alias_moved_from": before, "alias_moved_after": after.isoformat()}

    def _past_note(self, metric: MlflowMetric, found: dict[str, Any], at: datetime) -> str:
        """A past slot: MLflow resolves the alias now; say which version okrflow had seen by then, if any."""
        try:
            seen = [(slot, v) for slot, v in self._alias_observations(metric) if slot <= at]
        except Exception:
            seen = []
        now = found.get("model_version")
        then = (
            f"okrflow saw @{metric.alias} at v{seen[-1][1]} at {seen[-1][0].isoformat()}"
            if seen
            else f"okrflow has no observation of @{metric.alias} by then"
        )
        return (
            f"@{metric.alias} resolved now to v{now}: MLflow keeps no alias history, so the version it held at "
            f"{at.isoformat()} is not known to MLflow; {then}"
        )

    # -- the measures -----------------------------------------------------------------------------

    def _runs_launched(self, metric: MlflowMetric, at: datetime, as_of: datetime, base: dict[str, Any]) -> Measurement:
        assert metric.experiment is not None
        experiment_id = self._experiment_id(metric.experiment)
        start = self.context.cycle_start
        clauses = [metric.filter] if metric.filter else []
        clauses += [f"attributes.start_time >= {ms(start)}", f"attributes.start_time <= {ms(as_of)}"]
        where = " and ".join(clauses)
        count = self._once.get(("count", experiment_id, where), lambda: self._count_runs(metric, experiment_id, where))
        matching = f" matching {metric.filter!r}" if metric.filter else ""
        lineage = {**base, "experiment": metric.experiment}
        note = f"{count} runs{matching} started in experiment {metric.experiment!r} from {start.date()} to {as_of.isoformat()}"
        return Measurement(float(count), "ok", as_of, note, lineage)

    def _count_runs(self, metric: MlflowMetric, experiment_id: str, where: str) -> int:
        count, token = 0, None
        while True:
            page = self._search_page(metric, experiment_id, where, token)
            count += len(page)
            token = getattr(page, "token", None)
            if not token or not page:
                return count

    def _search_page(self, metric: MlflowMetric, experiment_id: str, where: str, token: str | None) -> Any:
        try:
            return self._call(
                lambda c: c.search_runs([experiment_id], filter_string=where, max_results=PAGE, page_token=token)
            )
        except Exception as exc:
            if metric.filter and error_code(exc) == "INVALID_PARAMETER_VALUE":
                raise Failed(f"invalid filter {metric.filter!r} for experiment {metric.experiment!r}: {exc}") from None
            raise

    def _alias_moves(self, metric: MlflowMetric, at: datetime, as_of: datetime, base: dict[str, Any]) -> Measurement:
        """Moves of the alias this cycle, from okrflow's observations (and the alias now, for a current slot)."""
        assert metric.model is not None and metric.alias is not None
        if self.context.alias_history is None:
            raise NoData(
                f"okrflow counts moves of @{metric.alias} from its own stored observations (MLflow keeps no alias "
                "history): this run reads no store"
            )
        lineage: dict[str, Any] = dict(base)
        seen = [(slot, v) for slot, v in self._alias_observations(metric) if slot < at]
        past = self._is_past(at)
        if not past:
            _, found = self._resolve_version(metric.model, metric.alias, None)
            lineage.update(found)
            seen.append((at, str(found["model_version"])))
        start = self.context.cycle_start
        earlier = [v for slot, v in seen if slot < start]
        previous = earlier[-1] if earlier else None
        moves: list[str] = []
        counts = {"deployments": 0, "rollbacks": 0}
        for slot, version in ((s, v) for s, v in seen if s >= start):
            if previous is not None and version != previous:
                newer = _version_key(version) > _version_key(previous)
                counts["deployments" if newer else "rollbacks"] += 1
                moves.append(
                    f"v{previous} -> v{version} ({'deployment' if newer else 'rollback'}, seen {slot.isoformat()})"
                )
                if slot == at:
                    lineage.update(alias_moved_from=previous, alias_moved_after=seen[-2][0].isoformat())
            previous = version
        listed = "; ".join(moves) if moves else "none"
        note = f"moves of @{metric.alias} seen by okrflow since {start.date()}: {listed}"
        if past:
            note += (
                f" (a past slot: counted from okrflow's observations up to {at.isoformat()}; "
                "MLflow resolves aliases now, not as of the slot)"
            )
        return Measurement(float(counts[metric.measure]), "ok", as_of, note, lineage)

    def _age(self, metric: MlflowMetric, at: datetime, as_of: datetime, base: dict[str, Any]) -> Measurement:
        run_id, found = self._resolve(metric, as_of)
        note, moved = self._alias_facts(metric, at, found)
        lineage = {**base, **found, **moved}
        if metric.since == "registered":
            assert metric.model is not None
            entity = self._version_entity(metric.model, metric.alias, metric.version)
            event, what = time_of(entity.creation_timestamp), f"v{entity.version} was registered"
        else:
            info = self._run(run_id).info
            if info.end_time is None:
                raise NoData(f"run {run_id} has not ended (still training?): its training time is not known yet")
            event, what = time_of(info.end_time), f"run {run_id} ended"
        if event > as_of:
            raise NoData(
                f"{what} at {event.isoformat()}, after {as_of.isoformat()}"
                + (f" (MLflow resolves @{metric.alias} now, not as of the slot)" if metric.alias else "")
            )
        words = f"{what} at {event.isoformat()}"
        return self._duration(metric, as_of - event, as_of, "; ".join(filter(None, [words, note])), lineage)

    def _time_to_production(
        self, metric: MlflowMetric, at: datetime, as_of: datetime, base: dict[str, Any]
    ) -> Measurement:
        """Registration of the version holding the alias -> the first slot okrflow saw it holding it."""
        assert metric.model is not None and metric.alias is not None
        seen = [(slot, v) for slot, v in self._alias_observations(metric) if slot < at]
        lineage: dict[str, Any] = dict(base)
        if not self._is_past(at):
            _, found = self._resolve_version(metric.model, metric.alias, None)
            lineage.update(found)
            seen.append((at, str(found["model_version"])))
        if not seen:
            raise NoData(
                f"okrflow had not observed @{metric.alias} by {at.isoformat()} (MLflow resolves aliases now, "
                "not as of the slot)"
            )
        version = seen[-1][1]
        first = len(seen) - 1
        while first > 0 and seen[first - 1][1] == version:
            first -= 1
        if first == 0:
            raise NoData(
                f"@{metric.alias} has held v{version} since okrflow first looked ({seen[0][0].isoformat()}): when it "
                "moved there is unknown (MLflow keeps no alias history); the next version to take it will be timed"
            )
        held_since = seen[first][0]
        entity = self._version_entity(metric.model, None, int(version))
        registered = time_of(entity.creation_timestamp)
        note = (
            f"v{version} registered at {registered.isoformat()}, first seen holding @{metric.alias} at "
            f"{held_since.isoformat()} (okrflow last saw v{seen[first - 1][1]} there at {seen[first - 1][0].isoformat()})"
        )
        return self._duration(metric, held_since - registered, as_of, note, lineage)

    def _training_duration(
        self, metric: MlflowMetric, at: datetime, as_of: datetime, base: dict[str, Any]
    ) -> Measurement:
        run_id, found = self._resolve(metric, as_of)
        note, moved = self._alias_facts(metric, at, found)
        info = self._run(run_id).info
        if info.end_time is None or info.end_time > ms(as_of):
            raise NoData(f"run {run_id} was still running as of {as_of.isoformat()}: no training duration yet")
        took = time_of(info.end_time) - time_of(info.start_time)
        words = (
            f"run {run_id} trained from {time_of(info.start_time).isoformat()} to {time_of(info.end_time).isoformat()}"
        )
        lineage = {**base, **found, **moved}
        return self._duration(metric, took, as_of, "; ".join(filter(None, [words, note])), lineage)

    @staticmethod
    def _duration(
        metric: MlflowMetric, took: timedelta, as_of: datetime, note: str, lineage: dict[str, Any]
    ) -> Measurement:
        return Measurement(took.total_seconds() / metric.unit_seconds, "ok", as_of, note, lineage)
