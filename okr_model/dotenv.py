"""Read a ``.env`` file: the local values of a config's ``${VAR}`` placeholders.

The environment always wins over the file, so production (where variables come from the orchestrator
or a secret store) is unaffected by a stray ``.env``. The format is the common subset every tool
agrees on: ``KEY=value`` lines, ``#`` comments, an optional ``export`` prefix, optional matching quotes
around the value; no interpolation inside the file.
"""

from __future__ import annotations

import re
from pathlib import Path

__all__ = ["read_dotenv"]

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$")


def read_dotenv(path: Path) -> dict[str, str]:
    """The variables a ``.env`` file sets; an absent or unreadable file sets none."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    values: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            continue
        key, value = match.groups()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values
