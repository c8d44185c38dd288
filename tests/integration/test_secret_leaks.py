"""Secrets never appear, even in odd shapes: DSN passwords holding '@', echoed SMTP AUTH lines, store
failures after open. Real PostgreSQL, MariaDB, SQLite, a real ``okrflow`` process and a loopback SMTP
server that echoes what it was sent.
"""

from __future__ import annotations

import base64
import json
import os
import resource
import socketserver
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from okrflow.okr_model.config import EmailChannel

from okrflow.alerts.channels import DeliveryError, send_email
from okrflow.store import RunRecord, Store, StoreError
from tests.fixtures.databases import free_port
from tests.integration.test_alert_channels import make_message

# Odd characters everywhere a parser may stop: '@', ':', '/', '%', '#', '?', quotes, unicode.
PASSWORD = "Ab@Leak-Tail-7788:/%#?'\"ü✓"
PIECES = ["Leak-Tail-7788", "Ab@Leak", "7788:/", "ü✓"]
LATIN1_PASSWORD = "Ab@Leak-Tail-7788:/%#?'\"ü"  # PyMySQL sends passwords as latin-1
SMTP_USER, SMTP_PASSWORD = "okrflow-bot", "smtp-Pa55@w0rd:/%#'\"-x"  # smtplib's AUTH sends ASCII only


def _assert_clean(text: str, secret: str = PASSWORD, pieces: list[str] = PIECES) -> None:
    shapes = [secret, quote(secret, safe=""), base64.b64encode(secret.encode()).decode(), *pieces]
    for shape in shapes:
        assert shape not in text, f"{shape!r} leaked into: {text[:2000]}"


def _with_password(server_url: str, scheme: str, database: str = "okr", password: str = PASSWORD) -> str:
    """``scheme://user:PASSWORD@host:port/db`` with the password written raw (as users do in ${ENV})."""
    user, _, hostport = server_url.split("://", 1)[1].rpartition("@")
    return f"{scheme}://{user or 'okr'}:{password}@{hostport}/{database}"


