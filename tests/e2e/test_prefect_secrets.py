"""``okrflow run`` through Prefect never hands the store URL (and its password) to Prefect as a parameter:
Prefect keeps flow run parameters in its database and shows them in its UI."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from okrflow.cli import app
from tests.e2e.okrs import AT, write_config
from tests.integration.test_secret_leaks import PASSWORD, PIECES, _with_password

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


async def _parameters() -> list[dict]:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return [run.parameters for run in await client.read_flow_runs()]


def test_the_store_password_is_not_a_prefect_parameter(
    tmp_path, sqlite_warehouse, prefect_harness, make_postgres_db, postgres_server, monkeypatch
) -> None:
    from prefect.settings import PREFECT_API_URL

    database = make_postgres_db().rsplit("/", 1)[1]
    store = _with_password(postgres_server, "postgresql+psycopg", database=database)
    config = write_config(tmp_path, sqlite_warehouse, "sqlite:///unused.db")
    monkeypatch.setenv("OKRFLOW_STORE_URL", store)
    monkeypatch.setenv("PREFECT_API_URL", str(PREFECT_API_URL.value()))
    result = CliRunner().invoke(app, ["-c", str(config), "run", "--at", AT])
    assert result.exit_code == 0, result.output
    parameters = asyncio.run(_parameters())
    assert any(p.get("config_path") == str(config) for p in parameters), parameters
    shown = json.dumps(parameters)
    for secret in [PASSWORD, *PIECES, store]:
        assert secret not in shown, shown
