"""The wheel's package list (pyproject.toml) names every import package of the checkout, under okrflow's
own name: no generic top-level name (flows, connectors) may land in site-packages."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
MAPPED = {Path(folder): name for name, folder in SETUPTOOLS.get("package-dir", {}).items()}


def import_name(folder: Path) -> str:
    """The installed name of a checkout folder: a mapped folder (or one inside it) takes the mapped name."""
    for mapped, name in MAPPED.items():
        if folder == mapped or mapped in folder.parents:
            return ".".join([name, *folder.relative_to(mapped).parts])
    return ".".join(folder.parts)


def test_every_import_package_is_listed():
    listed = set(SETUPTOOLS["packages"])
    found = {
        import_name(init.parent.relative_to(ROOT))
        for top in ("okrflow", "okr_model", "connectors", "flows", "config")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages"
    assert listed - found == set(), "listed but not a package folder"


def test_only_okrflow_is_installed_at_the_top_level():
    assert {name.split(".")[0] for name in SETUPTOOLS["packages"]} == {"okrflow"}


def test_no_code_imports_the_checkout_folder_names():
    """``flows``/``connectors``/``okr_model`` import as ``okrflow.<folder>``. In the checkout the bare names
    would still import (the folders sit on sys.path) but as second copies of every module, so they must not
    be used at all."""
    import re

    bare = re.compile(r"^\s*(?:from|import)\s+(?:flows|connectors|okr_model)\b", re.M)
    offenders = [
        str(path.relative_to(ROOT))
        for top in ("okrflow", "okr_model", "connectors", "flows", "tests", "benchmarks", "scripts", "config")
        for path in (ROOT / top).rglob("*.py")
        if bare.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "import okrflow.flows / okrflow.connectors / okrflow.okr_model instead"
