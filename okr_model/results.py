"""What one evaluation run produced: each KR's result, each objective's, and the run as a whole.

Domain values (``okrflow.okr_model.evaluation`` makes them, the store writes and reads them, alerts and views
read them); plain immutable records (frozen dataclasses, and a ``NamedTuple`` for the most numerous), so no layer
above has to touch ORM rows or sessions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

__all__ = ["AlertChange", "KRResult", "ObjectiveResult", "RunRecord"]


class KRResult(NamedTuple):
    """One KR in one run: what the source said and what the rules made of it.

    A ``NamedTuple`` rather than a frozen dataclass: as immutable (copy with changes by ``_replace``), and built
    about 6x faster, since a frozen dataclass sets each of its 18 fields through ``object.__setattr__``; reading a
    quarter's history builds 8,800 of them (benchmarks/README.md, section 3)."""

    kr_id: str
    objective_id: str
    value: float | None
    measurement: str  # ok | no_data | error
    detail: str
    observed_at: datetime | None
    lineage: Mapping[str, Any]
    score: float | None
    computed_score: float | None
    progress: float | None
    status: str  # on_track | at_risk | off_track | no_data
    gates: tuple[str, ...] = ()
    held: bool = False
    trusted: bool = True
    overridden: bool = False
    expected: float | None = None
    forecast: Mapping[str, float] | None = None
    reason: str = ""
    """Why the status is what it is, in words (``okrflow.okr_model.status``)."""


@dataclass(frozen=True)
class ObjectiveResult:
    objective_id: str
    score: float | None
    status: str
    reason: str = ""
    scored: int | None = None
    """How many KRs under the objective had a score in this run (None in runs stored before it was counted)."""
    of: int | None = None
    """How many KRs are under the objective."""


@dataclass(frozen=True)
class AlertChange:
    """An alert that a run's judging moved: it fired (or repeats firing) or it resolved.

    What the Prefect flow announces as an event (``okrflow.flows.prefect_publish``), whether or not the alert's
    owner has a channel: Automations act on it too.
    """

    kind: str  # off_track | at_risk | drift | no_data | source_error
    subject: str  # the KR id, the objective id or the source name
    state: str  # firing | resolved
    repeat: bool = False
    kr_id: str | None = None
    objective_id: str | None = None
    source: str | None = None
    owners: tuple[str, ...] = ()
    detail: str = ""
    """Why, in words (e.g. the drift's description); as stored details, without secrets."""


@dataclass(frozen=True)
class RunRecord:
    """A whole evaluation of one slot, written in one transaction."""

    slot: datetime
    started_at: datetime
    finished_at: datetime
    status: str  # completed | partial | failed
    config_hash: str
    cycle: str
    key_results: list[KRResult]
    objectives: list[ObjectiveResult]
    deployment: str = "default"
    backfilled: bool = False
    detail: str = ""
    run_id: int | None = None
    """The stored run's id once written (None for a dry run)."""
    alert_note: str = ""
    """What the alert step did with the run, for people (e.g. not judged: an older slot); not stored."""
    alert_error: str = ""
    """Why the run's alert step failed (stored in ``detail`` too); empty when it did not fail."""
    alert_changes: tuple[AlertChange, ...] = ()
    """The alerts this run fired, repeated or resolved (empty when not judged); not stored."""

    @property
    def error_count(self) -> int:
        return sum(kr.measurement == "error" for kr in self.key_results)
