"""Commands import only what they use (issue 18, "Fast from the first keystroke").

``okrflow validate`` is a pre-commit hook and ``okrflow status`` a glance: most of either is imports. Neither
fetches, so neither may load a source's client, a database driver it does not read, pandas, numpy, Prefect or
Alembic; ``validate`` opens no store, so it loads neither SQLAlchemy's ORM nor the store; ``status`` reads the
store with Core statements, so it loads no ORM either; ``--help`` reads no config (pydantic itself is typer's: it
converts the parameters). Checked in a real ``okrflow`` process, which lists every module in its ``sys.modules``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from okrflow.store import KRResult, ObjectiveResult, RunRecord, Store
from tests.fixtures.modules import REPO, okrflow_process

EXAMPLE = REPO / "config" / "example.yaml"
"""SQL, Prometheus, MLflow and Great Expectations sources, none of them running: these commands do not fetch."""

CLIENTS = ("requests", "urllib3", "prometheus_api_client", "mlflow", "great_expectations", "httpx")
"""The sources' clients: imported when a source is fetched, never to validate or show a config."""
UNUSED = ("pandas", "numpy", "prefect", "alembic", "psycopg", "pymysql", "okrflow.flows", "okrflow.alerts")
"""Nothing of a run: neither its orchestration, nor dataframes, nor a driver of a database these commands do not read."""
NO_STORE = ("sqlalchemy.orm", "sqlite3", "okrflow.store.store", "okrflow.views.status", "okrflow.views.history")
"""What only a command that opens the store (or shows its rows) needs."""


def okrflow_modules(tmp_path: Path, *args: str, store_url: str | None = None) -> set[str]:
    """Every module a fresh ``okrflow ARGS`` process imported (it must succeed)."""
    done, modules = okrflow_process(tmp_path, *args, store_url=store_url)
    assert done.returncode == 0, done.stderr[-3000:]
    return modules


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """The modules of ``modules`` that are one of ``names`` or inside one of them."""
    return sorted(m for m in modules if any(m == name or m.startswith(f"{name}.") for name in names))


def test_validate_imports_no_client_driver_orm_nor_store(tmp_path):
    modules = okrflow_modules(tmp_path, "-c", str(EXAMPLE), "validate")
    assert "okrflow.connectors.sql" in modules and "pydantic" in modules, "the check saw validate's imports"
    assert loaded(modules, CLIENTS + UNUSED + NO_STORE) == []


def stored_run() -> RunRecord:
    """A run of the example config's KR ``classifier-f1``, with the JSON columns (lineage, gates, forecast) set."""
    at = datetime(2026, 11, 15, 12, tzinfo=UTC)
    f1 = KRResult(
        "classifier-f1", "ml-platform", 0.9, "ok", "", at, {"model": "m", "model_version": "2"}, 0.5, 0.5, 0.5,
        "on_track", gates=("quality",), expected=0.4, forecast={"score": 0.6, "low": 0.5, "high": 0.7},
    )  # fmt: skip
    objective = ObjectiveResult("ml-platform", 0.5, "on_track", "scored 1 of 1", 1, 1)
    return RunRecord(at, at, at, "completed", "hash", "2026-Q4", [f1], [objective])


def test_status_imports_no_client_nor_run_code(tmp_path):
    url = f"sqlite:///{tmp_path / 'history.db'}"
    with Store.open(url) as store:  # created, migrated and written here: the command only reads
        store.write_run(stored_run())
    done, modules = okrflow_process(tmp_path, "-c", str(EXAMPLE), "status", "--format", "json", store_url=url)
    assert done.returncode == 0, done.stderr[-3000:]
    shown = {kr["id"]: kr["score"] for kr in json.loads(done.stdout)["key_results"] if kr.get("score") is not None}
    assert shown == {"classifier-f1": 0.5}, "the check saw status read and show the stored run"
    assert "okrflow.store.store" in modules and "sqlite3" in modules
    assert loaded(modules, CLIENTS + UNUSED) == []
    assert "(ORM mappers configured)" not in modules, "status reads Core rows: no ORM session, no mapper configuration"
    assert loaded(modules, ("sqlalchemy.orm",)) == [], "status reads the store's tables with Core: no ORM import"
    assert loaded(modules, ("sqlglot",)) == [], "status fetches nothing: the SQL metrics' read-only parse is validate's"


@pytest.mark.parametrize("args", [("--help",), ("report", "--help")])
def test_help_builds_no_config_model(tmp_path, args):
    modules = okrflow_modules(tmp_path, *args)
    assert "typer" in modules, "the check saw the command's imports"
    assert loaded(modules, ("sqlalchemy", "yaml", "okrflow.okr_model.config", "okrflow.store", *CLIENTS, *UNUSED)) == []


PROMETHEUS_ONLY = """
version: 1
cycle: {name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}
sources:
  prom: {type: prometheus, url: "http://127.0.0.1:9090"}
objectives:
  - id: serving
    title: Serving stays up
    key_results:
      - {id: up, kind: maintain_above, target: 0.9, metric: {source: prom, query: 'max(up)'}}
"""


def test_a_prometheus_config_validates_without_other_kinds_sql_or_clients(tmp_path):
    path = tmp_path / "okrflow.yaml"
    path.write_text(PROMETHEUS_ONLY)
    modules = okrflow_modules(tmp_path, "-c", str(path), "validate")
    assert "okrflow.connectors.prometheus" in modules, "the check saw the Prometheus kind resolved"
    other_kinds = tuple(f"okrflow.connectors.{kind}" for kind in ("sql", "mlflow", "great_expectations"))
    assert loaded(modules, (*other_kinds, "sqlalchemy", "sqlglot", *CLIENTS, *UNUSED, *NO_STORE)) == []
