"""Azure billing sources through the Azure SDKs: exports in Blob storage against Azurite, and the
Cost Management Query API against the project's ARM emulator."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from azure.core.exceptions import HttpResponseError
from azure.storage.blob import BlobServiceClient, ContainerClient

from analytics.ingest import replace_month
from analytics.warehouse import ensure_schema
from clouds.azure import billing as azure_billing
from clouds.azure import credentials as azure_credentials
from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.create import write_exports
from clouds.sandbox.world import build_world
from tests.emulators.azure_arm import AzureArmEmulator, CostRecord

pytestmark = pytest.mark.integration
EXPORT = "costs/wedsync-actual"
SCOPE = "/subscriptions/5d0c0a59-7b1c-4f3e-9a55-2f8e51c0a0b1"


@pytest.fixture
def container(azurite: str, request: pytest.FixtureRequest) -> Iterator[ContainerClient]:
    """A fresh container per test (Azurite is shared by the session)."""
    service = BlobServiceClient.from_connection_string(azurite)
    name = "t" + "".join(ch for ch in request.node.name.lower() if ch.isalnum())[:50]
    client = service.get_container_client(name)
    client.create_container()
    yield client
    client.delete_container()


@pytest.fixture(scope="module")
def cost_details(tmp_path_factory: pytest.TempPathFactory) -> dict[date, Path]:
    """The sandbox's Azure cost details (MCA layout, GBP), one CSV per month."""
    world = build_world(8, date(2026, 3, 1), date(2026, 1, 1))
    files = write_exports(world, tmp_path_factory.mktemp("exports"))[FlavourKey.AZURE]
    return {date(int(p.parent.name[:4]), int(p.parent.name[4:6]), 1): p for p in files}


