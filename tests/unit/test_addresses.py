"""okrflow.okr_model.addresses: link-local and metadata hosts in every spelling a resolver accepts; nothing else."""

from __future__ import annotations

import ipaddress
import socket

from hypothesis import given
from hypothesis import strategies as st
from okrflow.okr_model.addresses import blocked_address, blocked_host, literal_ip

link_local_v4 = st.integers(
    min_value=int(ipaddress.IPv4Address("169.254.0.0")), max_value=int(ipaddress.IPv4Address("169.254.255.255"))
).map(ipaddress.IPv4Address)
other_v4 = (
    st.integers(min_value=0, max_value=2**32 - 1)
    .map(ipaddress.IPv4Address)
    .filter(lambda ip: ip not in ipaddress.ip_network("169.254.0.0/16") and str(ip) != "100.100.100.200")
)


def _spellings(ip: ipaddress.IPv4Address) -> list[str]:
    """Dotted, one decimal number, hexadecimal, octal quads and IPv4-mapped IPv6: all name the same host."""
    octets = ip.packed
    return [
        str(ip),
        str(int(ip)),
        hex(int(ip)),
        ".".join(hex(o) for o in octets),
        ".".join(f"0{o:o}" for o in octets),
        f"[::ffff:{ip}]",
        f"::ffff:{ip}",
    ]


@given(link_local_v4)
def test_every_spelling_of_a_link_local_address_is_blocked(ip) -> None:
    for spelling in _spellings(ip):
        if ":" not in spelling:
            assert socket.inet_aton(spelling) == ip.packed  # what a resolver reads, no DNS involved
        assert literal_ip(spelling) in (ip, ipaddress.IPv6Address(f"::ffff:{ip}")), spelling
        assert blocked_host(spelling), spelling


@given(other_v4)
def test_other_ipv4_addresses_are_allowed(ip) -> None:
    for spelling in _spellings(ip):
        assert blocked_host(spelling) is None, spelling


def test_ipv6_and_names() -> None:
    for host in ("fe80::1", "[fe80::1%eth0]", "FEBF::ffff", "fd00:ec2::254", "metadata", "Metadata.Google.Internal."):
        assert blocked_host(host), host
    for host in ("::1", "fd00:ec2::253", "fc00::1", "2001:db8::1", "localhost", "metadata.example.com", "cafe.be"):
        assert blocked_host(host) is None, host
    assert blocked_address(ipaddress.ip_address("169.254.169.254"))
