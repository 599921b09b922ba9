"""`wedcloud api` serves the stream without permessage-deflate unless asked for it: compressing
every frame for every client costs the worker more than the traffic it saves on a busy stream."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from tests.conftest import free_port, stop_group, wait_for_port


async def negotiated(port: int) -> list[str]:
    """The extensions the server accepted for a client offering permessage-deflate."""
    url = f"ws://127.0.0.1:{port}/api/cloud/monitoring/stream"
    async with connect(url, compression="deflate", open_timeout=20) as ws:  # no key: accepted, then 1008
        return [extension.name for extension in ws.protocol.extensions]


@pytest.mark.slow  # a real uvicorn in a subprocess: the CLI's start-up and migrations, several seconds
@pytest.mark.parametrize(("flags", "expected"), [([], []), (["--ws-deflate"], ["permessage-deflate"])])
def test_the_api_compresses_stream_frames_only_when_asked(
    tmp_path: Path, flags: list[str], expected: list[str]
) -> None:
    port = free_port()
    env = {**os.environ, "WEDCLOUD_HOME": str(tmp_path / "home"), "WEDCLOUD_ENVIRONMENT": "test",
           "WEDCLOUD_RECONCILE_EVERY_SECONDS": "0"}  # fmt: skip
    env.pop("WEDCLOUD_DATABASE_URL", None)
    env.pop("WEDCLOUD_API_WS_DEFLATE", None)
    command = [sys.executable, "-m", "wedcloud.cli.main", "api", "--port", str(port), *flags]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        wait_for_port(port, process, 30)
        assert asyncio.run(negotiated(port)) == expected
    finally:
        stop_group(process)
