"""Run ``lint-imports`` (pyproject.toml ``[tool.importlinter]``) on okrflow as it is installed.

Why not plain ``lint-imports`` in the repository: ``flows/``, ``connectors/`` and ``okr_model/`` are mapped
into ``okrflow`` by ``[tool.setuptools.package-dir]``. grimp (import-linter's graph builder) walks the one
directory of the ``okrflow`` package and does not see the mapped subpackages; it refuses a subpackage as a
root package (``NotATopLevelModule``) and does not follow symlinked folders. So this script lays out the
Python files as the wheel installs them (the mapping read from pyproject.toml) in a temporary folder and
runs ``lint-imports`` there, against the repository's pyproject.toml. ``--verbose`` and other options pass
through. Exit status is lint-imports' own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "okrflow"


def package_dirs(pyproject: Path) -> dict[str, Path]:
    """Subpackage of okrflow -> its folder in the repository (okrflow itself included)."""
    mapping = tomllib.loads(pyproject.read_text())["tool"]["setuptools"].get("package-dir", {})
    dirs = {PACKAGE: ROOT / PACKAGE}
    for name, folder in mapping.items():
        if name.startswith(f"{PACKAGE}.") and (ROOT / folder / "__init__.py").is_file():
            dirs[name] = ROOT / folder
    return dirs


def lay_out(target: Path, pyproject: Path) -> None:
    """Copy every Python file of okrflow to ``target`` where the installed package has it."""
    for name, folder in package_dirs(pyproject).items():
        dest = target.joinpath(*name.split("."))
        shutil.copytree(
            folder,
            dest,
            dirs_exist_ok=True,
            ignore=lambda _dir, names: [n for n in names if n == "__pycache__" or Path(n).suffix not in ("", ".py")],
        )


def main(argv: list[str]) -> int:
    pyproject = ROOT / "pyproject.toml"
    lint_imports = Path(sys.executable).parent / "lint-imports"
    with tempfile.TemporaryDirectory(prefix="okrflow-imports-") as tmp:
        lay_out(Path(tmp), pyproject)
        env = {**os.environ, "PYTHONPATH": tmp, "PYTHONDONTWRITEBYTECODE": "1"}
        # lint-imports puts its working folder first on sys.path: run it in the laid-out folder.
        command = [str(lint_imports), "--config", str(pyproject), "--no-cache", *argv]
        return subprocess.run(command, cwd=tmp, env=env, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
