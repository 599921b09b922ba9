"""The outbound guard: addresses, URLs, and a fetch that connects only where it checked."""

from __future__ import annotations

import datetime as dt
import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from control_plane.outbound import OutboundRefused, check_url, classify, fetch, literal_addresses, refusal, unroutable
from control_plane.outbound.endpoints import check_endpoint
from control_plane.outbound.settings import OutboundSettings
from control_plane.services.billing import billing_source_for
from control_plane.services.errors import InvalidRequest
from control_plane.store.models import Provider
from tests.local_http import serving
from wedcloud.home import HomeLayout

SPECIAL = [
    ("0.0.0.0", "unspecified"),  # noqa: S104 - an address to refuse, nothing binds ("10.1.2.3", "private"), ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"), ("127.0.0.1", "loopback"), ("127.9.9.9", "loopback"),
    ("169.254.169.254", "metadata"), ("169.254.170.2", "metadata"), ("169.254.1.1", "link-local"),
    ("172.16.0.1", "private"), ("172.31.255.255", "private"), ("192.0.0.8", "IETF"),
    ("192.0.2.1", "documentation"), ("192.31.196.1", "AS112"), ("192.52.193.1", "AMT"),
    ("192.88.99.1", "6to4"), ("192.168.1.1", "private"), ("192.175.48.1", "AS112"),
    ("198.18.0.1", "benchmarking"), ("198.51.100.7", "documentation"), ("203.0.113.9", "documentation"),
    ("224.0.0.1", "multicast"), ("239.255.255.250", "multicast"), ("240.0.0.1", "reserved"),
    ("255.255.255.255", "broadcast"),
    ("::", "unspecified"), ("::1", "loopback"), ("::ffff:127.0.0.1", "IPv4-mapped (loopback)"),
    ("::ffff:169.254.169.254", "IPv4-mapped (a cloud metadata"), ("::ffff:8.8.8.8", "IPv4-mapped"),
    ("::127.0.0.1", "IPv4-compatible"), ("64:ff9b::a9fe:a9fe", "NAT64"), ("64:ff9b:1::1", "NAT64"),
    ("100::1", "discard"), ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"), ("2001:2::1", "benchmarking"),
    ("2001:10::1", "IETF protocol"), ("2001:db8::1", "documentation"), ("2002:a9fe:a9fe::1", "6to4"),
    ("2620:4f:8000::1", "AS112"), ("3fff::1", "documentation"), ("5f00::1", "SRv6"),
    ("fc00::1", "unique local"), ("fd12:3456::1", "unique local"), ("fd00:ec2::254", "metadata"),
    ("fe80::1", "link-local"), ("fe80::1%eth0", "link-local"), ("fec0::1", "site-local"),
    ("ff02::1", "multicast"), ("4000::1", "not global unicast"),
]  # fmt: skip


@pytest.mark.parametrize(("address", "why"), SPECIAL)
def test_every_special_purpose_address_is_refused_with_its_range(address: str, why: str) -> None:
    reason = refusal(address)
    assert reason is not None
    assert why in reason


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700:4700::1111", "2a00:1450::1"])
def test_public_addresses_pass(address: str) -> None:
    assert classify(address) is None


@pytest.mark.parametrize(
    ("address", "allowed"),
    [("127.0.0.1", True), ("::1", True), ("10.0.0.5", True), ("192.168.0.9", True), ("fd12::1", True),
     ("169.254.169.254", False), ("fd00:ec2::254", False), ("100.64.0.1", False), ("fe80::1", False),
     ("0.0.0.0", False), ("::ffff:127.0.0.1", False), ("2002:7f00:1::", False)],  # noqa: S104
)  # fmt: skip
def test_allowing_private_lets_through_loopback_and_private_networks_only(address: str, allowed: bool) -> None:
    assert (refusal(address, allow_private=True) is None) is allowed


@pytest.mark.parametrize(
    ("address", "sendable"),
    [("127.0.0.1", False), ("::1", False), ("169.254.169.254", False), ("169.254.1.1", False), ("fe80::1", False),
     ("fd00:ec2::254", False), ("0.0.0.0", False), ("::", False), ("224.0.0.251", False), ("ff02::1", False),  # noqa: S104
     ("255.255.255.255", False), ("::ffff:169.254.169.254", False), ("10.0.0.5", True), ("192.168.0.9", True),
     ("fd12::1", True), ("192.0.2.10", True), ("2001:db8::1", True), ("8.8.8.8", True)],
)  # fmt: skip
def test_a_dns_record_may_hold_public_private_and_documentation_addresses_but_no_loopback_or_link_local(
    address: str, sendable: bool
) -> None:
    assert (unroutable(address) is None) is sendable


@pytest.mark.parametrize(
    ("host", "addresses"),
    [("169.254.169.254", ["169.254.169.254"]), ("::1", ["::1"]), ("127.1", ["127.0.0.1"]),
     ("2130706433", ["127.0.0.1"]), ("0x7f.1", ["127.0.0.1"]), ("api.wedsync.example", []), ("localhost", [])],
)  # fmt: skip
def test_a_host_written_as_an_address_is_read_as_the_resolver_reads_it_and_a_name_is_not_looked_up(
    host: str, addresses: list[str]
) -> None:
    assert literal_addresses(host) == addresses


