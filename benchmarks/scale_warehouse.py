"""The warehouse at the issue's scale: ingestion of many months into the lake against DuckDB's CTAS
of the same files (with one and two workers), then cold and warm breakdowns over the months it left.

Part of ``benchmarks/scale.py`` (``ingest`` and ``query``); see its docstring.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from analytics.warehouse import replace_cost_daily
from assets.resources import LakeResource, WarehouseResource
from benchmarks.costs_api import publish_served
from benchmarks.ingest import generate

FIRST_MONTH = date(2025, 1, 1)
SOURCE = "bench"

# One process of ingestion: the months given, one partition at a time, each through the function
# the focus_costs asset runs (analytics.ingest.normalise_partition: checks, FOCUS mapping, source
# rules, the partition's Parquet file staged and moved into the lake). No warehouse is opened, so
# workers need no lock: each writes its own partitions.
INGEST_WORKER = """
import json, resource, sys, time
from datetime import date
from pathlib import Path
from analytics.ingest import normalise_partition
from analytics.lake import Lake
lake, source = Lake(sys.argv[1]), sys.argv[2]
jobs = [(date.fromisoformat(month), Path(path)) for month, path in json.loads(sys.argv[3])]
rows, busy = 0, []
started = time.perf_counter()
for month, path in jobs:
    began = time.perf_counter()
    rows += normalise_partition(lake, source_id=source, month=month, files=[(path, None)]).rows
    busy.append(time.perf_counter() - began)
