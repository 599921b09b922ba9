"""OCI cost reports and OCI's FOCUS reports become FOCUS 1.2: detected without --format, every
currency's total kept to the last decimal, corrections, overage, tags and units as mapped."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from analytics.focus.convert import convert
from analytics.focus.errors import NormalisationError
from analytics.focus.normalise import open_source

FIXTURES = Path(__file__).parents[1] / "fixtures"
COST_REPORTS = [
    "oci/oci_cost_report_koku.csv",
    "oci/oci_cost_report_corrections_2026-01.csv",
    "oci/oci_cost_report_two_tenancies_2026-01.csv",
]


def _rows(out: Path) -> list[dict[str, object]]:
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        relation = con.sql(f"SELECT * FROM read_parquet('{out}') ORDER BY x_SourceLineId")
        return [dict(zip(relation.columns, row, strict=True)) for row in relation.fetchall()]
    finally:
        con.close()


def _converted(tmp_path: Path, name: str) -> list[dict[str, object]]:
    out = tmp_path / "out.parquet"
    convert([FIXTURES / name], out)
    return _rows(out)


def _report_totals(path: Path) -> dict[str, Decimal]:
    """cost/myCost per currency, read with csv and Decimal; a row without a currency takes its
    tenancy's only one."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_tenancy: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        if row["cost/currencyCode"]:
            by_tenancy[row["lineItem/tenantId"]].add(row["cost/currencyCode"])
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        currency = row["cost/currencyCode"] or next(iter(by_tenancy[row["lineItem/tenantId"]]))
        totals[currency] += Decimal(row["cost/myCost"] or "0")
    return dict(totals)


@pytest.mark.parametrize("name", COST_REPORTS)
def test_an_oci_cost_report_is_detected_without_a_format(name: str) -> None:
    con = duckdb.connect()
    try:
        assert open_source(con, FIXTURES / name).format_name == "oci_cost_report"
    finally:
        con.close()


@pytest.mark.parametrize("name", COST_REPORTS)
def test_billed_cost_per_currency_equals_the_reports_my_cost_to_the_last_decimal(tmp_path: Path, name: str) -> None:
    rows = _converted(tmp_path, name)
    found: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        found[str(row["BillingCurrency"])] += Decimal(str(row["BilledCost"]))
    expected = _report_totals(FIXTURES / name)
    assert {k: v.normalize() for k, v in found.items()} == {k: v.normalize() for k, v in expected.items()}


def test_two_tenancies_keep_their_currencies_apart(tmp_path: Path) -> None:
    rows = _converted(tmp_path, "oci/oci_cost_report_two_tenancies_2026-01.csv")
    currencies = {(r["BillingAccountId"], r["BillingCurrency"]) for r in rows}
    assert currencies == {("ocid1.tenancy.oc1..aaaaeurope", "EUR"), ("ocid1.tenancy.oc1..aaaajapan", "JPY")}


def test_a_free_row_without_a_currency_takes_its_tenancys_currency(tmp_path: Path) -> None:
    rows = _converted(tmp_path, "oci/oci_cost_report_koku.csv")
    assert {r["x_SourceLineId"]: r["BillingCurrency"] for r in rows}["my-resource-no1"] == "GBP"


def test_a_tenancy_with_two_currencies_and_a_row_without_one_is_refused(tmp_path: Path) -> None:
    source = (FIXTURES / "oci/oci_cost_report_two_tenancies_2026-01.csv").read_text()
    mixed = tmp_path / "mixed.csv"
    mixed.write_text(source.replace("ocid1.tenancy.oc1..aaaajapan", "ocid1.tenancy.oc1..aaaaeurope"))
    with pytest.raises(NormalisationError, match="empty billing currency"):
        convert([mixed], tmp_path / "out.parquet")


def test_corrections_are_correction_rows_naming_the_line_they_correct(tmp_path: Path) -> None:
    rows = {r["x_SourceLineId"]: r for r in _converted(tmp_path, "oci/oci_cost_report_corrections_2026-01.csv")}
    corrections = {key for key, row in rows.items() if row["ChargeClass"] == "Correction"}
    assert corrections == {"ws-0005", "ws-0009"}
    assert json.loads(str(rows["ws-0005"]["x_Extras"]))["BackReferenceNo"] == "ws-0001"
    assert Decimal(str(rows["ws-0001"]["BilledCost"])) + Decimal(str(rows["ws-0005"]["BilledCost"])) == Decimal("0.18")


def test_overage_is_part_of_billed_cost_and_kept_in_extras(tmp_path: Path) -> None:
    rows = {r["x_SourceLineId"]: r for r in _converted(tmp_path, "oci/oci_cost_report_corrections_2026-01.csv")}
    storage = rows["ws-0003"]
    assert Decimal(str(storage["BilledCost"])) == Decimal("0.06375")
    extras = json.loads(str(storage["x_Extras"]))
    assert (extras["OverageFlag"], Decimal(str(extras["CostOverage"]))) == ("Y", Decimal("0.0255"))


def test_tag_columns_become_the_tags_object_of_the_tags_a_row_has(tmp_path: Path) -> None:
    rows = {r["x_SourceLineId"]: r for r in _converted(tmp_path, "oci/oci_cost_report_corrections_2026-01.csv")}
    assert json.loads(str(rows["ws-0001"]["Tags"])) == {
        "Oracle-Tags.CreatedBy": "default/ops@wedsync.example",
        "wedsync.env": "production",
        "wedsync.team": "web",
    }
    assert rows["ws-0006"]["Tags"] is None


