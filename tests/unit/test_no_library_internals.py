"""The store and the CLI use public APIs only (issue 14): no switching the garbage collector off, no JSON scanner
internals, no frozen records built by writing their ``__dict__``. A speed-up that needs one of these must be the
one documented exception in ``benchmarks/README.md`` with its figure, and is listed here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("okrflow", "flows", "connectors", "okr_model")
INTERNALS = {
    "the cyclic garbage collector switched off or frozen": re.compile(r"\bgc\.(disable|freeze|enable)\s*\("),
    "the json module's internal scanner": re.compile(r"\bscan_once\b|json\.scanner|c_make_scanner"),
    "a record built by writing its __dict__": re.compile(r"""["']__dict__["']"""),
    "an object created without its constructor": re.compile(r"object\.__new__"),
}

THE_EXCEPTION = ("the cyclic garbage collector switched off or frozen", "okrflow/store/gc_pause.py")
"""The one exception kept (issue 14), used by one KR's history and the short-lived CLI commands."""


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("what", sorted(INTERNALS))
def test_no_library_internals(what: str) -> None:
    pattern = INTERNALS[what]
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line) and (what, path.relative_to(ROOT).as_posix()) != THE_EXCEPTION
    ]
    assert not found, f"{what}:\n" + "\n".join(found)


def test_the_one_exception_is_documented_with_its_figure() -> None:
    readme = (ROOT / "benchmarks" / "README.md").read_text(encoding="utf-8")
    assert "the one exception" in readme and "okrflow/store/gc_pause.py" in readme
