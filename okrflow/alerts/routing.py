"""Where an owner's messages go: the owner's own channels, else the config's default alert channels."""

from __future__ import annotations

from okrflow.okr_model.config import AlertmanagerChannel, Config

__all__ = ["channels_of", "has_alertmanager"]


def channels_of(config: Config, owner: str) -> list[str]:
    """The channel names an owner's messages are sent on (judge and the Alertmanager lease refresh share it)."""
    entry = config.owners.get(owner)
    return list(entry.channels) if entry and entry.channels else list(config.defaults.alerts.channels)


def has_alertmanager(config: Config) -> bool:
    """Whether any channel is an Alertmanager (judge refreshes its firing alerts then)."""
    return any(isinstance(channel, AlertmanagerChannel) for channel in config.channels.values())
