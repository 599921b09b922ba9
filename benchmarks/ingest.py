"""Ingest a ten-million-row AWS CUR 2.0 Parquet file into ``focus_costs``.

Generates the file once (realistic CUR 2.0 columns: line item types, accounts, services,
regions, instance types, ``product`` and ``resource_tags`` maps), then times, in separate
processes so each starts cold and its peak memory can be read:
- baseline: DuckDB's own ``CREATE TABLE AS SELECT * FROM read_parquet(...)`` of the file;
- ingest: ``analytics.ingest.normalise_partition``, as the Dagster asset runs it: format
  detection, the required-column, currency and number checks, normalisation to FOCUS 1.2,
  the source rules, and the partition's Parquet file written and moved into a local lake;
- table: ``analytics.ingest.replace_month``, the same work inserting into a ``focus_costs``
  table of a DuckDB file (the path before the lake, still used by ``wedcloud focus``).
Each is run ``--repeat`` times; medians are printed, and the last line gives the lake's ratio.

    uv run python benchmarks/ingest.py [--rows 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

GENERATE = """
COPY (
  SELECT
    'Anniversary' AS bill_bill_type,
    CASE WHEN i % 50 = 0 THEN 'AWS Marketplace' ELSE 'AWS' END AS bill_billing_entity,
    TIMESTAMPTZ '{start} 00:00:00+00' AS bill_billing_period_start_date,
    TIMESTAMPTZ '{end} 00:00:00+00' AS bill_billing_period_end_date,
    'EUINGB26-0001' AS bill_invoice_id,
    'Amazon Web Services EMEA SARL' AS bill_invoicing_entity,
    '111122223333' AS bill_payer_account_id,
    'payer' AS bill_payer_account_name,
    md5(i::VARCHAR || '{start}') AS identity_line_item_id,
    '{start}T00:00:00Z/{start}T01:00:00Z' AS identity_time_interval,
    'us-east-1' || chr(97 + (i % 3)::INT) AS line_item_availability_zone,
    'USD' AS line_item_currency_code,
    'Amazon Web Services EMEA SARL' AS line_item_legal_entity,
    'usage line ' || (i % 1000) AS line_item_line_item_description,
    CASE WHEN i % 97 = 0 THEN 'Tax' WHEN i % 89 = 0 THEN 'DiscountedUsage' WHEN i % 83 = 0 THEN 'Credit'
         ELSE 'Usage' END AS line_item_line_item_type,
    'RunInstances' AS line_item_operation,
    (['AmazonEC2', 'AmazonS3', 'AmazonRDS', 'AWSDataTransfer', 'AWSLambda'])[1 + (i % 5)::INT]
        AS line_item_product_code,
    'i-' || lpad(printf('%x', i % 200000), 17, '0') AS line_item_resource_id,
    round(random() * 3, 10)::DOUBLE AS line_item_unblended_cost,
    '0.096' AS line_item_unblended_rate,
    (100000000000 + (i % 40))::VARCHAR AS line_item_usage_account_id,
    'account-' || (i % 40) AS line_item_usage_account_name,
    round(random() * 24, 6)::DOUBLE AS line_item_usage_amount,
    TIMESTAMPTZ '{start} 00:00:00+00' + INTERVAL (i % {hours}) HOUR + INTERVAL 1 HOUR AS line_item_usage_end_date,
    TIMESTAMPTZ '{start} 00:00:00+00' + INTERVAL (i % {hours}) HOUR AS line_item_usage_start_date,
    'BoxUsage:m5.large' AS line_item_usage_type,
    'USD' AS pricing_currency,
    round(random() * 3, 10)::DOUBLE AS pricing_public_on_demand_cost,
    '0.096' AS pricing_public_on_demand_rate,
    'OnDemand' AS pricing_term,
    'Hrs' AS pricing_unit,
    MAP {'product_name': 'Amazon Elastic Compute Cloud', 'region': 'us-east-1', 'instance_type': 'm5.large'} AS product,
    'm5.large' AS product_instance_type,
    'US East (N. Virginia)' AS product_location,
    'Compute Instance' AS product_product_family,
    'us-east-1' AS product_region_code,
    'AmazonEC2' AS product_servicecode,
    'SKU' || (i % 5000) AS product_sku,
    MAP {'user_team': 'team-' || (i % 12), 'user_env': 'production'} AS resource_tags
  FROM range({rows}) t(i)
) TO '{path}' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 122880)
"""


def generate(path: Path, rows: int, month: date = date(2026, 1, 1)) -> float:
    """Write ``rows`` CUR 2.0 line items of ``month`` (its hours in turn) to ``path``; returns the seconds."""
    started = time.perf_counter()
    end = (month.replace(day=28) + timedelta(days=4)).replace(day=1)
    values = {"rows": rows, "path": path, "start": month, "end": end, "hours": (end - month).days * 24}
    sql = GENERATE
    for name, value in values.items():
        sql = sql.replace(f"{{{name}}}", str(value))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(sql)
    con.close()
    return time.perf_counter() - started


CHILD = """
import json, resource, sys, time
from datetime import date
from pathlib import Path
import duckdb
mode, data, db = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
con = duckdb.connect(db)
con.execute("SET TimeZone = 'UTC'")
if mode == "baseline":
    started = time.perf_counter()
    con.execute(f"CREATE TABLE raw AS SELECT * FROM read_parquet('{data}')")
    elapsed = time.perf_counter() - started
    rows = con.execute("SELECT count(*) FROM raw").fetchall()[0][0]
