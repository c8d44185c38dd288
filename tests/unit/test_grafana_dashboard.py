"""The shipped Grafana dashboard holds to Grafana's dashboard schema, and the compose stack provisions it.

Grafana cannot be installed here, so the dashboard is checked against ``DASHBOARD_SCHEMA``: a JSON Schema
written for this test from Grafana's published dashboard kind (grafana/grafana
``kinds/dashboard/dashboard_kind.cue``, schema 0.0, at commit 00139e84396be1600192135b87b8607f3f7b79d0:
``#Panel``, ``#RowPanel``, ``#GridPos``, ``#DataSourceRef``, ``#VariableModel``, ``#FieldConfigSource``). Only the
facts are taken (required keys, types, enums, bounds), no text is copied. What a schema cannot say is checked
in code: unique panel ids, no overlapping panels, every datasource reference resolvable when provisioned,
a refId per query, and a description on every panel.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "config" / "grafana" / "okrflow.json"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
COMPOSE = ROOT / "docker-compose.yml"

_UINT = {"type": "integer", "minimum": 0}
_DATASOURCE_REF = {
    "type": "object",
    "properties": {"type": {"type": "string"}, "uid": {"type": "string"}},
    "additionalProperties": False,
}
_GRID_POS = {
    "type": "object",
    "required": ["h", "w", "x", "y"],
    "properties": {
        "h": {"type": "integer", "exclusiveMinimum": 0},
        "w": {"type": "integer", "exclusiveMinimum": 0, "maximum": 24},
        "x": {"type": "integer", "minimum": 0, "exclusiveMaximum": 24},
        "y": _UINT,
        "static": {"type": "boolean"},
    },
}
_FIELD_CONFIG_SOURCE = {
    "type": "object",
    "required": ["defaults", "overrides"],
    "properties": {"defaults": {"type": "object"}, "overrides": {"type": "array"}},
}
_PANEL = {
    "type": "object",
    "required": ["type", "id", "gridPos", "options", "fieldConfig"],
    "properties": {
        "type": {"type": "string", "minLength": 1, "not": {"const": "row"}},
        "id": _UINT,
        "title": {"type": "string"},
        "description": {"type": "string"},
        "transparent": {"type": "boolean"},
        "datasource": _DATASOURCE_REF,
        "gridPos": _GRID_POS,
        "targets": {"type": "array", "items": {"type": "object"}},
        "repeat": {"type": "string"},
        "repeatDirection": {"enum": ["h", "v"]},
        "maxDataPoints": {"type": "number"},
        "transformations": {
            "type": "array",
            "items": {"type": "object", "required": ["id", "options"], "properties": {"id": {"type": "string"}}},
        },
        "interval": {"type": "string"},
        "timeFrom": {"type": "string"},
        "timeShift": {"type": "string"},
        "options": {"type": "object"},
        "fieldConfig": _FIELD_CONFIG_SOURCE,
    },
}
_ROW = {
    "type": "object",
    "required": ["type", "id", "collapsed", "panels"],
    "properties": {
        "type": {"const": "row"},
        "collapsed": {"type": "boolean"},
        "title": {"type": "string"},
        "datasource": _DATASOURCE_REF,
        "gridPos": _GRID_POS,
        "id": _UINT,
        "panels": {"type": "array", "items": _PANEL},
        "repeat": {"type": "string"},
    },
}
_VARIABLE = {
    "type": "object",
    "required": ["type", "name"],
    "properties": {
        "type": {"enum": ["query", "adhoc", "constant", "datasource", "interval", "textbox", "custom", "system"]},
        "name": {"type": "string", "minLength": 1},
        "label": {"type": "string"},
        "hide": {"enum": [0, 1, 2]},
        "skipUrlSync": {"type": "boolean"},
        "description": {"type": "string"},
        "query": {"type": ["string", "object"]},
        "datasource": _DATASOURCE_REF,
    },
}
DASHBOARD_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["title", "uid", "editable", "graphTooltip", "schemaVersion", "panels", "templating", "time"],
    "properties": {
        "id": {"type": ["integer", "null"]},
        "uid": {"type": "string", "minLength": 8, "maxLength": 40},
        "title": {"type": "string", "minLength": 1},
        "description": {"type": "string"},
        "tags": {"type": "array", "items": {"type": "string"}},
        "timezone": {"type": "string"},
        "editable": {"type": "boolean"},
        "graphTooltip": {"enum": [0, 1, 2]},
        "time": {
            "type": "object",
            "required": ["from", "to"],
            "properties": {"from": {"type": "string"}, "to": {"type": "string"}},
        },
        "timepicker": {"type": "object"},
        "fiscalYearStartMonth": {"type": "integer", "minimum": 0, "maximum": 11},
        "liveNow": {"type": "boolean"},
        "weekStart": {"type": "string"},
        "refresh": {"anyOf": [{"type": "string"}, {"const": False}]},
        "schemaVersion": {"type": "integer", "minimum": 0, "maximum": 65535},
        "version": _UINT,
        "panels": {"type": "array", "items": {"anyOf": [_ROW, _PANEL]}},
        "templating": {
            "type": "object",
            "required": ["list"],
            "properties": {"list": {"type": "array", "items": _VARIABLE}},
        },
        "annotations": {
            "type": "object",
            "properties": {
                "list": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "datasource", "enable", "iconColor"],
                        "properties": {"name": {"type": "string"}, "datasource": _DATASOURCE_REF},
                    },
                }
            },
        },
        "links": {"type": "array"},
    },
}
CORE_PANELS = {"stat", "bargauge", "gauge", "piechart", "table", "timeseries", "text", "barchart", "state-timeline"}


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def all_panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return found


def test_the_dashboard_matches_grafanas_dashboard_schema(dashboard: dict) -> None:
    jsonschema.validate(dashboard, DASHBOARD_SCHEMA)


def test_the_schema_catches_what_grafana_refuses(dashboard: dict) -> None:
    """The check can fail: each broken copy is refused."""
    broken = [
        lambda d: d["panels"][0]["gridPos"].update(w=25),
        lambda d: d["panels"][0].update(type=""),
        lambda d: d["panels"][0].pop("fieldConfig"),
        lambda d: d["templating"]["list"][0].update(type="dropdown"),
        lambda d: d.update(graphTooltip=3),
        lambda d: d.pop("uid"),
    ]
    for breaks in broken:
        copy = json.loads(json.dumps(dashboard))
        breaks(copy)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(copy, DASHBOARD_SCHEMA)


def test_panels_have_unique_ids_descriptions_known_types_and_no_overlap(dashboard: dict) -> None:
    panels = all_panels(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), ids
    required = {r["id"] for r in dashboard.get("__requires", []) if r["type"] == "panel"}
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["type"] in CORE_PANELS and panel["type"] in required, panel["type"]
        assert len(panel.get("description", "").strip()) >= 30, f"panel {panel['title']!r} has no description"
        refs = [t["refId"] for t in panel["targets"]]
        assert all(refs) and len(refs) == len(set(refs)), (panel["title"], refs)
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


def test_every_datasource_reference_resolves_when_provisioned(dashboard: dict) -> None:
    """``${DS_PROMETHEUS}`` works both ways: replaced on a UI import (``__inputs``), and a datasource variable
    of that name (defaulting to the provisioned Prometheus) when Grafana loads the file as it is."""
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource" and variables["DS_PROMETHEUS"]["query"] == "prometheus"
    assert dashboard["templating"]["list"][0]["name"] == "DS_PROMETHEUS", "the datasource variable comes first"
    references = [p["datasource"] for p in all_panels(dashboard) if "datasource" in p]
    references += [t["datasource"] for p in all_panels(dashboard) for t in p.get("targets", [])]
    references += [v["datasource"] for v in dashboard["templating"]["list"] if "datasource" in v]
    for reference in references:
        variable = re.fullmatch(r"\$\{(\w+)\}", reference["uid"])
        if reference["type"] == "prometheus":
            assert variable and variables[variable[1]]["type"] == "datasource", reference
        else:
            assert reference == {"type": "grafana", "uid": "-- Grafana --"}, reference  # built-in annotations


# -- provisioning of the compose stack ------------------------------------------------------------------------------


def provisioning(kind: str) -> dict:
    files = sorted((PROVISIONING / kind).glob("*.y*ml"))
    assert len(files) == 1, files
    return yaml.safe_load(files[0].read_text())


def test_grafana_is_provisioned_with_prometheus_and_the_dashboard() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    grafana = compose["services"]["grafana"]
    mounts = dict(m.rsplit(":", 1)[0].split(":", 1) for m in grafana["volumes"] if m.count(":") == 2)
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    datasources = provisioning("datasources")
    assert datasources["apiVersion"] == 1
    (prometheus,) = datasources["datasources"]
    assert prometheus["type"] == "prometheus" and prometheus["access"] == "proxy" and prometheus["isDefault"] is True
    assert prometheus["url"] == "http://prometheus:9090" and "prometheus" in compose["services"]
    assert grafana["depends_on"]["prometheus"] == {"condition": "service_healthy"}

    providers = provisioning("dashboards")
    assert providers["apiVersion"] == 1
    (provider,) = providers["providers"]
    assert provider["type"] == "file" and provider["disableDeletion"] is True
    dashboards_in_container = provider["options"]["path"]
    host_dir = next(host for host, target in mounts.items() if target == dashboards_in_container)
    assert (ROOT / host_dir).resolve() == DASHBOARD.parent.resolve(), "the provider reads the shipped dashboard"
    environment = grafana["environment"]
    home = environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home == f"{dashboards_in_container}/{DASHBOARD.name}", "the dashboard opens first, no clicks"
    assert environment["GF_AUTH_ANONYMOUS_ENABLED"] == "true" and environment["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"
    assert environment["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert "/api/health" in " ".join(grafana["healthcheck"]["test"])
    assert any(p.endswith(":3000") and p.startswith("${GRAFANA_PUBLISH:-127.0.0.1:3000}") for p in grafana["ports"])
