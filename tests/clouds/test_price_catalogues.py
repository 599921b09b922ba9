"""Price catalogues: each fetcher through its real client (boto3, httpx, google-cloud-billing over
REST) against a local emulator of its price API, the shipped snapshot, and the frame round trip.

The emulators serve rows a fetcher must leave out (Windows, Spot, other regions, reserved terms,
custom and commitment SKUs), page small so pagination is exercised, and evaluate the filters they
receive, so a wrong filter shows up as a wrong answer rather than passing unnoticed.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources

import boto3
import httpx
import polars as pl
import pytest
from google.cloud import billing_v1
from google.oauth2 import service_account

from clouds.aws.prices import fetch_aws
from clouds.azure.prices import fetch_azure
from clouds.base import InstanceType
from clouds.gcp.prices import fetch_gcp
from clouds.price_snapshot import basis, shipped, shipped_regions, specs
from clouds.prices import PriceList, from_frame, to_frame
from clouds.sandbox.catalog import FLAVOURS, FlavourKey
from tests.emulators.aws_pricing import AwsPricingEmulator, ebs_volume, ec2_instance, public_ipv4
from tests.emulators.azure_prices import AzurePricesEmulator, address, disk, vm
from tests.emulators.google_billing import GoogleBillingEmulator, Sku, machine_rate

D = Decimal
integration = pytest.mark.integration


def _one(prices: PriceList, name: str) -> InstanceType:
    kind = prices.instance_type(name)
    assert kind is not None, f"{name} is missing from {prices.cloud} {prices.region}"
    return kind


# -- AWS ------------------------------------------------------------------------------------------


def _aws_catalogue(emulator: AwsPricingEmulator) -> None:
    emulator.add(
        # rows the fetch must not take, first: a fetch that took them would keep them
        ec2_instance("WIN", "us-east-1", "m5.large", 2, "8 GiB", "0.188", operatingSystem="Windows",
                     operation="RunInstances:0002"),
        ec2_instance("DED", "us-east-1", "m5.large", 2, "8 GiB", "0.106", tenancy="Dedicated",
                     usagetype="DedicatedUsage:m5.large"),
        ec2_instance("RHL", "us-east-1", "c5.large", 2, "4 GiB", "0.145", operatingSystem="RHEL"),
        ec2_instance("SQL", "us-east-1", "r5.large", 2, "16 GiB", "0.35", preInstalledSw="SQL Web"),
        ec2_instance("UNU", "us-east-1", "c5.large", 2, "4 GiB", "0.085", capacitystatus="UnusedCapacityReservation"),
        ec2_instance("LDN", "eu-west-2", "m5.large", 2, "8 GiB", "0.111"),
        ec2_instance("M5L", "us-east-1", "m5.large", 2, "8 GiB", "0.096"),
        ec2_instance("T3N", "us-east-1", "t3.nano", 2, "0.5 GiB", "0.0052", networkPerformance="Up to 5 Gigabit"),
        ec2_instance("X1E", "us-east-1", "x1e.32xlarge", 128, "3,904 GiB", "26.688", networkPerformance="25 Gigabit"),
        ec2_instance("M7G", "us-east-1", "m7g.large", 2, "8 GiB", "0.0816",
                     physicalProcessor="AWS Graviton3 Processor", networkPerformance="Up to 12500 Megabit"),
        ec2_instance("P32", "us-east-1", "p3.2xlarge", 8, "61 GiB", "3.06", gpu="1"),
        ec2_instance("M4L", "us-east-1", "m4.large", 2, "8 GiB", "0.1", networkPerformance="Moderate"),
        ebs_volume("GP3", "us-east-1", "gp3", "0.08"),
        ebs_volume("GP2", "us-east-1", "gp2", "0.10"),
        ebs_volume("GP3LDN", "eu-west-2", "gp3", "0.0928"),
        public_ipv4("IPIN", "us-east-1", "PublicIPv4:InUseAddress", "0.005"),
        public_ipv4("IPIDLE", "us-east-1", "PublicIPv4:IdleAddress", "0.005"),
        public_ipv4("IPBLOCK", "us-east-1", "PublicIPv4:ContiguousBlock", "0.008", group="VPCContiguousBlock"),
    )  # fmt: skip


def _pricing_client(emulator: AwsPricingEmulator) -> object:
    return boto3.client(
        "pricing",
        region_name="us-east-1",
        endpoint_url=emulator.url,
        aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
        aws_secret_access_key="testing-secret-not-real",
    )


@integration
def test_fetch_aws_parses_on_demand_linux_prices_and_specs_exactly(aws_pricing: AwsPricingEmulator) -> None:
    _aws_catalogue(aws_pricing)
    prices = fetch_aws(_pricing_client(aws_pricing), "us-east-1")
    assert (prices.cloud, prices.region, prices.currency, prices.source) == ("aws", "us-east-1", "USD", "api")
    assert prices.fetched_at.tzinfo is not None
    m5 = _one(prices, "m5.large")
    assert m5 == InstanceType("m5.large", "m5", 2, D("8"), D("0.0960000000"), "USD", "x86_64", 0, D("10"))
    assert str(m5.hourly_price) == "0.0960000000"  # the API's string, as a Decimal, no float on the way
    graviton = _one(prices, "m7g.large")
    assert (graviton.architecture, graviton.network_gbps) == ("arm64", D("12.5"))  # "Up to 12500 Megabit"
    nano, x1e = _one(prices, "t3.nano"), _one(prices, "x1e.32xlarge")
    assert (nano.memory_gib, nano.network_gbps) == (D("0.5"), D("5"))
    assert (x1e.memory_gib, x1e.hourly_price, x1e.network_gbps) == (D("3904"), D("26.688"), D("25"))
    assert _one(prices, "p3.2xlarge").gpus == 1
    assert _one(prices, "m4.large").network_gbps == D("0.5")  # "Moderate"


@integration
def test_fetch_aws_leaves_out_windows_dedicated_rhel_sql_unused_capacity_other_regions_and_reserved_terms(
    aws_pricing: AwsPricingEmulator,
) -> None:
    _aws_catalogue(aws_pricing)
    prices = fetch_aws(_pricing_client(aws_pricing), "us-east-1")
    names = [t.name for t in prices.instance_types]
    assert names == ["m4.large", "m5.large", "m7g.large", "p3.2xlarge", "t3.nano", "x1e.32xlarge"]
    # the Linux shared on-demand price, not Windows (0.188), Dedicated (0.106), London (0.111) or
    # the Reserved term's effective rate the emulator also serves (0.0576)
    assert _one(prices, "m5.large").hourly_price == D("0.096")
    sent = aws_pricing.calls_for("AmazonEC2")[0]["Filters"]
    assert {(f["Field"], f["Value"]) for f in sent} >= {
        ("regionCode", "us-east-1"), ("operatingSystem", "Linux"), ("tenancy", "Shared"),
        ("preInstalledSw", "NA"), ("capacitystatus", "Used"),
    }  # fmt: skip
    assert all(f["Type"] == "TERM_MATCH" for f in sent)


@integration
def test_fetch_aws_follows_next_token_across_get_products_pages(aws_pricing: AwsPricingEmulator) -> None:
    _aws_catalogue(aws_pricing)
    aws_pricing.page_size = 2
    fetch_aws(_pricing_client(aws_pricing), "us-east-1")
    instance_calls = [c for c in aws_pricing.calls_for("AmazonEC2") if {"Field": "productFamily", "Type": "TERM_MATCH",
                      "Value": "Compute Instance"} in c["Filters"]]  # fmt: skip
    # six matching instance products at two a page: three requests, the later two with a token
    assert len(instance_calls) == 3
    assert "NextToken" not in instance_calls[0]
    assert all(c.get("NextToken") for c in instance_calls[1:])


@integration
def test_fetch_aws_prices_gp3_storage_and_an_idle_public_ipv4_address_from_amazon_vpc(
    aws_pricing: AwsPricingEmulator,
) -> None:
    _aws_catalogue(aws_pricing)
    prices = fetch_aws(_pricing_client(aws_pricing), "us-east-1")
    assert prices.block_gb_month == D("0.08")  # gp3, not gp2's 0.10 nor London's 0.0928
    assert prices.address_hourly == D("0.005")  # not the contiguous-block rate
    vpc = aws_pricing.calls_for("AmazonVPC")
    assert {"Type": "TERM_MATCH", "Field": "group", "Value": "VPCPublicIPv4Address"} in vpc[0]["Filters"]


@integration
def test_fetch_aws_leaves_extras_none_when_the_region_has_no_such_products(aws_pricing: AwsPricingEmulator) -> None:
    aws_pricing.add(ec2_instance("LDN", "eu-west-2", "m5.large", 2, "8 GiB", "0.111"))
    prices = fetch_aws(_pricing_client(aws_pricing), "eu-west-2")
    assert [t.name for t in prices.instance_types] == ["m5.large"]
    assert (prices.block_gb_month, prices.address_hourly) == (None, None)


# -- Azure ----------------------------------------------------------------------------------------


LATER = "2025-11-15T00:00:00Z"  # newer than the Linux meters: a fetch that kept these would prefer them


def _azure_catalogue(emulator: AzurePricesEmulator) -> None:
    emulator.add(
        vm("eastus", "Standard_D2s_v5", "0.096", series="Dsv5 Series"),
        vm("eastus", "Standard_D4s_v5", "0.192", series="Dsv5 Series"),
        vm("eastus", "Standard_B2s", "0.0416", series="BS Series"),
        vm("eastus", "Standard_F2s_v2", "0.0846", series="FSv2 Series"),
        vm("eastus", "Standard_D2ps_v5", "0.077", series="Dpsv5 Series"),  # not in the spec table
        vm("eastus", "Standard_NV6ads_A10_v5", "0.454", series="NVadsA10 v5 Series"),  # nor this
        # rows the fetch must not take
        vm("eastus", "Standard_D2s_v5", "0.188", series="Dsv5 Series Windows", effective=LATER),
        vm("eastus", "Standard_D2s_v5", "0.0211", series="Dsv5 Series", variant=" Spot", effective=LATER),
        vm("eastus", "Standard_D2s_v5", "0.0192", series="Dsv5 Series", variant=" Low Priority", effective=LATER),
        vm("eastus", "Standard_D2s_v5", "0.058", series="Dsv5 Series", price_type="DevTestConsumption"),
        vm("eastus", "Standard_D2s_v5", "493.0", series="Dsv5 Series", price_type="Reservation"),
        vm("eastus", "Standard_D2s_v5", "0.5", series="Dsv5 Series", primary=False),
        vm("uksouth", "Standard_D2s_v5", "0.111", series="Dsv5 Series"),
        disk("eastus", "E10", "9.60"),
        disk("eastus", "E15", "19.20"),
        disk("eastus", "P10", "19.71", product="Premium SSD Managed Disks"),
        disk("uksouth", "E10", "10.56"),
        address("eastus", "Standard IPv4 Static Public IP", "0.005"),
        address("eastus", "Basic IPv4 Static Public IP", "0.0036"),
        address("uksouth", "Standard IPv4 Static Public IP", "0.0051"),
    )


@integration
def test_fetch_azure_prices_linux_pay_as_you_go_sizes_with_specs_from_the_spec_table(
    azure_prices: AzurePricesEmulator,
) -> None:
    _azure_catalogue(azure_prices)
    with httpx.Client() as client:
        prices = fetch_azure("eastus", endpoint=azure_prices.url, client=client)
    assert (prices.cloud, prices.region, prices.currency, prices.source) == ("azure", "eastus", "USD", "api")
    d2 = _one(prices, "Standard_D2s_v5")
    assert d2 == InstanceType("Standard_D2s_v5", "Dsv5", 2, D("8"), D("0.096"), "USD", "x86_64", 0, D("12.5"))
    f2 = _one(prices, "Standard_F2s_v2")
    assert (f2.hourly_price, f2.memory_gib, f2.network_gbps) == (D("0.0846"), D("4"), D("0.875"))


@integration
def test_fetch_azure_leaves_out_windows_spot_low_priority_devtest_reserved_non_primary_and_other_regions(
    azure_prices: AzurePricesEmulator,
) -> None:
    _azure_catalogue(azure_prices)
    with httpx.Client() as client:
        prices = fetch_azure("eastus", endpoint=azure_prices.url, client=client)
    assert [t.name for t in prices.instance_types] == [
        "Standard_B2s", "Standard_D2s_v5", "Standard_D4s_v5", "Standard_F2s_v2",
    ]  # fmt: skip
    assert _one(prices, "Standard_D2s_v5").hourly_price == D("0.096")
    assert azure_prices.filters[0] == (
        "serviceName eq 'Virtual Machines' and priceType eq 'Consumption' and armRegionName eq 'eastus'"
    )


@integration
def test_fetch_azure_follows_next_page_link_until_it_is_null(azure_prices: AzurePricesEmulator) -> None:
    _azure_catalogue(azure_prices)
    azure_prices.page_size = 2
    with httpx.Client() as client:
        fetch_azure("eastus", endpoint=azure_prices.url, client=client)
    vm_filter = azure_prices.filters[0]
    # nine eastus primary Consumption VM rows (Windows, Spot and Low Priority included) at two a page
    assert azure_prices.filters.count(vm_filter) == 5
    assert len(azure_prices.requests) == 5 + 1 + 1  # then one page each for disks and addresses


@integration
def test_fetch_azure_skips_sizes_without_known_specs_and_logs_them(
    azure_prices: AzurePricesEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    _azure_catalogue(azure_prices)
    with caplog.at_level(logging.INFO, logger="clouds.azure.prices"), httpx.Client() as client:
        prices = fetch_azure("eastus", endpoint=azure_prices.url, client=client)
    assert prices.instance_type("Standard_D2ps_v5") is None
    assert "2 priced VM sizes skipped" in caplog.text
    assert "Standard_D2ps_v5, Standard_NV6ads_A10_v5" in caplog.text


@integration
def test_fetch_azure_takes_vcpus_and_memory_from_given_sizes(azure_prices: AzurePricesEmulator) -> None:
    _azure_catalogue(azure_prices)
    sizes = {"Standard_D2ps_v5": (2, D("8")), "Standard_D2s_v5": (2, D("8"))}
    with httpx.Client() as client:
        prices = fetch_azure("eastus", endpoint=azure_prices.url, client=client, sizes=sizes)
    assert [t.name for t in prices.instance_types] == ["Standard_D2ps_v5", "Standard_D2s_v5"]
    arm = _one(prices, "Standard_D2ps_v5")
    assert arm == InstanceType("Standard_D2ps_v5", "Dpsv5", 2, D("8"), D("0.077"), "USD", "arm64")


@integration
def test_fetch_azure_derives_block_storage_per_gb_from_a_disk_tier_and_takes_the_standard_static_ip(
    azure_prices: AzurePricesEmulator,
) -> None:
    _azure_catalogue(azure_prices)
    with httpx.Client() as client:
        standard = fetch_azure("eastus", endpoint=azure_prices.url, client=client)
        premium = fetch_azure("eastus", endpoint=azure_prices.url, client=client, disk_tier="P10")
        london = fetch_azure("uksouth", endpoint=azure_prices.url, client=client)
    assert standard.block_gb_month == D("9.60") / 128 == D("0.075")  # E10 LRS: 128 GiB
    assert premium.block_gb_month == D("19.71") / 128
    assert standard.address_hourly == D("0.005")  # Standard, not Basic
    assert (london.block_gb_month, london.address_hourly) == (D("0.0825"), D("0.0051"))


@integration
def test_fetch_azure_asks_for_and_reports_the_currency_given(azure_prices: AzurePricesEmulator) -> None:
    _azure_catalogue(azure_prices)
    with httpx.Client() as client:
        prices = fetch_azure("eastus", endpoint=azure_prices.url, client=client, currency="GBP")
    assert prices.currency == "GBP"
    d2 = _one(prices, "Standard_D2s_v5")
    assert (d2.currency, d2.hourly_price) == ("GBP", D("0.07584"))  # 0.096 x 0.79


@integration
def test_azure_emulator_rejects_a_filter_outside_eq_and_and(azure_prices: AzurePricesEmulator) -> None:
    response = httpx.get(f"{azure_prices.url}/api/retail/prices", params={"$filter": "serviceName ne 'Storage'"})
    assert response.status_code == 400


# -- Google Cloud ---------------------------------------------------------------------------------

US, LONDON = "us-central1", "europe-west2"


def _gcp_catalogue(emulator: GoogleBillingEmulator) -> None:
    emulator.add(
        # rows the fetch must not take, first: a fetch that took them would keep their rates
        machine_rate("N2X", "N2 Custom Instance Core running in Americas", US, "0.033191"),
        machine_rate("N2E", "N2 Custom Extended Instance Ram running in Americas", US, "0.009550"),
        machine_rate("N2S", "N2 Sole Tenancy Instance Core running in Americas", US, "0.034772"),
        machine_rate("N2P", "Spot Preemptible N2 Instance Core running in Americas", US, "0.0077", usage="Preemptible"),
        machine_rate("N2Y", "Commitment v1: N2 Cpu in Americas for 1 Year", US, "0.019915", usage="Commit1Yr"),
        machine_rate("N2L", "N2 Instance Core running in London", LONDON, "0.040718"),
        machine_rate("N2M", "N2 Instance Ram running in London", LONDON, "0.005458"),
        Sku("RPD", "Regional Balanced PD Capacity", "Storage", "SSD", "OnDemand", [US], "GiBy.mo", [("0", "0.2")]),
        Sku("EIP", "External IP Charge on a Standard VM", "Network", "IpAddress", "OnDemand", [US], "h",
            [("0", "0.005")]),
        machine_rate("N2C", "N2 Instance Core running in Americas", US, "0.031611"),
        machine_rate("N2R", "N2 Instance Ram running in Americas", US, "0.004237"),
        machine_rate("E2C", "E2 Instance Core running in Americas", US, "0.021811"),
        machine_rate("E2R", "E2 Instance Ram running in Americas", US, "0.002923"),
        machine_rate("T2C", "T2D AMD Instance Core running in Americas", US, "0.027502"),
        machine_rate("T2R", "T2D AMD Instance Ram running in Americas", US, "0.003686"),
        Sku("PDB", "Balanced PD Capacity", "Storage", "SSD", "OnDemand", [US], "GiBy.mo", [("0", "0.1")]),
        Sku("SIP", "Static Ip Charge", "Network", "IpAddress", "OnDemand", [US, LONDON], "h", [("0", "0.01")]),
    )  # fmt: skip


def _catalog_client(emulator: GoogleBillingEmulator) -> billing_v1.CloudCatalogClient:
    return billing_v1.CloudCatalogClient(
        credentials=service_account.Credentials.from_service_account_info(emulator.service_account()),  # type: ignore[no-untyped-call]
        transport="rest",
        client_options={"api_endpoint": emulator.url},
    )


@integration
def test_fetch_gcp_prices_a_machine_type_as_vcpus_and_memory_times_its_series_rates(
    google_billing: GoogleBillingEmulator,
) -> None:
    _gcp_catalogue(google_billing)
    prices = fetch_gcp(US, catalog_client=_catalog_client(google_billing))
    assert (prices.cloud, prices.region, prices.currency, prices.source) == ("gcp", US, "USD", "api")
    n2 = _one(prices, "n2-standard-2")
    assert n2 == InstanceType("n2-standard-2", "n2", 2, D("8"), 2 * D("0.031611") + 8 * D("0.004237"), "USD",
                              "x86_64", 0, D("10"))  # fmt: skip
    assert n2.hourly_price == D("0.097118")  # not priced at the custom, sole-tenant, Spot or London rates
    highmem = _one(prices, "n2-highmem-4")
    assert (highmem.family, highmem.hourly_price) == ("n2-highmem", 4 * D("0.031611") + 32 * D("0.004237"))
    assert _one(prices, "e2-standard-8").hourly_price == D("0.268024")


@integration
def test_fetch_gcp_reads_balanced_pd_and_an_unused_static_address(google_billing: GoogleBillingEmulator) -> None:
    _gcp_catalogue(google_billing)
    us = fetch_gcp(US, catalog_client=_catalog_client(google_billing))
    london = fetch_gcp(LONDON, catalog_client=_catalog_client(google_billing))
    assert (us.block_gb_month, us.address_hourly) == (D("0.1"), D("0.01"))  # not regional PD, not in-use IP
    assert (london.block_gb_month, london.address_hourly) == (None, D("0.01"))
    assert _one(london, "n2-standard-2").hourly_price == 2 * D("0.040718") + 8 * D("0.005458")
    assert london.instance_type("e2-standard-2") is None  # no E2 rates for London in this catalogue


@integration
def test_fetch_gcp_pages_through_list_skus(google_billing: GoogleBillingEmulator) -> None:
    _gcp_catalogue(google_billing)
    google_billing.page_size = 4
    fetch_gcp(US, catalog_client=_catalog_client(google_billing))
    sku_requests = [r for r in google_billing.requests if r == ("GET", "/v1/services/6F81-5844-456A/skus")]
    assert len(sku_requests) == 5  # 17 SKUs at four a page


@integration
def test_fetch_gcp_skips_shared_core_types_and_series_without_rates(
    google_billing: GoogleBillingEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    _gcp_catalogue(google_billing)
    shapes = {"t2d-standard-4": (4, D("16")), "e2-medium": (2, D("4")), "c3-standard-4": (4, D("16"))}
    with caplog.at_level(logging.INFO, logger="clouds.gcp.prices"):
        prices = fetch_gcp(US, catalog_client=_catalog_client(google_billing), machine_types=shapes)
    assert [t.name for t in prices.instance_types] == ["t2d-standard-4"]
    t2d = prices.instance_types[0]
    assert (t2d.family, t2d.hourly_price) == ("t2d", 4 * D("0.027502") + 16 * D("0.003686"))
    assert "2 machine types skipped" in caplog.text
    assert "['c3-standard-4', 'e2-medium']" in caplog.text


@integration
def test_fetch_gcp_asks_the_catalogue_for_the_currency_given(google_billing: GoogleBillingEmulator) -> None:
    _gcp_catalogue(google_billing)
    prices = fetch_gcp(US, catalog_client=_catalog_client(google_billing), currency="GBP")
    n2 = _one(prices, "n2-standard-2")
    assert (prices.currency, n2.currency) == ("GBP", "GBP")
    assert n2.hourly_price == 2 * D("0.031611") * D("0.79") + 8 * D("0.004237") * D("0.79")


# -- The shipped snapshot -------------------------------------------------------------------------

LISTED = {
    "aws": (
        {"us-east-1", "eu-west-2"},
        {f"t3.{s}" for s in ("micro", "small", "medium", "large", "xlarge")}
        | {f"{f}.{s}" for f in ("t3", "m5", "m6i", "m7g", "c5", "c6i", "r5", "r6i") for s in ("large", "xlarge")}
        | {f"{f}.{s}" for f in ("m5", "m6i", "m7g", "c5", "c6i", "r5", "r6i") for s in ("2xlarge", "4xlarge")},
    ),
    "azure": (
        {"eastus", "uksouth"},
        {"Standard_B2s", "Standard_B2ms"}
        | {f"Standard_D{n}s_v5" for n in (2, 4, 8, 16)}
        | {f"Standard_E{n}s_v5" for n in (2, 4, 8)}
        | {f"Standard_F{n}s_v2" for n in (2, 4, 8)},
    ),
    "gcp": (
        {"us-central1", "europe-west2"},
        {f"e2-standard-{n}" for n in (2, 4, 8)}
        | {f"n2-standard-{n}" for n in (2, 4, 8, 16)}
        | {f"n2-highmem-{n}" for n in (2, 4, 8)}
        | {f"c3-standard-{n}" for n in (4, 8)},
    ),
}
SANDBOX_BASE_REGION = {"aws": "us-east-1", "azure": "eastus", "gcp": "us-central1"}


def _shipped(cloud: str, region: str) -> PriceList:
    prices = shipped(cloud, region)
    assert prices is not None, f"no snapshot for {cloud} {region}"
    return prices


def _series_rates(region: str) -> dict[str, tuple[Decimal, Decimal]]:
    """The GCP snapshot's recorded core and RAM rates per series, read from the data file."""
    document = json.loads(resources.files("clouds.gcp").joinpath("price_snapshot.json").read_text())
    rates = document["regions"][region]["series_rates"]
    return {series: (D(r["core_hour"]), D(r["ram_gib_hour"])) for series, r in rates.items()}


