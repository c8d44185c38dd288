"""Lint: the anti-patterns of the AI-OKR guides, found in a validated config (pure, no I/O).

Each rule is one small function over the config that yields hits (subject, message, fix); ``RULES``
registers it with an id, a severity and a one-line description, and ``lint`` turns hits into
``Finding``s in rule order, then file order. Severity ``error`` is kept for what makes the OKRs
meaningless as a tree: an orphan team or individual objective that rolls up to nothing the company
committed to. Everything else is a ``warning``: worth a look in review, not a reason to block a merge.

Judgements the rules share (see the helpers below):
- A KR is *technical* when its source is ``mlflow``, ``prometheus`` or ``great_expectations``, or its
  title names a model or system metric (latency, accuracy, F1, AUC, uptime, precision, recall, ...).
  Any other KR (SQL over the business's own tables, a manual check-in on usability or adoption) is a
  *business outcome*.
- A KR is a *delivery outcome* when it reads deployments, rollbacks or time to production of an MLflow alias
  the source counts as production (``production_aliases``): the DORA figures of an ML team (deployment
  frequency, change failure, lead time), facts of production rather than work done ("Deploy 3 new production
  models with zero rollback incidents"). Runs launched stay work done.
- An objective's *level* is its ``level:``; without one, a root is the company level and an objective
  with a ``team:`` is a team objective.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Literal, NamedTuple

from okrflow.okr_model.config import Config, KeyResult, Objective
from okrflow.okr_model.rollup import ancestors
from okrflow.okr_model.types import MAINTAIN_KINDS, Band

__all__ = ["RULES", "Finding", "Rule", "lint"]

Severity = Literal["error", "warning"]

MAX_OBJECTIVES = 5
QUARTER_DAYS = (80, 100)
SIX_WEEK_DAYS = (38, 46)
TECHNICAL_SOURCES = frozenset({"mlflow", "prometheus", "great_expectations"})
MONITORING_SOURCES = frozenset({"prometheus", "great_expectations"})
ML_SOURCES = frozenset({"mlflow"})
DELIVERY_MEASURES = frozenset({"deployments", "rollbacks", "time_to_production"})

_TECHNICAL_TITLE = re.compile(
    r"\b(latency|accuracy|f1|auc|roc|uptime|downtime|precision|recall|p9[059]|throughput|error rate)\b", re.I
)
_ML_TITLE = re.compile(r"\b(accuracy|f1|auc|roc|precision|recall)\b", re.I)
_NUMBER = r"(?:\d+|one|two|three|four|five|six|seven|eight|nine|ten|a\s+dozen)"
_ACTIVITY_TITLE = re.compile(
    r"^\s*(?:build|built|train|launch|ship|creat|deploy|develop|implement)\w*\s+"
    rf"(?:{_NUMBER}\b|an?\s+(?:[\w-]+\s+){{0,2}}models?\b)",
    re.I,
)


@dataclass(frozen=True)
class Finding:
    """One anti-pattern found: which rule, how bad, on which KR/objective/team, and what to do."""

    rule: str
    severity: Severity
    subject: str
    message: str
    fix: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class Hit(NamedTuple):
    """What a rule function reports; ``lint`` adds the rule id and severity."""

    subject: str
    message: str
    fix: str


@dataclass(frozen=True)
class Rule:
    """A registered rule (``okrflow lint --rules`` prints id, severity and description)."""

    id: str
    severity: Severity
    description: str
    check: Callable[[Config], Iterable[Hit]]


# -- shared judgements ---------------------------------------------------------------------------------------


def _source_type(config: Config, kr: KeyResult) -> str | None:
    if kr.metric is None:
        return None
    source = config.sources.get(kr.metric.source)
    return source.type if source is not None else None


def _is_technical(config: Config, kr: KeyResult) -> bool:
    return _source_type(config, kr) in TECHNICAL_SOURCES or bool(_TECHNICAL_TITLE.search(kr.title or ""))


def _is_ml(config: Config, kr: KeyResult) -> bool:
    return _source_type(config, kr) in ML_SOURCES


def _is_delivery(config: Config, kr: KeyResult) -> bool:
    """What reached production and how it fared there, read from the registry: not a count of work started."""
    if kr.metric is None or not _is_ml(config, kr):
        return False
    aliases = getattr(config.sources[kr.metric.source], "production_aliases", None) or ()
    return getattr(kr.metric, "measure", None) in DELIVERY_MEASURES and getattr(kr.metric, "alias", None) in aliases


def _is_monitoring(config: Config, kr: KeyResult) -> bool:
    """Watches something already running: a threshold held, a drift rule, live serving or data checks."""
    return (
        kr.kind in MAINTAIN_KINDS or config.drift_rule(kr) is not None or _source_type(config, kr) in MONITORING_SOURCES
    )


def _level(objective: Objective) -> str:
    if objective.level is not None:
        return objective.level
    if objective.team is not None:
        return "team"
    return "company" if objective.parent is None else "individual"


def _label(kr: KeyResult) -> str:
    return f"{kr.id} ({kr.title!r})" if kr.title else kr.id


def _list(ids: Iterable[str]) -> str:
    return ", ".join(ids)


# -- the rules -----------------------------------------------------------------------------------------------


def too_many_objectives(config: Config) -> Iterator[Hit]:
    """Team objectives counted per team (company objectives together); individuals' objectives are their own."""
    groups: dict[str, list[str]] = {}
    for objective in config.objectives:
        level = _level(objective)
        if level == "individual":
            continue
        name = objective.team if objective.team is not None else "company" if level == "company" else None
        if name is not None:
            groups.setdefault(name, []).append(objective.id)
    for team, ids in groups.items():
        if len(ids) > MAX_OBJECTIVES:
            yield Hit(
                team,
                f"{team} has {len(ids)} objectives in cycle {config.cycle.name} ({_list(ids)}); "
                f"the guidance is 3-{MAX_OBJECTIVES} per team per cycle",
                "keep the few that matter most this cycle; move the rest to the next cycle or fold them in as KRs",
            )