def _period(month: date) -> str:
    end = (month + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return f"{month:%Y%m%d}-{end:%Y%m%d}"


def _deliver_run(container: ContainerClient, month: date, run: str, parts: list[bytes]) -> list[str]:
    """One run of an export the way Cost Management writes it: part files and a manifest."""
    folder = f"{EXPORT}/{_period(month)}/{run}"
    names = []
    for index, body in enumerate(parts):
        name = f"{folder}/part_0_{index:04d}.csv"
        container.upload_blob(name, body, overwrite=True)
        names.append(name)
    manifest = {
        "manifestVersion": "2024-04-01",
        "blobCount": len(parts),
        "blobs": [{"blobName": n, "byteCount": len(b)} for n, b in zip(names, parts, strict=True)],
    }
    container.upload_blob(f"{folder}/manifest.json", json.dumps(manifest).encode(), overwrite=True)
    return names


def _billed_total(path: Path) -> Decimal:
    with open(path, encoding="utf-8-sig", newline="") as handle:
        return sum((Decimal(row["CostInBillingCurrency"]) for row in csv.DictReader(handle)), Decimal(0))


def _load(files: list[Any], source_id: str, month: date) -> tuple[Any, duckdb.DuckDBPyConnection]:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    ensure_schema(con)
    loaded = replace_month(con, source_id=source_id, month=month, files=[(f.path, f.format) for f in files])
    return loaded, con


def test_blob_exports_are_listed_by_month_and_downloaded_once(
    container: ContainerClient, cost_details: dict[date, Path], tmp_path: Path
) -> None:
    for month, path in cost_details.items():
        _deliver_run(container, month, "run-1", [path.read_bytes()])
    source = azure_billing.BlobExportSource("azure-prod", container, EXPORT, tmp_path / "cache")
    months = source.months()
    assert sorted(months) == sorted(cost_details)
    (file,) = source.fetch(date(2026, 1, 1))
    assert file.path.read_bytes() == cost_details[date(2026, 1, 1)].read_bytes()
    source.fetch(date(2026, 1, 1))
    assert source.downloads == 1
    assert source.months() == months


def test_only_the_latest_run_of_a_month_is_read_because_each_run_repeats_the_month(
    container: ContainerClient, cost_details: dict[date, Path], tmp_path: Path
) -> None:
    january = cost_details[date(2026, 1, 1)].read_bytes()
    _deliver_run(container, date(2026, 1, 1), "0b1e-first-run", [january])
    source = azure_billing.BlobExportSource("azure-prod", container, EXPORT, tmp_path / "cache")
    before = source.months()[date(2026, 1, 1)]
    header, *rows = january.split(b"\n")
    restated = [b"\n".join([header, *rows[: len(rows) // 2]]) + b"\n", b"\n".join([header, *rows[len(rows) // 2 :]])]
    names = _deliver_run(container, date(2026, 1, 1), "7f3a-second-run", restated)
    assert source.months()[date(2026, 1, 1)] != before
    files = source.fetch(date(2026, 1, 1))
    assert [f.path.name for f in files] == ["part_0_0000.csv", "part_0_0001.csv"]
    assert all("7f3a-second-run" in str(f.path) for f in files)
    loaded, _ = _load(files, "azure-prod", date(2026, 1, 1))
    assert loaded.billed["GBP"] == _billed_total(cost_details[date(2026, 1, 1)])
    assert len(names) == 2


def test_listing_follows_every_page(container: ContainerClient, tmp_path: Path) -> None:
    header = b"date,costInBillingCurrency,billingCurrency\n"
    parts = [header + f"01/0{i + 1}/2026,1.5,GBP\n".encode() for i in range(5)]
    _deliver_run(container, date(2026, 1, 1), "run-1", parts)
    source = azure_billing.BlobExportSource("azure-prod", container, EXPORT, tmp_path / "cache", page_size=2)
    assert len(source.fetch(date(2026, 1, 1))) == 5


def test_a_blob_whose_size_differs_from_its_manifest_is_refused(container: ContainerClient, tmp_path: Path) -> None:
    (name,) = _deliver_run(container, date(2026, 1, 1), "run-1", [b"date,cost\n01/01/2026,1\n"])
    container.upload_blob(name, b"date,cost\n", overwrite=True)  # truncated after the manifest was written
    source = azure_billing.BlobExportSource("azure-prod", container, EXPORT, tmp_path / "cache")
    with pytest.raises(azure_billing.DownloadMismatch, match=r"part_0_0000\.csv: 10 bytes, the manifest says 23"):
        source.fetch(date(2026, 1, 1))
    assert not (tmp_path / "cache").exists()


def test_a_blob_month_loads_into_focus_to_the_cent(
    container: ContainerClient, cost_details: dict[date, Path], tmp_path: Path
) -> None:
    # Older exports have no run folders or manifest: one file per run in the period folder.
    month = date(2026, 2, 1)
    container.upload_blob(f"{EXPORT}/{_period(month)}/wedsync-actual_9c2e.csv", cost_details[month].read_bytes())
    source = azure_billing.BlobExportSource("azure-prod", container, EXPORT, tmp_path / "cache")
    loaded, con = _load(source.fetch(month), "azure-prod", month)
    assert loaded.billed["GBP"] == _billed_total(cost_details[month])
    (issuer,) = con.execute("SELECT DISTINCT InvoiceIssuerName FROM focus_costs").fetchone() or ("",)
    assert issuer == "Microsoft"


def _client(emulator: AzureArmEmulator) -> Any:
    return azure_billing.cost_management_client({"access_token": "test-token"}, emulator.url)


def _records(days: int) -> list[CostRecord]:
    services = [("Virtual Machines", "Usage"), ("Storage", "Usage"), ("Azure App Service", "Purchase")]
    return [
        CostRecord(
            date(2026, 1, 1) + timedelta(days=i % days),
            Decimal("3.1415") * (i + 1),
            "EUR",
            {"ServiceName": services[i % 3][0], "ChargeType": services[i % 3][1]},
            amortized_cost=Decimal(0) if services[i % 3][1] == "Purchase" else None,  # a reservation
        )
        for i in range(days * 3)
    ]


def test_cost_query_follows_next_link_and_loads_to_the_cent(azure_arm: AzureArmEmulator, tmp_path: Path) -> None:
    records = _records(31)
    azure_arm.add_costs(SCOPE, records)
    azure_arm.page_size = 20
    try:
        source = azure_billing.CostQuerySource("azure-query", _client(azure_arm), SCOPE, tmp_path, date(2026, 1, 1))
        (file,) = source.fetch(date(2026, 1, 1))
    finally:
        azure_arm.page_size = 1000
    assert source.calls == 10  # 93 rows in pages of 20, actual and amortized
    loaded, con = _load([file], "azure-query", date(2026, 1, 1))
    assert loaded.rows == 93
    assert loaded.billed["EUR"] == sum((r.cost for r in records), Decimal(0))
    (effective,) = con.execute("SELECT sum(EffectiveCost) FROM focus_costs").fetchone() or (None,)
    assert effective == sum((r.cost for r in records if r.amortized_cost is None), Decimal(0))
    categories = dict(
        con.execute("SELECT ServiceName, any_value(ChargeCategory) FROM focus_costs GROUP BY 1").fetchall()
    )
    assert categories == {"Virtual Machines": "Usage", "Storage": "Usage", "Azure App Service": "Purchase"}


def test_cost_query_asks_only_for_the_month_and_stops_at_today(azure_arm: AzureArmEmulator, tmp_path: Path) -> None:
    azure_arm.add_costs(SCOPE, [*_records(31), CostRecord(date(2026, 2, 1), Decimal("100"), "EUR")])
    source = azure_billing.CostQuerySource(
        "azure-query", _client(azure_arm), SCOPE, tmp_path, date(2025, 12, 1), today=date(2026, 1, 10)
    )
    assert source.months() == {date(2025, 12, 1): "closed", date(2026, 1, 1): "open:2026-01-10"}
    (file,) = source.fetch(date(2026, 1, 1))
    days = {json.loads(line)["UsageDate"] for line in file.path.read_text().splitlines()}
    assert days == {20260100 + d for d in range(1, 10)}  # to yesterday; today's costs are incomplete
    assert source.fetch(date(2026, 2, 1)) == []


def test_cost_query_retries_when_throttled(azure_arm: AzureArmEmulator, tmp_path: Path) -> None:
    azure_arm.add_costs(SCOPE, _records(3))
    azure_arm.throttle(2)
    source = azure_billing.CostQuerySource("azure-query", _client(azure_arm), SCOPE, tmp_path, date(2026, 1, 1))
    (file,) = source.fetch(date(2026, 1, 1))
    costs = [Decimal(str(json.loads(line)["Cost"])) for line in file.path.read_text().splitlines()]
    assert sum(costs, Decimal(0)) == sum((r.cost for r in _records(3)), Decimal(0))
    assert len(azure_arm.requests) == 4  # two 429s, then the actual and the amortized answers


def test_cost_query_refuses_more_than_two_groupings(azure_arm: AzureArmEmulator, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="one or two dimensions"):
        azure_billing.CostQuerySource(
            "q",
            _client(azure_arm),
            SCOPE,
            tmp_path,
            date(2026, 1, 1),
            grouping=("ServiceName", "ChargeType", "ResourceId"),
        )


def test_cost_query_errors_from_the_service_surface_with_its_message(
    azure_arm: AzureArmEmulator, tmp_path: Path
) -> None:
    source = azure_billing.CostQuerySource(
        "q", _client(azure_arm), SCOPE, tmp_path, date(2026, 1, 1), grouping=("ServiceName", "NoSuchDimension")
    )
    with pytest.raises(HttpResponseError, match="invalid grouping"):
        source.fetch(date(2026, 1, 1))


def test_tokens_go_over_plain_http_only_to_a_local_emulator() -> None:
    assert azure_credentials.client_options("http://127.0.0.1:8080")["per_call_policies"]
    assert "per_call_policies" not in azure_credentials.client_options("http://management.example.com")
    assert "per_call_policies" not in azure_credentials.client_options("https://management.azure.com")
    assert azure_credentials.client_options(None) == {}
    now = datetime.now(UTC).timestamp()
    assert azure_credentials.StaticToken("abc").get_token(azure_credentials.ARM_SCOPE).expires_on > now
