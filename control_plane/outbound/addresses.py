"""Which addresses the server may connect to on someone else's say-so.

The tables hold every entry of IANA's IPv4 and IPv6 Special-Purpose Address Registries (and
the address-space blocks outside global unicast), each with the reason a refusal gives. All of
them are refused, even the few the registry marks globally reachable (AS112, AMT, 6to4 relays):
none of them is a place a webhook, a health check or a cloud API lives.
"""

from __future__ import annotations

import ipaddress
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

METADATA: Final = {
    ipaddress.ip_address("169.254.169.254"): "a cloud metadata service",
    ipaddress.ip_address("169.254.170.2"): "a cloud metadata service (ECS credentials)",
    ipaddress.ip_address("fd00:ec2::254"): "a cloud metadata service (EC2 over IPv6)",
}

LOOPBACK, PRIVATE, UNIQUE_LOCAL = "loopback", "private network", "unique local (private network)"
LINK_LOCAL, MULTICAST, BROADCAST = "link-local", "multicast", "limited broadcast"
THIS_NETWORK, UNSPECIFIED = "this network (unspecified)", "unspecified"
# the only kinds a setting may allow (health URLs and webhooks of a receiver on the same network)
PRIVATE_KINDS: Final = frozenset({LOOPBACK, PRIVATE, UNIQUE_LOCAL})
# the kinds no DNS record may send users to (a private network may: an internal zone's record)
NOWHERE_KINDS: Final = frozenset({LOOPBACK, LINK_LOCAL, MULTICAST, BROADCAST, THIS_NETWORK, UNSPECIFIED,
                                  *METADATA.values()})  # fmt: skip

_V4: Final = [
    ("0.0.0.0/8", THIS_NETWORK),
    ("10.0.0.0/8", PRIVATE),
    ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
    ("127.0.0.0/8", LOOPBACK),
    ("169.254.0.0/16", LINK_LOCAL),
    ("172.16.0.0/12", PRIVATE),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.31.196.0/24", "AS112"),
    ("192.52.193.0/24", "AMT"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", PRIVATE),
    ("192.175.48.0/24", "AS112 direct delegation"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", MULTICAST),
    ("255.255.255.255/32", BROADCAST),
    ("240.0.0.0/4", "reserved"),
]
_V6: Final = [
    ("::/128", UNSPECIFIED),
    ("::1/128", LOOPBACK),
    ("::ffff:0:0/96", "IPv4-mapped"),
    ("64:ff9b::/96", "NAT64"),
    ("64:ff9b:1::/48", "NAT64 (local use)"),
    ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy prefix"),
    ("2001::/32", "Teredo"),
    ("2001:2::/48", "benchmarking"),
    ("2001:db8::/32", "documentation"),
    ("2001::/23", "IETF protocol assignments"),
    ("2002::/16", "6to4"),
    ("2620:4f:8000::/48", "AS112 direct delegation"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing (SRv6) SIDs"),
    ("fc00::/7", UNIQUE_LOCAL),
    ("fe80::/10", LINK_LOCAL),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", MULTICAST),
    ("::/8", "reserved (IPv4-compatible)"),
]
_TABLE: Final = [(ipaddress.ip_network(net), why) for net, why in [*_V4, *_V6]]
_GLOBAL_UNICAST: Final = ipaddress.ip_network("2000::/3")


def classify(address: str | IPAddress) -> str | None:
    """Why ``address`` is not a public one (the special-purpose range it is in), or None when it
    is an ordinary global unicast address. A scope id (``fe80::1%eth0``) is ignored."""
    ip = ipaddress.ip_address(str(address).split("%")[0]) if isinstance(address, str) else address
    if ip in METADATA:
        return METADATA[ip]
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        inner = classify(ip.ipv4_mapped)
        return f"IPv4-mapped ({inner})" if inner else "IPv4-mapped"
    for network, why in _TABLE:  # the first match is the most specific (the tables are ordered so)
        if ip.version == network.version and ip in network:
            return why
    if isinstance(ip, ipaddress.IPv6Address) and ip not in _GLOBAL_UNICAST:
        return "not global unicast (reserved by the IETF)"
    if not ip.is_global:
        return "not globally reachable"
    return None


def refusal(address: str | IPAddress, *, allow_private: bool = False) -> str | None:
    """Why the server must not connect to ``address`` (None: it may). ``allow_private`` lets
    loopback and private networks through, never link-local, metadata or the other ranges."""
    why = classify(address)
    if why is None or (allow_private and why in PRIVATE_KINDS):
        return None
    return why


def unroutable(address: str | IPAddress) -> str | None:
    """Why a DNS record must not send users to ``address`` (loopback, link-local, a metadata
    service, unspecified, multicast or broadcast, IPv4-mapped or not), or None. Public,
    private-network and documentation addresses pass: an internal zone may route to 10.0.0.0/8,
    and the sandbox and the examples use the documentation ranges."""
    ip = ipaddress.ip_address(str(address).split("%")[0]) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    why = classify(ip)
    return why if why in NOWHERE_KINDS else None
