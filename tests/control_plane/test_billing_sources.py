"""A registered provider's billing settings and encrypted credentials become a working billing
source, through each cloud's SDK against its emulator; bad settings are refused by name."""

from __future__ import annotations

import os
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient
from google.cloud import bigquery
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from clouds.aws import billing as aws_billing
from clouds.aws import credentials as aws_credentials
from clouds.azure import billing as azure_billing
from clouds.gcp import billing as gcp_billing
from control_plane.crypto import Cipher
from control_plane.services.billing import billing_source
from control_plane.services.errors import InvalidRequest, NotFound
from control_plane.services.providers import create_cloud_provider
from tests.conftest import BQ_PROJECT
from tests.emulators.azure_arm import AzureArmEmulator, CostRecord
from tests.emulators.bigquery.billing_export import EXPORT_SCHEMA
from tests.emulators.google_rest import GoogleRestEmulator
from wedcloud.home import HomeLayout

CIPHER = Cipher(os.urandom(32))


def _register(engine: Engine, kind: str, billing: dict[str, Any], credentials: dict[str, Any] | None = None) -> None:
    with Session(engine) as session:
        create_cloud_provider(
            session,
            CIPHER,
            kind=kind,
            name=f"{kind}-billing",
            default_region=None,
            credentials=credentials,
            settings={"billing": billing},
        )
        session.commit()


def _source(engine: Engine, tmp_path: Path, kind: str, cipher: Cipher | None = CIPHER) -> Any:
    with Session(engine) as session:
        return billing_source(session, HomeLayout(tmp_path / "home"), key=f"{kind}-billing", cipher=cipher)


@pytest.mark.integration
def test_an_s3_source_reads_with_the_providers_encrypted_keys(
    sqlite_engine: Engine, tmp_path: Path, moto_endpoint: str, aws_keys: dict[str, str]
) -> None:
    s3 = aws_credentials.client(aws_credentials.session_for(aws_keys, "us-east-1"), "s3", moto_endpoint)
    s3.create_bucket(Bucket="bills")
    s3.put_object(Bucket="bills", Key="cur/wedsync/data/BILLING_PERIOD=2026-03/part-1.parquet", Body=b"PAR1")
    billing = {"source": "s3_cur", "bucket": "bills", "prefix": "cur/wedsync", "endpoint_url": moto_endpoint}
    _register(sqlite_engine, "aws", billing, aws_keys)
    source = _source(sqlite_engine, tmp_path, "aws")
    assert isinstance(source, aws_billing.S3CurSource)
    assert list(source.months()) == [date(2026, 3, 1)]


@pytest.mark.integration
def test_an_azure_blob_source_opens_the_container_with_the_providers_connection_string(
    sqlite_engine: Engine, tmp_path: Path, azurite: str
) -> None:
    container = BlobServiceClient.from_connection_string(azurite).get_container_client("providerbills")
    container.create_container()
    container.upload_blob("exports/daily/20260401-20260430/run-1/part_0_0001.csv", b"Date,Cost\n")
    _register(
        sqlite_engine,
        "azure",
        {"source": "azure_blob_export", "container": "providerbills"},
        {"connection_string": azurite},
    )
    source = _source(sqlite_engine, tmp_path, "azure")
    assert isinstance(source, azure_billing.BlobExportSource)
    assert list(source.months()) == [date(2026, 4, 1)]
    container.delete_container()


@pytest.mark.integration
def test_an_azure_cost_query_source_sends_the_providers_token_to_its_endpoint(
    sqlite_engine: Engine, tmp_path: Path, azure_arm: AzureArmEmulator
) -> None:
    scope = "/subscriptions/11111111-2222-3333-4444-555555555555"
    azure_arm.add_costs(scope, [CostRecord(date(2026, 1, 5), Decimal("12.5"))])
    billing = {"source": "azure_cost_query", "scope": scope, "first_month": "2026-01-01", "endpoint_url": azure_arm.url}
    _register(sqlite_engine, "azure", billing, {"access_token": "token-from-az-cli"})
    source = _source(sqlite_engine, tmp_path, "azure")
    assert isinstance(source, azure_billing.CostQuerySource)
    (file,) = source.fetch(date(2026, 1, 1))
    assert '"Cost": "12.5"' in file.path.read_text()
    assert set(azure_arm.tokens) == {"token-from-az-cli"}