@pytest.mark.parametrize(
    ("url", "why"),
    [("file:///etc/passwd", "scheme"), ("data:text/plain,hello", "scheme"), ("gopher://example.com/", "scheme"),
     ("ftp://example.com/x", "scheme"), ("//example.com/x", "scheme"), ("http://user:pw@example.com/", "credentials"),
     ("https://token@example.com/", "credentials"), ("http:///path", "no host"), ("http://example.com:99999/", "URL"),
     ("http://example.com/a b", "spaces"), ("http://example.com/\r\nX-Injected: 1", "control"),
     ("http://[fe80::1%25eth0]/healthz", "zone id"), ("http://[::1%25lo]:8080/", "zone id")],
)  # fmt: skip
def test_urls_that_are_not_plain_http_to_a_host_are_refused(url: str, why: str) -> None:
    with pytest.raises(OutboundRefused, match=why):
        check_url(url)


# -- fetch ---------------------------------------------------------------------------------
class _Receiver(http.server.BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, str, str]]] = []  # (method, path, Host)

    def _answer(self) -> None:
        type(self).seen.append((self.command, self.path, self.headers.get("Host", "")))
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/secret")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b"x" * 5000 if self.path == "/big" else b"ok"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer  # noqa: N815 - the names http.server calls

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def receiver() -> Iterator[int]:
    with serving(_Receiver) as port:
        yield port


class _OnceResolver:
    """A name whose first answer is the receiver and every later one is elsewhere (rebinding)."""

    def __init__(self, first: list[str]) -> None:
        self.first, self.calls = first, 0

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return self.first if self.calls == 1 else ["10.255.255.1"]


def test_fetch_resolves_once_and_connects_to_the_checked_address_naming_the_host(receiver: int) -> None:
    _Receiver.seen.clear()
    resolver = _OnceResolver(["127.0.0.1"])
    answer = fetch("GET", f"http://hooks.rebind.test:{receiver}/ping", allow_private=True, resolver=resolver)
    assert (answer.status, answer.body, answer.address) == (200, b"ok", "127.0.0.1")
    assert resolver.calls == 1
    assert _Receiver.seen == [("GET", "/ping", f"hooks.rebind.test:{receiver}")]


@pytest.mark.parametrize("addresses", [["93.184.215.14", "127.0.0.1"], ["169.254.169.254"], ["100.64.1.1"]])
def test_fetch_refuses_a_name_with_any_refused_address_before_connecting(receiver: int, addresses: list[str]) -> None:
    _Receiver.seen.clear()
    with pytest.raises(OutboundRefused, match="resolves to"):
        fetch("GET", f"http://mixed.test:{receiver}/", resolver=lambda host, port: addresses)
    assert _Receiver.seen == []


def test_fetch_refuses_loopback_unless_private_addresses_are_allowed(receiver: int) -> None:
    with pytest.raises(OutboundRefused, match="loopback"):
        fetch("GET", f"http://127.0.0.1:{receiver}/")
    assert fetch("GET", f"http://127.0.0.1:{receiver}/", allow_private=True).status == 200


def test_fetch_answers_a_redirect_without_following_it(receiver: int) -> None:
    _Receiver.seen.clear()
    answer = fetch("POST", f"http://127.0.0.1:{receiver}/redirect", body=b"{}", allow_private=True)
    assert answer.redirect
    assert answer.headers["location"] == "/secret"
    assert [path for _, path, _ in _Receiver.seen] == ["/redirect"]


def test_fetch_refuses_an_answer_over_the_size_cap(receiver: int) -> None:
    with pytest.raises(OutboundRefused, match="larger than 1024 bytes"):
        fetch("GET", f"http://127.0.0.1:{receiver}/big", allow_private=True, max_bytes=1024)


