"""Headless Chromium for tests: find it, run it in its own process group, read what it made.

Why each choice:
- Debian's ``chromium`` (installed by ``./dev test``) rather than a downloaded browser: no
  network at test time, and the same binary on a laptop and in CI.
- One short-lived browser per call with a fresh profile directory: no state leaks between
  tests, and the background services that would reach the network are switched off.
- Chromium forks a zygote, renderers and a GPU process. It runs as the leader of a new
  process group; when it has exited (or on timeout) the whole group is killed *before* the
  leader is reaped, so the group id cannot have been reused and no child outlives the test.
- PNG decoding uses only zlib and struct: the project has no image library, and a
  screenshot of a headless page is a plain 8-bit RGB(A) non-interlaced PNG.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import html
import itertools
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")

FLAGS = (
    "--headless",
    "--no-sandbox",  # tests run as root in containers, where the sandbox cannot start
    "--disable-gpu",
    "--disable-dev-shm-usage",  # containers often have a 64 MB /dev/shm
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)


# Every host name but this machine's address fails to resolve: a page that needs the internet (a
# CDN, a font service) loads as it would on a machine without it.
OFFLINE = ("--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",)


def find_chromium() -> str | None:
    """``$WEDCLOUD_CHROMIUM`` when set (another build, or a missing path to test the skip),
    else Debian's path, else whatever ``chromium`` is on PATH."""
    override = os.environ.get("WEDCLOUD_CHROMIUM")
    if override is not None:
        return shutil.which(override)
    for candidate in CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


class BrowserError(RuntimeError):
    pass


def _wait_unreaped(pid: int, deadline: float) -> bool:
    """Wait for the process to exit without reaping it (WNOWAIT); False on timeout."""
    while time.monotonic() < deadline:
        if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
            return True
        time.sleep(0.02)
    return False


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # everyone already gone
        os.killpg(pgid, signal.SIGKILL)


@dataclass(frozen=True)
class Chromium:
    path: str
    timeout: float = 60.0
    window: tuple[int, int] = (1000, 800)

    def run(self, *args: str) -> bytes:
        """Run headless Chromium with ``args``; its stdout. Raises BrowserError on failure or timeout."""
        with tempfile.TemporaryDirectory(prefix="chromium-") as scratch:
            profile, out, err = Path(scratch) / "profile", Path(scratch) / "out", Path(scratch) / "err"
            size = f"--window-size={self.window[0]},{self.window[1]}"
            command = [self.path, *FLAGS, size, f"--user-data-dir={profile}", *args]
            with out.open("wb") as stdout, err.open("wb") as stderr:
                process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr, start_new_session=True
                )
                try:
                    finished = _wait_unreaped(process.pid, time.monotonic() + self.timeout)
                finally:
                    _kill_group(process.pid)  # the leader is not reaped yet: the group id is still ours
                    process.wait()
            if not finished:
                raise BrowserError(f"chromium did not finish within {self.timeout} s: {command}")
            if process.returncode != 0:
                raise BrowserError(f"chromium exited with {process.returncode}: {err.read_text()[-3000:]}")
            return out.read_bytes()

    def dump_dom(self, url: str, *flags: str) -> str:
        """The DOM after the page has loaded and its scripts have run, serialised (``flags``:
        more switches, such as ``OFFLINE`` or ``--virtual-time-budget=MS`` for pages that fetch)."""
        return self.run(*flags, "--dump-dom", url).decode()

    def screenshot(self, url: str, png: Path) -> None:
        """A screenshot of the window (``window``: width, height) at one pixel per CSS pixel."""
        self.run(f"--screenshot={png}", url)
        if not png.exists():
            raise BrowserError(f"chromium wrote no screenshot to {png}")


def with_script(page: str, script: str) -> str:
    """The page with ``script`` run at the end of its body and its result shown in
    ``<pre id="probe-result">``. The page's CSP (a ``<meta>``) is widened by exactly that script's
    hash, so it still forbids every fetch and any other script."""
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    if csp is None:
        raise ValueError("the page has no Content-Security-Policy <meta> to widen")
    policy = f"{csp.group(1)}; script-src 'sha256-{digest}'"
    widened = page.replace(csp.group(0), csp.group(0).replace(csp.group(1), policy))
    return widened.replace("</body>", f'<pre id="probe-result"></pre>\n<script>{script}</script>\n</body>')


def probe(chromium: Chromium, page: str, script: str, folder: Path) -> Any:
    """Open ``page`` with ``script`` (an expression whose value is JSON-serialisable) in Chromium
    and return that value, as the page's layout in Chromium's window gave it."""
    wrapped = f'document.getElementById("probe-result").textContent = JSON.stringify(({script}));'
    path = folder / "probed.html"
    path.write_text(with_script(page, wrapped), encoding="utf-8")
    dom = chromium.dump_dom(path.as_uri())
    found = re.search(r'<pre id="probe-result">(.*?)</pre>', dom, re.S)
    if not found or not found.group(1):
        raise BrowserError(f"the probe did not run: {dom[-2000:]}")
    return json.loads(html.unescape(found.group(1)))


@dataclass(frozen=True)
class Image:
    """Decoded pixels: ``rows[y][x * channels : (x + 1) * channels]`` is one pixel."""

    width: int
    height: int
    channels: int
    rows: list[bytes]

    def pixel(self, x: int, y: int) -> tuple[int, ...]:
        start = x * self.channels
        return tuple(self.rows[y][start : start + self.channels])


@functools.cache
def _masks(length: int) -> tuple[int, int]:
    return int.from_bytes(b"\x7f" * length, "big"), int.from_bytes(b"\x80" * length, "big")