elif mode == "table":
    from analytics.ingest import replace_month
    from analytics.warehouse import ensure_schema
    ensure_schema(con)
    started = time.perf_counter()
    loaded = replace_month(con, source_id="bench", month=date(2026, 1, 1), files=[(data, None)])
    elapsed = time.perf_counter() - started
    rows = loaded.rows
else:
    from analytics.ingest import normalise_partition
    from analytics.lake import Lake
    lake = Lake(db + ".lake")
    lake.ensure()
    started = time.perf_counter()
    loaded = normalise_partition(lake, source_id="bench", month=date(2026, 1, 1), files=[(data, None)])
    elapsed = time.perf_counter() - started
    rows = loaded.rows
con.close()
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": elapsed, "rows": rows, "peak_bytes": peak}))
"""


def run(mode: str, data: Path, workdir: Path, n: int) -> dict[str, float]:
    db = workdir / f"{mode}-{n}.duckdb"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, mode, str(data), str(db)], capture_output=True, text=True, check=True
    )
    db.unlink(missing_ok=True)
    shutil.rmtree(f"{db}.lake", ignore_errors=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the generated file here (reused when it exists)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wedcloud-ingest-") as tmp:
        workdir = Path(tmp)
        data = args.keep or workdir / "cur2.parquet"
        if not data.exists():
            print(f"generating {args.rows:,} CUR 2.0 rows...", flush=True)
            print(f"  {generate(data, args.rows):.1f} s, {data.stat().st_size / 2**20:.0f} MiB", flush=True)
        results: dict[str, list[dict[str, float]]] = {"baseline": [], "ingest": [], "table": []}
        for n in range(args.repeat):
            for mode in results:
                outcome = run(mode, data, workdir, n)
                results[mode].append(outcome)
                print(
                    f"  run {n + 1} {mode:8} {outcome['seconds']:6.2f} s  peak {outcome['peak_bytes'] / 2**30:.2f} GiB"
                )
        medians = {m: statistics.median(r["seconds"] for r in rs) for m, rs in results.items()}
        peaks = {m: max(r["peak_bytes"] for r in rs) / 2**30 for m, rs in results.items()}
        rows = int(results["ingest"][0]["rows"])
        base, ingest, table = medians["baseline"], medians["ingest"], medians["table"]
        print(f"baseline CREATE TABLE AS read_parquet: median {base:.2f} s, peak {peaks['baseline']:.2f} GiB")
        print(f"into a focus_costs table ({rows:,} rows): median {table:.2f} s ({table / base:.2f}x the baseline)")
        print(f"into the lake ({rows:,} rows): median {ingest:.2f} s, peak {peaks['ingest']:.2f} GiB")
        print(f"ingestion takes {ingest / base:.2f}x the baseline; peak memory {peaks['ingest']:.2f} GiB")


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()
