"""Google Cloud billing through its SDKs: the BigQuery export table against bqemulator, and the
Cloud Billing and Catalog APIs against the project's Google REST emulator."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from google.api_core.exceptions import Forbidden, NotFound
from google.cloud import bigquery

from analytics.ingest import replace_month
from analytics.warehouse import ensure_schema
from clouds.gcp import billing as gcp_billing
from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.create import write_exports
from clouds.sandbox.world import build_world
from tests.conftest import BQ_PROJECT
from tests.emulators.bigquery.billing_export import EXPORT_SCHEMA
from tests.emulators.google_rest import GoogleRestEmulator, SkuPrice

pytestmark = pytest.mark.integration
ACCOUNT = "006653-04DA2B-2F72BB"  # the sandbox's billing account


@pytest.fixture(scope="module")
def export_rows(tmp_path_factory: pytest.TempPathFactory) -> dict[date, list[dict[str, Any]]]:
    """The sandbox's Google Cloud export rows (as BigQuery holds them), by invoice month."""
    world = build_world(8, date(2026, 3, 1), date(2026, 1, 1))
    rows: dict[date, list[dict[str, Any]]] = {}
    for path in write_exports(world, tmp_path_factory.mktemp("exports"))[FlavourKey.GCP]:
        for line in path.read_text().splitlines():
            row = json.loads(line)
            month = row["invoice"]["month"]
            rows.setdefault(date(int(month[:4]), int(month[4:]), 1), []).append(row)
    return rows


@pytest.fixture
def dataset(bigquery_emulator: str) -> Iterator[tuple[bigquery.Client, str]]:
    client = gcp_billing.bigquery_client(None, BQ_PROJECT, bigquery_emulator)
    name = f"{BQ_PROJECT}.billing_{uuid.uuid4().hex[:8]}"
    client.create_dataset(name)
    yield client, name
    client.delete_dataset(name, delete_contents=True, not_found_ok=True)


def _export_table(client: bigquery.Client, dataset: str, rows: list[dict[str, Any]], detailed: bool = True) -> str:
    prefix = gcp_billing.DETAILED_PREFIX if detailed else gcp_billing.STANDARD_PREFIX
    table = f"{dataset}.{prefix}{ACCOUNT.replace('-', '_')}"
    client.create_table(bigquery.Table(table, schema=EXPORT_SCHEMA))
    _insert(client, table, rows)
    return table


def _insert(client: bigquery.Client, table: str, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 500):
        errors = client.insert_rows_json(table, rows[start : start + 500], retry=None, timeout=60)
        assert errors == []


def _invoice_total(rows: list[dict[str, Any]]) -> Decimal:
    """What the invoice charges: cost plus credits, summed exactly from the rows' decimal text."""
    total = Decimal(0)
    for row in rows:
        total += Decimal(repr(row["cost"]))
        total += sum((Decimal(repr(c["amount"])) for c in row["credits"]), Decimal(0))
    return total


def test_bigquery_months_are_signed_and_a_late_correction_changes_only_its_month(
    dataset: tuple[bigquery.Client, str], export_rows: dict[date, list[dict[str, Any]]], tmp_path: Path
) -> None:
    client, name = dataset
    table = _export_table(client, name, export_rows[date(2026, 1, 1)] + export_rows[date(2026, 2, 1)])
    source = gcp_billing.BigQueryExportSource("gcp-prod", client, table, tmp_path)
    before = source.months()
    assert sorted(before) == [date(2026, 1, 1), date(2026, 2, 1)]
    late = dict(export_rows[date(2026, 1, 1)][0], cost=-3.5, cost_type="adjustment")
    late["export_time"] = "2026-02-03T04:00:00+00:00"
    _insert(client, table, [late])
    after = source.months()
    assert after[date(2026, 1, 1)] != before[date(2026, 1, 1)]
    assert after[date(2026, 2, 1)] == before[date(2026, 2, 1)]
    assert source.queries == 2  # one aggregate query per listing


def test_a_bigquery_month_is_fetched_page_by_page_and_loads_to_the_cent(
    dataset: tuple[bigquery.Client, str], export_rows: dict[date, list[dict[str, Any]]], tmp_path: Path
) -> None:
    client, name = dataset
    january = export_rows[date(2026, 1, 1)]
    table = _export_table(client, name, january + export_rows[date(2026, 2, 1)])
    source = gcp_billing.BigQueryExportSource("gcp-prod", client, table, tmp_path, page_size=100)
    (file,) = source.fetch(date(2026, 1, 1))
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    ensure_schema(con)
    loaded = replace_month(con, source_id="gcp-prod", month=date(2026, 1, 1), files=[(file.path, file.format)])
    assert len(january) > 300  # several pages of 100
    currency = january[0]["currency"]
    assert loaded.billed[currency] == _invoice_total(january)
    projects = {r[0] for r in con.execute("SELECT DISTINCT SubAccountId FROM focus_costs").fetchall()}
    assert projects == {r["project"]["id"] for r in january}