@pytest.mark.parametrize("cloud", sorted(LISTED))
def test_snapshot_prices_every_listed_type_in_every_listed_region(cloud: str) -> None:
    regions, types = LISTED[cloud]
    assert set(shipped_regions(cloud)) == regions
    for region in regions:
        prices = _shipped(cloud, region)
        assert (prices.cloud, prices.region, prices.currency) == (cloud, region, "USD")
        assert {t.name for t in prices.instance_types} >= types
        for kind in prices.instance_types:
            assert kind.vcpus > 0, kind.name
            assert min(kind.memory_gib, kind.hourly_price, kind.network_gbps) > 0, kind.name
            assert kind.currency == "USD"
            assert kind.architecture in ("x86_64", "arm64")
        assert (prices.block_gb_month or 0) > 0
        assert (prices.address_hourly or 0) > 0


@pytest.mark.parametrize("cloud", sorted(LISTED))
def test_snapshot_says_it_is_an_approximate_dated_snapshot(cloud: str) -> None:
    prices = _shipped(cloud, SANDBOX_BASE_REGION[cloud])
    assert (prices.source, prices.fetched_at) == ("snapshot", datetime(2025, 11, 1, tzinfo=UTC))
    assert basis(cloud) == "published on-demand Linux list prices, approximate, late 2025; for offline use only"


