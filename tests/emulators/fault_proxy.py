"""A fault-injecting HTTP proxy in front of moto's server.

Every request is forwarded to moto as it came, unless a fault is queued for its AWS action
(``Action=`` of the query protocol, or the JSON protocol's ``X-Amz-Target``). A fault is used
once: ``error`` answers 500 InternalError without forwarding (the provider failed), ``refuse``
answers 400 with the capacity error EC2 or RDS gives when a region cannot take a request
(InsufficientInstanceCapacity, InsufficientDBInstanceCapacity), ``throttle``
answers as AWS does when it throttles (EC2: 503 RequestLimitExceeded; others: 400
ThrottlingException, as JSON for a JSON-protocol call (CloudWatch's, with the
``x-amzn-query-error: Throttling;Sender`` header of its Query-compatible errors) and in CBOR for
a Smithy RPC v2 CBOR call) without forwarding, and ``timeout`` forwards the call (it happens at moto)
and then holds the answer past the client's read timeout before dropping the connection.
``hold`` forwards nothing and keeps the connection open until released (for killing the API
mid-operation). ``in_use`` answers 400 DependencyViolation without forwarding (EC2 refusing to
delete what something still uses, which moto never refuses). A fault injected ``after`` another
action waits until that action has been seen
(a read-back after a write). Route 53's REST calls are named by their action too
(``ChangeResourceRecordSets``, ``ListResourceRecordSets``, ...); a refused one answers 400
``InvalidInput`` in Route 53's error shape. Nagle's algorithm is off, as in ``http.py``.
``sent(action)`` gives the parameters of each query-protocol request of ``action`` (EC2, RDS),
as the SDK sent them, whether or not it was forwarded.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

FAULTS = ("error", "throttle", "timeout", "refuse", "in_use")


class FaultProxy:
    def __init__(self, upstream: str, *, timeout_hold_seconds: float = 1.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.hold_seconds = timeout_hold_seconds
        self.lock = threading.Lock()
        self.faults: dict[str, list[tuple[str, str | None]]] = defaultdict(list)  # action -> (fault, after)
        self.seen: list[str] = []  # the action of every request, in order
        self.requests: list[tuple[str, dict[str, str]]] = []  # (action, query-protocol parameters)
        self.injected: list[tuple[str, str]] = []
        self.released = threading.Event()
        self.holding = threading.Event()  # set while a held call waits
        self.in_flight = 0
        self.quiet = threading.Condition(self.lock)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                proxy._handle(self)

            def do_POST(self) -> None:
                proxy._handle(self)

            def do_PUT(self) -> None:
                proxy._handle(self)

            def do_DELETE(self) -> None:
                proxy._handle(self)

            def do_HEAD(self) -> None:
                proxy._handle(self)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def inject(self, action: str, fault: str, *, after: str | None = None) -> None:
        with self.lock:
            self.faults[action].append((fault, after))

    def sent(self, action: str) -> list[dict[str, str]]:
        """The parameters of every query-protocol request of ``action`` so far, in order."""
        with self.lock:
            return [dict(params) for seen, params in self.requests if seen == action]

    def clear(self) -> None:
        with self.lock:
            self.faults.clear()
            self.seen.clear()
            self.requests.clear()
            self.injected.clear()

    def stop(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def action_of(headers: Any, body: bytes, path: str, method: str = "POST") -> str:
        target = headers.get("X-Amz-Target")
        if target:
            return str(target).rsplit(".", 1)[-1]
        for (verb, pattern), action in ROUTE53_ACTIONS.items():
            if verb == method and re.fullmatch(pattern, path.partition("?")[0]):
                return action
        if "/operation/" in path:  # Smithy RPC v2: POST /service/<service>/operation/<operation>
            return path.partition("?")[0].rsplit("/", 1)[-1]
        form = parse_qs(body.decode("utf-8", "replace")) if body else {}
        if "Action" in form:
            return form["Action"][0]
        query = parse_qs(path.partition("?")[2])
        return query.get("Action", [path])[0]

    def wait_idle(self, seconds: float = 10) -> None:
        """Until no call is being forwarded or held (what a lease's expiry gives a real cloud)."""
        with self.quiet:
            self.quiet.wait_for(lambda: self.in_flight == 0, timeout=seconds)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.in_flight += 1
        try:
            self._serve(handler)
        finally:
            with self.quiet:
                self.in_flight -= 1
                self.quiet.notify_all()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        action = self.action_of(handler.headers, body, handler.path, handler.command)
        with self.lock:
            queued = self.faults.get(action) or []
            due = next((i for i, (_, after) in enumerate(queued) if after is None or after in self.seen), None)
            fault = queued.pop(due)[0] if due is not None else None
            self.seen.append(action)
            self.requests.append((action, _query_parameters(handler.headers, body)))
            if fault:
                self.injected.append((action, fault))
        if fault == "error":
            return self._answer(handler, 500, _error("InternalError", "injected provider error"))
        if fault == "refuse" and action in ROUTE53_ACTIONS.values():
            return self._answer(handler, 400, _rest_error("InvalidInput", "The request was refused (injected)."))
        if fault == "refuse":
            code = "InsufficientDBInstanceCapacity" if "DB" in action else "InsufficientInstanceCapacity"
            return self._answer(handler, 400, _error(code, "There is not enough capacity in this region (injected)."))
        if fault == "in_use":
            message = "The resource has a dependent object (injected)."
            return self._answer(handler, 400, _error("DependencyViolation", message))
        if fault == "throttle" and (throttled := _throttled_non_xml(handler.headers)):
            return self._answer(handler, 400, *throttled)
        if fault == "throttle":
            if "ec2" in handler.headers.get("Authorization", "") or action in EC2_ACTIONS:
                return self._answer(handler, 503, _error("RequestLimitExceeded", "Request limit exceeded."))
            return self._answer(handler, 400, _error("ThrottlingException", "Rate exceeded"))
        if fault == "hold":
            self.holding.set()
            self.released.wait()
            handler.close_connection = True
            return None
        status, headers, answer = self._forward(handler, body)
        if fault == "timeout":  # it happened at moto; the client never hears so
            self.released.wait(self.hold_seconds)
            handler.close_connection = True
            return None
        return self._answer(handler, status, answer, headers)

    def _forward(self, handler: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        skip = {"host", "content-length", "connection", "accept-encoding"}
        request = urllib.request.Request(  # noqa: S310 - moto on this machine
            self.upstream + handler.path, data=body if body or handler.command in ("POST", "PUT") else None,
            method=handler.command,
            # urllib adds a form Content-Type to a body that has none, and moto then drops an S3 body
            headers={"Content-Type": "", **{k: v for k, v in handler.headers.items() if k.lower() not in skip}},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
                return answer.status, dict(answer.headers.items()), answer.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers.items()), exc.read()

    @staticmethod
    def _answer(
        handler: BaseHTTPRequestHandler, status: int, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        handler.send_response(status)
        for key, value in (headers or {"Content-Type": "text/xml"}).items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(body)


EC2_ACTIONS = {
    "RunInstances", "StartInstances", "StopInstances", "TerminateInstances", "ModifyInstanceAttribute",
    "DescribeInstances", "CreateTags", "DescribeImages", "DescribeInstanceTypes",
}  # fmt: skip


ROUTE53_ACTIONS = {
    ("GET", r"/2013-04-01/hostedzone/[^/]+/rrset/?"): "ListResourceRecordSets",
    ("POST", r"/2013-04-01/hostedzone/[^/]+/rrset/?"): "ChangeResourceRecordSets",
    ("GET", r"/2013-04-01/healthcheck/?"): "ListHealthChecks",
    ("POST", r"/2013-04-01/healthcheck/?"): "CreateHealthCheck",
}  # (method, path) of Route 53's REST calls -> their action


def _query_parameters(headers: Any, body: bytes) -> dict[str, str]:
    """A query-protocol (form-encoded) body's parameters; {} for any other body."""
    if not str(headers.get("Content-Type", "")).startswith("application/x-www-form-urlencoded"):
        return {}
    return {key: values[-1] for key, values in parse_qs(body.decode("utf-8", "replace")).items()}


def _rest_error(code: str, message: str) -> bytes:
    """Route 53's (REST-XML) error document."""
    return (
        f"<?xml version='1.0' encoding='UTF-8'?><ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
        f"<Message>{message}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>"
    ).encode()


def _error(code: str, message: str) -> bytes:
    """AWS's query-protocol error document (EC2's shape; botocore reads the code from either)."""
    return (
        f"<?xml version='1.0' encoding='UTF-8'?><Response><Errors><Error><Code>{code}</Code>"
        f"<Message>{message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>"
    ).encode()


def _throttled_non_xml(headers: Any) -> tuple[bytes, dict[str, str]] | None:
    """CloudWatch's throttling answer in a JSON or CBOR protocol, or None for a Query/XML call."""
    fields = {"__type": "com.amazonaws.cloudwatch#ThrottlingException", "message": "Rate exceeded"}
    common = {"x-amzn-query-error": "Throttling;Sender", "x-amzn-RequestId": "fault-proxy"}
    content_type = str(headers.get("Content-Type", ""))
    if headers.get("smithy-protocol") == "rpc-v2-cbor":
        return _cbor(fields), {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"} | common
    if content_type.startswith("application/x-amz-json"):
        return json.dumps(fields).encode(), {"Content-Type": content_type} | common
    return None


def _cbor(fields: dict[str, str]) -> bytes:
    """A CBOR map of short text strings (RFC 8949: major type 5 for the map, 3 for each string)."""

    def text(value: str) -> bytes:
        data = value.encode()
        head = bytes([0x60 + len(data)]) if len(data) < 24 else bytes([0x78, len(data)])
        return head + data

    assert len(fields) < 24
    assert all(len(k.encode()) < 256 and len(v.encode()) < 256 for k, v in fields.items())
    return bytes([0xA0 + len(fields)]) + b"".join(text(k) + text(v) for k, v in fields.items())
