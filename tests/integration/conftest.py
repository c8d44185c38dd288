"""Integration fixtures shared by the history-store tests: one store per backend (SQLite, real PostgreSQL)."""

from __future__ import annotations

import pytest

from okrflow.store import Store


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request, tmp_path) -> str:
    """A migrated, empty history store on each backend."""
    url = (
        f"sqlite:///{tmp_path / 'history.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("make_postgres_db")()
    )
    Store.open(url).close()
    return url


@pytest.fixture
def store(store_url):
    with Store.open(store_url) as opened:
        yield opened
