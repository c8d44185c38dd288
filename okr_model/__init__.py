"""okrflow's domain: config schema, scoring, rollup, pacing and statuses. Pure code, no I/O beyond reading a config.

Members are imported on first use (``lazy_exports``): importing ``okrflow.okr_model.errors`` does not build the
config models.
"""

from typing import TYPE_CHECKING

from okrflow.okr_model.lazy_exports import lazy_exports

if TYPE_CHECKING:
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

__getattr__ = lazy_exports(
    globals(),
    {
        "Config": "okrflow.okr_model.config",
        "Cycle": "okrflow.okr_model.config",
        "KeyResult": "okrflow.okr_model.config",
        "MetricBinding": "okrflow.okr_model.config",
        "Objective": "okrflow.okr_model.config",
        "SourceConfig": "okrflow.okr_model.config",
        "ConfigError": "okrflow.okr_model.errors",
        "ConfigIssue": "okrflow.okr_model.errors",
        "OkrflowError": "okrflow.okr_model.errors",
        "SchemaResolver": "okrflow.okr_model.loader",
        "load_config": "okrflow.okr_model.loader",
        "parse_config": "okrflow.okr_model.loader",
        "Judgement": "okrflow.okr_model.pacing",
        "Status": "okrflow.okr_model.pacing",
        "elapsed_share": "okrflow.okr_model.pacing",
        "expected_score": "okrflow.okr_model.pacing",
        "kr_status": "okrflow.okr_model.pacing",
        "pace_status": "okrflow.okr_model.pacing",
        "rollup": "okrflow.okr_model.rollup",
        "weighted_mean": "okrflow.okr_model.rollup",
        "GateInputs": "okrflow.okr_model.scoring",
        "KRScore": "okrflow.okr_model.scoring",
        "score_key_result": "okrflow.okr_model.scoring",
        "judge_key_result": "okrflow.okr_model.status",
        "judge_objectives": "okrflow.okr_model.status",
    },
)