def test_snapshot_has_nothing_for_an_unlisted_region() -> None:
    assert shipped("aws", "ap-southeast-2") is None


@pytest.mark.parametrize("cloud", sorted(LISTED))
def test_snapshot_agrees_with_the_sandbox_catalogue_where_they_overlap(cloud: str) -> None:
    """The sandbox lists published prices for each cloud's cheapest US region, rounded to four
    places (its other regions apply a made-up factor, so only the base region is comparable)."""
    flavour = FLAVOURS[FlavourKey(cloud)]
    prices = _shipped(cloud, SANDBOX_BASE_REGION[cloud])
    overlap = [(t, prices.instance_type(t.name)) for t in flavour.instance_types if prices.instance_type(t.name)]
    assert len(overlap) >= 6
    for sandbox, ours in overlap:
        assert ours is not None
        assert (ours.vcpus, ours.memory_gib, ours.architecture) == (sandbox.vcpus, sandbox.memory_gib,
                                                                    sandbox.architecture), sandbox.name  # fmt: skip
        assert ours.hourly_price.quantize(D("0.0001")) == sandbox.hourly_price, sandbox.name
    if cloud in ("aws", "gcp"):
        assert prices.block_gb_month == flavour.storage.block_gb_month
    if cloud in ("aws", "azure"):
        assert prices.address_hourly == flavour.storage.public_ip_hour


