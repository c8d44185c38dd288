"""The store and the CLI use public APIs only (issue 14): no switching the garbage collector off, no JSON scanner
internals, no frozen records built by writing their ``__dict__``. A speed-up that needs one of these must be the
one documented exception in ``benchmarks/README.md``, and then listed here with its figure."""

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


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("what", sorted(INTERNALS))
def test_no_library_internals(what: str) -> None:
    pattern = INTERNALS[what]
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in _sources()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not found, f"{what}:\n" + "\n".join(found)
