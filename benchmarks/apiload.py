"""What the API benchmarks share: the API in its own process, and a load generator that drives
an endpoint beside the bare liveness endpoint with the same concurrency for the same time."""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import httpx2 as httpx


@contextmanager
def api_server(home: Path, port: int, *, options: Sequence[str] = (), **environment: str) -> Iterator[str]:
    """uvicorn serving the API on ``home`` (its own process and session, stopped after), with
    uvicorn ``options`` added to its command; yields the base URL once the liveness endpoint answers."""
    env = {**os.environ, "WEDCLOUD_HOME": str(home), "WEDCLOUD_LOG_FORMAT": "json", **environment}
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "control_api.asgi:app",
        "--port",
        str(port),
        "--log-level",
        "warning",
        *options,
    ]
    server = subprocess.Popen(command, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/api/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        server.wait(10)


async def drive(url: str, headers: dict[str, str], seconds: float, concurrency: int) -> tuple[list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await client.get(url)
                latencies.append(time.perf_counter() - started)
                errors += response.status_code != 200

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors


def summary(name: str, latencies: list[float], seconds: float) -> float:
    cuts = statistics.quantiles(latencies, n=100)
    rate = len(latencies) / seconds
    print(
        f"{name:<28} n={len(latencies):>6}  {rate:7.1f} req/s  p50 {cuts[49] * 1000:6.1f} ms  "
        f"p95 {cuts[94] * 1000:6.1f} ms  p99 {cuts[98] * 1000:6.1f} ms"
    )
    return rate


def against_bare(base: str, path: str, headers: dict[str, str], label: str, seconds: float, concurrency: int) -> float:
    """Drive ``path`` and the bare ``/api/healthz`` one after the other; print both and the
    throughput ratio, which is returned."""
    asyncio.run(drive(f"{base}{path}", headers, 2, 4))  # warm up
    bare, bare_errors = asyncio.run(drive(f"{base}/api/healthz", {}, seconds, concurrency))
    real, real_errors = asyncio.run(drive(f"{base}{path}", headers, seconds, concurrency))
    print(f"concurrency {concurrency}, {seconds:.0f} s each, {date.today()}")
    bare_rate = summary("GET /api/healthz (bare)", bare, seconds)
    real_rate = summary(f"GET {label}", real, seconds)
    assert bare_errors == real_errors == 0, (bare_errors, real_errors)
    return real_rate / bare_rate
