"""The deployment files hold together: docker-compose.yml, the Dockerfile, Prometheus' config, the Grafana dashboard.

No Docker engine runs here, so the compose file is checked by ``docker-compose config`` (Debian's package:
``apt-get install -y --no-install-recommends docker-compose``) and by reading it; the commands it runs are
checked against the CLIs installed from the same lock file as the image.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from okrflow.report.exporter import METRIC_NAMES, METRICS
from tests.fixtures import unavailable

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DASHBOARD = ROOT / "config" / "grafana" / "okrflow.json"
PROMETHEUS_CONFIG = ROOT / "deploy" / "prometheus.yml"
SERVICES = {
    "postgres",
    "postgres-init",
    "prometheus",
    "mlflow",
    "prefect-server",
    "okrflow-deploy",
    "okrflow-worker",
    "okrflow-exporter",
    "grafana",
}
ONE_SHOT = {"postgres-init", "okrflow-deploy"}
SCRAPE_LABELS = {"job", "instance"}
GRAFANA_VARIABLES = {"__all", "__interval", "__rate_interval", "__range", "__interval_ms", "__range_s"}


def missing(tool: str, hint: str) -> None:
    """Fail under CI (the tool belongs to CI's set-up), skip with the reason elsewhere."""
    message = f"{tool} not found; {hint}"
    unavailable(message)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def okrflow_services(compose: dict) -> dict[str, dict]:
    return {name: s for name, s in compose["services"].items() if "build" in s}


def argv(service: dict) -> list[str]:
    command = service["command"]
    if isinstance(command, str):
        return shlex.split(command)
    if command[:2] in (["sh", "-ec"], ["sh", "-c"]):  # a small script: split it into words
        return shlex.split(command[2].replace("\\\n", " "))
    return list(command)


# -- docker-compose.yml --------------------------------------------------------------------------------------------


def compose_binary() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def test_docker_compose_accepts_the_file_and_requires_the_password(tmp_path: Path) -> None:
    binary = compose_binary()
    if binary is None:
        missing("docker-compose", "apt-get install -y --no-install-recommends docker-compose")
    empty = tmp_path / "empty.env"  # hermetic: a developer's .env must not decide the outcome
    empty.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "OKRFLOW_", "COMPOSE_", "GRAFANA_"))}
    command = [*binary, "--env-file", str(empty), "-f", str(COMPOSE), "config", "-q"]

    ok = subprocess.run(
        command,
        cwd=ROOT,
        env={**env, "POSTGRES_PASSWORD": "test-only", "GRAFANA_ADMIN_PASSWORD": "test-only"},
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    refused = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "set POSTGRES_PASSWORD" in refused.stderr, refused.stderr
    no_grafana = subprocess.run(
        command, cwd=ROOT, env={**env, "POSTGRES_PASSWORD": "test-only"}, capture_output=True, text=True
    )
    assert no_grafana.returncode != 0 and "set GRAFANA_ADMIN_PASSWORD" in no_grafana.stderr, no_grafana.stderr


def test_the_stack_has_every_service_with_healthchecks_and_ordered_start(compose: dict) -> None:
    services = compose["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        if name not in ONE_SHOT:
            assert "healthcheck" in service, f"{name} has no healthcheck"
            assert service.get("restart") == "unless-stopped", name
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, (name, dependency)
            wanted = condition["condition"]
            if wanted == "service_healthy":
                assert "healthcheck" in services[dependency], (name, dependency)
            else:
                assert wanted == "service_completed_successfully" and dependency in ONE_SHOT, (name, dependency)
    assert services["prefect-server"]["depends_on"] == {
        "postgres-init": {"condition": "service_completed_successfully"}
    }
    assert services["okrflow-deploy"]["depends_on"]["prefect-server"] == {"condition": "service_healthy"}
    assert services["okrflow-worker"]["depends_on"]["prefect-server"] == {"condition": "service_healthy"}
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert "/api/health" in " ".join(services["prefect-server"]["healthcheck"]["test"])
    assert "/health" in " ".join(services["mlflow"]["healthcheck"]["test"])


def test_state_lives_in_named_volumes_and_every_volume_is_used(compose: dict) -> None:
    declared = set(compose["volumes"])
    used = set()
    for service in compose["services"].values():
        for mount in service.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith(("/", ".", "$")):
                used.add(source)
    assert used == declared == {"postgres-data", "prometheus-data", "mlflow-artifacts", "grafana-data"}
    assert "postgres-data:/var/lib/postgresql/data" in compose["services"]["postgres"]["volumes"]


def test_secrets_come_from_the_environment(compose: dict) -> None:
    text = COMPOSE.read_text()
    for url in re.findall(r"postgresql\+\w+://[^\s\"']+", text):
        assert "${POSTGRES_PASSWORD:?" in url, url  # never a default password
    assert "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?" in text
    prefect = compose["services"]["prefect-server"]["environment"]
    assert prefect["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://")
    assert prefect["PREFECT_API_DATABASE_CONNECTION_URL"].endswith("@postgres:5432/prefect")
    assert compose["services"]["mlflow"]["environment"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    worker = compose["services"]["okrflow-worker"]["environment"]
    assert worker["PREFECT_API_URL"] == "http://prefect-server:4200/api"
    assert worker["OKRFLOW_STORE_URL"].endswith("@postgres:5432/okrflow")


def test_okrflow_services_run_commands_the_cli_has(compose: dict) -> None:
    env = {**os.environ, "COLUMNS": "200", "TERM": "dumb"}
    help_text = subprocess.run(
        [sys.executable, "-c", "from okrflow.cli import main; main()", "--help"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    commands = set(re.findall(r"^│\s+([a-z][a-z-]*)\s", help_text, flags=re.MULTILINE))
    assert {"exporter", "deploy", "run", "status"} <= commands, help_text
    invoked: dict[str, list[str]] = {}
    for name, service in okrflow_services(compose).items():
        words = argv(service)
        for i, word in enumerate(words):
            if word == "okrflow":
                rest = [w for j, w in enumerate(words[i + 1 :]) if not w.startswith("-") and words[i + j] != "-c"]
                assert rest and rest[0] in commands, f"{name}: okrflow {rest[:1]} is not a command ({commands})"
                invoked[name] = words[i:]
    assert set(invoked) == {"okrflow-exporter", "okrflow-deploy"}
    exporter = invoked["okrflow-exporter"]
    assert exporter[exporter.index("--port") + 1] == "9465" and exporter[exporter.index("--host") + 1] == "0.0.0.0"
    assert "--pool" in invoked["okrflow-deploy"]
    for name in ("okrflow-exporter", "okrflow-deploy"):
        options = subprocess.run(
            [sys.executable, "-c", "from okrflow.cli import main; main()", invoked[name][3], "--help"],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        ).stdout
        for option in (w for w in invoked[name][4:] if w.startswith("--")):
            assert option in options, f"{name}: okrflow {invoked[name][3]} has no {option}"


def test_the_worker_and_deploy_share_one_work_pool_of_process_type(compose: dict) -> None:
    services = compose["services"]
    worker = argv(services["okrflow-worker"])
    assert worker[:3] == ["prefect", "worker", "start"]
    assert worker[worker.index("--pool") + 1] == "${OKRFLOW_POOL:-okrflow}"
    assert worker[worker.index("--type") + 1] == "process"
    assert services["okrflow-deploy"]["environment"]["OKRFLOW_POOL"] == "${OKRFLOW_POOL:-okrflow}"
    assert "worker" not in services["okrflow-worker"].get("container_name", "")  # --scale needs no fixed name
    assert "ports" not in services["okrflow-worker"]
    prefect = shutil.which("prefect", path=str(Path(sys.executable).parent))
    help_text = subprocess.run(
        [prefect, "worker", "start", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    for option in ("--pool", "--type", "--with-healthcheck"):
        assert option in help_text


def test_mlflow_server_options_exist_in_the_pinned_mlflow(compose: dict) -> None:
    command = argv(compose["services"]["mlflow"])
    assert command[:2] == ["mlflow", "server"] and "--workers=1" in command
    mlflow = shutil.which("mlflow", path=str(Path(sys.executable).parent))
    help_text = subprocess.run(
        [mlflow, "server", "--help"], capture_output=True, text=True, check=True, env={**os.environ, "COLUMNS": "200"}
    ).stdout
    for option in (w.split("=")[0] for w in command[2:]):
        assert option in help_text, option


# -- Dockerfile and Prometheus' config -----------------------------------------------------------------------------


def test_the_dockerfile_installs_the_lock_then_the_packages() -> None:
    lines = [line.strip() for line in (ROOT / "Dockerfile").read_text().splitlines()]
    assert next(line for line in lines if line and not line.startswith("#")) == "FROM python:3.11-slim"
    copied = [source for line in lines if line.startswith("COPY") for source in line.split()[1:-1]]
    installs = [i for i, line in enumerate(lines) if "pip install" in line]
    lock_copy = next(i for i, line in enumerate(lines) if line.startswith("COPY requirements.lock"))
    assert "pip install -r requirements.lock" in lines[installs[0]] and lock_copy < installs[0]
    assert "pip install --no-deps ." in lines[installs[1]]
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = setuptools.get("package-dir", {})
    folders = {mapped.get(name, name.replace(".", "/")).split("/")[0] for name in setuptools["packages"]}
    for folder in folders:
        assert folder in copied, f"the Dockerfile does not COPY {folder}"
    assert {"requirements.lock", "pyproject.toml", "README.md"} <= set(copied)
    ignored = [
        p.strip() for p in (ROOT / ".dockerignore").read_text().splitlines() if p.strip() and not p.startswith("#")
    ]
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), f".dockerignore drops {source}"
    assert {".env", ".venv", ".git"} <= set(ignored)


def test_prometheus_scrapes_the_exporter() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    targets = {t for job in config["scrape_configs"] for group in job["static_configs"] for t in group["targets"]}
    assert "okrflow-exporter:9465" in targets
    promtool = shutil.which("promtool") or ("/usr/bin/promtool" if Path("/usr/bin/promtool").exists() else None)
    if promtool is None:
        missing("promtool", "apt-get install -y --no-install-recommends prometheus")
    check = subprocess.run([promtool, "check", "config", str(PROMETHEUS_CONFIG)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr


# -- the Grafana dashboard -----------------------------------------------------------------------------------------


def dashboard_panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return [p for p in found if p["type"] != "row"]


def dashboard_expressions(dashboard: dict) -> list[str]:
    exprs = [t["expr"] for panel in dashboard_panels(dashboard) for t in panel["targets"]]
    for variable in dashboard["templating"]["list"]:
        exprs.append(variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"])
    return exprs


def test_the_dashboard_queries_only_what_the_exporter_serves() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = dashboard_expressions(dashboard)
    names = {name for expr in exprs for name in re.findall(r"\bokrflow_\w+", expr)}
    assert names <= METRIC_NAMES, f"not exported: {names - METRIC_NAMES}"
    for expr in exprs:
        in_expr = set(re.findall(r"\bokrflow_\w+", expr))
        known = SCRAPE_LABELS.union(*(METRICS[name].labels for name in in_expr))
        for name, matchers in re.findall(r"\b(okrflow_\w+)\s*\{([^}]*)\}", expr):
            labels = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers))
            assert labels <= set(METRICS[name].labels) | SCRAPE_LABELS, (expr, labels - set(METRICS[name].labels))
        for grouping in re.findall(r"\bby\s*\(([^)]*)\)", expr):
            labels = {label.strip() for label in grouping.split(",")}
            assert labels <= known, (expr, labels - known)
        if expr.startswith("label_values("):
            assert expr.rsplit(",", 1)[1].strip(" )") in known, expr
    defined = {v["name"] for v in dashboard["templating"]["list"]}
    used = {v for expr in exprs for v in re.findall(r"\$\{?(\w+)", expr)}
    assert used <= defined | GRAFANA_VARIABLES, used - defined
    assert {"team", "owner", "objective"} <= defined


def test_the_dashboard_covers_scores_values_targets_and_run_age() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert [i["name"] for i in dashboard["__inputs"]] == ["DS_PROMETHEUS"]
    panels = dashboard_panels(dashboard)
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}, panel["title"]
        assert panel["targets"] and all(t["datasource"]["uid"] == "${DS_PROMETHEUS}" for t in panel["targets"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
    by_type: dict[str, str] = {}
    for panel in panels:
        by_type[panel["type"]] = by_type.get(panel["type"], "") + " ".join(t["expr"] for t in panel["targets"])
    assert "okrflow_objective_score" in by_type["bargauge"]
    assert "okrflow_key_result_score" in by_type["table"] and "okrflow_key_result_status" in by_type["table"]
    assert "okrflow_key_result_score" in by_type["timeseries"]
    assert "okrflow_key_result_value" in by_type["timeseries"] and "okrflow_key_result_target" in by_type["timeseries"]
    assert "time() - max(okrflow_run_timestamp_seconds)" in by_type["stat"]
