"""A SQL source's URL and a query's ``:name`` binds are checked at validate without importing SQLAlchemy (issue 18):
the cheap checks must agree with SQLAlchemy's own, which a run uses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from okrflow.connectors.sql_url import bind_names, parse_url, url_backend
from sqlalchemy import text

QUERIES = [
    "SELECT 1",
    "SELECT :a",
    "SELECT :a, :b FROM t WHERE x > :cycle_start AND y < :cycle_end",
    "SELECT x::int FROM t WHERE y = :y",
    "SELECT '10:30' AS t, :t2",
    r"SELECT \:escaped, :real",
    "SELECT a:b:c",
    "SELECT :a:b",
    "SELECT ::a",
    "SELECT :a_1, :é",
    "SELECT x FROM t WHERE y = :y1 OR y = :y1",
    "SELECT :1 + :_",
    "SELECT CAST(:v AS int) -- :comment\n",
]


@pytest.mark.parametrize("sql", QUERIES)
def test_bind_names_are_those_of_sqlalchemy_text(sql: str) -> None:
    assert bind_names(sql) == set(text(sql).compile().params)


URLS = [
    "sqlite:///w.db",
    "sqlite:////abs/w.db",
    "sqlite://",
    "sqlite:///:memory:",
    "sqlite:///file:w.db",
    "sqlite:///file:",
    "postgresql://u:p@h:5432/d",
    "postgresql+psycopg://u:p@h/d?sslmode=require",
    "postgresql://u:p@h:54x/d",
    "postgresql://u:p@h:/d",
    "postgresql://u:p@[::1]:5432/d",
    "postgresql://u:p:w@rd@h/d",
    "postgresql://u:p/w@h/d",
    "mysql+pymysql://u@h/d",
    "mariadb://h/d",
    "oracle://scott:tiger@db:1521/x",
    "no url at all",
    "://h/d",
    "post gres://h/d",
    "postgresql:/h/d",
    "",
    "sqlite:",
    "postgresql://:@/",
]


@pytest.mark.parametrize("url", URLS)
def test_url_check_agrees_with_sqlalchemy(url: str) -> None:
    try:
        expected: str | BaseException = parse_url(url).get_backend_name()
    except ValueError as exc:
        expected = exc
    if isinstance(expected, str):
        assert url_backend(url) == expected
    else:
        with pytest.raises(ValueError) as caught:
            url_backend(url)
        assert str(caught.value) == str(expected)


def test_a_sql_config_validates_without_sqlalchemy(tmp_path: Path) -> None:
    config = tmp_path / "okrflow.yaml"
    config.write_text(
        "version: 1\ncycle: {name: Q, start: 2026-10-01, end: 2026-12-31}\n"
        "sources:\n  wh: {type: sql, url: 'postgresql://u:secret@127.0.0.1:1/d'}\n"
        "objectives:\n  - id: o\n    title: O\n    key_results:\n"
        "      - {id: k, kind: maintain_above, target: 1, metric: {source: wh, sql: 'SELECT :n', params: {n: 1}}}\n"
    )
    code = "import sys; from okrflow.okr_model.loader import load_config; from okrflow.connectors.registry import Registry; "
    code += f"load_config({str(config)!r}, resolver=Registry()); print('sqlalchemy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "False"
