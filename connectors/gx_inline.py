"""Inline suites: read the suite's data (a ``sql`` source's table or query, or a file) and validate it with GX.

What GX needs to validate a suite (data source, asset, batch definition, suite, validation definition) is built
once per process and suite definition in one ephemeral context, then reused by later runs with each run's
dataframe. GX keeps process-wide state, so validations of all connectors run one at a time (``GX_LOCK``).
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from okrflow.connectors.gx_catalog import describe
from okrflow.connectors.gx_config import DataRef, Suite
from okrflow.connectors.gx_results import Outcome, SuiteRun, exception_text, plain, pydantic_text

__all__ = ["GX_LOCK", "ephemeral_context", "read_file", "validate_frame"]

GX_LOCK = threading.Lock()
"""GX keeps process-wide state (the current project); suites of all connectors validate one at a time."""


def read_file(data: DataRef) -> Any:
    """A CSV or Parquet file as a dataframe."""
    import pandas as pd

    path = Path(data.path or "")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path.resolve()}")
    return pd.read_csv(path) if path.suffix.lower() == ".csv" else pd.read_parquet(path)


def validate_frame(source: str, name: str, suite: Suite, frame: Any, label: str) -> SuiteRun:
    """Validate ``frame`` against the inline suite; outcomes in the config's order, labelled as written."""
    with GX_LOCK:
        prepared = _prepared(source, name, suite)
        result = prepared.validation.run(batch_parameters={"dataframe": frame}, result_format="BASIC")
    by_id = {r.expectation_config.id: r for r in result.results}
    outcomes = []
    for (expectation, kwargs), eid in zip(suite.items(), prepared.ids, strict=True):
        r = by_id[eid]
        figures = {k: plain(r.result[k]) for k in ("unexpected_percent", "observed_value") if k in (r.result or {})}
        outcomes.append(
            Outcome(describe(expectation, kwargs), bool(r.success), figures, exception_text(r.exception_info))
        )
    return SuiteRun(label, None, len(frame), plain(result.statistics.get("success_percent")), tuple(outcomes))


@dataclass(frozen=True)
class _Prepared:
    validation: Any
    ids: list[str]
    """The suite's expectation ids, in the config's order (results are matched by id)."""


_PREPARED: dict[str, _Prepared] = {}
"""Validation definitions by (source, suite, definition) hash, shared by the process's runs (under ``GX_LOCK``)."""
_PREPARED_MAX = 256
_CONTEXT: list[Any] = []


def _prepared(source: str, name: str, suite: Suite) -> _Prepared:
    """The suite's validation definition, built once per process (under ``GX_LOCK``) and reused by later
    runs: registering a data source, asset, batch definition and suite costs GX more than validating."""
    import great_expectations as gx
    from great_expectations.expectations.registry import get_expectation_impl

    blob = json.dumps([source, name, suite.model_dump(mode="json")], sort_keys=True, default=str)
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
            raise ValueError(f"expectation {index} ({expectation}) is invalid: {pydantic_text(exc)}") from exc
    if not _CONTEXT:
        _CONTEXT.append(ephemeral_context())
    context = _CONTEXT[0]
    unique = f"{source}.{name}.{key}"
    batch = (
        context.data_sources.add_pandas(name=unique)
        .add_dataframe_asset(name=name)
        .add_batch_definition_whole_dataframe(name="whole")
    )
    gx_suite = context.suites.add(gx.ExpectationSuite(name=unique, expectations=expectations))
    validation = gx.ValidationDefinition(name=unique, data=batch, suite=gx_suite)
    prepared = _PREPARED[key] = _Prepared(validation, [e.id for e in gx_suite.expectations])
    return prepared


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
