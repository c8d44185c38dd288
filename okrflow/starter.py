"""``okrflow init``: a commented starter config a team can validate at once and then fill in.

The config binds one KR to each source kind and reads every address and secret from ``${VAR}``
placeholders. Its webhook secret lives in a ``.env`` file beside it (generated here, mode 0600), which
the loader reads for variables the environment does not set, so ``okrflow validate`` accepts the
starter as it is written.
"""

from __future__ import annotations

import base64
import os
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from importlib.resources import files
from pathlib import Path

__all__ = ["StarterFiles", "current_quarter", "write_starter"]


@dataclass(frozen=True)
class StarterFiles:
    config: Path
    env: Path


def current_quarter(today: date) -> tuple[str, date, date]:
    """The calendar quarter holding ``today``: its name (2026-Q4), first and last day."""
    q = (today.month - 1) // 3
    start = date(today.year, 3 * q + 1, 1)
    next_start = date(today.year + (q == 3), (3 * q + 3) % 12 + 1, 1)
    return f"{today.year}-Q{q + 1}", start, next_start - timedelta(days=1)


def _config_text(team: str, today: date) -> str:
    name, start, end = current_quarter(today)
    text = files("okrflow").joinpath("templates/starter.yaml").read_text(encoding="utf-8")
    for key, value in {
        "@TEAM@": team,
        "@TODAY@": today.isoformat(),
        "@CYCLE_NAME@": name,
        "@CYCLE_START@": start.isoformat(),
        "@CYCLE_END@": end.isoformat(),
    }.items():
        text = text.replace(key, value)
    return text


def _env_text() -> str:
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    return (
        "# Local values for the ${VAR} placeholders of okrflow.yaml. The environment wins over this file.\n"
        "# Keep it out of version control; in production set these in the environment or a secret store.\n"
        f"OKRFLOW_WEBHOOK_SECRET={secret}\n"
        "# WAREHOUSE_URL=postgresql+psycopg://okrflow_reader@warehouse/analytics\n"
        "# PROMETHEUS_URL=http://prometheus:9090\n"
        "# MLFLOW_TRACKING_URI=http://mlflow:5000\n"
        "# OKRFLOW_WEBHOOK_URL=https://alerts.example.com/okr\n"
    )


def write_starter(config: Path, team: str = "our team", today: date | None = None, force: bool = False) -> StarterFiles:
    """Write the starter config and its ``.env``; refuse to overwrite either unless ``force``."""
    env = config.parent / ".env"
    existing = [p for p in (config, env) if p.exists()]
    if existing and not force:
        raise FileExistsError(", ".join(str(p) for p in existing))
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(_config_text(team, today or date.today()), encoding="utf-8")
    fd = os.open(env, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(_env_text())
    return StarterFiles(config, env)
