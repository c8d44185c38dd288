"""``okrflow validate --online`` against real PostgreSQL and MariaDB: warn about roles that can write (issue 11).

Roles and users are created per test with unique names (a read-only one, a writer) and dropped afterwards;
the fixtures' own superuser connections (postgres, root) are the superuser case.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pymysql
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from okrflow.cli import app
from tests.fixtures.databases import free_port
from tests.integration.test_sql_connector import config_text, ticket_statements

SECRET = "Online-Check-Pw-4242"


def validate_online(tmp_path: Path, url: str, **sources: str):
    """Run ``okrflow validate --online`` on a config with the source ``warehouse`` (plus extra sql sources)."""
    text = config_text(url, {"sql": "SELECT count(*) FROM tickets"})
    extra = "".join(f"  {name}:\n    type: sql\n    url: {other}\n" for name, other in sources.items())
    config = tmp_path / "okrflow.yaml"
    config.write_text(text.replace("objectives:\n", extra + "objectives:\n", 1))
    return CliRunner().invoke(app, ["-c", str(config), "validate", "--online"])


def with_user(url: str, user: str, password: str | None = None) -> str:
    return sa.make_url(url).set(username=user, password=password).render_as_string(hide_password=False)


# --- PostgreSQL -------------------------------------------------------------------------------------------------------


@pytest.fixture
def pg_db(make_postgres_db: Callable[..., str]) -> str:
    return make_postgres_db([*ticket_statements("postgres"), "CREATE TABLE other (a INTEGER)"])


@pytest.fixture
def pg_role(pg_db: str) -> Iterator[Callable[[list[str]], str]]:
    """Factory: grants -> the URL of a new login role on ``pg_db`` holding them (``{role}``, ``{db}`` filled)."""
    admin = pg_db.replace("postgresql+psycopg://", "postgresql://")
    database = sa.make_url(pg_db).database
    roles: list[str] = []

    def make(grants: list[str]) -> str:
        role = f"okr_role_{uuid.uuid4().hex[:10]}"
        roles.append(role)
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE ROLE "{role}" LOGIN')
            for grant in grants:
                conn.execute(grant.format(role=f'"{role}"', db=f'"{database}"'))
        return with_user(pg_db, role)

    yield make
    with psycopg.connect(admin, autocommit=True) as conn:
        for role in roles:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s AND pid <> pg_backend_pid()",
                (role,),
            )
            conn.execute(f'DROP OWNED BY "{role}"')
            conn.execute(f'DROP ROLE "{role}"')


READER = [
    "GRANT CONNECT ON DATABASE {db} TO {role}",
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}",
]


def test_postgres_read_only_role_passes_without_warnings(tmp_path: Path, pg_role) -> None:
    result = validate_online(tmp_path, pg_role(READER))
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output and "error" not in result.output
    assert ": ok (" in result.stdout


def test_postgres_superuser_is_warned(tmp_path: Path, pg_db: str) -> None:
    result = validate_online(tmp_path, pg_db)
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1
    assert lines[0].startswith("warning: source 'warehouse': role postgres is a superuser")
    assert "read-only role" in lines[0]


@pytest.mark.parametrize(
    ("grants", "expected"),
    [
        (["GRANT INSERT ON tickets TO {role}"], "INSERT/UPDATE/DELETE/TRUNCATE on 1 table(s) (public.tickets)"),
        (
            ["GRANT DELETE, UPDATE ON ALL TABLES IN SCHEMA public TO {role}"],
            "on 2 table(s) (public.other, public.tickets)",
        ),
        (["GRANT CREATE ON SCHEMA public TO {role}"], "CREATE on schema public"),
        (["GRANT CREATE ON DATABASE {db} TO {role}"], "CREATE on database okrflow_test_"),
        (["ALTER ROLE {role} CREATEDB"], "CREATEDB"),
        (["GRANT pg_write_server_files TO {role}"], "member of pg_write_server_files"),
        (["GRANT pg_write_all_data TO {role}"], "member of pg_write_all_data"),
    ],
)
def test_postgres_write_privileges_are_warned(tmp_path: Path, pg_role, grants: list[str], expected: str) -> None:
    result = validate_online(tmp_path, pg_role([*READER, *grants]))
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert "can change the database" in line and expected in line, line


# --- MariaDB ----------------------------------------------------------------------------------------------------------


def _root() -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", user="root", password="", autocommit=True)


@pytest.fixture
def maria_db(make_mariadb_db: Callable[..., str]) -> str:
    return make_mariadb_db(ticket_statements("mariadb"))


@pytest.fixture
def maria_user(maria_db: str) -> Iterator[Callable[[list[str]], str]]:
    """Factory: grants -> the URL (with a password) of a new user on ``maria_db`` holding them."""
    database = sa.make_url(maria_db).database
    users: list[str] = []

    def make(grants: list[str]) -> str:
        user = f"okr_user_{uuid.uuid4().hex[:10]}"
        users.append(user)
        conn = _root()
        try:
            with conn.cursor() as cursor:
                cursor.execute(f"CREATE USER '{user}'@'127.0.0.1' IDENTIFIED BY '{SECRET}'")
                for grant in grants:
                    cursor.execute(grant.format(user=f"'{user}'@'127.0.0.1'", db=f"`{database}`"))
        finally:
            conn.close()
        return with_user(maria_db, user, SECRET)

    yield make
    conn = _root()
    try:
        with conn.cursor() as cursor:
            for user in users:
                cursor.execute(f"DROP USER IF EXISTS '{user}'@'127.0.0.1'")
    finally:
        conn.close()


def test_mariadb_read_only_user_passes_without_warnings(tmp_path: Path, maria_user) -> None:
    result = validate_online(tmp_path, maria_user(["GRANT SELECT, SHOW VIEW ON {db}.* TO {user}"]))
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output and "error" not in result.output
    assert SECRET not in result.output


def test_mariadb_root_is_warned_as_a_superuser(tmp_path: Path, maria_db: str) -> None:
    result = validate_online(tmp_path, maria_db)
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert line.startswith("warning: source 'warehouse': user root@127.0.0.1 is a superuser: ALL PRIVILEGES on *.*")
    assert "WITH GRANT OPTION" in line


@pytest.mark.parametrize(
    ("grants", "expected"),
    [
        (["GRANT SELECT, INSERT ON {db}.* TO {user}"], "INSERT on `okrflow_test_"),
        (["GRANT SELECT ON {db}.* TO {user}", "GRANT DELETE ON {db}.tickets TO {user}"], "DELETE on `okrflow_test_"),
        (["GRANT SELECT ON {db}.* TO {user}", "GRANT UPDATE (team) ON {db}.tickets TO {user}"], "UPDATE on "),
        (["GRANT SELECT ON {db}.* TO {user}", "GRANT FILE ON *.* TO {user}"], "FILE on *.*"),
        (["GRANT SELECT ON {db}.* TO {user} WITH GRANT OPTION"], "WITH GRANT OPTION on `okrflow_test_"),
    ],
)
def test_mariadb_write_privileges_are_warned(tmp_path: Path, maria_user, grants: list[str], expected: str) -> None:
    result = validate_online(tmp_path, maria_user(grants))
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert "can change the database" in line and expected in line, line
    assert SECRET not in result.output


def test_mariadb_privileges_of_a_granted_role_count(tmp_path: Path, maria_user, maria_db: str) -> None:
    role = f"okr_role_{uuid.uuid4().hex[:10]}"
    database = sa.make_url(maria_db).database
    conn = _root()
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE ROLE {role}")
            cursor.execute(f"GRANT SELECT, DELETE ON `{database}`.* TO {role}")
        url = maria_user([f"GRANT {role} TO {{user}}", f"SET DEFAULT ROLE {role} FOR {{user}}"])
        result = validate_online(tmp_path, url)
    finally:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP ROLE IF EXISTS {role}")
        conn.close()
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert f"DELETE on `{database}`.*" in line, line


# --- unreachable sources, several sources ---------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["postgresql+psycopg", "mysql+pymysql"])
def test_a_source_that_cannot_be_reached_exits_1_without_the_password(tmp_path: Path, scheme: str) -> None:
    port = free_port()
    result = validate_online(tmp_path, f"{scheme}://okr:{SECRET}@127.0.0.1:{port}/warehouse")
    assert result.exit_code == 1, result.output
    assert (
        f"error: source 'warehouse': cannot connect to {scheme}://okr:***@127.0.0.1:{port}/warehouse" in result.stderr
    )
    assert SECRET not in result.output


def test_a_refused_login_exits_1_without_the_password(tmp_path: Path, maria_db: str) -> None:
    result = validate_online(tmp_path, with_user(maria_db, "root", SECRET))
    assert result.exit_code == 1, result.output
    assert "error: source 'warehouse': cannot connect to" in result.stderr and "Access denied" in result.stderr
    assert SECRET not in result.output


def test_every_source_is_checked_and_one_error_sets_exit_1(
    tmp_path: Path, pg_db: str, make_sqlite_warehouse: Callable[..., str]
) -> None:
    down = f"postgresql+psycopg://okr:{SECRET}@127.0.0.1:{free_port()}/gone"
    lake = make_sqlite_warehouse(ticket_statements("sqlite"))
    result = validate_online(tmp_path, pg_db, lake=lake, down=down)
    assert result.exit_code == 1, result.output
    assert "warning: source 'warehouse': role postgres is a superuser" in result.stdout
    assert "error: source 'down': cannot connect to" in result.stderr
    assert "source 'lake'" not in result.output  # SQLite is opened read-only: nothing to warn about
    assert SECRET not in result.output


def test_a_missing_sqlite_file_is_an_error_and_not_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "warehouse.db"
    result = validate_online(tmp_path, f"sqlite:///{missing}")
    assert result.exit_code == 1, result.output
    assert f"error: source 'warehouse': cannot connect to sqlite:///{missing}" in result.stderr
    assert not missing.parent.exists()


def test_without_online_nothing_connects(tmp_path: Path) -> None:
    config = tmp_path / "okrflow.yaml"
    config.write_text(
        config_text(f"postgresql+psycopg://okr:{SECRET}@127.0.0.1:{free_port()}/gone", {"sql": "SELECT 1"})
    )
    result = CliRunner().invoke(app, ["-c", str(config), "validate"])
    assert result.exit_code == 0, result.output
