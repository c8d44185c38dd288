"""The house rules CONTRIBUTING.md states, checked so a change cannot break them by accident: modules with one job
stay under about 400 lines, and the tree is ruff clean (lint and format)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("okr_model", "connectors", "flows", "okrflow")
MAX_LINES = 400


def test_no_module_is_over_400_lines() -> None:
    modules = [p for package in PACKAGES for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts]
    assert len(modules) > 100, "the scan found the modules"
    too_long = {str(p.relative_to(ROOT)): n for p in modules if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert too_long == {}, "split these by responsibility (CONTRIBUTING.md)"


def test_the_tree_is_ruff_clean() -> None:
    ruff = [sys.executable, "-m", "ruff"]
    lint = subprocess.run([*ruff, "check", "--quiet", "."], cwd=ROOT, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    python_files = subprocess.run(["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True)
    files = python_files.stdout.split()
    assert len(files) > 100
    form = subprocess.run([*ruff, "format", "--check", *files], cwd=ROOT, capture_output=True, text=True)
    assert form.returncode == 0, form.stdout + form.stderr
