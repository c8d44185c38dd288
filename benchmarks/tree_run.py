"""Run ``okrflow`` from another source tree with this venv: ``python benchmarks/tree_run.py ROOT ARGS...``.

For paired before/after figures on a shared machine (``cli_latency --paired REV``): the tree of a revision (``git
archive``) and the working tree run alternately in fresh processes with the same interpreter and packages. The
packages map to ROOT's folders as ``pyproject.toml``'s ``[tool.setuptools.package-dir]`` maps them, through a finder
placed before the editable install's.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from importlib.abc import MetaPathFinder
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import ModuleType

PACKAGE_DIRS = {
    "okrflow": "okrflow",
    "okrflow.connectors": "connectors",
    "okrflow.examples": "config",
    "okrflow.flows": "flows",
    "okrflow.okr_model": "okr_model",
}
"""``[tool.setuptools.package-dir]``: the packages whose folder is not their dotted path."""


class TreeFinder(MetaPathFinder):
    """Finds okrflow's packages in ``root``; their submodules are found in the package's folder as usual."""

    def __init__(self, root: Path):
        self.root = root

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        folder = PACKAGE_DIRS.get(fullname)
        if folder is None:
            return None
        package = self.root / folder
        return importlib.util.spec_from_file_location(
            fullname, package / "__init__.py", submodule_search_locations=[str(package)]
        )


def main() -> None:
    root = Path(sys.argv.pop(1)).resolve()
    sys.meta_path.insert(0, TreeFinder(root))
    from okrflow.cli import main as okrflow

    sys.argv[0] = "okrflow"
    okrflow()


if __name__ == "__main__":
    main()
