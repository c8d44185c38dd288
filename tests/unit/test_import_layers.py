"""The layers contract (pyproject.toml ``[tool.importlinter]``) holds, and it is checked on every module.

Runs ``scripts/lint_imports.py`` as CI does, so ``./dev test`` catches an import that points upwards. The
second test guards the check itself: if grimp stopped seeing the folders that package-dir maps into okrflow
(flows/, connectors/, okr_model/), the contract would pass vacuously.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "lint_imports.py"


def lint(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False
    )


def test_the_layers_contract_is_kept() -> None:
    result = lint()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_the_mapped_subpackages_are_analysed() -> None:
    result = lint("--verbose")
    for package in ("okrflow.flows", "okrflow.okr_model"):
        assert f"Searching for cycles between children of {package}..." in result.stdout, result.stdout
    analysed = int(result.stdout.split("Analyzed ")[1].split(" files")[0])
    spec = importlib.util.spec_from_file_location("lint_imports", SCRIPT)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    folders = script.package_dirs(ROOT / "pyproject.toml")
    assert {"okrflow.flows", "okrflow.connectors", "okrflow.okr_model"} <= set(folders)
    python_files = sum(
        1
        for folder in folders.values()
        for path in folder.rglob("*.py")
        if "__pycache__" not in path.parts
        and (path.parent / "__init__.py").is_file()  # Alembic's versions/: no package
    )
    assert analysed == python_files


def test_every_layer_names_a_module_that_exists() -> None:
    """A misspelt layer would check nothing; import-linter refuses a missing container, not a missing layer."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    names = [name.strip() for layer in layers for name in layer.replace(":", "|").split("|")]
    missing = [name for name in names if importlib.util.find_spec(name) is None]
    assert missing == []
