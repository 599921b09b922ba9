"""Where a provider's SDK may be pointed: the cloud's own and sovereign endpoints, S3-compatible
hosts an operator listed, and this machine only while emulators are allowed.

A provider's stored credentials go wherever its endpoint says, so an endpoint outside this
list (an attacker's host, the metadata service, a private network) is refused when it is set
and again when an adapter is built from it.
"""

from __future__ import annotations

import ipaddress
import re

from control_plane.outbound.addresses import LOOPBACK, classify
from control_plane.outbound.settings import OutboundSettings
from control_plane.outbound.urls import OutboundRefused, check_url

# host suffixes (a leading dot) and exact hosts of each cloud's public and sovereign endpoints
CLOUD_HOSTS: dict[str, tuple[str, ...]] = {
    "aws": (".amazonaws.com", ".amazonaws.com.cn", ".api.aws"),
    "azure": (
        "management.azure.com",
        "management.chinacloudapi.cn",
        "management.usgovcloudapi.net",
        "login.microsoftonline.com",
        "login.chinacloudapi.cn",
        "login.microsoftonline.us",
    ),
    "gcp": (".googleapis.com",),
    "oci": (),  # only the Object Storage hosts of CLOUD_HOST_PATTERNS
    # an Azure billing export's storage account (account_url), public and sovereign clouds
    "azure_blob": (".blob.core.windows.net", ".blob.core.chinacloudapi.cn", ".blob.core.usgovcloudapi.net"),
}
# hosts matched whole, with what the refusal shows: OCI Object Storage's S3-compatible API,
# ``<namespace>.compat.objectstorage.<region>.oraclecloud.com`` (namespace and region spelt as
# clouds/oci/credentials.py checks them). Not every ``*.oraclecloud.com``: those are other
# services' and tenants' hosts, and a billing source signs its requests with the customer key.
CLOUD_HOST_PATTERNS: dict[str, tuple[tuple[re.Pattern[str], str], ...]] = {
    "oci": (
        (
            re.compile(
                r"[a-z0-9][a-z0-9-]{0,63}\.compat\.objectstorage\.[a-z]{2,4}-[a-z]+-[0-9]{1,2}\.oraclecloud\.com"
            ),
            "<namespace>.compat.objectstorage.<region>.oraclecloud.com",
        ),
    ),
}
LOCAL_NAMES = ("localhost",)


def _is_loopback(host: str) -> bool:
    if host in LOCAL_NAMES:
        return True
    try:
        return classify(ipaddress.ip_address(host)) == LOOPBACK
    except ValueError:
        return False


def _matches(host: str, allowed: tuple[str, ...]) -> bool:
    return any(host.endswith(entry) and len(host) > len(entry) if entry.startswith(".") else host == entry
               for entry in allowed)  # fmt: skip


def check_endpoint(kind: str, url: str, settings: OutboundSettings | None = None) -> str:
    """``url`` if a ``kind`` provider may use it as its endpoint, else :class:`OutboundRefused`
    saying why and what is allowed."""
    settings = settings or OutboundSettings()
    target = check_url(url)
    host = target.host.lower()
    if _is_loopback(host):
        if settings.allow_emulators:
            return url
        raise OutboundRefused(
            f"{host} is this machine ({LOOPBACK}); only emulators use it, and they are not allowed here "
            "(WEDCLOUD_OUTBOUND_ALLOW_EMULATORS)"
        )
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        why = classify(literal) or "an address, not one of the cloud's host names"
        raise OutboundRefused(f"{host} is refused: {why}")
    if target.scheme != "https":
        raise OutboundRefused("a cloud endpoint must use https")
    allowed = CLOUD_HOSTS.get(kind, ())
    patterns = CLOUD_HOST_PATTERNS.get(kind, ())
    extra = tuple(h.lower().rstrip(".") for h in settings.s3_compatible_hosts) if kind == "aws" else ()
    if _matches(host, allowed) or any(p.fullmatch(host) for p, _ in patterns) or host in extra:
        return url
    shown = ", ".join([*(f"*{a}" if a.startswith(".") else a for a in allowed), *(text for _, text in patterns)])
    hint = " or a host in WEDCLOUD_OUTBOUND_S3_COMPATIBLE_HOSTS" if kind == "aws" else ""
    raise OutboundRefused(f"{host} is not an endpoint of this cloud; use {shown}{hint}")