def test_oci_services_regions_and_units_are_mapped(tmp_path: Path) -> None:
    rows = {r["x_SourceLineId"]: r for r in _converted(tmp_path, "oci/oci_cost_report_corrections_2026-01.csv")}
    monitoring = rows["ws-0007"]
    assert (monitoring["ServiceName"], monitoring["ServiceCategory"]) == ("Monitoring", "Management and Governance")
    assert monitoring["PricingUnit"] == "1000000 Datapoints"
    assert Decimal(str(monitoring["ConsumedQuantity"])) == Decimal("150000")
    compute = rows["ws-0001"]
    assert (compute["RegionId"], compute["RegionName"]) == ("uk-london-1", "UK South (London)")
    assert (compute["SubAccountId"], compute["SubAccountType"]) == ("ocid1.compartment.oc1..aaaaprod", "Compartment")
    assert (compute["ProviderName"], compute["PublisherName"], compute["InvoiceIssuerName"]) == ("Oracle",) * 3
    assert compute["ResourceType"] == "instance"


def test_an_oci_focus_report_with_preview_column_names_converts(tmp_path: Path) -> None:
    rows = {r["x_SourceLineId"]: r for r in _converted(tmp_path, "focus/oci_focus_1_0_reports_layout_2026-01.csv")}
    assert len(rows) == 3
    first = next(r for r in rows.values() if json.loads(str(r["x_Extras"]))["oci_ReferenceNumber"] == "ws-0001")
    assert (first["ProviderName"], first["InvoiceIssuerName"], first["RegionId"]) == ("Oracle", "Oracle", "uk-london-1")
    assert (Decimal(str(first["ConsumedQuantity"])), first["ConsumedUnit"]) == (Decimal(8), "OCPU-Hours")
    assert json.loads(str(first["x_Extras"]))["ChargeSubcategory"] == "On-Demand"
    assert sum(Decimal(str(r["BilledCost"])) for r in rows.values()) == Decimal("0.21375")


def _written(
    tmp_path: Path, changes: dict[str, str], name: str = "oci/oci_cost_report_two_tenancies_2026-01.csv"
) -> Path:
    """The report with the first row's ``changes`` (column -> value), written as a case of its own."""
    with (FIXTURES / name).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert all(column in rows[0] for column in changes)
    rows[0].update(changes)
    written = tmp_path / "written.csv"
    with written.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return written


def test_a_cost_and_quantity_of_minus_two_are_minus_two_not_a_placeholder(tmp_path: Path) -> None:
    written = _written(tmp_path, {"cost/myCost": "-2", "usage/billedQuantity": "-2", "cost/unitPrice": "-2"})
    out = tmp_path / "out.parquet"
    convert([written], out)
    rows = {r["x_SourceLineId"]: r for r in _rows(out)}
    first = rows["eu-0001"]
    assert (first["BilledCost"], first["PricingQuantity"], first["ContractedUnitPrice"]) == (Decimal(-2),) * 3
    found: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows.values():
        found[str(row["BillingCurrency"])] += Decimal(str(row["BilledCost"]))
    expected = _report_totals(written)
    assert expected["EUR"] < 0
    assert {k: v.normalize() for k, v in found.items()} == {k: v.normalize() for k, v in expected.items()}


def test_a_free_row_without_a_currency_in_a_one_currency_tenancy_takes_it(tmp_path: Path) -> None:
    written = _written(tmp_path, {"cost/currencyCode": "", "cost/myCost": "0"})
    out = tmp_path / "out.parquet"
    convert([written], out)
    assert {r["x_SourceLineId"]: r["BillingCurrency"] for r in _rows(out)}["eu-0001"] == "EUR"


def test_a_costed_row_without_a_currency_is_refused_naming_the_column(tmp_path: Path) -> None:
    written = _written(tmp_path, {"cost/currencyCode": "", "cost/myCost": "5"})
    with pytest.raises(NormalisationError, match="empty billing currency") as refused:
        convert([written], tmp_path / "out.parquet")
    assert refused.value.column == "cost/currencyCode"


@pytest.mark.parametrize(
    ("column", "value", "shown"),
    [("lineItem/intervalUsageStart", "garbage", "'garbage'"), ("lineItem/intervalUsageStart", "", "empty"),
     ("lineItem/intervalUsageEnd", "2026-13-40T08:00Z", "'2026-13-40T08:00Z'")],
)  # fmt: skip
def test_a_usage_time_that_is_no_timestamp_is_refused_naming_the_column_and_a_value(
    tmp_path: Path, column: str, value: str, shown: str
) -> None:
    written = _written(tmp_path, {column: value})
    with pytest.raises(NormalisationError, match=f"1 value\\(s\\) are not timestamps, e.g. {shown}") as refused:
        convert([written], tmp_path / "out.parquet")
    assert refused.value.column == column


def test_an_oci_unit_with_a_block_of_zero_keeps_the_quantity_and_is_named(tmp_path: Path) -> None:
    written = _written(tmp_path, {"cost/skuUnitDescription": "0 Hours"})
    out = tmp_path / "out.parquet"
    converted = convert([written], out)
    assert [n.rows for n in converted.notices if n.code == "unit-unmapped" and "'0 Hours'" in n.message] == [1]
    first = {r["x_SourceLineId"]: r for r in _rows(out)}["eu-0001"]
    assert (first["ConsumedQuantity"], first["PricingUnit"]) == (Decimal(4), "0 Hours")
