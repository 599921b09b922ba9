"""Child processes the demo starts: its own session each, stopped by PID, never orphaned."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path


class PortInUse(Exception):
    pass


def ensure_port_free(host: str, port: int, setting: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            raise PortInUse(
                f"port {port} on {host} is already in use; stop what is using it or set {setting} to another port"
            ) from None


@dataclass
class Child:
    """A server started in a session of its own, so signals reach it and its children only
    when we send them, and stopping it never touches a process we did not start."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path | None  # None: the child writes to our stdout and stderr (a service manager's journal)
    cwd: Path | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def start(self) -> None:
        if self.log_path is None:
            self.process = subprocess.Popen(  # noqa: S603 - argv built by us, no shell
                self.argv, env=self.env, cwd=self.cwd, start_new_session=True
            )
            return
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child for its lifetime
        self.process = subprocess.Popen(  # noqa: S603 - argv built by us, no shell
            self.argv, env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def send(self, sig: int) -> None:
        """Send ``sig`` to the child's process group (if it still runs)."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 20, first: int = signal.SIGTERM) -> None:
        """``first`` (SIGTERM) to the child's process group, then SIGKILL if it has not gone in time."""
        if self.process is None or self.process.poll() is not None:
            return
        group = self.process.pid  # a new session's leader: its pid is the group id
        for sig, wait in ((first, timeout), (signal.SIGKILL, 5)):
            try:
                os.killpg(group, sig)
            except ProcessLookupError:
                return
            try:
                self.process.wait(wait)
                # the leader is gone; make sure no child of it lingers in the group
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(group, signal.SIGKILL)
                _wait_for_empty_group(group)
                return
            except subprocess.TimeoutExpired:
                continue


def _wait_for_empty_group(group: int, seconds: float = 2.0) -> None:
    """A signal is delivered asynchronously: wait (a little) until the group's last member has
    died, so that a caller that starts the same server again finds its port free. A member that
    is only a zombie nobody reaps keeps the group "alive": the wait ends at ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.02)


def wait_for_http(url: str, child: Child, timeout: float) -> bool:
    """Poll ``url`` until it answers (any HTTP status) or the child exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.running():
            return False
        try:
            with urllib.request.urlopen(url, timeout=2):  # noqa: S310 - loopback URL we built
                return True
        except urllib.error.HTTPError:
            return True
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    return False
