"""Replace a file whole: write a temporary file beside it, then rename it over the old one.

A static web server or an object-store sync reading the report while a run rewrites it sees the old page or
the new one, never half of one: ``os.replace`` within one folder is atomic on POSIX and Windows. The temporary
file is in the same folder (a rename across file systems is a copy) and is removed when the write fails.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["write_atomically"]

_NEW_FILE_MODE = 0o644
"""A new report is readable by a web server running as another user (mkstemp alone would make it 0600)."""


def write_atomically(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (parents created) so readers see the old content until the new is whole."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = _NEW_FILE_MODE
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return path
