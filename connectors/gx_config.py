"""What a ``great_expectations`` source and metric say in the config (no GX import: ``okrflow validate`` is fast).

A source names its suites. Each is one of two kinds:

- inline: ``data`` (a table or query of a ``sql`` source, or a CSV/Parquet file) and ``expectations``;
- of the team's GX project (``context_root_dir``, a File Data Context folder ``gx/``): ``checkpoint: NAME`` runs
  that checkpoint, ``suite: NAME`` runs that suite through the project's validation definition, and
  ``suite: NAME, stored: true`` reads the latest validation result the project stored as of the slot.

KRs and quality gates name a suite of the source either way.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from okrflow.okr_model.config import MetricBinding, SourceConfig
from okrflow.okr_model.types import Id
from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, model_validator

__all__ = ["FILE_SUFFIXES", "QUERY_BINDS", "DataRef", "GxMetric", "GxSource", "ProjectSuite", "Suite"]

QUERY_BINDS = ("cycle_start", "cycle_end", "now")
FILE_SUFFIXES = (".csv", ".parquet", ".pq")


class DataRef(BaseModel):
    """The data a suite validates: ``table`` or ``query`` on a ``sql`` source, or a file ``path``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: Id | None = Field(None, description="a sql source of this config (with table or query)")
    table: str | None = Field(None, pattern=r"^[A-Za-z_][\w$]*(\.[A-Za-z_][\w$]*)?$", description="[schema.]table")
    query: str | None = Field(None, min_length=1, description="one SELECT; binds :cycle_start, :cycle_end, :now")
    path: str | None = Field(
        None, min_length=1, description="CSV or Parquet file, relative to the config file's folder"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> DataRef:
        given = [key for key in ("table", "query", "path") if getattr(self, key) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of table, query or path (got {', '.join(given) or 'none'})")
        if self.path is not None:
            if self.source is not None:
                raise ValueError("a file path takes no source (source names the sql source of a table or query)")
            if not self.path.lower().endswith(FILE_SUFFIXES):
                raise ValueError(f"path must end with {', '.join(FILE_SUFFIXES)} (got {self.path!r})")
        elif self.source is None:
            raise ValueError(f"{given[0]} needs source: the name of a sql source of this config")
        if self.query is not None:
            unknown = sorted(self.binds() - set(QUERY_BINDS))
            if unknown:
                raise ValueError(
                    f"the query uses {', '.join(':' + n for n in unknown)}; only :cycle_start, :cycle_end, :now exist"
                )
        return self

    def binds(self) -> set[str]:
        from okrflow.connectors.sql_url import bind_names

        return bind_names(self.query) if self.query is not None else set()

    def label(self) -> str:
        if self.path is not None:
            return f"file {self.path}"
        return f"table {self.table} of source {self.source!r}" if self.table else f"query on source {self.source!r}"


def _one_expectation(value: Any) -> Any:
    """``- expect_x: {kwargs}`` (kwargs may be empty); anything else is explained."""
    if isinstance(value, str):
        return {value: {}}
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(
            "each expectation is a one-key mapping, e.g. - expect_column_values_to_not_be_null: {column: x}"
        )
    (name, kwargs), *_ = value.items()
    if kwargs is None:
        kwargs = {}
    if not isinstance(name, str) or not isinstance(kwargs, dict):
        raise ValueError(f"the arguments of {name} must be a mapping, e.g. {{column: x}} (got {kwargs!r})")
    return {name: kwargs}


class Suite(BaseModel):
    """An inline suite: a list of expectations over one data reference."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: DataRef
    expectations: list[Annotated[dict[str, dict[str, Any]], BeforeValidator(_one_expectation)]] = Field(min_length=1)

    def items(self) -> list[tuple[str, dict[str, Any]]]:
        return [next(iter(e.items())) for e in self.expectations]

    def past_readable(self) -> bool:
        """A query over a time window (``:now``) validates the data of any past slot; a table or file only today's."""
        return "now" in self.data.binds()


class ProjectSuite(BaseModel):
    """A checkpoint or suite of the team's GX project (``context_root_dir``), run now or read from stored results."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    checkpoint: str | None = Field(None, min_length=1, description="run this checkpoint of the project")
    suite: str | None = Field(None, min_length=1, description="this suite of the project")
    stored: bool = Field(
        False, description="with suite: read its latest validation result stored as of the slot, without running it"
    )

    @model_validator(mode="after")
    def _one_kind(self) -> ProjectSuite:
        if (self.checkpoint is None) == (self.suite is None):
            raise ValueError("give exactly one of checkpoint: NAME or suite: NAME (of the context_root_dir project)")
        if self.stored and self.suite is None:
            raise ValueError("stored: true reads the results of a suite: add suite: NAME (results are kept per suite)")
        return self

    def past_readable(self) -> bool:
        return self.stored

    def label(self) -> str:
        if self.checkpoint is not None:
            return f"checkpoint {self.checkpoint!r}"
        return f"{'stored results of ' if self.stored else ''}project suite {self.suite!r}"


def _suite_kind(value: Any) -> str:
    """Inline (``data``/``expectations``) unless it names a ``checkpoint``, ``suite`` or ``stored`` result."""
    keys = set(value) if isinstance(value, dict) else set(vars(value)) if isinstance(value, BaseModel) else set()
    project = not {"data", "expectations"} & keys and bool({"checkpoint", "suite", "stored"} & keys)
    return "project" if project else "inline"


AnySuite = Annotated[
    Annotated[Suite, Tag("inline")] | Annotated[ProjectSuite, Tag("project")], Discriminator(_suite_kind)
]


class GxSource(SourceConfig):
    """A Great Expectations source: named suites, inline or of the team's GX project."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["great_expectations"]
    context_root_dir: str | None = Field(
        None,
        min_length=1,
        description="the team's GX project folder (a File Data Context, usually gx/), relative to the config file",
    )
    suites: dict[Id, AnySuite] = Field(min_length=1)

    @model_validator(mode="after")
    def _project_named(self) -> GxSource:
        if self.context_root_dir is None:
            used = [name for name, suite in self.suites.items() if isinstance(suite, ProjectSuite)]
            if used:
                raise ValueError(
                    f"suites {', '.join(used)} name a checkpoint or suite of a GX project: "
                    "add context_root_dir: the project's gx/ folder"
                )
        return self


class GxMetric(MetricBinding):
    """``{suite}``: percent of expectations passed; ``{suite, expectation: N, result}``: that expectation's figure."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    suite: Id
    expectation: int | None = Field(None, ge=0, description="index into the suite's expectations (from 0)")
    result: Literal["unexpected_percent", "observed_value", "success_percent"] | None = None

    @model_validator(mode="after")
    def _result_fits(self) -> GxMetric:
        if self.expectation is None and self.result not in (None, "success_percent"):
            raise ValueError(f"result {self.result} is a figure of one expectation: add expectation: N (from 0)")
        if self.expectation is not None and self.result in (None, "success_percent"):
            raise ValueError("with expectation: N, say which figure: result: unexpected_percent or observed_value")
        return self

    @property
    def figure(self) -> str:
        return self.result or "success_percent"