def _okrflow(*args: str, env: dict[str, str], cwd: Path, limit_file_bytes: int | None = None):
    def limit() -> None:
        if limit_file_bytes is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit_file_bytes, limit_file_bytes))

    return subprocess.run(
        [sys.executable, "-m", "okrflow.cli", *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=cwd,
        env={**os.environ, **env},
        preexec_fn=limit,
    )


AT = "2026-11-01T00:00:00Z"
"""Every run's slot: inside the configs' fixed cycle, whatever today's date is (a run outside it is refused)."""

CONFIG = """\
version: 1
cycle: {{name: Q4, start: 2026-10-01, end: 2026-12-31}}
store: "sqlite:///{store}"
sources:
  wh: {{type: sql, url: "${{WH_URL}}", timeout_s: 5, retries: 0}}
objectives:
  - id: o
    title: O
    key_results:
      - id: kr
        title: K
        kind: maintain_above
        target: 1
        metric: {{source: wh, sql: "SELECT 1"}}
"""


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "okrflow.yaml"
    path.write_text(CONFIG.format(store=tmp_path / "store.db"))
    return path


# --- DSN passwords holding '@' ------------------------------------------------------------------------


@pytest.mark.parametrize(("scheme", "password"), [("postgresql+psycopg", PASSWORD), ("mysql+pymysql", LATIN1_PASSWORD)])
def test_an_unreachable_warehouse_never_shows_the_password(tmp_path, scheme, password) -> None:
    url = f"{scheme}://bob:{password}@127.0.0.1:{free_port()}/okr"
    config = str(_config(tmp_path))
    result = _okrflow("-c", config, "run", "--at", AT, "--format", "json", env={"WH_URL": url}, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    _assert_clean(result.stdout + result.stderr)
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        [kr] = store.status().key_results
    assert kr.measurement == "error"
    assert f"cannot connect to {scheme}://bob:***@127.0.0.1:" in kr.detail, kr.detail
    _assert_clean(kr.detail)


def test_a_postgres_warehouse_password_with_at_connects(tmp_path, make_postgres_db, postgres_server) -> None:
    """Trust auth ignores the password, so this proves the URL is split where the password ends."""
    url = make_postgres_db(["CREATE TABLE t (v int)", "INSERT INTO t VALUES (1)"])
    database = url.rsplit("/", 1)[1]
    result = _okrflow(
        "-c", str(_config(tmp_path)), "run", "--at", AT, "--format", "json",
        env={"WH_URL": _with_password(postgres_server, "postgresql+psycopg", database=database)},
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["key_results"][0]["value"] == 1


def test_a_mariadb_login_failure_never_shows_the_password(tmp_path, mariadb_server) -> None:
    url = _with_password(mariadb_server, "mysql+pymysql", database="mysql", password=LATIN1_PASSWORD)
    config = str(_config(tmp_path))
    result = _okrflow("-c", config, "run", "--at", AT, "--format", "json", env={"WH_URL": url}, cwd=tmp_path)
    assert result.returncode == 1
    _assert_clean(result.stdout + result.stderr)
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        [kr] = store.status().key_results
    assert "mysql+pymysql://root:***@" in kr.detail and "Access denied" in kr.detail, kr.detail
    _assert_clean(kr.detail)


def test_a_store_url_password_is_never_shown(tmp_path) -> None:
    env = {"WH_URL": "sqlite:////nonexistent.db"}
    for scheme in ("postgresql+psycopg", "mysql+pymysql"):
        env["OKRFLOW_STORE_URL"] = f"{scheme}://bob:{PASSWORD}@127.0.0.1:{free_port()}/okr"
        result = _okrflow("-c", str(_config(tmp_path)), "status", env=env, cwd=tmp_path)
        assert result.returncode == 1
        assert f"cannot open the history store {scheme}://bob:***@127.0.0.1:" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        _assert_clean(result.stdout + result.stderr)
    env["OKRFLOW_STORE_URL"] = f"postgresql+psycopg//bob:{PASSWORD}@127.0.0.1/okr"  # a typo: no "://"
    result = _okrflow("-c", str(_config(tmp_path)), "status", env=env, cwd=tmp_path)
    assert result.returncode == 1 and "cannot open the history store <unparseable URL>" in result.stderr
    _assert_clean(result.stdout + result.stderr)


def test_a_postgres_store_password_with_at_connects(tmp_path, make_postgres_db, postgres_server) -> None:
    database = make_postgres_db().rsplit("/", 1)[1]
    warehouse = tmp_path / "wh.db"
    import sqlite3

    sqlite3.connect(warehouse).close()
    env = {
        "WH_URL": f"sqlite:///{warehouse}",
        "OKRFLOW_STORE_URL": _with_password(postgres_server, "postgresql+psycopg", database=database),
    }
    result = _okrflow("-c", str(_config(tmp_path)), "run", "--at", AT, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(
        _okrflow("-c", str(_config(tmp_path)), "status", "--format", "json", env=env, cwd=tmp_path).stdout
    )


# --- store failures after open ------------------------------------------------------------------------


def _run(slot: datetime) -> RunRecord:
    return RunRecord(
        deployment="d",
        slot=slot,
        started_at=slot,
        finished_at=slot,
        status="completed",
        config_hash="h",
        cycle="Q4",
        key_results=[],
        objectives=[],
    )


def test_a_full_disk_is_one_line_exit_1_naming_the_store(tmp_path) -> None:
    config = _config(tmp_path)
    warehouse = tmp_path / "wh.db"
    import sqlite3

    sqlite3.connect(warehouse).close()
    env = {"WH_URL": f"sqlite:///{warehouse}"}
    assert _okrflow("-c", str(config), "run", "--at", AT, env=env, cwd=tmp_path).returncode == 0
    store = tmp_path / "store.db"
    # Files may not grow past their size now: the WAL cannot take the next run (the disk is "full").
    wal = store.with_name("store.db-wal")
    wal.unlink(missing_ok=True)
    result = _okrflow(
        "-c", str(config), "run", "--at", "2026-11-02T00:00:00Z", env=env, cwd=tmp_path, limit_file_bytes=32_768
    )
    assert result.returncode == 1, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr and "INSERT" not in result.stderr and "[parameters" not in result.stderr
    assert f"history store sqlite:///{store}" in lines[0], lines[0]
    assert "cannot open" not in lines[0] and "write_run failed: OperationalError:" in lines[0] and len(lines[0]) < 600


def test_a_dropped_postgres_connection_is_retried_once(make_postgres_db) -> None:
    url = make_postgres_db()
    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    database = url.rsplit("/", 1)[1]
    with Store.open(url) as store:
        store.write_run(_run(datetime(2026, 11, 1, tzinfo=UTC)))  # a pooled connection exists now
        with psycopg.connect(conninfo) as locker:
            locker.execute("LOCK TABLE runs IN ACCESS EXCLUSIVE MODE")  # the next write waits on it
            outcome: dict[str, object] = {}
            writer = threading.Thread(
                target=lambda: outcome.update(id=store.write_run(_run(datetime(2026, 11, 2, tzinfo=UTC))))
            )
            writer.start()
            with psycopg.connect(conninfo, autocommit=True) as admin:
                killed = None
                for _ in range(100):
                    killed = admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = %s AND wait_event_type = 'Lock' AND pid <> %s",
                        (database, locker.info.backend_pid),
                    ).fetchall()
                    if killed:
                        break
                    time.sleep(0.05)
                assert killed == [(True,)]
            locker.commit()
            writer.join(timeout=60)
        assert isinstance(outcome.get("id"), int), outcome
        assert [r.slot.day for r in store.runs()] == [2, 1]


def test_a_store_that_goes_away_is_one_line_without_the_password(make_postgres_db, postgres_server) -> None:
    url = make_postgres_db()
    database = url.rsplit("/", 1)[1]
    conninfo = postgres_server.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with Store.open(_with_password(postgres_server, "postgresql+psycopg", database=database)) as store:
        store.runs()
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,))
            try:
                with pytest.raises(StoreError) as failed:
                    store.write_run(_run(datetime(2026, 11, 3, tzinfo=UTC)))
            finally:
                admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
    message = str(failed.value)
    assert message.startswith("history store postgresql+psycopg://postgres:***@127.0.0.1:"), message
    assert "write_run failed: OperationalError" in message and "\n" not in message
    assert failed.value.__cause__ is None and failed.value.__suppress_context__
    _assert_clean(message)


# --- SMTP servers that echo the AUTH line -------------------------------------------------------------


class _EchoingSmtp(socketserver.StreamRequestHandler):
    """Offers AUTH (``mechanism``), then refuses it with 535 quoting the client's line: a server bug in the wild."""

    mechanism = "PLAIN"

    def handle(self) -> None:
        self.wfile.write(b"220 echo ESMTP\r\n")
        while line := self.rfile.readline():
            text = line.decode("utf-8", "replace").strip()
            verb = text.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.wfile.write(f"250-echo\r\n250 AUTH {self.mechanism}\r\n".encode())
            elif verb == "AUTH" and text.upper().startswith("AUTH LOGIN"):
                if text.upper() == "AUTH LOGIN":  # no initial response: ask for the user name first
                    self.wfile.write(b"334 VXNlcm5hbWU6\r\n")
                    self.rfile.readline()
                self.wfile.write(b"334 UGFzc3dvcmQ6\r\n")
                password = self.rfile.readline().decode().strip()
                self.wfile.write(f"535 5.7.8 rejected credentials {password}\r\n".encode())
            elif verb == "AUTH":
                self.wfile.write(f"535 5.7.8 Authentication failed for: {text}\r\n".encode())
            elif verb == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"502 not here\r\n")


