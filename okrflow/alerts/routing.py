"""Where an owner's messages go: the owner's own channels, else the config's default alert channels."""

from __future__ import annotations

from okrflow.okr_model.config import Config

__all__ = ["channels_of"]


def channels_of(config: Config, owner: str) -> list[str]:
    """The channel names an owner's messages are sent on (judge and the Alertmanager lease refresh share it)."""
    entry = config.owners.get(owner)
    return list(entry.channels) if entry and entry.channels else list(config.defaults.alerts.channels)
