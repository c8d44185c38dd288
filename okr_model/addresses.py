"""Where alert channels may send: never to link-local or cloud metadata endpoints, unless a channel allows it.

A channel URL is attacker-controlled input in a shared config repository: pointed at
``http://169.254.169.254/`` it would post to (and show errors from) the cloud instance's metadata
service. Loopback and private ranges stay allowed (internal receivers are normal). ``okrflow validate``
checks literal addresses and the well-known metadata names without any DNS lookup; the sender checks
again after resolving the host (``blocked_address`` on every address the name resolves to).

Pure: the standard library only.
"""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["METADATA_NAMES", "blocked_address", "blocked_host", "literal_ip"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA_NAMES = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
"""Host names of cloud instance metadata services (GCP, AWS)."""

_BLOCKED = (
    (ipaddress.ip_network("169.254.0.0/16"), "a link-local address (cloud metadata services live here)"),
    (ipaddress.ip_network("fe80::/10"), "an IPv6 link-local address"),
    (ipaddress.ip_network("fd00:ec2::254/128"), "the AWS IPv6 metadata address"),
    (ipaddress.ip_network("100.100.100.200/32"), "the Alibaba Cloud metadata address"),
)


def literal_ip(host: str) -> IPAddress | None:
    """``host`` as an IP address when it is one, in any form a resolver accepts without DNS.

    Besides dotted quads and IPv6 (with or without brackets and ``%zone``), that includes the legacy
    forms ``inet_aton`` reads (``2852039166``, ``0xa9.0xfe.0xa9.0xfe``), which resolvers also accept.
    """
    text = host.strip().strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if text and all(c in "0123456789abcdefABCDEFxX." for c in text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def blocked_address(ip: IPAddress) -> str | None:
    """Why sending to ``ip`` is refused, or None when it is allowed."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for network, reason in _BLOCKED:
        if ip.version == network.version and ip in network:
            return reason
    return None


def blocked_host(host: str) -> str | None:
    """Why ``host`` (a name or literal address; no DNS lookup) is refused, or None."""
    name = host.strip().rstrip(".").lower()
    if name in METADATA_NAMES:
        return "a cloud metadata host name"
    ip = literal_ip(name)
    return blocked_address(ip) if ip is not None else None
