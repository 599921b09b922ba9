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
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx2 as httpx


@contextmanager
def api_server(home: Path, port: int, *, options: Sequence[str] = (), **environment: str) -> Iterator[str]:
    """uvicorn serving the API on ``home`` (its own process and session, stopped after), with
    uvicorn ``options`` added to its command; yields the base URL once the liveness endpoint answers.
    The rate limits are off unless ``environment`` sets them: the load comes from one address
    with one key, which is not what they guard against."""
    env = {
        **os.environ, "WEDCLOUD_HOME": str(home), "WEDCLOUD_LOG_FORMAT": "json",
        "WEDCLOUD_RATE_LIMIT_PER_KEY": "0", "WEDCLOUD_RATE_LIMIT_PER_ADDRESS": "0", **environment,
    }  # fmt: skip
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


@dataclass(frozen=True)
class Comparison:
    """An endpoint driven beside the bare one: throughput ratio and the endpoint's percentiles."""

    ratio: float
    p50: float
    p95: float
    bare_p95: float


def compare(base: str, path: str, headers: dict[str, str], label: str, seconds: float, concurrency: int) -> Comparison:
    """Drive ``path`` and the bare ``/api/healthz`` one after the other; print both."""
    asyncio.run(drive(f"{base}{path}", headers, 2, 4))  # warm up
    bare, bare_errors = asyncio.run(drive(f"{base}/api/healthz", {}, seconds, concurrency))
    real, real_errors = asyncio.run(drive(f"{base}{path}", headers, seconds, concurrency))
    print(f"concurrency {concurrency}, {seconds:.0f} s each, {date.today()}")
    bare_rate = summary("GET /api/healthz (bare)", bare, seconds)
    real_rate = summary(f"GET {label}", real, seconds)
    assert bare_errors == real_errors == 0, (bare_errors, real_errors)
    cuts, bare_cuts = statistics.quantiles(real, n=100), statistics.quantiles(bare, n=100)
    return Comparison(real_rate / bare_rate, cuts[49], cuts[94], bare_cuts[94])


def against_bare(base: str, path: str, headers: dict[str, str], label: str, seconds: float, concurrency: int) -> float:
    """:func:`compare`'s throughput ratio, which is returned."""
    return compare(base, path, headers, label, seconds, concurrency).ratio
