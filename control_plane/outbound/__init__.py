"""Everything the server fetches on someone's say-so goes through here: a classifier of
addresses (every IANA special-purpose range), a URL check, a fetch that connects to the address
it checked, and the allow-list of cloud endpoints. docs/outbound.md describes it."""

from control_plane.outbound.addresses import classify, refusal, unroutable
from control_plane.outbound.fetch import Answer, fetch
from control_plane.outbound.settings import OutboundSettings
from control_plane.outbound.urls import OutboundRefused, check_url, literal_addresses

__all__ = [
    "Answer",
    "OutboundRefused",
    "OutboundSettings",
    "check_url",
    "classify",
    "fetch",
    "literal_addresses",
    "refusal",
    "unroutable",
]
