"""okrflow.okr_model.secrets: URLs shown without their password whatever it holds, and secrets blanked in every shape."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from okrflow.okr_model.secrets import (
    MASK,
    Redactor,
    database_url,
    hide_password,
    host_only,
    signing_key,
    split_url,
    url_secrets,
)

ODD = "Ab@Leak-Tail-7788"
ODD_PASSWORDS = [
    ODD,
    "p@ss:w/rd#frag?x=1&y%2",
    "with space and 'quotes\" and ünïcødé ✓",
    "%41%42-percent-looking",
    "@@@",
    "trailing@",
    "a/b/c@d:e",
]

# Any printable character, with the URL delimiters and odd characters made common.
password_text = st.text(
    alphabet=st.sampled_from(list("@:/?#%&=[]'\" \\+!$;,~-_.") + list("aZ09é✓ß")) | st.characters(codec="utf-8"),
    min_size=1,
    max_size=30,
).filter(lambda p: "\x00" not in p and p.strip())


@pytest.mark.parametrize("password", ODD_PASSWORDS)
@pytest.mark.parametrize(
    ("scheme", "rest"),
    [
        ("postgresql+psycopg", "127.0.0.1:5432/okr"),
        ("mysql+pymysql", "db.internal/okr?charset=utf8mb4"),
        ("mariadb", "[::1]:3306/okr"),
        ("https", "prom.example.com:9090/prefix"),
    ],
)
def test_a_raw_password_is_hidden_and_recovered(password, scheme, rest) -> None:
    url = f"{scheme}://bob:{password}@{rest}"
    assert hide_password(url) == f"{scheme}://bob:{MASK}@{rest}"
    parts = split_url(url)
    assert (parts.username, parts.password, parts.rest) == ("bob", password, rest)
    if scheme != "https" and "%" not in password:
        parsed = database_url(url)
        assert (parsed.username, parsed.password) == ("bob", password)
        assert parsed.render_as_string(hide_password=True) == f"{scheme}://bob:***@{rest}"


def test_sqlalchemy_alone_would_show_the_password_tail() -> None:
    """Why database_url exists: make_url stops the password at the first '@'."""
    from sqlalchemy.engine import make_url

    url = f"postgresql+psycopg://bob:{ODD}@127.0.0.1:5432/okr"
    assert "Leak-Tail-7788" in make_url(url).render_as_string(hide_password=True)
    shown = database_url(url).render_as_string(hide_password=True)
    assert shown == "postgresql+psycopg://bob:***@127.0.0.1:5432/okr"


@settings(max_examples=300, deadline=None)
@given(password=password_text, host=st.sampled_from(["127.0.0.1", "db.example.com", "[::1]"]))
def test_any_raw_password_is_split_off_at_the_last_at(password, host) -> None:
    url = f"postgresql://user:{password}@{host}:5432/db?sslmode=require"
    assert split_url(url).password == password
    assert hide_password(url) == f"postgresql://user:***@{host}:5432/db?sslmode=require"


@pytest.mark.parametrize("password", ["@?", "@?token=hunter2", "@h?a=", "@h/?to=ops", "x@db?sslmode=disable"])
def test_a_password_that_reads_like_a_host_and_query_is_still_the_password(password) -> None:
    """Hypothesis found '@?': the first '@' was taken (empty host, the rest a 'query'), showing the password's tail."""
    url = f"postgresql://user:{password}@127.0.0.1:5432/db?sslmode=require"
    assert split_url(url).password == password
    assert hide_password(url) == "postgresql://user:***@127.0.0.1:5432/db?sslmode=require"


@pytest.mark.parametrize(
    ("url", "password", "rest"),
    [  # an '@' in the query is no user info when what follows it cannot be a host (more query, a path)
        (
            "https://u:pw@hooks.example.com/x?to=ops@example.com&cc=x",
            "pw",
            "hooks.example.com/x?to=ops@example.com&cc=x",
        ),
        ("https://u:pw@hooks.example.com/x?to=a@b&cc=c@d&z=1", "pw", "hooks.example.com/x?to=a@b&cc=c@d&z=1"),
        ("postgresql://u:pw@/db?host=/run/postgresql", "pw", "/db?host=/run/postgresql"),
    ],
)
def test_an_at_in_the_query_stays_in_the_query(url, password, rest) -> None:
    parts = split_url(url)
    assert (parts.username, parts.password, parts.rest) == ("u", password, rest)


@settings(max_examples=300, deadline=None)
@given(password=password_text)
def test_any_quoted_password_round_trips_through_sqlalchemy(password) -> None:
    url = f"postgresql+psycopg://user:{quote(password, safe='')}@127.0.0.1:5432/db"
    parsed = database_url(url)
    assert parsed.password == password and parsed.host == "127.0.0.1" and parsed.database == "db"


