"""One HTTP request to a URL someone else chose, made so it cannot be turned against the server.

The name is resolved once; every address it resolves to is checked (one bad address refuses
the lot); the connection goes to an address that was checked, never through a second lookup
(DNS rebinding); TLS is verified against the name and sends it as SNI, and ``Host`` names it;
redirects are answered, not followed; the answer is read up to a size cap within a deadline.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from control_plane.outbound.addresses import refusal
from control_plane.outbound.urls import OutboundRefused, Target, check_url

Resolver = Callable[[str, int], list[str]]


def resolve(host: str, port: int) -> list[str]:
    """Every address ``host`` has, in the order the system gives them."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Answer:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes
    address: str  # the address connected to

    @property
    def redirect(self) -> bool:
        return 300 <= self.status < 400


@dataclass
class _Pinned:
    """An HTTP(S) connection to ``address`` that speaks to the server as ``host``."""

    target: Target
    address: str
    timeout: float
    context: ssl.SSLContext | None = None
    connection: http.client.HTTPConnection = field(init=False)

    def __post_init__(self) -> None:
        address, timeout, host = self.address, self.timeout, self.target.host
        context = self.context or ssl.create_default_context()

        def plain_socket() -> socket.socket:
            return socket.create_connection((address, self.target.port), timeout=timeout)

        if self.target.scheme == "https":

            class Https(http.client.HTTPSConnection):
                def connect(self) -> None:
                    self.sock = context.wrap_socket(plain_socket(), server_hostname=host)

            self.connection = Https(host, self.target.port, timeout=timeout, context=context)
        else:

            class Http(http.client.HTTPConnection):
                def connect(self) -> None:
                    self.sock = plain_socket()

            self.connection = Http(host, self.target.port, timeout=timeout)


def checked_addresses(target: Target, *, allow_private: bool, resolver: Resolver = resolve) -> list[str]:
    """The addresses ``target``'s host resolves to (once), all of them allowed, or
    :class:`OutboundRefused` naming the first that is not."""
    try:
        addresses = resolver(target.host, target.port)
    except OSError as exc:
        raise OutboundRefused(f"{target.host} cannot be resolved: {exc}") from None
    if not addresses:
        raise OutboundRefused(f"{target.host} has no address")
    for address in addresses:
        if why := refusal(address, allow_private=allow_private):
            raise OutboundRefused(f"{target.host} resolves to a non-public address, {address}: {why}")
    return addresses


def fetch(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
    allow_private: bool = False,
    timeout: float = 5.0,
    max_bytes: int = 64 * 1024,
    resolver: Resolver = resolve,
    context: ssl.SSLContext | None = None,
) -> Answer:
    """``method url`` (http or https) under the rules above. :class:`OutboundRefused` when the
    URL or an address is refused or the answer is too big; ``OSError`` when no checked address
    answers. A 3xx is returned as it is (its ``Location`` is not followed)."""
    target = check_url(url)
    addresses = checked_addresses(target, allow_private=allow_private, resolver=resolver)
    deadline = time.monotonic() + timeout * 3  # connect, send, read: a slow drip cannot hold us
    failure: OSError | None = None
    for address in addresses:
        pinned = _Pinned(target, address, timeout, context)
        try:
            try:
                pinned.connection.connect()
            except (TimeoutError, ConnectionError) as exc:
                failure = exc  # nothing was sent: try the next checked address
                continue
            return _exchange(pinned, method, body, dict(headers or {}), max_bytes, deadline)
        finally:
            pinned.connection.close()
    assert failure is not None
    raise failure


def _exchange(
    pinned: _Pinned, method: str, body: bytes | None, headers: dict[str, str], max_bytes: int, deadline: float
) -> Answer:
    connection = pinned.connection
    headers.setdefault("User-Agent", "WedCloud")
    headers.setdefault("Connection", "close")
    connection.request(method, pinned.target.path, body=body, headers=headers)
    response = connection.getresponse()
    chunks: list[bytes] = []
    size = 0
    declared = response.getheader("Content-Length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise OutboundRefused(f"the answer is larger than {max_bytes} bytes")
    while chunk := response.read1(16 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise OutboundRefused(f"the answer is larger than {max_bytes} bytes")
        if time.monotonic() > deadline:
            raise OutboundRefused("the answer took too long")
        chunks.append(chunk)
    answer_headers: dict[str, Any] = {k.lower(): v for k, v in response.getheaders()}
    return Answer(response.status, response.reason, answer_headers, b"".join(chunks), pinned.address)
