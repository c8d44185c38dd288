"""One exception tree: every error okrflow raises on purpose derives from ``OkrflowError``.

Classes live beside the code that raises them (the module in brackets); all are drawn here::

    OkrflowError                  base: ``okrflow`` commands print its message in one line and exit 1
    ├── ConfigError               a config file is invalid: every issue with file, key path and line
    ├── UnsafeYamlError           the YAML text exceeds a limit or repeats keys; the loader makes it a ConfigError
    │                             [okr_model.yaml_safety]
    ├── ScoringError              a weighted mean or score is not a finite number (a hostile value got through)
    ├── OutsideCycle              a run's slot lies outside the config's cycle  [okr_model.cycles]
    ├── UnknownSourceType         a config names a source type no connector provides  [connectors.registry]
    ├── SourceError               a source could not answer; inside a run it becomes a ``Measurement``
    │   ├── SourceQueryError      a Prometheus range query (backfill) failed  [connectors.prometheus_errors]
    │   ├── HttpAnswer            Prometheus answered other than 200: its status and body  [connectors.prometheus_errors]
    │   ├── QueryShapeError       a SQL statement ran but returned no result set  [connectors.sql_errors]
    │   ├── SqlReadError          ``SqlConnector.read_frame`` could not read  [connectors.sql_errors]
    │   ├── NoData                what an MLflow binding names is not there (``no_data``)  [connectors.mlflow_client]
    │   └── Failed                an MLflow read failed; the message is the whole detail  [connectors.mlflow_client]
    ├── StoreError                the history store failed after it opened  [okrflow.store.guard]
    ├── DeliveryError             an alert could not be sent (retried from the outbox)  [okrflow.alerts.delivery]
    ├── AlertStepFailed           a run was stored but its alert step failed: the run exits 1  [okrflow.alerts.notify]
    ├── ExporterError             the Prometheus exporter cannot serve  [okrflow.report.exporter]
    ├── WebhookVerificationError  a received webhook is not authentic or not fresh  [okrflow.webhooks]
    ├── BackfillError             a backfill cannot run  [flows.backfill]
    ├── DeployError               the Prefect deployment cannot be created  [flows.deploy]
    └── LocalPrefectError         ``serve``'s own Prefect server did not start  [flows.local_prefect]

A fetch failure never escapes a run as an exception: it becomes a ``Measurement`` with ``status="error"``
(or ``no_data``). Errors that also are ``ValueError``/``LookupError`` keep those bases for callers that
catch the built-in ones. Built-in exceptions (``ValueError`` from a validator, ``RuntimeError`` for a
programming error) are not part of the tree, nor are private signals that never leave their module
(as ``yaml_safety``'s "leave this document to PyYAML's own path").
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConfigError", "ConfigIssue", "OkrflowError", "ScoringError", "SourceError"]


class OkrflowError(Exception):
    """Base of every error okrflow raises on purpose."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem in a config file, located by key path (``objectives[1].key_results[0].target``)."""

    path: str
    message: str
    line: int | None = None

    def render(self, file: str) -> str:
        where = f"{file}:{self.line}" if self.line else file
        key = f" {self.path}:" if self.path else ""
        return f"{where}:{key} {self.message}"


class ConfigError(OkrflowError):
    """A config file is invalid; ``str()`` lists every issue with file, key path and line."""

    def __init__(self, file: str, issues: list[ConfigIssue]):
        self.file = file
        self.issues = issues
        super().__init__("\n".join(issue.render(file) for issue in issues))


class ScoringError(OkrflowError):
    """A score or weighted mean came out as NaN or infinite: refused rather than stored as a number."""


class SourceError(OkrflowError):
    """A source could not answer a query; a run turns it into an ``error`` or ``no_data`` measurement."""
