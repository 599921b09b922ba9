"""The OCI billing source reads a tenancy's report bucket through Object Storage's S3-compatible
API, here the moto server: real and written reports are uploaded gzipped, a month is fetched
through a registered provider and converted; endpoints and settings outside OCI are refused."""

from __future__ import annotations

import gzip
import os
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from analytics.focus.convert import convert
from clouds.aws import credentials as aws_credentials
from clouds.oci.billing import OciReportSource
from control_plane.crypto import Cipher
from control_plane.services.billing import billing_source
from control_plane.services.errors import InvalidRequest
from control_plane.services.providers import adapter_unavailable, create_cloud_provider
from wedcloud.home import HomeLayout

CIPHER = Cipher(os.urandom(32))
FIXTURES = Path(__file__).parents[1] / "fixtures"
TENANCY = "ocid1.tenancy.oc1..aaaawedsync"
COST_FILES = {
    "reports/cost-csv/0001000000603747.csv.gz": "oci/oci_cost_report_koku.csv",
    "reports/cost-csv/0001000000603748.csv.gz": "oci/oci_cost_report_corrections_2026-01.csv",
}
FOCUS_FILE = (
    "FOCUS Reports/2026/01/11/0001000000700001-00001.csv.gz",
    "focus/oci_focus_1_0_reports_layout_2026-01.csv",
)

pytestmark = pytest.mark.integration


@pytest.fixture
def bucket(moto_endpoint: str, aws_keys: dict[str, str]) -> Any:
    s3 = aws_credentials.client(aws_credentials.session_for(aws_keys, "us-east-1"), "s3", moto_endpoint)
    s3.create_bucket(Bucket=TENANCY)
    for key, fixture in [*COST_FILES.items(), FOCUS_FILE]:
        s3.put_object(Bucket=TENANCY, Key=key, Body=gzip.compress((FIXTURES / fixture).read_bytes()))
    return s3


def _register(engine: Engine, billing: dict[str, Any], credentials: dict[str, Any] | None) -> None:
    with Session(engine) as session:
        create_cloud_provider(
            session, CIPHER, kind="oci", name="wedsync-oci", default_region="uk-london-1",
            credentials=credentials, settings={"billing": billing},
        )  # fmt: skip
        session.commit()


def _source(engine: Engine, tmp_path: Path) -> Any:
    with Session(engine) as session:
        return billing_source(session, HomeLayout(tmp_path / "home"), key="wedsync-oci", cipher=CIPHER)


def _settings(moto_endpoint: str, **extra: str) -> dict[str, Any]:
    return {"source": "oci_object_storage", "namespace": "bling", "tenancy_ocid": TENANCY,
            "endpoint_url": moto_endpoint} | extra  # fmt: skip


def _totals(path: Path) -> dict[str, Decimal]:
    con = duckdb.connect()
    try:
        rows = con.execute(f"SELECT BillingCurrency, sum(BilledCost) FROM read_parquet('{path}') GROUP BY 1").fetchall()
    finally:
        con.close()
    return {currency: Decimal(str(total)).normalize() for currency, total in rows}


def test_cost_reports_are_fetched_by_the_month_they_were_written_and_convert(
    sqlite_engine: Engine, tmp_path: Path, moto_endpoint: str, aws_keys: dict[str, str], bucket: Any
) -> None:
    _register(sqlite_engine, _settings(moto_endpoint), aws_keys)
    source = _source(sqlite_engine, tmp_path)
    assert isinstance(source, OciReportSource)
    written = datetime.now(UTC).date().replace(day=1)
    assert list(source.months()) == [written]
    files = source.fetch(written)
    assert [f.format for f in files] == ["oci_cost_report", "oci_cost_report"]
    assert [gzip.decompress(f.path.read_bytes()) for f in files] == [
        (FIXTURES / f).read_bytes() for f in COST_FILES.values()
    ]
    out = tmp_path / "month.parquet"
    convert([f.path for f in files], out)
    assert _totals(out) == {"GBP": Decimal("0.000040641"), "USD": Decimal("2.063975")}


def test_an_unchanged_report_is_not_downloaded_again(
    sqlite_engine: Engine, tmp_path: Path, moto_endpoint: str, aws_keys: dict[str, str], bucket: Any
) -> None:
    _register(sqlite_engine, _settings(moto_endpoint), aws_keys)
    source = _source(sqlite_engine, tmp_path)
    month = next(iter(source.months()))
    first = source.fetch(month)
    second = source.fetch(month)
    assert (source.downloads, [f.signature for f in first]) == (2, [f.signature for f in second])


def test_focus_reports_are_fetched_by_the_month_their_folder_names(
    sqlite_engine: Engine, tmp_path: Path, moto_endpoint: str, aws_keys: dict[str, str], bucket: Any
) -> None:
    _register(sqlite_engine, _settings(moto_endpoint, report="focus"), aws_keys)
    source = _source(sqlite_engine, tmp_path)
    assert list(source.months()) == [date(2026, 1, 1)]
    files = source.fetch(date(2026, 1, 1))
    assert [f.format for f in files] == ["focus"]
    out = tmp_path / "focus.parquet"
    convert([f.path for f in files], out, fmt="focus")
    assert _totals(out) == {"USD": Decimal("0.21375")}


@pytest.mark.parametrize(
    ("settings", "refusal"),
    [
        ({"endpoint_url": "http://169.254.169.254/latest"}, "endpoint_url"),
        ({"endpoint_url": "https://reports.attacker.example"}, "not an endpoint of this cloud"),
        ({"endpoint_url": "https://evil.ocp.oraclecloud.com"}, "not an endpoint of this cloud"),
        ({"namespace": "evil.example.com/x"}, "not an Object Storage namespace"),
        ({"region": "uk-london-1.attacker.example"}, "not an OCI region"),
        ({"tenancy_ocid": "../other"}, "tenancy OCID"),
        ({"report": "usage"}, "report must be one of"),
    ],
)
def test_settings_that_would_point_the_source_elsewhere_are_refused(
    sqlite_engine: Engine, tmp_path: Path, moto_endpoint: str, aws_keys: dict[str, str], settings: dict[str, str],
    refusal: str,
) -> None:  # fmt: skip
    _register(sqlite_engine, _settings(moto_endpoint) | settings, aws_keys)
    with pytest.raises(InvalidRequest, match=refusal):
        _source(sqlite_engine, tmp_path)


def test_a_source_without_a_customer_secret_key_is_refused(
    sqlite_engine: Engine, tmp_path: Path, moto_endpoint: str
) -> None:
    _register(sqlite_engine, _settings(moto_endpoint), None)
    with pytest.raises(InvalidRequest, match="customer secret key"):
        _source(sqlite_engine, tmp_path)


def test_an_oci_provider_has_no_adapter(sqlite_engine: Engine, moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    _register(sqlite_engine, _settings(moto_endpoint), aws_keys)
    with Session(sqlite_engine) as session:
        from control_plane.services.provider_keys import find_provider

        provider = find_provider(session, "wedsync-oci")
        assert provider is not None
        assert "bills of only" in (adapter_unavailable(provider) or "")
