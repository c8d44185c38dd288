"""Relative paths in a config file are relative to the file's folder, not to the working directory. Pure.

Otherwise ``okrflow -c team/okrflow.yaml status`` run from another folder reads (and SQLite creates) a different,
empty store. Only what the file says is anchored: ``OKRFLOW_STORE_URL`` and other process settings stay relative
to the working directory, like any path typed in a shell.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from okrflow.okr_model.config import Config, SourceConfig

__all__ = ["STORE_URL_ENV", "anchor_config", "anchor_file", "anchor_sqlite_url", "sqlite_file", "store_url"]

STORE_URL_ENV = "OKRFLOW_STORE_URL"


def store_url(config: Config, environ: Mapping[str, str] = os.environ) -> str:
    """The history store a command reads and writes: ``OKRFLOW_STORE_URL``, else the config's ``store``
    (anchored to the config's folder by ``load_config``). The one place this rule is written."""
    return environ.get(STORE_URL_ENV) or config.store


_SQLITE_URL = re.compile(r"^(sqlite(?:\+\w+)?:///)(.*)$", re.DOTALL)


def anchor_sqlite_url(url: str, base: Path) -> str:
    """``sqlite:///okrflow.db`` -> ``sqlite:////abs/base/okrflow.db``; absolute, in-memory and non-SQLite URLs as given.

    Works for SQLAlchemy URLs (``sqlite+pysqlite:///``, a ``file:`` database, ``?query``) and MLflow's
    ``sqlite:///`` tracking URIs alike.
    """
    match = _SQLITE_URL.match(url)
    if match is None:
        return url
    prefix, rest = match.groups()
    path, sep, query = rest.partition("?")
    scheme = "file:" if path.startswith("file:") else ""
    path = path.removeprefix("file:")
    if path in ("", ":memory:") or Path(path).is_absolute():
        return url
    return f"{prefix}{scheme}{anchor_file(path, base)}{sep}{query}"


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///`` URL (None for other databases and in-memory SQLite)."""
    match = _SQLITE_URL.match(url)
    path = match.group(2).partition("?")[0].removeprefix("file:") if match else ""
    return Path(path) if path not in ("", ":memory:") else None


def anchor_config(
    config: Config, base: Path, anchor_source: Callable[[SourceConfig, Path], SourceConfig] | None = None
) -> Config:
    """The config with its relative store, report and source paths joined to ``base`` (each connector knows its own)."""
    sources = {name: anchor_source(s, base) for name, s in config.sources.items()} if anchor_source else None
    report = config.report
    if report.path is not None:
        report = report.model_copy(update={"path": anchor_file(report.path, base)})
    return config.model_copy(
        update={
            "store": anchor_sqlite_url(config.store, base),
            "report": report,
            **({"sources": sources} if sources else {}),
        }
    )


def anchor_file(path: str, base: Path) -> str:
    """A file path from the config: relative ones are joined to ``base`` (the config's folder)."""
    return path if Path(path).is_absolute() else str(base / path)
