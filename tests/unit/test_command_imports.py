"""Commands import only what they use (issue 18, "Fast from the first keystroke").

``okrflow validate`` is a pre-commit hook and ``okrflow status`` a glance: most of either is imports. Neither
fetches, so neither may load a source's client, a database driver it does not read, pandas, numpy, Prefect or
Alembic; ``validate`` opens no store, so it loads neither SQLAlchemy's ORM nor the store; ``--help`` reads no
config (pydantic itself is typer's: it converts the parameters). Checked in a real ``okrflow`` process, which lists every module it loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from okrflow.store import Store

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "example.yaml"
"""SQL, Prometheus, MLflow and Great Expectations sources, none of them running: these commands do not fetch."""

CLIENTS = ("requests", "urllib3", "prometheus_api_client", "mlflow", "great_expectations", "httpx")
"""The sources' clients: imported when a source is fetched, never to validate or show a config."""
UNUSED = ("pandas", "numpy", "prefect", "alembic", "psycopg", "pymysql", "okrflow.flows", "okrflow.alerts")
"""Nothing of a run: neither its orchestration, nor dataframes, nor a driver of a database these commands do not read."""
NO_STORE = ("sqlalchemy.orm", "sqlite3", "okrflow.store.store", "okrflow.views.status", "okrflow.views.history")
"""What only a command that opens the store (or shows its rows) needs."""


RUN_AND_LIST = """
import sys
from okrflow.cli import main
out, sys.argv = sys.argv[1], ["okrflow", *sys.argv[2:]]
try:
    main()
finally:
    models = sys.modules.get("okrflow.store.models")
    mapped = ["(ORM mappers configured)"] if models is not None and models.Run.__mapper__.configured else []
    with open(out, "w") as listing:
        listing.write("\\n".join([*sys.modules, *mapped]))
"""
"""``okrflow ARGS`` as the console script runs it, then every module in ``sys.modules`` written to a file (``-X
importtime`` would miss the modules imported through ``importlib.import_module``, as the registry imports connectors),
and a line when the store's ORM mappers were configured (the first ORM query does it)."""


def okrflow_modules(tmp_path: Path, *args: str, store_url: str | None = None) -> set[str]:
    """Every module a fresh ``okrflow ARGS`` process imported (it must succeed)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "OKRFLOW_STORE_URL")}
    if store_url is not None:
        env["OKRFLOW_STORE_URL"] = store_url
    listing = tmp_path / "modules.txt"
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST, str(listing), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return set(listing.read_text().splitlines())


def loaded(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """The modules of ``modules`` that are one of ``names`` or inside one of them."""
    return sorted(m for m in modules if any(m == name or m.startswith(f"{name}.") for name in names))


def test_validate_imports_no_client_driver_orm_nor_store(tmp_path):
    modules = okrflow_modules(tmp_path, "-c", str(EXAMPLE), "validate")
    assert "okrflow.connectors.sql" in modules and "pydantic" in modules, "the check saw validate's imports"
    assert loaded(modules, CLIENTS + UNUSED + NO_STORE) == []


def test_status_imports_no_client_nor_run_code(tmp_path):
    url = f"sqlite:///{tmp_path / 'history.db'}"
    Store.open(url).close()  # created and migrated here: the command only reads
    modules = okrflow_modules(tmp_path, "-c", str(EXAMPLE), "status", store_url=url)
    assert "okrflow.store.store" in modules and "sqlite3" in modules, "the check saw status read the store"
    assert loaded(modules, CLIENTS + UNUSED) == []
    assert "(ORM mappers configured)" not in modules, "status reads Core rows: no ORM session, no mapper configuration"


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