@pytest.mark.parametrize(
    ("kind", "billing", "message"),
    [
        ("aws", {"source": "s3_cur", "bucket": "b"}, "a s3_cur billing source needs prefix"),
        ("aws", {"source": "cost_explorer", "first_month": "January"}, "first_month must be a date"),
        ("azure", {"source": "azure_blob_export", "container": "c"}, "needs account_url"),
        ("azure", {"source": "azure_cost_query", "first_month": "2026-01-01"}, "needs scope"),
        (
            "azure",
            {
                "source": "azure_cost_query",
                "scope": "/subscriptions/x",
                "first_month": "2026-01-01",
                "group_by": ["A", "B", "C"],
            },
            "group_by takes one or two dimensions",
        ),
        ("gcp", {"source": "carrier_pigeon"}, "unknown billing source 'carrier_pigeon'"),
        ("gcp", {"source": "gcp_bigquery_export"}, "needs dataset"),
        ("gcp", {"source": "gcp_bigquery_export", "table": "billing"}, r"project\.dataset\.table"),
    ],
)
def test_incomplete_billing_settings_are_refused_with_the_missing_setting_named(
    sqlite_engine: Engine, tmp_path: Path, kind: str, billing: dict[str, Any], message: str
) -> None:
    _register(sqlite_engine, kind, billing)
    with pytest.raises(InvalidRequest, match=message) as refused:
        _source(sqlite_engine, tmp_path, kind)
    assert f"{kind}-billing" in str(refused.value)


def test_credentials_cannot_be_used_without_the_key(sqlite_engine: Engine, tmp_path: Path) -> None:
    _register(sqlite_engine, "aws", {"source": "s3_cur", "bucket": "b", "prefix": "p"}, {"access_key_id": "AKIA"})
    with pytest.raises(InvalidRequest, match="no key was given"):
        _source(sqlite_engine, tmp_path, "aws", cipher=None)


def test_a_provider_without_billing_settings_has_no_source(sqlite_engine: Engine, tmp_path: Path) -> None:
    with Session(sqlite_engine) as session:
        create_cloud_provider(session, CIPHER, kind="gcp", name="gcp-billing", default_region=None)
        session.commit()
    with pytest.raises(NotFound, match="no billing source configured"):
        _source(sqlite_engine, tmp_path, "gcp")


@pytest.mark.integration
def test_a_bigquery_source_finds_the_export_table_of_the_only_open_billing_account(
    sqlite_engine: Engine, tmp_path: Path, bigquery_emulator: str, google_rest: GoogleRestEmulator
) -> None:
    google_rest.add_billing_account("01A2B3-C4D5E6-F7A8B9", "WedSync")
    google_rest.add_billing_account("0F0F0F-000000-000000", "Old", open_=False)
    client = gcp_billing.bigquery_client(None, BQ_PROJECT, bigquery_emulator)
    dataset = f"{BQ_PROJECT}.finops_{uuid.uuid4().hex[:6]}"
    client.create_dataset(dataset)
    table = f"{dataset}.gcp_billing_export_v1_01A2B3_C4D5E6_F7A8B9"
    client.create_table(bigquery.Table(table, schema=EXPORT_SCHEMA))
    billing = {
        "source": "gcp_bigquery_export",
        "dataset": dataset,
        "endpoint_url": bigquery_emulator,
        "billing_endpoint_url": google_rest.url,
    }
    _register(sqlite_engine, "gcp", billing, google_rest.service_account())
    source = _source(sqlite_engine, tmp_path, "gcp")
    assert isinstance(source, gcp_billing.BigQueryExportSource)
    assert source.table == table
    assert source.months() == {}
    client.delete_dataset(dataset, delete_contents=True)


@pytest.mark.integration
def test_a_bigquery_source_asks_which_account_when_several_are_open(
    sqlite_engine: Engine, tmp_path: Path, bigquery_emulator: str, google_rest: GoogleRestEmulator
) -> None:
    google_rest.add_billing_account("01A2B3-C4D5E6-F7A8B9", "WedSync")
    google_rest.add_billing_account("0B0B0B-000000-000000", "WedSync US")
    billing = {
        "source": "gcp_bigquery_export",
        "dataset": f"{BQ_PROJECT}.finops",
        "endpoint_url": bigquery_emulator,
        "billing_endpoint_url": google_rest.url,
    }
    _register(sqlite_engine, "gcp", billing, google_rest.service_account())
    with pytest.raises(InvalidRequest, match=r"see 2 open billing accounts .*name one as billing_account_id"):
        _source(sqlite_engine, tmp_path, "gcp")


@pytest.mark.parametrize(
    ("kind", "billing"),
    [
        ("azure", {"source": "azure_cost_query", "scope": "/subscriptions/x", "first_month": "2026-01-01"}),
        ("gcp", {"source": "gcp_bigquery_export", "table": "p.d.t"}),
    ],
)
def test_credentials_of_the_wrong_shape_are_refused_by_name(
    sqlite_engine: Engine, tmp_path: Path, kind: str, billing: dict[str, Any]
) -> None:
    _register(sqlite_engine, kind, billing, {"access_key_id": "AKIA", "secret_access_key": "not for this cloud"})
    with pytest.raises(InvalidRequest, match=f"provider '{kind}-billing': .*credentials"):
        _source(sqlite_engine, tmp_path, kind)