def test_fetch_over_tls_sends_the_name_as_sni_and_verifies_the_certificate_for_it(tmp_path: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hooks.tls.test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("hooks.tls.test")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    names: list[str | None] = []
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    server_context.sni_callback = lambda sock, sni, ctx: names.append(sni)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        trusting = ssl.create_default_context(cafile=str(tmp_path / "cert.pem"))
        port = server.server_address[1]
        answer = fetch("GET", f"https://hooks.tls.test:{port}/", allow_private=True, context=trusting,
                       resolver=lambda host, p: ["127.0.0.1"])  # fmt: skip
        assert answer.status == 200
        assert names == ["hooks.tls.test"]
        with pytest.raises(ssl.SSLCertVerificationError):  # the same server under another name
            fetch("GET", f"https://other.tls.test:{port}/", allow_private=True, context=trusting,
                  resolver=lambda host, p: ["127.0.0.1"])  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()


# -- provider endpoints --------------------------------------------------------------------
ON = OutboundSettings(allow_emulators=True, s3_compatible_hosts=["minio.example.com"])
OFF = OutboundSettings(allow_emulators=False)


@pytest.mark.parametrize(
    ("kind", "url"),
    [("aws", "https://ec2.eu-west-2.amazonaws.com"), ("aws", "https://s3.cn-north-1.amazonaws.com.cn/"),
     ("aws", "https://minio.example.com"), ("azure", "https://management.azure.com"),
     ("azure", "https://management.chinacloudapi.cn/"), ("azure", "https://management.usgovcloudapi.net"),
     ("gcp", "https://compute.googleapis.com"), ("gcp", "http://127.0.0.1:8080"), ("aws", "http://localhost:5000")],
)  # fmt: skip
def test_cloud_endpoints_and_listed_hosts_are_allowed(kind: str, url: str) -> None:
    assert check_endpoint(kind, url, ON) == url


@pytest.mark.parametrize(
    ("kind", "url", "why"),
    [("aws", "http://127.0.0.1:5000", "emulators"), ("gcp", "http://localhost:8080", "emulators"),
     ("aws", "https://attacker.example.net", "not an endpoint"), ("aws", "https://amazonaws.com.evil.net", "not an"),
     ("aws", "https://evilamazonaws.com", "not an endpoint"), ("azure", "https://management.azure.com.evil.net", "not"),
     ("azure", "https://compute.googleapis.com", "not an endpoint"), ("gcp", "https://ec2.amazonaws.com", "not an"),
     ("aws", "http://169.254.169.254/latest", "metadata"), ("aws", "https://[fd00:ec2::254]/", "metadata"),
     ("aws", "https://10.0.0.8", "private"), ("aws", "https://100.64.0.1", "carrier-grade"),
     ("aws", "http://ec2.eu-west-2.amazonaws.com", "https"),
     ("aws", "https://key:secret@ec2.amazonaws.com", "credentials"),
     ("gcp", "file:///etc/passwd", "scheme"), ("aws", "https://minio.example.com", "not an endpoint")],
)  # fmt: skip
def test_other_endpoints_are_refused(kind: str, url: str, why: str) -> None:
    with pytest.raises(OutboundRefused, match=why):
        check_endpoint(kind, url, OFF)


@pytest.mark.parametrize(
    ("kind", "billing"),
    [("aws", {"source": "s3_cur", "bucket": "b", "prefix": "p", "endpoint_url": "http://169.254.169.254/"}),
     ("azure", {"source": "azure_cost_query", "scope": "/subscriptions/x", "endpoint_url": "https://evil.example"}),
     ("gcp", {"source": "gcp_bigquery_export", "table": "p.d.t", "billing_endpoint_url": "http://127.0.0.1:9"}),
     ("azure", {"source": "azure_blob_export", "container": "c", "account_url": "https://evil.example/"}),
     ("azure", {"source": "azure_blob_export", "container": "c", "account_url": "http://10.0.0.5/"})],
)  # fmt: skip
def test_a_billing_source_endpoint_outside_the_clouds_own_is_refused_before_any_client_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, billing: dict[str, str]
) -> None:
    monkeypatch.setenv("WEDCLOUD_OUTBOUND_ALLOW_EMULATORS", "false")
    provider = Provider(kind=kind, name="billed", settings={"billing": billing})
    with pytest.raises(InvalidRequest, match=r"billing (\w*endpoint_url|account_url)"):
        billing_source_for(provider, HomeLayout(tmp_path))


def test_an_azure_export_in_a_storage_account_of_azures_own_is_allowed() -> None:
    assert check_endpoint("azure_blob", "https://wedsync.blob.core.windows.net", OFF)
    with pytest.raises(OutboundRefused, match="not an endpoint"):
        check_endpoint("azure_blob", "https://management.azure.com", OFF)


@pytest.mark.parametrize(
    ("url", "allowed"),
    [("https://axaxnpcrorw5.compat.objectstorage.uk-london-1.oraclecloud.com", True),
     ("https://bling.compat.objectstorage.us-ashburn-1.oraclecloud.com/bucket", True),
     ("https://evil.ocp.oraclecloud.com", False), ("https://objectstorage.uk-london-1.oraclecloud.com", False),
     ("https://a.b.compat.objectstorage.uk-london-1.oraclecloud.com", False),
     ("https://bling.compat.objectstorage.uk-london-1.oraclecloud.com.evil.net", False),
     ("https://bling.compat.objectstorage.uk-london-1.evil.oraclecloud.com", False),
     ("https://evil.oraclecloud.com", False)],
)  # fmt: skip
def test_an_oci_endpoint_is_only_an_object_storage_s3_compatible_host(url: str, allowed: bool) -> None:
    if allowed:
        assert check_endpoint("oci", url, OFF) == url
    else:
        with pytest.raises(
            OutboundRefused,
            match=r"not an endpoint of this cloud; use <namespace>\.compat\.objectstorage\.<region>\.oraclecloud\.com$",
        ):
            check_endpoint("oci", url, OFF)
