"""A config file as text: at most ``OKRFLOW_MAX_CONFIG_BYTES`` bytes (default 2 MiB) of strict UTF-8.

The first of the limits on config files (``yaml_safety`` has the others): read no further than the limit, so
``/dev/zero`` or a pipe cannot fill memory, and name the byte an encoding error is at.
"""

from __future__ import annotations

import os
from pathlib import Path

from okrflow.okr_model.errors import ConfigError, ConfigIssue

__all__ = [
    "DEFAULT_MAX_CONFIG_BYTES",
    "MAX_BYTES_ENV",
    "check_size",
    "decode_utf8",
    "max_config_bytes",
    "read_config_text",
]

MAX_BYTES_ENV = "OKRFLOW_MAX_CONFIG_BYTES"
DEFAULT_MAX_CONFIG_BYTES = 2 * 2**20
"""2 MiB: a 1,000-KR config is about 300 KB; 2 MiB (15,000 KRs) validate in about 4 s of CPU and 200-400 MB."""


def max_config_bytes(file: str) -> int:
    """The size limit: ``OKRFLOW_MAX_CONFIG_BYTES`` when set (a positive number of bytes), else 2 MiB."""
    raw = os.environ.get(MAX_BYTES_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_CONFIG_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(file, [ConfigIssue("", f"{MAX_BYTES_ENV} must be a positive number of bytes (got {raw!r})")])
    return value


def read_config_text(path: str | os.PathLike[str], file: str) -> str:
    """The file as text: at most the size limit (read no further, so /dev/zero or a pipe cannot fill memory),
    strict UTF-8 (a UTF-8 byte-order mark is fine). Raises ``OSError`` as ``open`` does."""
    limit = max_config_bytes(file)
    with Path(path).open("rb") as handle:
        data = handle.read(limit + 1)
    check_size(len(data), limit, file)
    return decode_utf8(data, file)


def check_size(size: int, limit: int, file: str) -> None:
    """Refuse more than ``limit`` bytes, saying how to raise the limit."""
    if size > limit:
        raise ConfigError(
            file,
            [
                ConfigIssue(
                    "",
                    f"the file is larger than the {_size(limit)} limit for a config (a 1,000-KR config is about "
                    f"300 KB); split it, or raise the limit with {MAX_BYTES_ENV}=BYTES",
                )
            ],
        )


def decode_utf8(data: bytes, file: str) -> str:
    """Strict UTF-8, or a ``ConfigError`` naming the byte offset, its line, and the likely encoding."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError(
            file, [ConfigIssue("", "the file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8", 1)]
        )
    nul = data.find(b"\x00")
    if nul >= 0:
        raise ConfigError(
            file,
            [
                ConfigIssue(
                    "",
                    f"a NUL byte at byte offset {nul}: this is a binary file (or UTF-16/32), not UTF-8 text",
                    data.count(b"\n", 0, nul) + 1,
                )
            ],
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            file,
            [
                ConfigIssue(
                    "",
                    f"not UTF-8: byte 0x{data[exc.start]:02x} at byte offset {exc.start} cannot be decoded "
                    "(latin-1 or another legacy encoding?); save the file as UTF-8",
                    line,
                )
            ],
        ) from None


def _size(limit: int) -> str:
    return f"{limit / 2**20:g} MiB" if limit >= 2**20 else f"{limit:,} bytes"
