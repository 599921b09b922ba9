"""The long fuzzing run: schemathesis over every operation of the API in process, on a world
like the demo's (``tests/control_api/fuzzing.py``), with all four phases (examples, coverage,
fuzzing, stateful) and every check, continuing past failures. Prints the totals (operations,
requests, failures by check, server errors by status) and, as a baseline measured in the same
run, the same number of ``GET /api/healthz`` through the same in-process transport: the ratio is
the fuzzed requests' mean cost against the bare one.

    uv run python benchmarks/fuzz.py [--examples 50] [--seed 20260214]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' world and runner

from fastapi.testclient import TestClient

from control_api.app import create_app
from tests.control_api.fuzzing import SEED, build_world, run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=50, help="max examples per operation and phase")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        settings, key = build_world(Path(folder) / "home")
        totals = run(settings, key, max_examples=args.examples, seed=args.seed)
        with TestClient(create_app(settings)) as client:
            started = time.perf_counter()
            for _ in range(max(totals.requests, 1)):
                client.get("/api/healthz")
            bare = time.perf_counter() - started
    print(totals.summary())
    print("server errors by status:", dict(totals.server_errors) or "none")
    for check, found in sorted(totals.examples.items()):
        print(f"  {check}:")
        for example in found:
            print(f"    {example}")
    if totals.errors:
        print("engine errors:", *totals.errors, sep="\n  ")
    per_request = totals.seconds / max(totals.requests, 1)
    per_bare = bare / max(totals.requests, 1)
    print(
        f"fuzzed {per_request * 1000:.2f} ms per request vs /api/healthz {per_bare * 1000:.2f} ms: "
        f"{per_request / per_bare:.1f}x; {sum(totals.failures.values())} failures, "
        f"{totals.server_errors.get(500, 0)} answers of 500"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