@pytest.fixture(params=["PLAIN", "LOGIN"])
def echoing_smtp(request) -> Iterator[int]:
    handler = type("Handler", (_EchoingSmtp,), {"mechanism": request.param})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_an_echoed_auth_line_never_shows_the_password(echoing_smtp) -> None:
    channel = EmailChannel(
        type="email", host="127.0.0.1", port=echoing_smtp, sender="okr@example.com", to=["a@example.com"],
        username=SMTP_USER, password=SMTP_PASSWORD, starttls=False,
    )  # fmt: skip
    with pytest.raises(DeliveryError, match="login as 'okrflow-bot' refused: 535") as failed:
        send_email("ml-mail", channel, make_message())
    text = str(failed.value)
    raw = SMTP_PASSWORD.encode()
    for shape in (
        base64.b64encode(b"\0" + SMTP_USER.encode() + b"\0" + raw).decode(),
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode()[4:-4],
    ):
        assert shape not in text, text
    _assert_clean(text, SMTP_PASSWORD, ["Pa55@w0rd"])


def test_a_password_smtp_cannot_send_is_refused_without_showing_it(echoing_smtp) -> None:
    password = "pässwörd-with-ünicode-✓"
    channel = EmailChannel(
        type="email", host="127.0.0.1", port=echoing_smtp, sender="okr@example.com", to=["a@example.com"],
        username=SMTP_USER, password=password, starttls=False,
    )  # fmt: skip
    with pytest.raises(DeliveryError, match="ASCII") as failed:
        send_email("ml-mail", channel, make_message())
    assert not failed.value.retryable
    for char in "äöü✓":
        assert char not in str(failed.value) and ascii(char)[1:-1] not in str(failed.value)


