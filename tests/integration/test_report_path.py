"""``report: {path: ...}``: each served run rewrites the HTML report whole, so a static web server always serves a
whole, current page. Real SQLite store, real files, the real Prefect flow; the rename is watched with Python's
audit events (``os.rename`` is raised by ``os.replace``, ``open`` by the temporary file's creation).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from okrflow.flows.pipeline import evaluate
from okrflow.flows.report_refresh import refresh_report
from okrflow.okr_model.loader import load_config

from okrflow.report.atomic_file import write_atomically
from okrflow.store import Store

CONFIG = """
version: 1
cycle: {name: 2026-Q4, start: 2026-10-01, end: 2026-12-31}
store: sqlite:///history.db
report: {path: site/okrs.html}
objectives:
  - id: growth
    title: Grow the product
    key_results:
      - {id: adoption, title: Adoption of the new flow, kind: manual, baseline: 20, target: 80}
"""

AT = datetime(2026, 11, 15, 12, tzinfo=UTC)

_watching: list[list[tuple[str, tuple]]] = []


def _audit(event: str, args: tuple) -> None:
    if _watching and event in ("os.rename", "open"):
        _watching[-1].append((event, args))


sys.addaudithook(_audit)  # audit hooks cannot be removed: it records only inside ``watched()``


@contextmanager
def watched() -> Iterator[list[tuple[str, tuple]]]:
    events: list[tuple[str, tuple]] = []
    _watching.append(events)
    try:
        yield events
    finally:
        _watching.remove(events)


@pytest.fixture
def team(tmp_path: Path, monkeypatch) -> Path:
    """A team folder with the config; the working directory is elsewhere (relative paths follow the config)."""
    folder = tmp_path / "team"
    folder.mkdir()
    (folder / "okrflow.yaml").write_text(CONFIG)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("OKRFLOW_STORE_URL", raising=False)
    return folder


def test_a_stored_run_rewrites_the_configured_report_relative_to_the_config_folder(team):
    config = load_config(team / "okrflow.yaml")
    assert config.report.path == str(team / "site" / "okrs.html")
    with Store.open(config.store) as store:
        record = evaluate(config, store, AT)
        assert record.run_id
        with watched() as events:
            assert refresh_report(config, store) is None
    page = (team / "site" / "okrs.html").read_text()
    assert "Adoption of the new flow" in page and page.rstrip().endswith("</html>")
    assert not (Path.cwd() / "site").exists()
    (source, target) = next(args[:2] for event, args in events if event == "os.rename")
    assert Path(target) == team / "site" / "okrs.html"
    assert Path(source).parent == Path(target).parent and Path(source) != Path(target), "temp file beside the page"
    assert not Path(source).exists()
    assert sorted(p.name for p in (team / "site").iterdir()) == ["okrs.html"]
    assert oct((team / "site" / "okrs.html").stat().st_mode & 0o777) == oct(0o644), "a web server may read it"


def test_a_reader_never_sees_a_partial_report_while_runs_rewrite_it(tmp_path):
    page = tmp_path / "okrs.html"
    versions = [f"<html>{str(n) * 400_000}</html>\n" for n in range(4)]  # 400 KB: a write takes many syscalls
    write_atomically(page, versions[0])
    seen: set[str] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(page.read_text())

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(60):
            write_atomically(page, versions[n % len(versions)])
    finally:
        stop.set()
        reader.join()
    assert seen <= set(versions), f"a partial page was read ({len(seen - set(versions))} of {len(seen)} reads)"
    assert len(seen) > 1, "the reader saw the page change"


def test_a_failed_write_keeps_the_old_page_and_removes_its_temporary_file(tmp_path):
    page = tmp_path / "okrs.html"
    page.write_text("<html>old</html>\n")
    with watched() as events, pytest.raises(UnicodeEncodeError):
        write_atomically(page, "<html>half \ud800 written</html>")  # a lone surrogate fails mid-write
    opened = [Path(args[0]) for event, args in events if event == "open" and isinstance(args[0], str)]
    temps = [p for p in opened if p != page and p.parent == tmp_path]
    assert temps, f"the temporary file is created beside the page: {opened}"
    assert not any(p.exists() for p in temps)
    assert page.read_text() == "<html>old</html>\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["okrs.html"]


def test_a_report_that_cannot_be_written_leaves_the_run_stored_and_says_why(team):
    (team / "site" / "okrs.html").mkdir(parents=True)  # a folder where the page should go: the rename fails
    config = load_config(team / "okrflow.yaml")
    with Store.open(config.store) as store:
        record = evaluate(config, store, AT)
        reason = refresh_report(config, store)
        assert reason is not None and reason.startswith(f"report not written to {team / 'site' / 'okrs.html'}: ")
        assert [run.id for run in store.runs()] == [record.run_id]
    assert sorted(p.name for p in (team / "site").iterdir()) == ["okrs.html"], "no temporary file left behind"


def test_the_served_flow_rewrites_the_report_after_each_run(team, tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    from okrflow.flows.evaluate import evaluate_flow
    from prefect.testing.utilities import prefect_test_harness

    page = team / "site" / "okrs.html"
    with prefect_test_harness(server_startup_timeout=90):
        evaluate_flow(str(team / "okrflow.yaml"), at="2026-11-15T12:00:00+00:00")
        first = page.read_text()
        evaluate_flow(str(team / "okrflow.yaml"), at="2026-11-16T12:00:00+00:00")
    second = page.read_text()
    assert "2026-11-15" in first and "2026-11-16" in second and first != second
