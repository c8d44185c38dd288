"""Secrets, written once: show a URL without its password, and blank known secret values in any text.

Every message a user can read (a KR's stored detail, a store or delivery error, a log line) passes
through here when it may carry a credential, so the rules live in one place:

- A URL's password is whatever lies between the first ``:`` of the user info and the *last* ``@``
  of the authority, so ``postgresql://bob:Ab@Leak/Tail#7788@db.internal/x`` has the password
  ``Ab@Leak/Tail#7788`` (SQLAlchemy's ``make_url`` and ``urllib`` stop at the first ``@`` or ``/`` and
  would show the rest as the host). ``database_url`` builds the SQLAlchemy URL from that split, so the
  same password also *connects*.
- A secret is blanked in every shape a library or a server may echo it in: as is, URL-quoted, JSON or
  ``repr`` escaped, base64 (any alignment, so SMTP ``AUTH PLAIN`` ``\\0user\\0password`` and HTTP Basic
  ``user:password`` blobs are caught too), and its longer pieces between URL delimiters.

Pure: the standard library only (SQLAlchemy is imported inside ``database_url``).
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus, unquote, urlsplit

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = [
    "MASK",
    "MIN_SIGNING_KEY_BYTES",
    "Redactor",
    "UrlParts",
    "database_url",
    "hide_password",
    "host_only",
    "signing_key",
    "split_url",
    "url_secrets",
]

MASK = "***"
_MIN_PLAIN = 4
"""Shorter values are blanked only as whole words (a 2-letter password must not shred every message)."""
_MIN_PIECE = 6
"""Pieces of a secret between URL delimiters (``@ : / ? #``) at least this long are blanked too."""


# --- URLs -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UrlParts:
    """``prefix`` (``scheme://``), raw (still quoted) ``username``/``password``, and ``rest`` (host, port, path...)."""

    prefix: str
    username: str | None
    password: str | None
    rest: str


_HOST = re.compile(r"(?:\[[^\]]*\]|[^/?#@\[\]:&=]*)(?::\d*)?(?:[/?#]|$)")
"""``host[:port]`` then the path, query, fragment or end; no DNS name holds ``&`` or ``=`` (a query's pairs do)."""
_QUERY = re.compile(r"[^=&]*=[^&]*(?:&[^=&]*=[^&]*)*")


def _userinfo_end(rest: str) -> int:
    """The ``@`` that ends the user info: the *last* one followed by ``host[:port]`` and then no other ``@``
    (except inside a ``name=value`` query). That is the last ``@`` of the authority, whatever the password holds.

    Searched from the end: a password may read as ``host?query`` itself (``@?``, ``@h?a=``), and taking the
    first ``@`` would show the password's tail as the host and query. Where both readings fit
    (``u:p@h/?to=ops@example.com``), the longer password wins: shown, it hides more, never less.
    """
    for match in reversed(list(re.finditer("@", rest))):
        after = rest[match.end() :]
        if not _HOST.match(after):
            continue
        query = after.find("?")
        head, tail = (after, "") if query < 0 else (after[:query], after[query + 1 :])
        if "@" in head or ("@" in tail and not _QUERY.fullmatch(tail)):
            continue
        return match.start()
    return -1


def split_url(url: str) -> UrlParts:
    """Split the user info off a URL (see ``_userinfo_end``); a path right after ``//`` has none."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return UrlParts("", None, None, url)
    at = -1 if rest.startswith("/") else _userinfo_end(rest)
    username, colon, password = rest[:at].partition(":")
    if at < 0 or "/" in username:
        return UrlParts(scheme + sep, None, None, rest)
    return UrlParts(scheme + sep, username, password if colon else None, rest[at + 1 :])


def hide_password(url: str) -> str:
    """The URL with its password shown as ``***`` (user, host, path and query kept): for any URL kind.

    Text that is not ``scheme://...`` but holds an ``@`` (``postgresql//user:pw@host``, a typo) may hold a
    password where no rule can find it: it is shown as ``<unparseable URL>``.
    """
    parts = split_url(url)
    if "://" not in url and "@" in url:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    return f"{parts.prefix}{parts.username}:{MASK}@{parts.rest}"


def host_only(url: str) -> str:
    """``https://hooks.slack.com/…``: scheme, host and port only (for URLs whose path or query is the secret)."""
    parts = split_url(url)
    try:
        split = urlsplit(f"{parts.prefix}{parts.rest}")
        host, port = split.hostname or "?", split.port
    except ValueError:
        return "<unparseable URL>"
    host = f"[{host}]" if ":" in host else host
    return f"{split.scheme or '?'}://{host}{f':{port}' if port else ''}/…"


def database_url(url: str) -> URL:
    """A SQLAlchemy ``URL`` whose user and password come from ``split_url`` (then percent-decoded).

    Raises what ``make_url`` raises (``ArgumentError``/``ValueError``); callers never echo ``url``.
    """
    from sqlalchemy.engine import make_url

    parts = split_url(url)
    if parts.username is None:
        return make_url(url)
    parsed = make_url(f"{parts.prefix}{parts.rest}")
    password = unquote(parts.password) if parts.password is not None else None
    return parsed.set(username=unquote(parts.username) or None, password=password)


def url_secrets(url: str) -> list[str]:
    """The URL and the pieces of it that may be credentials: user info, path (a Slack token), query."""
    parts = split_url(url)
    pieces = [url, parts.password or ""]
    try:
        split = urlsplit(f"{parts.prefix}{parts.rest}")
    except ValueError:
        return [piece for piece in pieces if piece]
    pieces += [split.path, split.query, split.fragment]
    pieces += [segment for segment in split.path.split("/") if len(segment) >= 8]  # Slack: T…/B…/token
    pieces += [value for _, _, value in (p.partition("=") for p in split.query.split("&")) if len(value) >= 8]
    return [piece for piece in pieces if piece and piece != "/"]


# --- signing keys ---------------------------------------------------------------------------------

MIN_SIGNING_KEY_BYTES = 32
"""An HMAC-SHA256 key shorter than its output is guessable sooner than the hash; 32 bytes is 256 bits."""


def signing_key(secret: str) -> bytes:
    """The HMAC key of a webhook secret, as Standard Webhooks defines it.

    ``whsec_<base64>`` is decoded (the spec's form; ``standardwebhooks.Webhook(secret)`` takes it as
    is); any other secret is used as its UTF-8 bytes (give ``Webhook(secret.encode())`` to that
    library). Raises ``ValueError`` when the ``whsec_`` part is not base64.
    """
    if not secret.startswith("whsec_"):
        return secret.encode("utf-8")
    encoded = secret.removeprefix("whsec_")
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except ValueError:
        raise ValueError("a whsec_ secret must be base64 after the prefix") from None


# --- known values -----------------------------------------------------------------------------------


def _base64_cores(raw: bytes) -> set[str]:
    """The base64 characters that depend on ``raw`` alone, for each of the three byte alignments.

    A base64 blob that contains ``raw`` anywhere (``AUTH PLAIN`` ``\\0user\\0password``, Basic
    ``user:password``) contains one of these strings.
    """
    cores = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw + b"\0\0").decode("ascii")
        first = -(-8 * offset // 6)  # the first character whose six bits are all inside raw
        last = (8 * (offset + len(raw))) // 6  # one past the last such character
        core = encoded[first:last]
        cores |= {core, core.replace("+", "-").replace("/", "_")}
    return {core for core in cores if len(core) >= _MIN_PIECE}


def _forms(value: str) -> set[str]:
    """Every shape of ``value`` a library, a driver or a server may echo."""
    raw = value.encode("utf-8")
    forms = {value, quote(value, safe=""), quote(value), quote_plus(value), json.dumps(value)[1:-1]}
    forms |= {repr(value)[1:-1], value.encode("unicode_escape").decode("ascii")}
    forms |= {re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), form) for form in list(forms) if "%" in form}
    forms |= {base64.b64encode(raw).decode("ascii"), base64.urlsafe_b64encode(raw).decode("ascii")}
    forms |= _base64_cores(raw)
    forms |= {piece for piece in re.split(r"[@:/?#\s]", value) if len(piece) >= _MIN_PIECE}
    return {form for form in forms if form}


class Redactor:
    """Blanks a fixed set of secret values (in all their shapes, see ``_forms``) from text.

    Build it once per source or channel; calling it is cheap. Values under four characters are
    blanked only where they stand as a whole word.
    """

    def __init__(self, secrets: Iterable[str | None] = ()):
        values = {value for value in secrets if value}
        long_forms = {form for value in values for form in _forms(value) if len(form) >= _MIN_PLAIN}
        short = {value for value in values if len(value) < _MIN_PLAIN}
        self._replace: Callable[[str], str] | None = None
        alternatives = [re.escape(form) for form in sorted(long_forms, key=len, reverse=True)]
        alternatives += [rf"(?<!\w){re.escape(value)}(?!\w)" for value in sorted(short, key=len, reverse=True)]
        if alternatives:
            pattern = re.compile("|".join(alternatives))
            self._replace = lambda text: pattern.sub(MASK, text)

    def __call__(self, text: str) -> str:
        return self._replace(text) if self._replace is not None and text else text

    def __bool__(self) -> bool:
        return self._replace is not None