def _add_bytes(a: bytes, b: bytes) -> bytes:
    """Bytewise ``(a + b) % 256`` on whole rows at once, as two big integers: the low seven bits
    of each byte are added without carrying into the next byte, the top bit is an XOR. This is
    the Up filter, most of a screenshot's rows, at C speed instead of a loop per byte."""
    low, high = _masks(len(a))
    x, y = int.from_bytes(a, "big"), int.from_bytes(b, "big")
    return (((x & low) + (y & low)) ^ ((x ^ y) & high)).to_bytes(len(a), "big")


def _sub(line: bytes, bpp: int) -> bytes:
    """Sub filter: each byte adds the byte one pixel to its left, i.e. a running sum per channel."""
    out = bytearray(len(line))
    for channel in range(bpp):
        out[channel::bpp] = bytes(total & 0xFF for total in itertools.accumulate(line[channel::bpp]))
    return bytes(out)


def _paeth(line: bytes, prior: bytes, bpp: int) -> bytes:
    out = bytearray(line)
    for i in range(len(out)):
        left = out[i - bpp] if i >= bpp else 0
        up = prior[i]
        corner = prior[i - bpp] if i >= bpp else 0
        a, b, c = abs(up - corner), abs(left - corner), abs(left + up - 2 * corner)
        out[i] = (out[i] + (left if a <= b and a <= c else up if b <= c else corner)) & 0xFF
    return bytes(out)


def _average(line: bytes, prior: bytes, bpp: int) -> bytes:
    out = bytearray(line)
    for i in range(len(out)):
        left = out[i - bpp] if i >= bpp else 0
        out[i] = (out[i] + ((left + prior[i]) >> 1)) & 0xFF
    return bytes(out)


def _unfilter(kind: int, line: bytes, prior: bytes, bpp: int) -> bytes:
    """Undo one scanline's PNG filter (PNG specification, section 9)."""
    if kind == 0:
        return line
    if kind == 1:
        return _sub(line, bpp)
    if kind == 2:
        return _add_bytes(line, prior)
    if kind == 3:
        return _average(line, prior, bpp)
    if kind == 4:
        return _paeth(line, prior, bpp)
    raise ValueError(f"unknown PNG filter {kind}")


def read_png(path: Path) -> Image:
    """Decode an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes)."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    offset, compressed, header = 8, bytearray(), b""
    while offset < len(data):
        (length, kind) = struct.unpack(">I4s", data[offset : offset + 8])
        chunk = data[offset + 8 : offset + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            compressed += chunk
        offset += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}")
    channels = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(bytes(compressed)), width * channels
    rows, prior = [], bytes(stride)
    for y in range(height):
        start = y * (stride + 1)
        prior = _unfilter(raw[start], raw[start + 1 : start + 1 + stride], prior, channels)
        rows.append(prior)
    return Image(width, height, channels, rows)


class DevTools:
    """A page driven over the Chrome DevTools Protocol (one WebSocket, ``websockets``' sync client):
    for pages that keep running, such as one that updates itself from a stream."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.ids = itertools.count(1)

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One DevTools command (``Network.setExtraHTTPHeaders``, ``Page.navigate``...); its
        whole answer, or BrowserError when it answered an error."""
        ident = next(self.ids)
        self.connection.send(json.dumps({"id": ident, "method": method, "params": params or {}}))
        while True:
            message: dict[str, Any] = json.loads(self.connection.recv(timeout=30))
            if message.get("id") == ident:
                break
        if "error" in message:
            raise BrowserError(f"{method} failed: {message}")
        return message

    def evaluate(self, expression: str) -> Any:
        """The value of ``expression`` in the page (JSON-serialisable), or BrowserError if it threw."""
        message = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        result = message.get("result", {})
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression!r} failed: {message}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0) -> Any:
        """Poll ``expression`` until it is truthy (an exception counts as not yet); its value.
        BrowserError on timeout."""
        deadline, seen = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            try:  # (the page may still be loading: an error is "not yet")
                seen = self.evaluate(expression)
            except BrowserError as exc:
                seen = exc
            if seen and not isinstance(seen, BrowserError):
                return seen
            time.sleep(0.05)
        raise BrowserError(f"{expression!r} stayed falsy for {timeout} s; last: {seen}")


@contextlib.contextmanager
def devtools(chromium: Chromium, url: str) -> Any:
    """Headless Chromium showing ``url``, kept running while the block drives it through the
    DevTools protocol; the browser's process group is killed afterwards."""
    from urllib.request import urlopen

    from websockets.sync.client import connect

    with tempfile.TemporaryDirectory(prefix="chromium-") as scratch:
        profile = Path(scratch) / "profile"
        size = f"--window-size={chromium.window[0]},{chromium.window[1]}"
        command = [chromium.path, *FLAGS, size, f"--user-data-dir={profile}", "--remote-debugging-port=0", url]
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline, port_file = time.monotonic() + chromium.timeout, profile / "DevToolsActivePort"
            while not (port_file.exists() and port_file.read_text().strip()):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise BrowserError(f"chromium opened no DevTools port: {command}")
                time.sleep(0.05)
            port = int(port_file.read_text().split()[0])
            while True:
                with urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
                    pages = [t for t in json.load(answer) if t.get("type") == "page"]
                if pages or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            if not pages:
                raise BrowserError("chromium shows no page")
            with connect(pages[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=10) as connection:
                yield DevTools(connection)
        finally:
            _kill_group(process.pid)
            process.wait()
