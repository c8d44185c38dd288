"""What every sender shares: the error the outbox classifies, and the one wording for "no answer".

OkrflowError
└── DeliveryError    a send failed; ``retryable`` says whether the outbox should try again
                     (connection errors, timeouts, HTTP 408/425/429/5xx, SMTP 4xx), and
                     ``retry_after`` carries an HTTP ``Retry-After`` in seconds when given
"""

from __future__ import annotations

import ipaddress
import socket

from okrflow.okr_model.addresses import blocked_address, blocked_host
from okrflow.okr_model.errors import OkrflowError

__all__ = ["DeliveryError", "refuse_blocked", "unreachable"]


class DeliveryError(OkrflowError):
    """A send failed. ``str()`` is safe to store and show: it names the channel, never a secret."""

    def __init__(self, message: str, retryable: bool, retry_after: float | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


def unreachable(where: str, timeout_s: float) -> DeliveryError:
    """A refused, reset, unresolvable or silent receiver, all in one wording.

    A channel URL may be set by anyone who can edit the config, and ``okrflow alerts`` shows the
    error: distinct wordings for "refused" and "timed out" would turn alert channels into a port
    scanner of the internal network.
    """
    return DeliveryError(
        f"{where}: cannot deliver: no answer (the receiver is unreachable, refused the connection, or did not "
        f"answer within {timeout_s:g}s timeout_s)",
        retryable=True,
    )


def refuse_blocked(where: str, host: str, port: int | None, allow_private: bool) -> None:
    """Refuse (not retryable) a host that is, or resolves to, a link-local or metadata address.

    ``okrflow validate`` saw only the name; this sees what DNS says now. A name that does not resolve
    passes here and fails to connect, reported by ``unreachable``.
    """
    if allow_private:
        return
    reason = blocked_host(host)
    if reason is None:
        try:
            infos = socket.getaddrinfo(host, port or None, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return
        for *_, address in infos:
            reason = blocked_address(ipaddress.ip_address(str(address[0]).split("%", 1)[0]))
            if reason:
                break
    if reason:
        raise DeliveryError(
            f"{where}: not sent: the host is or resolves to {reason} (set allow_private: true on the channel "
            "if this receiver is intended)",
            retryable=False,
        )
