"""okrflow's domain: config schema, scoring, rollup, pacing and statuses. Pure code, no I/O beyond reading a config."""

from okrflow.okr_model.config import Config, Cycle, KeyResult, MetricBinding, Objective, SourceConfig
from okrflow.okr_model.errors import ConfigError, ConfigIssue, OkrflowError
from okrflow.okr_model.loader import SchemaResolver, load_config, parse_config
from okrflow.okr_model.pacing import Judgement, Status, elapsed_share, expected_score, kr_status, pace_status
from okrflow.okr_model.rollup import rollup, weighted_mean
from okrflow.okr_model.scoring import GateInputs, KRScore, score_key_result
from okrflow.okr_model.status import judge_key_result, judge_objectives

__all__ = [
    "Config",
    "ConfigError",
    "ConfigIssue",
    "Cycle",
    "GateInputs",
    "Judgement",
    "KRScore",
    "KeyResult",
    "MetricBinding",
    "Objective",
    "OkrflowError",
    "SchemaResolver",
    "SourceConfig",
    "Status",
    "elapsed_share",
    "expected_score",
    "judge_key_result",
    "judge_objectives",
    "kr_status",
    "load_config",
    "pace_status",
    "parse_config",
    "rollup",
    "score_key_result",
    "weighted_mean",
]
