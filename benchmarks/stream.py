"""The WebSocket stream under load: event-to-client latency with 500 subscribers on one worker.

Starts the API (one uvicorn worker) on a temporary home, on SQLite (its 50 ms poll) or, with
``--postgres URL`` (an empty database it may migrate), on PostgreSQL (LISTEN/NOTIFY). Then, twice:
first with one subscriber (the baseline), then with ``--subscribers`` (default 500) spread over
``--client-processes`` processes, a separate producer process publishes ``--rate`` metrics
events a second (one transaction each, as the collector or another worker would) for
``--seconds``. Each subscriber takes every event (``topics=metrics``, no filter) and records,
for each, the time it arrived minus the producer's timestamp (the event's ``at``). Prints p50,
p95 and p99 of both runs, how many deliveries arrived or were reported lost, and the ratio of
the p95s. ``--filtered`` makes each subscriber follow one resource of 500 instead (events spread
over them), the load of dashboards that each show one resource.

    uv run python benchmarks/stream.py [--subscribers 500] [--rate 200] [--seconds 10] [--postgres URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from array import array
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop
from sqlalchemy.orm import Session

from benchmarks.apiload import api_server
from control_plane.monitoring import events
from control_plane.security import Role
from control_plane.services.api_keys import create_key
from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade

RESOURCES = [str(uuid.UUID(int=n + 1)) for n in range(500)]
PROVIDER = str(uuid.UUID(int=10**6))
PATH = "/api/cloud/monitoring/stream"
AT = re.compile(rb'"type":"event","id":\d+,"topic":"\w+","at":"([^"]+)"')
LOST = re.compile(rb'"type": "lost", "count": (\d+)')


# -- the producer (its own process) -------------------------------------------------------------


def produce(database_url: str, rate: float, seconds: float, threads: int = 4) -> None:
    """``rate`` events a second, one transaction each, from ``threads`` connections (one
    connection's commits alone cannot keep 200 a second on a PostgreSQL that syncs each)."""
    engine = make_engine(database_url, pool_size=threads)
    started = time.perf_counter()
    counts = [0] * threads

    def worker(index: int) -> None:
        share = rate / threads
        while (elapsed := time.perf_counter() - started) < seconds:
            if counts[index] > elapsed * share:
                time.sleep(max(0.0, counts[index] / share - elapsed))
                continue
            resource = RESOURCES[(counts[index] * threads + index) % len(RESOURCES)]
            data = {"resource_id": resource, "values": {"cpu": 41.5, "memory": 63.0, "network_in": 1200.0}}
            with Session(engine) as session, session.begin():
                events.publish(session, "metrics", data, provider_id=PROVIDER, resource_id=resource)
            counts[index] += 1

    pool = [threading.Thread(target=worker, args=(index,)) for index in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    print(json.dumps({"sent": sum(counts)}), flush=True)
    engine.dispose()


# -- subscribers (their own processes) ----------------------------------------------------------


async def subscribe(
    url: str, key: str, first: int, count: int, filtered: bool, deflate: bool, batch: bool, out: Path
) -> None:
    """``count`` connections; they read until this process's stdin closes."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    latencies = array("d")
    lost = 0
    ready = 0
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), loop.call_soon_threadsafe(stop.set)), daemon=True).start()

    stamps: dict[bytes, float] = {}  # every connection sees the same events: parse each time once

    def stamp(at: bytes) -> float:
        value = stamps.get(at)
        if value is None:
            if len(stamps) > 10_000:
                stamps.clear()
            value = stamps[at] = datetime.fromisoformat(at.decode()).timestamp()
        return value

    connections: list[Any] = []

    async def one(index: int) -> None:
        """Read frames as bytes, with no timeout task per frame: the clients share the cores."""
        nonlocal lost, ready
        query = "topics=metrics" + (f"&resource={RESOURCES[index % len(RESOURCES)]}" if filtered else "")
        query += "&batch=true" if batch else ""
        options: dict[str, Any] = {} if deflate else {"compression": None}
        async with connect(f"{url}?{query}", additional_headers={"X-API-Key": key}, open_timeout=60, **options) as ws:
            connections.append(ws)
            await ws.recv()  # hello
            ready += 1
            while True:
                try:
                    data = await ws.recv(decode=False)
                except ConnectionClosed:
                    return
                arrived = time.time()
                if data.startswith(b'{"type":"event"'):
                    at = data[data.index(b'"at":"') + 6 :]
                    latencies.append(arrived - stamp(at[: at.index(b'"')]))
                elif data.startswith(b'{"type":"batch"'):
                    for at in AT.findall(data):
                        latencies.append(arrived - stamp(at))
                    lost += sum(int(count) for count in LOST.findall(data))
                elif b'"lost"' in data:
                    lost += json.loads(data)["count"]

    async def close_all() -> None:
        await stop.wait()
        await asyncio.gather(*(ws.close() for ws in connections), return_exceptions=True)

    async def announce() -> None:
        while ready < count:
            await asyncio.sleep(0.05)
        print("ready", flush=True)

    await asyncio.gather(announce(), close_all(), *(one(first + i) for i in range(count)))
    latencies.tofile(out.open("wb"))
    print(json.dumps({"received": len(latencies), "lost": lost, "cpu": time.process_time()}), flush=True)


# -- the run --------------------------------------------------------------------------------------


def run(
    args: argparse.Namespace, url: str, key: str, database_url: str, subscribers: int, work: Path, *, filtered: bool
) -> dict[str, Any]:
    processes = max(1, min(args.client_processes, subscribers))
    per = [subscribers // processes + (i < subscribers % processes) for i in range(processes)]
    clients = []
    first = 0
    for index, count in enumerate(per):
        out = work / f"latencies-{subscribers}-{index}.bin"
        command = [sys.executable, __file__, "--role", "subscriber", "--url", url, "--key", key, "--first", str(first)]
        command += (
            ["--count", str(count), "--out", str(out)]
            + (["--filtered"] if filtered else [])
            + (["--no-deflate"] if args.no_deflate else [])
            + (["--batch"] if args.batch else [])
        )
        clients.append((subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True), out))
        first += count
    for client, _ in clients:
        assert client.stdout is not None
        assert client.stdout.readline().strip() == "ready", "a subscriber process failed to connect"
    server_before = _server_cpu()
    pace = ["--rate", str(args.rate), "--seconds", str(args.seconds)]
    producer = subprocess.run(
        [sys.executable, __file__, "--role", "producer", "--database-url", database_url, *pace],
        capture_output=True,
        text=True,
        check=True,
    )
    sent = json.loads(producer.stdout.strip().splitlines()[-1])["sent"]
    time.sleep(args.drain)
    server_cpu = _server_cpu() - server_before
    latencies: list[float] = []
    received = lost = 0
    client_cpu = 0.0
    for client, out in clients:
        stdout, _ = client.communicate(timeout=120)  # closes its stdin: the subscribers stop
        counts = json.loads(stdout.strip().splitlines()[-1])
        received += counts["received"]
        lost += counts["lost"]
        client_cpu += counts["cpu"]
        numbers = array("d")
        numbers.frombytes(out.read_bytes())
        latencies.extend(numbers)
    expected = sent * subscribers if not filtered else sent * subscribers // len(RESOURCES)
    cpu = {"server": server_cpu, "subscribers": client_cpu}
    return {"sent": sent, "expected": expected, "received": received, "lost": lost, "latencies": latencies, "cpu": cpu}


def _server_cpu() -> float:
    """CPU seconds (user + system) the uvicorn child has used so far (Linux /proc; 0 elsewhere)."""
    try:
        children = " ".join(Path(task, "children").read_text() for task in Path("/proc/self/task").iterdir())
        for pid in children.split():
            if b"uvicorn" in Path(f"/proc/{pid}/cmdline").read_bytes():
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        pass
    return 0.0


def report(name: str, result: dict[str, Any]) -> float:
    cuts = statistics.quantiles(result["latencies"], n=100)
    print(
        f"{name:<26} sent {result['sent']:>5}  deliveries {result['received']:>7}/{result['expected']:<7} "
        f"lost {result['lost']:>6}  p50 {cuts[49] * 1000:7.1f} ms  p95 {cuts[94] * 1000:7.1f} ms  "
        f"p99 {cuts[98] * 1000:7.1f} ms"
    )
    cpu = result["cpu"]
    print(
        f"{'':<26} CPU from the producer's start to the drain's end: server {cpu['server']:.1f} s, "
        f"subscriber processes {cpu['subscribers']:.1f} s (their whole life)"
    )
    return float(cuts[94])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["bench", "producer", "subscriber"], default="bench")
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--drain", type=float, default=5, help="seconds the subscribers keep reading afterwards")
    parser.add_argument("--client-processes", type=int, default=2)
    parser.add_argument("--filtered", action="store_true", help="each subscriber follows one resource of 500")
    parser.add_argument(
        "--no-deflate", action="store_true", help="subscribers decline permessage-deflate (browsers offer it)"
    )
    parser.add_argument("--batch", action="store_true", help="subscribers ask for batch=true")
    parser.add_argument(
        "--server-deflate",
        action="store_true",
        help="start uvicorn with --ws-per-message-deflate true (its own default; `wedcloud api` turns it off)",
    )
    parser.add_argument("--postgres", help="an empty PostgreSQL database URL (default: SQLite)")
    parser.add_argument("--port", type=int, default=8766)
    # for the child processes
    parser.add_argument("--database-url")
    parser.add_argument("--url")
    parser.add_argument("--key")
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.role == "producer":
        produce(args.database_url, args.rate, args.seconds)
        return
    if args.role == "subscriber":
        uvloop.run(  # the server's loop too (uvicorn picks uvloop when it is installed)
            subscribe(
                args.url,
                args.key,
                args.first,
                args.count,
                args.filtered,
                not args.no_deflate,
                args.batch,
                Path(args.out),
            )
        )
        return
    bench(args)


def bench(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        database_url = args.postgres or f"sqlite:///{home / 'state.db'}"
        engine = make_engine(database_url)
        upgrade(engine)
        with Session(engine) as session, session.begin():
            _, key = create_key(session, name="bench", role=Role.VIEWER)
        engine.dispose()
        environment = {"WEDCLOUD_DATABASE_URL": database_url}
        options = ["--ws-per-message-deflate", "true" if args.server_deflate else "false"]
        with api_server(home, args.port, options=options, **environment) as base:
            url = base.replace("http://", "ws://") + PATH
            store = "PostgreSQL (LISTEN/NOTIFY)" if args.postgres else "SQLite (50 ms poll)"
            shape = "one resource each" if args.filtered else "every event"
            shape += ", declining permessage-deflate" if args.no_deflate else ", offering permessage-deflate"
            shape += ", batch=true" if args.batch else ""
            when = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
            print(f"{store}; {args.rate:g} events/s for {args.seconds:g} s; subscribers take {shape}; {when}")
            print(f"server: uvicorn control_api.asgi:app, 1 worker, {' '.join(options)}")
            baseline = report("1 subscriber, every event", run(args, url, key, database_url, 1, work, filtered=False))
            many = run(args, url, key, database_url, args.subscribers, work, filtered=args.filtered)
            real = report(f"{args.subscribers} subscribers", many)
        verdict = "met" if real < 0.1 else "missed"
        print(f"p95 with {args.subscribers} subscribers vs 1: {real / baseline:.2f}x (target p95 < 100 ms: {verdict})")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