print(json.dumps({"seconds": time.perf_counter() - started, "busy": busy, "rows": rows,
                  "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""

CTAS_WORKER = """
import json, resource, sys, time
import duckdb
db, files = sys.argv[1], json.loads(sys.argv[2])
con = duckdb.connect(db)
con.execute("SET TimeZone = 'UTC'")
started = time.perf_counter()
con.execute("CREATE TABLE raw AS SELECT * FROM read_parquet($1)", [files])
elapsed = time.perf_counter() - started
rows = con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
con.close()
print(json.dumps({"seconds": elapsed, "rows": rows,
                  "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


def months_from(first: date, count: int) -> list[date]:
    return [date(first.year + (first.month - 1 + i) // 12, (first.month - 1 + i) % 12 + 1, 1) for i in range(count)]


def disk_bytes(path: Path) -> int:
    """A file's size, or a folder's files' sizes summed (a DuckDB file and its WAL, or Parquet)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def generate_months(folder: Path, months: list[date], rows: int) -> list[tuple[date, Path]]:
    """One CUR 2.0 Parquet file per month (``benchmarks/ingest.py``'s generator), reused when present."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for month in months:
        path = folder / f"cur2-{month:%Y-%m}-{rows}.parquet"
        if not path.exists():
            seconds = generate(path.with_suffix(".partial"), rows, month)
            path.with_suffix(".partial").rename(path)
            print(f"  generated {month:%Y-%m}: {rows:,} rows in {seconds:.1f} s", flush=True)
        files.append((month, path))
    return files


def _spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True)


def _result(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, _ = process.communicate()
    if process.returncode:
        raise SystemExit(f"a worker failed with {process.returncode}")
    outcome: dict[str, Any] = json.loads(out[out.rindex('{"') :])  # after anything else printed
    return outcome


def ctas(files: list[tuple[date, Path]], db: Path) -> dict[str, Any]:
    """Baseline: DuckDB's ``CREATE TABLE AS SELECT * FROM read_parquet([...])`` of every file, in
    a fresh process."""
    db.unlink(missing_ok=True)
    outcome = _result(_spawn(CTAS_WORKER, str(db), json.dumps([str(p) for _, p in files])))
    outcome["disk_bytes"] = disk_bytes(db)
    return outcome


def ingest(files: list[tuple[date, Path]], lake: Path, workers: int) -> dict[str, Any]:
    """WedCloud's ingestion of every month into a new lake by ``workers`` processes started
    together, month i to worker i mod ``workers``; wall time from the start to the last one's end."""
    shutil.rmtree(lake, ignore_errors=True)
    shares = [[(m.isoformat(), str(p)) for m, p in files[k::workers]] for k in range(workers)]
    started = time.perf_counter()
    processes = [_spawn(INGEST_WORKER, str(lake), SOURCE, json.dumps(share)) for share in shares if share]
    outcomes = [_result(p) for p in processes]
    wall = time.perf_counter() - started
    return {
        "seconds": wall,
        "rows": sum(o["rows"] for o in outcomes),
        "peak_bytes": max(o["peak_bytes"] for o in outcomes),
        "peak_sum_bytes": sum(o["peak_bytes"] for o in outcomes),
        "busy": [round(sum(o["busy"]), 2) for o in outcomes],
        "month_seconds": statistics.median(t for o in outcomes for t in o["busy"]),
        "disk_bytes": disk_bytes(lake),
    }


def run_ingest(workdir: Path, *, months: int, rows: int, workers: Sequence[int], repeat: int) -> Path:
    """Prints the figures; returns the lake the last one-worker run left (for the query part)."""
    files = generate_months(workdir / "sources", months_from(FIRST_MONTH, months), rows)
    source_bytes = sum(p.stat().st_size for _, p in files)
    print(f"{months} months x {rows:,} rows = {months * rows:,} line items; sources {source_bytes / 2**30:.2f} GiB")
    results: dict[str, list[dict[str, Any]]] = {"ctas": [], **{f"ingest x{w}": [] for w in workers}}
    lake = workdir / "lake"
    for n in range(repeat):
        for name in results:
            if name == "ctas":
                outcome = ctas(files, workdir / "ctas.duckdb")
                (workdir / "ctas.duckdb").unlink()
            else:
                count = int(name.removeprefix("ingest x"))
                target = lake if count == 1 else workdir / f"lake-{count}"
                outcome = ingest(files, target, count)
                if count != 1:
                    shutil.rmtree(target)
            results[name].append(outcome)
            extra = f"  busy {outcome['busy']} s, a month {outcome['month_seconds']:.1f} s" if "busy" in outcome else ""
            print(
                f"  run {n + 1} {name:10} {outcome['seconds']:7.2f} s  {outcome['rows']:,} rows  "
                f"peak {outcome['peak_bytes'] / 2**30:.2f} GiB  disk {outcome['disk_bytes'] / 2**30:.2f} GiB{extra}",
                flush=True,
            )
    base = statistics.median(o["seconds"] for o in results["ctas"])
    print(f"baseline CTAS of the {months} files: median {base:.2f} s")
    for name, outcomes in results.items():
        if name == "ctas":
            continue
        median = statistics.median(o["seconds"] for o in outcomes)
        peak = max(o["peak_sum_bytes"] for o in outcomes) / 2**30
        print(f"{name}: median {median:.2f} s = {median / base:.2f}x CTAS; peak {peak:.2f} GiB (all its processes)")
        per_row = median / (months * rows)
        print(f"  at 13 x 20M rows: about {per_row * 260e6 / 60:.0f} min if it scales linearly")
    ingested = disk_bytes(lake)
    print(
        f"disk: sources {source_bytes / 2**30:.2f} GiB, lake {ingested / 2**30:.2f} GiB, "
        f"CTAS {results['ctas'][-1]['disk_bytes'] / 2**30:.2f} GiB; at 260M rows about "
        f"{(source_bytes + ingested) / (months * rows) * 260e6 / 2**30:.0f} GiB for sources and lake"
    )
    return lake


# One cold breakdown of service x month in a fresh process (a new DuckDB connection: nothing of
# DuckDB's own caches survives), then --warm more on the same connection. Modes:
# - snapshot: analytics.breakdown on the serving snapshot (cost_daily), as the API answers it;
# - lineitems: the same function over focus_costs itself (the lake's view of Parquet files),
#   its daily rows made on the fly from the line items;
# - bare: DuckDB alone, the service x month sums of focus_costs (the baseline).
QUERY_WORKER = """
import json, statistics, sys, time
from datetime import date
from pathlib import Path
import duckdb
from analytics.breakdown import BreakdownQuery, breakdown
from analytics.lake import Lake
mode, path, warm = sys.argv[1], sys.argv[2], int(sys.argv[5])
start, end = date.fromisoformat(sys.argv[3]), date.fromisoformat(sys.argv[4])
DAILY = "(SELECT CAST(ChargePeriodStart AS DATE) AS ChargeDate, * FROM focus_costs)"
BARE = ("SELECT ServiceName, BillingCurrency, date_trunc('month', ChargePeriodStart) AS m, sum(BilledCost) "
        "FROM focus_costs WHERE ChargePeriodStart >= $1 AND ChargePeriodStart < $2 + INTERVAL 1 DAY GROUP BY ALL")
q = BreakdownQuery(group_by=("service",), start=start, end=end, granularity="month", top=100)
def once(con):
    if mode == "bare":
        return len(con.execute(BARE, [start, end]).fetchall())
    def run(sql, params):
        if mode == "lineitems":
            sql = sql.replace("FROM cost_daily", "FROM " + DAILY)
        return con.execute(sql, params).fetchall()
    result = breakdown(run, q)
    return sum(len(g.series) for g in result.groups)
started = time.perf_counter()
if mode == "snapshot":
    from control_plane.serving import SnapshotReader
    reader = SnapshotReader(Path(path))
    con = reader.cursor(reader.current())
else:  # the lake's view in a connection of its own, as LakeResource.read_line_items makes it
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(Lake(path).view_sql())
con.execute("SET enable_progress_bar = false")
cells = once(con)
cold = time.perf_counter() - started
times = []
for _ in range(warm):
    began = time.perf_counter()
    once(con)
    times.append(time.perf_counter() - began)
print(json.dumps({"cold": cold, "warm": statistics.median(times) if times else None, "cells": cells}))
"""


def build_serving(lake: Path, warehouse: Path, serving: Path, months: list[date]) -> float:
    """cost_daily and cost_detail_daily for every month in a warehouse over ``lake`` (as the
    pipeline's assets build them) and a serving snapshot; returns the seconds."""
    started = time.perf_counter()
    with WarehouseResource(path=str(warehouse), lake_files=LakeResource(root=str(lake))).connect() as con:
        for month in months:
            for table in ("cost_daily", "cost_detail_daily"):
                replace_cost_daily(con, source_id=SOURCE, month=month, table=table)
        publish_served(con, serving, months[-1].isoformat())
    return time.perf_counter() - started


def run_query(workdir: Path, *, months: int, repeat: int, warm: int) -> None:
    """After ``run_ingest`` in ``workdir``: its lake, and a warehouse and serving snapshot built here once."""
    lake, serving = workdir / "lake", workdir / "serving"
    span = months_from(FIRST_MONTH, months + 1)
    start, end = span[0], date.fromordinal(span[-1].toordinal() - 1)
    if not (serving / "current.json").exists():
        seconds = build_serving(lake, workdir / "warehouse.duckdb", serving, span[:-1])
        print(f"aggregates and snapshot built in {seconds:.1f} s", flush=True)
    runs: dict[str, list[dict[str, Any]]] = {"bare": [], "lineitems": [], "snapshot": []}
    for _ in range(repeat):
        for mode, outcomes in runs.items():
            path = serving if mode == "snapshot" else lake
            args = (mode, str(path), start.isoformat(), end.isoformat(), str(warm))
            outcomes.append(_result(_spawn(QUERY_WORKER, *args)))
    labels = {
        "bare": "DuckDB alone, service x month over focus_costs",
        "lineitems": "breakdown service x month over focus_costs",
        "snapshot": "breakdown service x month, serving snapshot",
    }
    cold = {mode: statistics.median(o["cold"] for o in outcomes) for mode, outcomes in runs.items()}
    print(f"{months} months, {start} to {end}; medians of {repeat} fresh processes, warm = median of {warm} more")
    for mode, outcomes in runs.items():
        hot = statistics.median(o["warm"] for o in outcomes)
        print(
            f"  {labels[mode]:<48} cold {cold[mode] * 1000:8.1f} ms  warm {hot * 1000:8.1f} ms  "
            f"({outcomes[0]['cells']} cells)"
        )
    print(
        f"cold breakdown over line items takes {cold['lineitems'] / cold['bare']:.2f}x DuckDB alone; "
        f"from the snapshot {cold['snapshot'] / cold['bare']:.2f}x"
    )


def peak_children() -> float:
    """The largest resident set any finished child process reached, GiB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
