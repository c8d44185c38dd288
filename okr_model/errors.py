"""One exception tree for okrflow's domain.

    OkrflowError
    ├── ConfigError          a config file is invalid: names the file, the key path and what was expected
    └── ScoringError         a key result cannot be scored from the data given (a programming error, not bad data)

Connectors and the store raise their own subclasses of ``OkrflowError``; a fetch failure is never an
exception that escapes a run, it becomes a ``Measurement`` with ``status="error"``.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConfigError", "ConfigIssue", "OkrflowError", "ScoringError"]


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
    """Scoring was asked something impossible (e.g. a band without a baseline)."""
