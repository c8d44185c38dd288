"""Where alerts go: the channel models of ``channels:`` and ``owners:`` in the config, with their address checks.

A channel URL may hold a token (a Slack webhook URL is a secret), so messages never repeat it; destinations on
link-local and cloud metadata addresses are refused unless a channel sets ``allow_private: true``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from okrflow.okr_model.addresses import blocked_host
from okrflow.okr_model.secrets import MIN_SIGNING_KEY_BYTES, signing_key, split_url
from okrflow.okr_model.types import Duration, Id, Model
from pydantic import AfterValidator, Field, SecretStr, field_validator, model_validator

__all__ = ["AlertmanagerChannel", "Channel", "EmailChannel", "Owner", "SlackChannel", "WebhookChannel"]


def _url_host(url: str) -> str | None:
    """The host of a URL whose user info may hold any character (see ``okrflow.okr_model.secrets.split_url``)."""
    from urllib.parse import urlsplit

    parts = split_url(url)
    try:
        return urlsplit(f"{parts.prefix}{parts.rest}").hostname
    except ValueError:
        return None


def _http_url(value: SecretStr) -> SecretStr:
    """Alert URLs must be http(s); the message never repeats the URL (a Slack URL is a secret)."""
    url = value.get_secret_value()
    if url.partition("://")[0].lower() not in ("http", "https") or not _url_host(url):
        raise ValueError(
            "expected an http:// or https:// URL with a host (the value is not shown: it may hold a token)"
        )
    return value


HttpSecretUrl = Annotated[SecretStr, AfterValidator(_http_url)]
_ALLOW_PRIVATE = (
    "send to link-local and cloud metadata addresses too (169.254.0.0/16, fe80::/10, metadata.google.internal)"
)


def _allowed_destination(host: str | None, allow_private: bool) -> None:
    """Refuse link-local and metadata hosts (literal addresses and known names: no DNS here)."""
    reason = None if allow_private or not host else blocked_host(host)
    if reason:
        raise ValueError(
            f"the host {host} is {reason}; alerts are not sent there unless the channel sets allow_private: true"
        )


class WebhookChannel(Model):
    type: Literal["webhook"]
    url: HttpSecretUrl
    secret: SecretStr | None = Field(
        None,
        description="signing key (Standard Webhooks headers webhook-id/-timestamp/-signature): whsec_<base64> "
        f"or any text, at least {MIN_SIGNING_KEY_BYTES} bytes either way; omit to send unsigned",
    )
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    timeout_s: float = Field(10, gt=0)
    allow_private: bool = Field(False, description=_ALLOW_PRIVATE)

    @field_validator("secret")
    @classmethod
    def _strong_secret(cls, value: SecretStr | None) -> SecretStr | None:
        """A short or empty key (an unset ``${VAR:-}``) would let anyone forge messages: refuse it."""
        if value is None:
            return value
        key = signing_key(value.get_secret_value())
        if len(key) < MIN_SIGNING_KEY_BYTES:
            what = "is empty (an unset ${VAR:-} default?)" if not key else f"has {len(key)} bytes"
            raise ValueError(
                f"the signing secret {what}; use at least {MIN_SIGNING_KEY_BYTES} random bytes, e.g. "
                "whsec_ + the output of: openssl rand -base64 32 (or remove secret to send unsigned)"
            )
        return value

    @model_validator(mode="after")
    def _destination(self) -> WebhookChannel:
        _allowed_destination(_url_host(self.url.get_secret_value()), self.allow_private)
        return self


class SlackChannel(Model):
    type: Literal["slack"]
    url: HttpSecretUrl
    timeout_s: float = Field(10, gt=0)
    allow_private: bool = Field(False, description=_ALLOW_PRIVATE)

    @model_validator(mode="after")
    def _destination(self) -> SlackChannel:
        _allowed_destination(_url_host(self.url.get_secret_value()), self.allow_private)
        return self


class EmailChannel(Model):
    type: Literal["email"]
    host: str
    port: int = Field(587, ge=1, le=65535)
    sender: str
    to: list[str] = Field(min_length=1)
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = True
    timeout_s: float = Field(10, gt=0)
    allow_private: bool = Field(False, description=_ALLOW_PRIVATE)

    @model_validator(mode="after")
    def _destination(self) -> EmailChannel:
        _allowed_destination(self.host, self.allow_private)
        return self


class AlertmanagerChannel(Model):
    """A Prometheus Alertmanager: okrflow posts its alerts to ``<url>/api/v2/alerts`` (labels ``alertname``,
    ``okr_objective``, ``okr_key_result``, ``owner``, ``severity``, ``kind``), so Alertmanager's routing, silences,
    inhibition and receivers take over. Firing alerts are posted again on every run with ``endsAt`` one lease
    ahead, as Prometheus does; a resolved alert is posted with its ``endsAt`` at the resolving run."""

    type: Literal["alertmanager"]
    url: HttpSecretUrl = Field(description="Alertmanager's base URL, e.g. http://alertmanager:9093")
    headers: dict[str, SecretStr] = Field(default_factory=dict, description="extra headers, e.g. Authorization")
    username: str | None = Field(None, description="basic auth user (with password)")
    password: SecretStr | None = Field(None, description="basic auth password, e.g. ${ALERTMANAGER_PASSWORD}")
    timeout_s: float = Field(10, gt=0)
    lease: Duration | None = Field(
        None,
        description="how long a firing alert stays firing in Alertmanager without being posted again (its endsAt); "
        "default 4 x the longest gap between two scheduled runs (1h for */15)",
    )
    allow_private: bool = Field(False, description=_ALLOW_PRIVATE)

    @model_validator(mode="after")
    def _destination(self) -> AlertmanagerChannel:
        if (self.username is None) != (self.password is None):
            raise ValueError("basic auth needs both username and password")
        _allowed_destination(_url_host(self.url.get_secret_value()), self.allow_private)
        return self


Channel = Annotated[WebhookChannel | SlackChannel | EmailChannel | AlertmanagerChannel, Field(discriminator="type")]


class Owner(Model):
    """A person or team that receives alerts on the named channels."""

    channels: list[Id] = Field(default_factory=list)