def test_okrflow_alerts_shows_the_echo_redacted(tmp_path, echoing_smtp) -> None:
    warehouse = tmp_path / "wh.db"
    import sqlite3

    sqlite3.connect(warehouse).close()
    config = tmp_path / "okrflow.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            version: 1
            cycle: {{name: Q4, start: 2026-10-01, end: 2026-12-31}}
            store: "sqlite:///{tmp_path / "store.db"}"
            defaults:
              alerts: {{for_runs: 1, channels: [mail]}}
            sources:
              wh: {{type: sql, url: "sqlite:///{warehouse}", timeout_s: 5, retries: 0}}
            channels:
              mail: {{type: email, host: 127.0.0.1, port: {echoing_smtp}, sender: okr@example.com,
                      to: [a@example.com], username: {SMTP_USER}, password: "${{SMTP_PASSWORD}}", starttls: false}}
            objectives:
              - id: o
                title: O
                key_results:
                  - id: kr
                    title: K
                    kind: maintain_above
                    target: 1
                    metric: {{source: wh, sql: "SELECT 0.1"}}
            """
        )
    )
    env = {"SMTP_PASSWORD": SMTP_PASSWORD}
    run = _okrflow("-c", str(config), "run", "--at", AT, env=env, cwd=tmp_path)
    shown = _okrflow("-c", str(config), "alerts", "--format", "json", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    errors = [m["last_error"] for m in json.loads(shown.stdout)["outbox"]]
    assert errors and all("refused: 535" in e for e in errors), (run.stdout, run.stderr, shown.stdout)
    _assert_clean(run.stdout + run.stderr + shown.stdout + shown.stderr, SMTP_PASSWORD, ["Pa55@w0rd"])
    raw = SMTP_PASSWORD.encode()
    plain = base64.b64encode(b"\0" + SMTP_USER.encode() + b"\0" + raw).decode()
    assert plain not in shown.stdout and base64.b64encode(raw).decode()[4:-4] not in shown.stdout


# --- siblings: MLflow database URIs, Prometheus URLs ----------------------------------------------------


def test_an_mlflow_database_uri_password_with_at_connects_and_is_never_shown(make_postgres_db, postgres_server) -> None:
    import sqlalchemy as sa
    from okrflow.connectors.mlflow import _quoted

    from tests.integration.test_mlflow_connector import EXPERIMENT, fetch

    database = make_postgres_db().rsplit("/", 1)[1]
    raw = _with_password(postgres_server, "postgresql+psycopg", database=database)
    # MLflow's SQL store hands the URI to create_engine (make_url stops a raw password at its first '@')
    with pytest.raises((sa.exc.OperationalError, ValueError)):  # the rest of the password read as host and port
        sa.create_engine(raw).connect()
    engine = sa.create_engine(_quoted(raw))
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT current_database()")).scalar() == database
    engine.dispose()
    # (an unreachable *database* tracking URI takes MLflow minutes of its own retries; a server URI fails at once)
    unreachable = f"http://bob:{PASSWORD}@127.0.0.1:{free_port()}"
    failed = fetch({"tracking_uri": unreachable, "timeout_s": 5, "retries": 0}, EXPERIMENT)
    assert failed.status == "error" and "MLflow at http://bob:***@127.0.0.1:" in failed.detail, failed.detail
    _assert_clean(failed.detail)


def test_prometheus_refuses_credentials_in_the_url_whatever_the_password_holds() -> None:
    from okrflow.connectors.registry import Registry
    from okrflow.okr_model.errors import ConfigError
    from okrflow.okr_model.loader import parse_config

    for url in (f"http://bob:{PASSWORD}@127.0.0.1:9090", "http://bob:a/b-Leak-Tail-7788@127.0.0.1:9090"):
        text = (
            "version: 1\ncycle: {name: q, start: 2026-10-01, end: 2026-12-31}\n"
            f"sources:\n  prom: {{type: prometheus, url: {json.dumps(url)}}}\nobjectives:\n  - {{id: o, title: O}}\n"
        )
        with pytest.raises(ConfigError, match="not in the URL") as refused:
            parse_config(text, "c.yaml", resolver=Registry())
        _assert_clean(str(refused.value))
