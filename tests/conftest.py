"""Shared test set-up: real servers come from the fixture plugins under tests/fixtures/."""

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

pytest_plugins = [
    "tests.fixtures.databases",
    "tests.fixtures.prometheus",
    "tests.fixtures.mlflow",
    "tests.fixtures.gx",
    "tests.fixtures.receivers",
    "tests.fixtures.alertmanager",
]