def test_a_month_without_rows_gives_no_files(
    dataset: tuple[bigquery.Client, str], export_rows: dict[date, list[dict[str, Any]]], tmp_path: Path
) -> None:
    client, name = dataset
    table = _export_table(client, name, export_rows[date(2026, 1, 1)][:5])
    assert gcp_billing.BigQueryExportSource("gcp-prod", client, table, tmp_path).fetch(date(2025, 12, 1)) == []
    assert not list((tmp_path / "bigquery").glob("*.parquet"))


def test_the_detailed_export_table_is_preferred_to_the_standard_one(
    dataset: tuple[bigquery.Client, str], export_rows: dict[date, list[dict[str, Any]]]
) -> None:
    client, name = dataset
    rows = export_rows[date(2026, 1, 1)][:3]
    standard = _export_table(client, name, rows, detailed=False)
    assert gcp_billing.export_table_for(client, name, ACCOUNT) == standard
    detailed = _export_table(client, name, rows, detailed=True)
    assert gcp_billing.export_table_for(client, name, ACCOUNT) == detailed
    with pytest.raises(LookupError, match="no billing export table for account 012345-ABCDEF-999999"):
        gcp_billing.export_table_for(client, name, "012345-ABCDEF-999999")


def test_a_table_name_that_is_not_project_dataset_table_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"project\.dataset\.table"):
        gcp_billing.BigQueryExportSource("gcp-prod", object(), "billing; DROP TABLE x", tmp_path)


def _catalog(emulator: GoogleRestEmulator, page_size: int = 100) -> gcp_billing.BillingCatalog:
    catalog = gcp_billing.billing_catalog(emulator.service_account(), emulator.url)
    catalog.page_size = page_size
    return catalog


def test_billing_accounts_and_their_projects_are_read_across_pages(google_rest: GoogleRestEmulator) -> None:
    google_rest.add_billing_account("0A0A0A-000000-000001", "WedSync EU", "GBP")
    google_rest.add_billing_account("0A0A0A-000000-000002", "WedSync US")
    google_rest.add_billing_account("0A0A0A-000000-000003", "Closed sandbox", open_=False)
    for project in ("wedsync-web", "wedsync-analytics", "wedsync-ml"):
        google_rest.add_project("0A0A0A-000000-000001", project)
    google_rest.add_project("0A0A0A-000000-000001", "wedsync-archive", billing_enabled=False)
    catalog = _catalog(google_rest, page_size=2)
    accounts = catalog.billing_accounts()
    assert [(a.account_id, a.currency, a.open) for a in accounts] == [
        ("0A0A0A-000000-000001", "GBP", True),
        ("0A0A0A-000000-000002", "USD", True),
        ("0A0A0A-000000-000003", "USD", False),
    ]
    projects = catalog.projects("0A0A0A-000000-000001")
    assert [(p.project_id, p.billing_enabled) for p in projects][-1] == ("wedsync-archive", False)
    assert len(projects) == 4
    pages = [path for method, path in google_rest.requests if path.endswith("/projects")]
    assert len(pages) == 2
    with pytest.raises(Forbidden):
        catalog.projects("FFFFFF-FFFFFF-FFFFFF")


def test_sku_list_prices_are_exact_decimals_in_the_asked_currency(google_rest: GoogleRestEmulator) -> None:
    google_rest.add_service("6F81-5844-456A", "Compute Engine")
    google_rest.add_sku(
        SkuPrice(
            sku_id="CF4E-A0C7-E3BF",
            service_id="6F81-5844-456A",
            description="N2 Instance Core running in London",
            resource_family="Compute",
            resource_group="N2Standard",
            usage_type="OnDemand",
            regions=["europe-west2"],
            usage_unit="h",
            tiers=[(Decimal(0), Decimal("0.038172"))],
            conversion={"GBP": Decimal("0.79")},
        )
    )
    google_rest.add_sku(
        SkuPrice(
            sku_id="9E26-4DD6-3A60",
            service_id="6F81-5844-456A",
            description="Network Internet Egress from London",
            resource_family="Network",
            resource_group="PremiumInternetEgress",
            usage_type="OnDemand",
            regions=["europe-west2"],
            usage_unit="GiBy",
            tiers=[(Decimal(0), Decimal(0)), (Decimal(1), Decimal("0.12")), (Decimal(1024), Decimal("0.085"))],
            conversion={"GBP": Decimal("0.79")},
        )
    )
    catalog = _catalog(google_rest)
    assert catalog.services() == {"6F81-5844-456A": "Compute Engine"}
    core, egress = catalog.skus("6F81-5844-456A", "GBP")
    assert core.unit_price == Decimal("0.03015588")  # 0.038172 x 0.79, to the nano
    assert core.service_name == "Compute Engine"
    assert core.regions == ("europe-west2",)
    assert egress.tiers == (
        (Decimal(0), Decimal(0)),
        (Decimal(1), Decimal("0.0948")),
        (Decimal(1024), Decimal("0.06715")),
    )
    assert catalog.skus("6F81-5844-456A")[0].unit_price == Decimal("0.038172")
    with pytest.raises(NotFound):
        catalog.skus("0000-0000-0000")
