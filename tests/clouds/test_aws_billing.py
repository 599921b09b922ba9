"""AWS billing sources through boto3 against a moto server: S3 exports and Cost Explorer."""

from __future__ import annotations

import json
import urllib.request
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from analytics.ingest import replace_month
from analytics.warehouse import ensure_schema
from clouds.aws import billing as aws_billing
from clouds.aws import credentials as aws_credentials
from clouds.billing import UnsafeObjectName
from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.create import write_exports
from clouds.sandbox.world import build_world

pytestmark = pytest.mark.integration
PREFIX = "billing/wedsync-cur2"


def _s3(moto_endpoint: str, keys: dict[str, str]) -> object:
    return aws_credentials.client(aws_credentials.session_for(keys, "eu-west-2"), "s3", moto_endpoint)


@pytest.fixture
def delivered(moto_endpoint: str, aws_keys: dict[str, str], tmp_path: Path) -> dict[date, Path]:
    """Two months of the sandbox's CUR 2.0 export, delivered to S3 the way Data Exports does."""
    world = build_world(8, date(2026, 3, 1), date(2026, 1, 1))
    files = write_exports(world, tmp_path / "exports")[FlavourKey.AWS]
    s3 = _s3(moto_endpoint, aws_keys)
    s3.create_bucket(Bucket="wedsync-billing", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    by_month = {}
    for path in files:
        period = path.parent.name  # BILLING_PERIOD=YYYY-MM
        key = f"{PREFIX}/data/{period}/{path.name}"
        s3.upload_file(str(path), "wedsync-billing", key)
        manifest = {"dataFiles": [f"s3://wedsync-billing/{key}"], "billingPeriod": {"start": period[-7:]}}
        s3.put_object(
            Bucket="wedsync-billing",
            Key=f"{PREFIX}/metadata/{period}/wedsync-cur2-Manifest.json",
            Body=json.dumps(manifest).encode(),
        )
        by_month[date.fromisoformat(period[-7:] + "-01")] = path
    return by_month


def test_s3_exports_are_listed_by_month_and_downloaded_once(
    delivered: dict[date, Path], moto_endpoint: str, aws_keys: dict[str, str], tmp_path: Path
) -> None:
    source = aws_billing.S3CurSource(
        "aws-prod", _s3(moto_endpoint, aws_keys), "wedsync-billing", PREFIX, tmp_path / "cache"
    )
    months = source.months()
    assert sorted(months) == sorted(delivered)
    (file,) = source.fetch(date(2026, 1, 1))
    assert file.path.read_bytes() == delivered[date(2026, 1, 1)].read_bytes()
    source.fetch(date(2026, 1, 1))
    assert source.downloads == 1  # unchanged: not fetched again
    assert source.months() == months


def test_a_restated_month_changes_its_signature_and_is_fetched_again(
    delivered: dict[date, Path], moto_endpoint: str, aws_keys: dict[str, str], tmp_path: Path
) -> None:
    s3 = _s3(moto_endpoint, aws_keys)
    source = aws_billing.S3CurSource("aws-prod", s3, "wedsync-billing", PREFIX, tmp_path / "cache")
    before = source.months()
    source.fetch(date(2026, 2, 1))
    restated = delivered[date(2026, 1, 1)].read_bytes()  # a different file replaces February's
    s3.put_object(
        Bucket="wedsync-billing", Key=f"{PREFIX}/data/BILLING_PERIOD=2026-02/wedsync-cur2-00001.snappy.parquet",
        Body=restated,
    )  # fmt: skip
    after = source.months()
    assert after[date(2026, 1, 1)] == before[date(2026, 1, 1)]
    assert after[date(2026, 2, 1)] != before[date(2026, 2, 1)]
    (file,) = source.fetch(date(2026, 2, 1))
    assert file.path.read_bytes() == restated
    assert source.downloads == 2


def test_files_the_manifest_no_longer_lists_are_ignored(
    delivered: dict[date, Path], moto_endpoint: str, aws_keys: dict[str, str], tmp_path: Path
) -> None:
    s3 = _s3(moto_endpoint, aws_keys)
    stale = f"{PREFIX}/data/BILLING_PERIOD=2026-01/wedsync-cur2-old-delivery.snappy.parquet"
    s3.put_object(Bucket="wedsync-billing", Key=stale, Body=b"not current")
    source = aws_billing.S3CurSource("aws-prod", s3, "wedsync-billing", PREFIX, tmp_path / "cache")
    assert [f.path.name for f in source.fetch(date(2026, 1, 1))] == ["wedsync-cur2-00001.snappy.parquet"]


def test_an_s3_month_loads_into_focus_to_the_cent(
    delivered: dict[date, Path], moto_endpoint: str, aws_keys: dict[str, str], tmp_path: Path
) -> None:
    source = aws_billing.S3CurSource(
        "aws-prod", _s3(moto_endpoint, aws_keys), "wedsync-billing", PREFIX, tmp_path / "cache"
    )
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    ensure_schema(con)
    files = source.fetch(date(2026, 1, 1))
    loaded = replace_month(con, source_id="aws-prod", month=date(2026, 1, 1), files=[(f.path, f.format) for f in files])
    costs = pq.read_table(delivered[date(2026, 1, 1)], columns=["line_item_unblended_cost"]).column(0).to_pylist()
    assert loaded.billed["USD"] == sum((Decimal(repr(c)) for c in costs), Decimal(0))


def _inject_cost_explorer(moto_endpoint: str, pages: list[dict[str, object]]) -> None:
    request = urllib.request.Request(  # noqa: S310 - the local moto server
        f"{moto_endpoint}/moto-api/static/ce/cost-and-usage-results",
        data=json.dumps({"results": pages}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request).close()  # noqa: S310


def _day(day: int, groups: list[tuple[str, str, str]]) -> dict[str, object]:
    return {
        "TimePeriod": {"Start": f"2026-01-{day:02d}", "End": f"2026-01-{day + 1:02d}"},
        "Total": {},
        "Estimated": False,
        "Groups": [
            {
                "Keys": [account, service],
                "Metrics": {
                    "UnblendedCost": {"Amount": amount, "Unit": "USD"},
                    "UsageQuantity": {"Amount": "24", "Unit": "N/A"},
                },
            }
            for account, service, amount in groups
        ],
    }


def test_cost_explorer_follows_every_page_and_loads_to_the_cent(
    moto_endpoint: str, aws_keys: dict[str, str], tmp_path: Path
) -> None:
    first = {
        "ResultsByTime": [_day(1, [("444455556666", "Amazon Elastic Compute Cloud - Compute", "27.648")])],
        "NextPageToken": "page-2",
        "DimensionValueAttributes": [],
    }
    second = {
        "ResultsByTime": [
            _day(2, [("444455556666", "Amazon Simple Storage Service", "1.2345678"), ("444455556666", "Tax", "5.78")])
        ],
        "DimensionValueAttributes": [],
    }
    _inject_cost_explorer(moto_endpoint, [first, second])
    ce = aws_credentials.client(aws_credentials.session_for(aws_keys), "ce", moto_endpoint)
    source = aws_billing.CostExplorerSource(
        "aws-ce", ce, tmp_path / "cache", date(2026, 1, 1), billing_account_id="111122223333", today=date(2026, 1, 3)
    )
    assert source.months() == {date(2026, 1, 1): "open:2026-01-03"}
    (file,) = source.fetch(date(2026, 1, 1))
    assert source.calls == 2
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    ensure_schema(con)
    loaded = replace_month(con, source_id="aws-ce", month=date(2026, 1, 1), files=[(file.path, file.format)])
    assert loaded.rows == 3
    assert str(loaded.billed["USD"]).rstrip("0") == "34.6625678"
    categories = dict(con.execute("SELECT ServiceName, ChargeCategory FROM focus_costs").fetchall())
    assert categories["Tax"] == "Tax"


def test_credentials_can_be_a_role_to_assume_with_an_external_id(moto_endpoint: str, aws_keys: dict[str, str]) -> None:
    session = aws_credentials.session_for(
        aws_keys
        | {
            "role_arn": "arn:aws:iam::123456789012:role/wedcloud-billing-reader",
            "external_id": "wedsync-7f3a",
            "sts_endpoint_url": moto_endpoint,
        }
    )
    identity = aws_credentials.client(session, "sts", moto_endpoint).get_caller_identity()
    assert identity["Arn"].startswith("arn:aws:sts::123456789012:assumed-role/wedcloud-billing-reader/")


@pytest.mark.parametrize(("role_seconds", "sessions"), [(900, 3), (3600, 1)])
def test_a_role_session_about_to_expire_is_assumed_again_before_the_next_call(
    moto_endpoint: str, aws_keys: dict[str, str], role_seconds: int, sessions: int
) -> None:
    """botocore refreshes within 15 minutes of the expiry: a 15-minute session is renewed before
    every call, an hour's is used for all of them."""
    role = {"role_arn": "arn:aws:iam::123456789012:role/wedcloud-operator", "sts_endpoint_url": moto_endpoint}
    session = aws_credentials.session_for(aws_keys | role, role_seconds=role_seconds)
    sts = aws_credentials.client(session, "sts", moto_endpoint)
    signed_with: list[str] = []
    sts.meta.events.register(
        "before-send", lambda request, **_: signed_with.append(_key_id(request.headers["Authorization"]))
    )
    arns = {sts.get_caller_identity()["Arn"] for _ in range(3)}
    assert arns == {"arn:aws:sts::123456789012:assumed-role/wedcloud-operator/wedcloud"}
    assert all(key.startswith("ASIA") for key in signed_with)  # temporary credentials, each call
    assert len(set(signed_with)) == sessions


def _key_id(authorization: str | bytes) -> str:
    text = authorization.decode() if isinstance(authorization, bytes) else authorization
    return text.split("Credential=", 1)[1].split("/", 1)[0]


def test_an_object_key_climbing_out_of_the_cache_is_refused_and_nothing_is_written(
    moto_endpoint: str, aws_keys: dict[str, str], tmp_path: Path
) -> None:
    """Whoever can write to the export bucket must not choose where WedCloud writes a file."""
    s3 = _s3(moto_endpoint, aws_keys)
    s3.create_bucket(Bucket="wedsync-billing", CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    key = f"{PREFIX}/data/BILLING_PERIOD=2026-01/../../../../../escaped/part-0.csv"
    s3.put_object(Bucket="wedsync-billing", Key=key, Body=b"a,b\n1,2\n")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="wedsync-billing")["Contents"]] == [key]
    cache = tmp_path / "cache"
    source = aws_billing.S3CurSource("aws-prod", s3, "wedsync-billing", PREFIX, cache)
    assert list(source.months()) == [date(2026, 1, 1)]
    with pytest.raises(UnsafeObjectName, match=r"would be written outside"):
        source.fetch(date(2026, 1, 1))
    assert not (tmp_path / "escaped").exists()
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
