"""Every config we ship validates as it is, and the shipped JSON schema matches the models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from okrflow.connectors.registry import Registry
from okrflow.okr_model.loader import load_config

from okrflow.schema import config_schema

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
SHIPPED = sorted(p for p in CONFIG_DIR.rglob("*.yaml"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(CONFIG_DIR)))
def test_shipped_config_validates(path):
    config = load_config(path, Registry())
    assert config.key_results(), f"{path} declares no key results"


def test_at_least_the_example_and_one_scenario_ship():
    names = {p.name for p in SHIPPED}
    assert "example.yaml" in names
    assert len(SHIPPED) >= 2


def test_shipped_schema_is_current():
    shipped = json.loads((CONFIG_DIR / "okrflow.schema.json").read_text())
    assert shipped == json.loads(json.dumps(config_schema(Registry()))), (
        "run: okrflow schema --out config/okrflow.schema.json"
    )


def test_schema_knows_every_source_kind():
    schema = config_schema(Registry())
    kinds = {
        schema["$defs"][ref["$ref"].split("/")[-1]]["properties"]["type"].get("const")
        for ref in schema["properties"]["sources"]["additionalProperties"]["oneOf"]
    }
    assert {"sql", "prometheus", "mlflow", "great_expectations"} <= kinds