def test_snapshot_gcp_prices_are_vcpus_and_memory_times_the_series_rates_it_records() -> None:
    table = specs("gcp")
    for region in shipped_regions("gcp"):
        prices = _shipped("gcp", region)
        rates = _series_rates(region)
        for kind in prices.instance_types:
            spec = table[kind.name]
            core, ram = rates[kind.name.split("-")[0]]
            assert (spec.vcpus, spec.memory_gib) == (kind.vcpus, kind.memory_gib)
            assert kind.hourly_price == kind.vcpus * core + kind.memory_gib * ram, kind.name


def test_snapshot_spec_table_is_what_the_azure_and_gcp_fetchers_default_to() -> None:
    for cloud in ("azure", "gcp"):
        prices = _shipped(cloud, SANDBOX_BASE_REGION[cloud])
        assert set(specs(cloud)) == {t.name for t in prices.instance_types}


# -- Frames ---------------------------------------------------------------------------------------


def _lists() -> list[PriceList]:
    snapshots = [shipped(cloud, region) for cloud in sorted(LISTED) for region in shipped_regions(cloud)]
    fetched = PriceList(
        cloud="azure",
        region="westeurope",
        currency="GBP",
        instance_types=(InstanceType("Standard_D2s_v5", "Dsv5", 2, D("8"), D("0.07584"), "GBP", network_gbps=D("12.5")),
                        InstanceType("Standard_NC6s_v3", "NCv3", 6, D("112"), D("2.4174123456789"), "GBP", gpus=1)),
        block_gb_month=D("0.05925"),
        address_hourly=None,
        source="api",
        fetched_at=datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=UTC),
    )  # fmt: skip
    empty = PriceList("gcp", "asia-south1", "USD", (), None, None, "api", datetime(2026, 3, 4, tzinfo=UTC))
    return [*(p for p in snapshots if p is not None), fetched, empty]