def kr_without_owner(config: Config) -> Iterator[Hit]:
    for objective, kr in config.key_results():
        if kr.owner is None and objective.owner is None:
            yield Hit(
                kr.id,
                f"key result {_label(kr)} has no owner, and neither has its objective {objective.id}: "
                "nobody is alerted when it goes off track",
                f"add owner: to {kr.id} or to objective {objective.id}",
            )


def kr_without_baseline(config: Config) -> Iterator[Hit]:
    """Manual KRs count too: without a baseline they silently start from 0 (say ``baseline: 0`` if that is true)."""
    for _, kr in config.key_results():
        if kr.kind in ("increase", "decrease", "manual") and kr.baseline is None:
            yield Hit(
                kr.id,
                f"key result {_label(kr)} (kind {kr.kind}) has no baseline, so its progress starts from 0 "
                "instead of where the cycle started",
                f"add baseline: (the value at the start of the cycle) to {kr.id}; write baseline: 0 if it truly is 0",
            )


def kr_without_metric(config: Config) -> Iterator[Hit]:
    """The schema already enforces this; kept for configs built in code without validation."""
    for _, kr in config.key_results():
        if kr.kind != "manual" and kr.metric is None:
            yield Hit(
                kr.id,
                f"key result {_label(kr)} (kind {kr.kind}) has no metric binding, so nothing measures it",
                f"bind {kr.id} to a metric (metric: {{source: ..., ...}}) or declare it kind: manual for check-ins",
            )


def activity_kr(config: Config) -> Iterator[Hit]:
    """'Build 5 models' is an activity; it is fine when the KR measures an outcome (business or delivery)."""
    for _, kr in config.key_results():
        if not kr.title or not _ACTIVITY_TITLE.match(kr.title):
            continue
        business = kr.kind in ("increase", "decrease", *MAINTAIN_KINDS) and not _is_technical(config, kr)
        outcome = business or _is_delivery(config, kr)
        if not outcome:
            yield Hit(
                kr.id,
                f"key result {_label(kr)} counts an activity, not an outcome: doing it does not show anyone is better off",
                "state the outcome the work should move (tickets resolved, cost, retention, CSAT...) and measure that; "
                "for deployments, bind the production alias (measure: deployments)",
            )


def missing_the_user(config: Config) -> Iterator[Hit]:
    """Only technical KRs is fine when an objective it rolls up to, or its team, names the user outcome."""
    business_teams = {o.team for o, kr in config.key_results() if o.team is not None and not _is_technical(config, kr)}
    by_id = {o.id: o for o in config.objectives}
    for objective in config.objectives:
        krs = objective.key_results
        if not krs or not all(_is_technical(config, kr) for kr in krs):
            continue
        if objective.team in business_teams:
            continue
        if any(not _is_technical(config, kr) for a in ancestors(objective, by_id) for kr in a.key_results):
            continue
        yield Hit(
            objective.id,
            f"objective {objective.id} has only technical key results ({_list(kr.id for kr in krs)}) and no "
            "business outcome above it or in its team: missing the user",
            f"add a key result on what users or the business get (adoption, CSAT, tickets, retention, cost) to "
            f"{objective.id} or to an objective it rolls up to",
        )


def orphan_objective(config: Config) -> Iterator[Hit]:
    for objective in config.objectives:
        if objective.parent is None and _level(objective) in ("team", "individual"):
            what = f"level {objective.level}" if objective.level else f"team {objective.team}"
            roots = [o.id for o in config.objectives if o.parent is None and _level(o) == "company"]
            yield Hit(
                objective.id,
                f"objective {objective.id} ({what}) has no parent, so it does not trace to a company objective",
                f"set parent: to the company objective it serves ({_list(roots)})"
                if roots
                else "add the company objective it serves (level: company) and set parent: to it",
            )


