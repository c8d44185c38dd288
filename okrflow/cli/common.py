"""What every command shares: the console, the -c config path, loading the config and opening the store, reading
times, and failing with a message and an exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

from okrflow.okr_model.errors import ConfigError
from okrflow.views.console import output_console

if TYPE_CHECKING:
    from okrflow.okr_model.config import Config  # the pydantic models: imported by ``load``, when a command loads

out = output_console()  # a terminal's width; a pipe, file or CI log unwrapped (unless COLUMNS is set)


class TableFormat(StrEnum):
    table = "table"
    json = "json"


class HistoryFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class State:
    config_path: Path = Path("okrflow.yaml")
    own_process: bool = False
    """Set by ``main``: the process ends with the command (not so under a test runner or an embedding app)."""


state = State()


def fail(message: str, code: int) -> NoReturn:
    print(message, file=sys.stderr)  # plain text: errors are grepped and must not be re-wrapped
    raise typer.Exit(code)


def load(*, check_sources: bool = True) -> Config:
    """Load and validate the config (exit 2 with file, key path and reason on error).

    A command that only reads the store or the config passes ``check_sources=False``: the connectors' checks
    (a SQL parse of every metric query, expectation names) guard fetching, so ``validate`` and every command
    that fetches keep them, and a glance at ``status`` does not import the SQL parser."""
    from okrflow.connectors.registry import default_registry
    from okrflow.okr_model.loader import load_config

    try:
        return load_config(state.config_path, default_registry(), check_sources=check_sources)
    except ConfigError as exc:
        fail(f"invalid config:\n{exc}", 2)
    except (RecursionError, MemoryError) as exc:  # the loader's limits should stop such a file first
        fail(f"invalid config:\n{state.config_path}: too deeply nested or too large to load ({type(exc).__name__})", 2)


def store_url(config: Config) -> str:
    from okrflow.okr_model.paths import store_url as resolve

    return resolve(config)


def open_store(config: Config):  # -> Store (imported lazily for speed)
    from okrflow.store import Store, StoreError

    try:
        return Store.open(store_url(config))
    except StoreError as exc:
        fail(str(exc), 1)


def parse_time(value: str | None, option: str, config: Config | None = None) -> datetime | None:
    """An ISO time from the command line; a naive one is read in the config's time zone (UTC without one)."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option}: expected an ISO time such as 2026-11-15T09:00:00Z (got {value!r})", 2)
    from okrflow.okr_model.cycles import read_instant

    return read_instant(parsed, config.tz if config is not None else UTC)


CONFIG_FILES_HELP = (
    "Config files to check instead of -c (pre-commit passes the changed files); exit with the worst code."
)


def for_each_config(configs: list[Path] | None, check: Callable[[], None]) -> None:
    """Run ``check`` on every config file given (or the -c one), all of them even after a failure."""
    worst = 0
    for path in configs or [state.config_path]:
        state.config_path = path
        try:
            check()
        except typer.Exit as exc:
            worst = max(worst, exc.exit_code)
    if worst:
        raise typer.Exit(worst)


def known_kr(config: Config, kr_id: str, allow_removed: bool = False):
    try:
        return config.key_result(kr_id)[1]
    except KeyError:
        if allow_removed:
            return None
        known = ", ".join(kr.id for _, kr in config.key_results())
        fail(f"unknown key result {kr_id!r} in {state.config_path} (known: {known})", 2)
