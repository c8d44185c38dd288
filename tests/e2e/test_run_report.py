"""``report: {path: ...}`` on the direct ``okrflow run`` path (issue 17): a stored run rewrites the page whole, as a
served run does, and a page that cannot be written is a warning, never a failed run. A real ``okrflow`` process,
a real SQLite store and real files; the config's folder is not the working directory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.fixtures.terminal import okrflow_on_pipes
from tests.integration.test_report_path import CONFIG  # the served flow's test: the same team and page


@pytest.fixture
def team(tmp_path: Path) -> Path:
    folder = tmp_path / "team"
    folder.mkdir()
    (folder / "okrflow.yaml").write_text(CONFIG)
    (tmp_path / "elsewhere").mkdir()
    return folder


def run(team: Path, *args: str):
    return okrflow_on_pipes(team / "okrflow.yaml", "run", *args, cwd=team.parent / "elsewhere")


def test_a_stored_run_replaces_the_page_whole_by_a_rename(team):
    site = team / "site"
    site.mkdir()
    page = site / "okrs.html"
    page.write_text("<html>the previous page</html>\n")
    reader = team.parent / "reader-holds-the-old-page.html"
    os.link(page, reader)  # what a web server mid-read holds: an in-place rewrite would change it, a rename cannot
    first = run(team, "--at", "2026-11-15T12:00:00Z")
    assert first.returncode == 0, first.stderr
    assert "warning" not in first.stderr, first.stderr
    written = page.read_text()
    assert "Adoption of the new flow" in written and "2026-11-15" in written and written.rstrip().endswith("</html>")
    assert reader.read_text() == "<html>the previous page</html>\n", "the old page was rewritten in place"
    assert page.stat().st_ino != reader.stat().st_ino
    assert sorted(p.name for p in site.iterdir()) == ["okrs.html"], "no temporary file left beside the page"
    assert oct(page.stat().st_mode & 0o777) == oct(0o644), "a web server may read it"
    assert not (team.parent / "elsewhere" / "site").exists(), "the path is relative to the config's folder"
    second = run(team, "--at", "2026-11-16T12:00:00Z")
    assert second.returncode == 0, second.stderr
    assert "2026-11-16" in page.read_text() and page.read_text() != written


def test_a_dry_run_writes_no_page(team):
    ran = run(team, "--at", "2026-11-15T12:00:00Z", "--dry-run")
    assert ran.returncode == 0 and "dry run: nothing was written" in ran.stdout, ran.stderr
    assert not (team / "site").exists()


def test_a_page_that_cannot_be_written_leaves_the_run_stored_with_a_warning(team):
    page = team / "site" / "okrs.html"
    page.mkdir(parents=True)  # a folder where the page should go: the rename over it fails
    ran = run(team, "--at", "2026-11-15T12:00:00Z", "--format", "json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["run"]["id"], "stdout keeps the run's JSON, parseable"
    warnings = [line for line in ran.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, ran.stderr
    assert warnings[0].startswith(f"warning: report not written to {page}: IsADirectoryError: "), ran.stderr
    assert warnings[0].endswith("(the run is stored)") and "Traceback" not in ran.stderr, ran.stderr
    status = okrflow_on_pipes(team / "okrflow.yaml", "status", "--format", "json")
    assert status.returncode == 0 and json.loads(status.stdout)["run"]["id"] == json.loads(ran.stdout)["run"]["id"]
    assert sorted(p.name for p in (team / "site").iterdir()) == ["okrs.html"], "no temporary file left behind"