def false_precision(config: Config) -> Iterator[Hit]:
    """Aspirational model metrics are probabilistic: a band states the commitment and the stretch."""
    for _, kr in config.key_results():
        if kr.track != "aspirational" or isinstance(kr.target, Band):
            continue
        if kr.kind in MAINTAIN_KINDS:
            continue  # a threshold to hold takes one number (the schema refuses a band)
        if _is_ml(config, kr) or _ML_TITLE.search(kr.title or ""):
            point = kr.target
            yield Hit(
                kr.id,
                f"aspirational key result {_label(kr)} has a point target {point:g} for a probabilistic model "
                "metric: false precision",
                f"give {kr.id} a band, target: [low, high]: the low end what you commit to, the high end the stretch "
                f"(the point target was {point:g})",
            )


def ignoring_maintenance(config: Config) -> Iterator[Hit]:
    if any(_is_monitoring(config, kr) for _, kr in config.key_results()):
        return
    for objective in config.objectives:
        ml = [kr.id for kr in objective.key_results if _is_ml(config, kr)]
        if ml:
            yield Hit(
                objective.id,
                f"objective {objective.id} develops models ({_list(ml)}) but no key result in the config watches "
                "models or data in production: ignoring maintenance",
                f"add a drift rule (drift: {{max_drop: 0.03}}) to {ml[0]}, or a monitoring key result "
                "(maintain_above/maintain_below, serving metrics in Prometheus, a data-quality suite)",
            )


def cycle_length(config: Config) -> Iterator[Hit]:
    cycle = config.cycle
    days = (cycle.end - cycle.start).days + 1
    if not (QUARTER_DAYS[0] <= days <= QUARTER_DAYS[1] or SIX_WEEK_DAYS[0] <= days <= SIX_WEEK_DAYS[1]):
        yield Hit(
            cycle.name,
            f"cycle {cycle.name} lasts {days} days ({cycle.start}..{cycle.end}); OKR cycles are quarterly "
            f"({QUARTER_DAYS[0]}-{QUARTER_DAYS[1]} days) or six weeks ({SIX_WEEK_DAYS[0]}-{SIX_WEEK_DAYS[1]} days)",
            "set cycle start/end to a quarter or a six-week cycle",
        )


def review_timing(config: Config) -> Iterator[Hit]:
    cycle = config.cycle
    days = (cycle.end - cycle.start).days + 1
    day = (cycle.review_date - cycle.start).days
    if not days / 3 <= day <= 2 * days / 3:
        yield Hit(
            cycle.name,
            f"the mid-cycle review of {cycle.name} is on {cycle.review_date}, day {day + 1} of {days}: outside the "
            "middle third of the cycle (mid-cycle review in week 6-7 of a quarter)",
            "set cycle review: to a date in the middle third of the cycle, or drop it to default to the midpoint",
        )


def unmeasured_objective(config: Config) -> Iterator[Hit]:
    parents = {o.parent for o in config.objectives}
    for objective in config.objectives:
        if not objective.key_results and objective.id not in parents:
            yield Hit(
                objective.id,
                f"objective {objective.id} has no key results and no child objectives, so nothing can score it",
                f"add key results to {objective.id}, or child objectives that name it as parent",
            )


RULES: tuple[Rule, ...] = (
    Rule("too-many-objectives", "warning", "more than 5 objectives per team per cycle", too_many_objectives),
    Rule("kr-no-owner", "warning", "a key result with no owner, on itself or its objective", kr_without_owner),
    Rule("kr-no-baseline", "warning", "an increase/decrease/manual key result without a baseline", kr_without_baseline),
    Rule("kr-no-metric", "warning", "a key result with no metric binding that is not kind manual", kr_without_metric),
    Rule("activity-kr", "warning", "an activity ('Build 5 models') without an outcome metric", activity_kr),
    Rule(
        "missing-the-user", "warning", "an objective with only technical key results, no user outcome", missing_the_user
    ),
    Rule(
        "orphan-objective",
        "error",
        "a team or individual objective that traces to no company objective",
        orphan_objective,
    ),
    Rule("false-precision", "warning", "an aspirational model-metric key result with a point target", false_precision),
    Rule("ignoring-maintenance", "warning", "model key results and no monitoring key result", ignoring_maintenance),
    Rule("cycle-length", "warning", "a cycle that is neither a quarter nor six weeks", cycle_length),
    Rule("review-timing", "warning", "a mid-cycle review outside the middle third of the cycle", review_timing),
    Rule("unmeasured-objective", "warning", "an objective with neither key results nor children", unmeasured_objective),
)


def lint(config: Config, rules: Iterable[Rule] = RULES) -> list[Finding]:
    """Every finding of every rule, in rule order then file order."""
    return [Finding(rule.id, rule.severity, *hit) for rule in rules for hit in rule.check(config)]
