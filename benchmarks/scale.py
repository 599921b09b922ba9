"""One machine's limits at the production scale of issue 19: resources, queries and ingestion.

Three parts, each its own command, each against a baseline measured in the same run:

- ``resources``: a store (SQLite and/or PostgreSQL) with ``--resources`` (100,000) resources;
  the API in its own uvicorn process (``--workers``: 1, or 1 2 when the API runs several);
  ``GET /api/cloud/resources`` (the first page, and a filtered page) at ``--concurrency`` (50)
  connections for ``--seconds``, with the page cache off (``WEDCLOUD_RESPONSE_CACHE_ENTRIES=0``)
  and on, each beside ``/api/healthz`` on the same server: p50, p95 against the targets (50 ms
  cached, 150 ms uncached). Then a sync (``POST /providers/{id}/sync`` until its operation ends)
  of ``--sync`` (100,000) sandbox resources, and the same sync again, beside the sandbox
  adapter's listing alone (target 60 s).
- ``ingest``: ``--months`` (13) CUR 2.0 files of ``--rows-per-month`` (20M) line items made by
  ``benchmarks/ingest.py``'s generator; WedCloud's ingestion of all months into a lake of Parquet
  partitions (``normalise_partition``, what the ``focus_costs`` asset runs) by 1 and by 2 worker
  processes, beside DuckDB's own ``CREATE TABLE AS SELECT * FROM read_parquet([...])`` of the same files;
  wall time, peak memory (each process's ``getrusage``), disk used, and the full size's time and
  disk extrapolated. The issue's full size is 260M rows: try ``--rows-per-month 1000000`` first.
- ``query``: after ``ingest`` (same ``--workdir``), a breakdown of service x month over the
  months, each cold in a fresh process (a new DuckDB connection), then warm on that connection:
  over ``focus_costs`` itself (the lake's view of Parquet files), from the
  serving snapshot as the API answers it, and DuckDB's bare group-by (the baseline).

    uv run python benchmarks/scale.py resources [--backends sqlite postgres] [--resources 100000]
        [--sync 100000] [--seconds 20] [--concurrency 50] [--workers 1]
        [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
    uv run python benchmarks/scale.py ingest [--months 13] [--rows-per-month 20000000] [--workers 1 2]
        [--repeat 1] [--workdir DIR]
    uv run python benchmarks/scale.py query --workdir DIR [--months 13] [--repeat 3] [--warm 5]

Each part prints the load average before and after: the machine's two cores may be shared.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
from contextlib import nullcontext
from pathlib import Path

from benchmarks.scale_resources import run_resources
from benchmarks.scale_warehouse import load_average, peak_children, run_ingest, run_query

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parts = parser.add_subparsers(dest="part", required=True)
    res = parts.add_parser("resources", help="listing at 100k resources, and sync of 100k")
    res.add_argument("--backends", nargs="+", choices=("sqlite", "postgres"), default=["sqlite", "postgres"])
    res.add_argument("--postgres", default=POSTGRES, help="A PostgreSQL server URL (its admin database).")
    res.add_argument("--resources", type=int, default=100_000, help="resources to list (0: skip)")
    res.add_argument("--sync", type=int, default=100_000, help="sandbox resources to sync (0: skip)")
    res.add_argument("--seconds", type=float, default=20)
    res.add_argument("--concurrency", type=int, default=50)
    res.add_argument("--workers", type=int, nargs="+", default=[1], help="uvicorn worker processes, in turn")
    res.add_argument("--port", type=int, default=18768)
    for name in ("ingest", "query"):
        part = parts.add_parser(name)
        part.add_argument("--months", type=int, default=13)
        part.add_argument("--workdir", type=Path, help="keep sources, lake and warehouse here (reused when present)")
        part.add_argument("--repeat", type=int, default=1 if name == "ingest" else 3)
    parts.choices["ingest"].add_argument("--rows-per-month", type=int, default=20_000_000)
    parts.choices["ingest"].add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parts.choices["query"].add_argument("--warm", type=int, default=5)
    args = parser.parse_args()
    print(f"load average before: {load_average()}", flush=True)
    keep = args.workdir if args.part != "resources" else None
    with nullcontext(str(keep)) if keep else tempfile.TemporaryDirectory(prefix="wedcloud-scale-") as tmp:
        workdir = Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if args.part == "resources":
            run_resources(
                workdir, postgres=args.postgres, count=args.resources, sync_count=args.sync, seconds=args.seconds,
                concurrency=args.concurrency, port=args.port, workers=args.workers, backends=args.backends,
            )  # fmt: skip
        elif args.part == "ingest":
            lake = run_ingest(
                workdir, months=args.months, rows=args.rows_per_month, workers=args.workers, repeat=args.repeat
            )
            print(f"largest child process: {peak_children():.2f} GiB; lake left at {lake}")
        else:
            run_query(workdir, months=args.months, repeat=args.repeat, warm=args.warm)
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
