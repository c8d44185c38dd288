"""``okrflow import openslo`` on the OpenSLO specification's examples, then ``okrflow run`` of the result
against a real Prometheus that serves the series the translated queries read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.fixtures.prometheus import PrometheusExporter, PrometheusServer

DATA = Path(__file__).resolve().parents[1] / "data" / "openslo"
OKRFLOW = str(Path(sys.executable).parent / "okrflow")


def okrflow(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [OKRFLOW, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def server_requests(prometheus_exporter: PrometheusExporter) -> Iterator[None]:
    """``localhost_server_requests`` as the spec README's ratio example queries it: 9 of 10 requests 2xx/3xx."""
    from prometheus_client import Gauge

    # A gauge that only grows: prometheus_client would append _total to a Counter's name.
    requests = Gauge(
        "localhost_server_requests",
        "Requests by code",
        ["code", "host", "instance"],
        registry=prometheus_exporter.registry,
    )
    stop = threading.Event()

    def feed() -> None:
        while not stop.wait(0.2):
            for code, count in (("2xx", 8), ("3xx", 1), ("5xx", 1), ("total", 10)):
                requests.labels(code=code, host="*", instance="127.0.0.1:9090").inc(count)

    feeder = threading.Thread(target=feed, name="openslo-requests-feed", daemon=True)
    feeder.start()
    prometheus_exporter.feeding.set()
    try:
        yield
    finally:
        stop.set()
        feeder.join(timeout=5)
        prometheus_exporter.registry.unregister(requests)


def test_the_spec_examples_are_listed_with_reasons_not_dropped(tmp_path: Path) -> None:
    result = okrflow(
        "import", "openslo", str(DATA / "spec-examples"), str(DATA / "spec-readme" / "foo-slo-datadog.yaml")
    )
    assert result.returncode == 1, result.stderr  # nothing translatable: no config is written
    assert result.stdout == ""
    for name, kind in (
        ("occurences-slo.yaml", "'Any'"),
        ("ratio-timeslices.yaml", "'Any'"),
        ("timeslices-slo.yaml", "'Any'"),
        ("low-traffic-timeslices-slo.yaml", "'Any'"),
        ("foo-slo-datadog.yaml", "'Datadog'"),
    ):
        line = next((x for x in result.stderr.splitlines() if f"/{name} #1 (SLO " in x), None)
        assert line is not None, (name, result.stderr)
        assert line.startswith("not translated: ") and f"metric source type {kind} is not Prometheus" in line
    assert "nothing to write: no SLO translated (5 not translated, listed above)" in result.stderr


def test_the_import_runs_against_a_real_prometheus(
    prometheus_server: PrometheusServer, server_requests: None, tmp_path: Path
) -> None:
    out = tmp_path / "okrflow.yaml"
    imported = okrflow("import", "openslo", str(DATA), "--out", str(out))
    assert imported.returncode == 0, imported.stderr
    text = out.read_text()
    config = yaml.safe_load(text)
    krs = {kr["id"]: kr for objective in config["objectives"] for kr in objective["key_results"]}
    assert set(krs) == {"serving-p95", "serving-fast-share", "localhost-errors", "localhost-availability"}
    # What could not be translated is listed in the file and on stderr, with the reason.
    for where, reason in (
        ("(SLO queue-depth-slices)", "budgetingMethod 'RatioTimeslices' has no okrflow equivalent"),
        ("(SLO search-slo)", "metric source type 'Any' is not Prometheus"),
        ("(SLO foo-slo)", "metric source type 'Datadog' is not Prometheus"),
        ("(AlertPolicy page-on-burn)", "kind AlertPolicy holds no measurement"),
    ):
        assert any(where in line and reason in line for line in text.splitlines() if line.startswith("# - ")), where
        assert any(where in line and reason in line for line in imported.stderr.splitlines()), where
    assert "7 not translated" in imported.stderr
    # The README's ratio example: the sum moves outside the rate, over the SLO's 2w window; the DataSource's
    # connectionDetails.url becomes the source.
    availability = krs["localhost-availability"]
    assert availability["kind"] == "maintain_above" and availability["target"] == 0.98
    assert availability["metric"] == {
        "source": "prometheus-datasource",
        "query": 'sum(rate(localhost_server_requests{code=~"2xx|3xx",host="*",instance="127.0.0.1:9090"}[2w]))'
        ' / sum(rate(localhost_server_requests{code="total",host="*",instance="127.0.0.1:9090"}[2w]))',
    }
    assert config["sources"]["prometheus-datasource"] == {
        "type": "prometheus",
        "url": "${PROMETHEUS_URL:-http://127.0.0.1:9090}",
    }
    assert krs["serving-p95"]["kind"] == "maintain_below" and krs["serving-p95"]["target"] == 0.5
    assert "[30d]" in krs["serving-fast-share"]["metric"]["query"]  # calendar 1M: the trailing 30 days
    assert krs["localhost-errors"]["target"] == 0.95  # Timeslices: the slice target, over a 1m slice
    assert krs["localhost-errors"]["metric"]["query"].startswith(
        '1 - sum(rate(localhost_server_requests{code="5xx"}[1m]))'
    )
    assert config["timezone"] == "Europe/Berlin"
    comments = [line.strip() for line in text.splitlines() if line.strip().startswith("# from OpenSLO")]
    assert len(comments) == 4 and any("prometheus-ratio.yaml #3 (SLO localhost-availability)" in c for c in comments)

    for kr in krs.values():  # every translated query has data before okrflow runs them
        prometheus_server.wait_for(kr["metric"]["query"], timeout=30)
    env = {"PROMETHEUS_URL": prometheus_server.url, "OKRFLOW_STORE_URL": f"sqlite:///{tmp_path / 'okrflow.db'}"}
    env.pop("PREFECT_API_URL", None)
    validated = okrflow("-c", str(out), "validate", env=env)
    assert validated.returncode == 0, validated.stderr
    run = okrflow("-c", str(out), "run", env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    status = okrflow("-c", str(out), "status", "--format", "json", env=env, cwd=tmp_path)
    assert status.returncode == 0, status.stderr
    values = {kr["id"]: kr for kr in json.loads(status.stdout)["key_results"]}
    assert all(kr["measurement"] == "ok" for kr in values.values()), values
    assert values["serving-p95"]["value"] == pytest.approx(0.4, abs=0.05)  # the fixture's P95
    assert values["serving-fast-share"]["value"] == pytest.approx(0.9, abs=0.02)
    assert values["localhost-availability"]["value"] == pytest.approx(0.9, abs=0.02)
    assert values["localhost-errors"]["value"] == pytest.approx(0.9, abs=0.02)
    assert values["serving-p95"]["status"] != "off_track" and values["serving-fast-share"]["status"] != "off_track"
    assert values["localhost-availability"]["status"] == "off_track"  # 0.9 < 0.98: the threshold breaks


def test_an_existing_out_file_is_kept_unless_forced(tmp_path: Path) -> None:
    out = tmp_path / "okrflow.yaml"
    out.write_text("# a team's config\n")
    source = str(DATA / "spec-readme" / "prometheus-ratio.yaml")
    refused = okrflow("import", "openslo", source, "--out", str(out))
    assert refused.returncode == 2 and f"not overwriting {out} (pass --force)" in refused.stderr
    assert out.read_text() == "# a team's config\n"
    forced = okrflow("import", "openslo", source, "--out", str(out), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "id: localhost-availability" in out.read_text()
    assert "1 key results written to" in forced.stderr and "0 not translated" in forced.stderr