def test_a_malformed_url_with_user_info_is_not_shown() -> None:
    assert hide_password(f"postgresql+psycopg//bob:{ODD}@127.0.0.1/db") == "<unparseable URL>"
    assert hide_password("sqlite:relative.db") == "sqlite:relative.db"


def test_urls_without_user_info_are_unchanged() -> None:
    for url in ["sqlite:////tmp/a@b/okr.db", "sqlite:///relative@dir/x.db", "http://host/api/@me", "mysql://root@h/db"]:
        assert hide_password(url) == url
    assert database_url("sqlite:////tmp/a@b/okr.db").database == "/tmp/a@b/okr.db"


def test_host_only_never_shows_user_info_path_or_query() -> None:
    assert host_only(f"https://u:{ODD}@hooks.example.com:8443/T/B/tok?x=1") == "https://hooks.example.com:8443/…"
    assert host_only("http://h:99999999/x") == "<unparseable URL>"


def _shapes(secret: str, user: str = "okrflow-bot") -> dict[str, str]:
    raw = secret.encode()
    return {
        "raw": secret,
        "quoted": quote(secret, safe=""),
        "quoted-lower": re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(secret, safe="")),
        "quote_plus": quote_plus(secret),
        "json": json.dumps(secret)[1:-1],
        "repr": repr(secret)[1:-1],
        "base64": base64.b64encode(raw).decode(),
        "auth-plain": base64.b64encode(b"\0" + user.encode() + b"\0" + raw).decode(),
        "auth-plain-authzid": base64.b64encode(user.encode() + b"\0" + user.encode() + b"\0" + raw).decode(),
        "basic": base64.b64encode(user.encode() + b":" + raw).decode(),
        "urlsafe-b64": base64.urlsafe_b64encode(b"x" + raw).decode(),
    }


def _leaks(secret: str, text: str) -> list[str]:
    """Which shapes of ``secret`` (or a 6+ character part of its base64 core) remain in ``text``."""
    left = [name for name, shape in _shapes(secret).items() if len(shape) >= 4 and shape in text]
    if len(secret) >= 4 and secret in text:
        left.append("raw")
    return left


@pytest.mark.parametrize(
    "secret",
    [p for p in ODD_PASSWORDS if len(p) >= 6] + ["smtp-pa55word-Zq9", "ünïcødé-pässwörd", "短い秘密のパスワード"],
)
def test_every_shape_of_a_secret_is_blanked(secret) -> None:
    redact = Redactor([secret])
    for name, shape in _shapes(secret).items():
        text = f"535 5.7.8 Error: authentication failed: AUTH PLAIN {shape} (echoed)"
        out = redact(text)
        assert _leaks(secret, out) == [], (name, out)
        assert out.startswith("535 5.7.8 Error: authentication failed")


@settings(max_examples=200, deadline=None)
@given(secret=password_text.filter(lambda p: len(p.encode()) >= 6), prefix=st.binary(max_size=5))
def test_base64_of_a_secret_at_any_offset_is_blanked(secret, prefix) -> None:
    blob = base64.b64encode(prefix + secret.encode() + b"\0tail").decode()
    out = Redactor([secret])(f"server said: {blob}")
    core = base64.b64encode(secret.encode()).decode()[1:-4]  # characters that depend on the secret alone
    assert len(core) < 6 or core not in out


def test_a_password_split_by_a_wrong_parse_is_blanked_too() -> None:
    out = Redactor([ODD])("failed to resolve host 'Leak-Tail-7788@127.0.0.1'")
    assert "Leak-Tail-7788" not in out


def test_short_secrets_only_as_whole_words() -> None:
    redact = Redactor(["ab"])
    assert redact("password ab was refused; table abc") == "password *** was refused; table abc"
    assert not Redactor([None, ""]) and Redactor([None, ""])("text") == "text"


def test_url_secrets_cover_the_slack_token_and_query_values() -> None:
    url = "https://hooks.slack.com/services/T0ABCDEF1/B0GHIJKL2/xoxSecretT0ken?token=qu3ry-t0ken"
    redact = Redactor(url_secrets(url))
    out = redact(f"POST {url} failed; token xoxSecretT0ken; q qu3ry-t0ken")
    assert "xoxSecretT0ken" not in out and "qu3ry-t0ken" not in out and "hooks.slack.com" not in out


def test_signing_keys() -> None:
    assert signing_key("plain text key") == b"plain text key"
    assert signing_key("whsec_" + base64.b64encode(b"k" * 32).decode()) == b"k" * 32
    assert signing_key("whsec_" + base64.b64encode(b"k" * 32).decode().rstrip("=")) == b"k" * 32
    with pytest.raises(ValueError, match="base64"):
        signing_key("whsec_***")
