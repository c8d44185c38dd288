"""The wheel's package list (pyproject.toml) names every import package of the checkout."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_import_package_is_listed():
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = {name: Path(path) for name, path in setuptools.get("package-dir", {}).items()}
    listed = set(setuptools["packages"])
    found = set()
    for top in ("okrflow", "okr_model", "connectors", "flows"):
        for init in (ROOT / top).rglob("__init__.py"):
            found.add(".".join(init.parent.relative_to(ROOT).parts))
    missing = found - listed
    assert not missing, f"add to [tool.setuptools] packages: {sorted(missing)}"
    for name in listed:
        folder = ROOT / folders.get(name, Path(*name.split(".")))
        assert (folder / "__init__.py").exists(), f"{name}: {folder} is not a package"