def test_to_frame_and_from_frame_round_trip_price_lists_exactly() -> None:
    lists = _lists()
    back = from_frame(to_frame(lists))
    assert back == lists
    assert from_frame(to_frame([])) == []
    for before, after in zip(lists, back, strict=True):
        assert after.fetched_at.utcoffset() is not None
        for old, new in zip(before.instance_types, after.instance_types, strict=True):
            assert type(new.hourly_price) is Decimal
            assert new.hourly_price == old.hourly_price


def test_to_frame_keeps_money_in_decimal_columns_one_row_per_instance_type() -> None:
    lists = _lists()
    frame = to_frame(lists)
    assert frame.height == sum(max(1, len(p.instance_types)) for p in lists)
    for column in ("hourly_price", "block_gb_month", "address_hourly", "memory_gib", "network_gbps"):
        assert isinstance(frame.schema[column], pl.Decimal), column
    assert frame.schema["fetched_at"] == pl.Datetime("us", "UTC")
    nc6 = frame.filter(pl.col("instance_type") == "Standard_NC6s_v3").row(0, named=True)
    assert (nc6["hourly_price"], nc6["gpus"], nc6["currency"]) == (D("2.4174123456789"), 1, "GBP")
    empty = frame.filter(pl.col("region") == "asia-south1")
    assert empty["instance_type"].to_list() == [None]
