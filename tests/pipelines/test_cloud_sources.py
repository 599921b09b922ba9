"""Providers registered with real cloud billing sources load through Dagster like the sandbox:
an S3 CUR export (moto), the Azure Cost Management Query API (ARM emulator) and a BigQuery
export table (bqemulator), each with credentials encrypted in the state store."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path

import dagster as dg
import duckdb
import pyarrow.parquet as pq
import pytest
from google.cloud import bigquery
from sqlalchemy.orm import Session

from clouds.aws import credentials as aws_credentials
from clouds.gcp import billing as gcp_billing
from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.create import write_exports
from clouds.sandbox.world import build_world
from control_plane.crypto import load_cipher
from control_plane.services.providers import create_cloud_provider
from control_plane.store.db import make_engine
from control_plane.store.migrate import upgrade
from pipelines.definitions import build_definitions
from pipelines.materialize import dagster_instance, materialize_months, register_sources
from pipelines.settings import PipelineSettings
from tests.conftest import BQ_PROJECT
from tests.emulators.azure_arm import AzureArmEmulator, CostRecord
from tests.emulators.bigquery.billing_export import EXPORT_SCHEMA
from wedcloud.home import HomeLayout

pytestmark = [pytest.mark.integration, pytest.mark.slow]
MONTH = date(2026, 2, 1)
SCOPE = "/subscriptions/2b7e8c1d-0000-4000-8000-00000000beef"
CHECKS = ("focus_conformance", "billed_cost_reconciles", "no_duplicate_line_items")


def test_cloud_sources_load_through_dagster_to_the_cent(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    moto_endpoint: str,
    aws_keys: dict[str, str],
    azure_arm: AzureArmEmulator,
    bigquery_emulator: str,
) -> None:
    layout = HomeLayout(tmp_path / "home").ensure()
    monkeypatch.setenv("DAGSTER_HOME", str(layout.dagster_home))
    files = write_exports(build_world(4, date(2026, 3, 1), MONTH), tmp_path / "exports")
    expected: dict[str, Decimal] = {}

    # AWS: February's CUR 2.0 file in a bucket
    (cur,) = [p for p in files[FlavourKey.AWS] if "2026-02" in str(p)]
    s3 = aws_credentials.client(aws_credentials.session_for(aws_keys, "eu-west-2"), "s3", moto_endpoint)
    s3.create_bucket(Bucket="wedsync-cur", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    s3.upload_file(str(cur), "wedsync-cur", "cur2/wedsync/data/BILLING_PERIOD=2026-02/wedsync-00001.snappy.parquet")
    costs = pq.read_table(cur, columns=["line_item_unblended_cost"]).column(0).to_pylist()
    expected["aws-billing"] = sum((Decimal(repr(c)) for c in costs), Decimal(0))

    # Azure: daily totals behind the Query API
    records = [
        CostRecord(date(2026, 2, day), Decimal(f"{day}.{day:02d}"), "GBP", {"ServiceName": "Virtual Machines"})
        for day in range(1, 29)
    ]
    azure_arm.add_costs(SCOPE, records)
    expected["azure-billing"] = sum((r.cost for r in records), Decimal(0))

    # Google Cloud: February's export rows in a BigQuery table
    rows = [json.loads(line) for p in files[FlavourKey.GCP] for line in p.read_text().splitlines()]
    rows = [r for r in rows if r["invoice"]["month"] == "202602"]
    bq = gcp_billing.bigquery_client(None, BQ_PROJECT, bigquery_emulator)
    dataset = f"{BQ_PROJECT}.pipeline_{uuid.uuid4().hex[:6]}"
    bq.create_dataset(dataset)
    table = f"{dataset}.gcp_billing_export_v1_{rows[0]['billing_account_id'].replace('-', '_')}"
    bq.create_table(bigquery.Table(table, schema=EXPORT_SCHEMA))
    assert bq.insert_rows_json(table, rows, retry=None, timeout=60) == []
    expected["gcp-billing"] = sum(
        (Decimal(repr(r["cost"])) + sum((Decimal(repr(c["amount"])) for c in r["credits"]), Decimal(0)) for r in rows),
        Decimal(0),
    )

    engine = make_engine(layout.default_database_url())
    upgrade(engine)
    cipher = load_cipher(layout.root)
    providers = [
        (
            "aws",
            {"source": "s3_cur", "bucket": "wedsync-cur", "prefix": "cur2/wedsync", "endpoint_url": moto_endpoint},
            aws_keys,
        ),
        (
            "azure",
            {"source": "azure_cost_query", "scope": SCOPE, "first_month": "2026-02-01", "endpoint_url": azure_arm.url},
            {"access_token": "pipeline-token"},
        ),
        ("gcp", {"source": "gcp_bigquery_export", "table": table, "endpoint_url": bigquery_emulator}, None),
    ]
    with Session(engine) as session, session.begin():
        for kind, billing, credentials in providers:
            create_cloud_provider(
                session,
                cipher,
                kind=kind,
                name=f"{kind}-billing",
                default_region="eu-west-2" if kind == "aws" else None,
                credentials=credentials,
                settings={"billing": billing},
            )
    engine.dispose()

    defs = build_definitions(PipelineSettings(home=layout.root, billing_start=MONTH))
    with dagster_instance(layout.dagster_home) as instance:
        register_sources(instance, sorted(expected))
        materialize_months(defs, instance, [MONTH])
        for check in CHECKS:
            history = instance.event_log_storage.get_asset_check_execution_history(
                dg.AssetCheckKey(dg.AssetKey("focus_costs"), check), limit=100
            )
            statuses = Counter((record.partition, record.status.value) for record in history)
            assert {status for _, status in statuses} == {"SUCCEEDED"}, (check, statuses)
            assert {partition for partition, _ in statuses} == {f"2026-02|{name}" for name in expected}

    with duckdb.connect(str(layout.warehouse), read_only=True) as con:
        loaded = dict(con.execute("SELECT x_SourceId, sum(BilledCost) FROM focus_costs GROUP BY 1").fetchall())
    assert loaded == expected
    assert azure_arm.tokens  # the decrypted token reached the service
    assert set(azure_arm.tokens) == {"pipeline-token"}
    bq.delete_dataset(dataset, delete_contents=True)
