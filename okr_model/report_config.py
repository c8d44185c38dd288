"""Where the served flow keeps the HTML report current (``report: {path: ...}``). Pure."""

from __future__ import annotations

from okrflow.okr_model.types import Model
from pydantic import Field

__all__ = ["ReportSettings"]


class ReportSettings(Model):
    """The HTML report a served run rewrites after each stored run, so a static web server serves it."""

    path: str | None = Field(
        None,
        min_length=1,
        description="rewrite the HTML report here after each served run (atomically: written beside it, then "
        "renamed over it); relative to the config file's folder. Unset, no report is written by runs",
    )
