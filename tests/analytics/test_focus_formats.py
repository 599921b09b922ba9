"""Every native and FOCUS format normalises to FOCUS 1.2, to the cent of its own total."""

from __future__ import annotations

import csv
import gzip
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from analytics.focus.convert import convert
from analytics.focus.normalise import focus_sql, open_source
from analytics.focus.schema import ALLOWED_VALUES, MANDATORY_NON_NULL, allowed_subcategories

FIXTURES = Path(__file__).parents[1] / "fixtures"


def _csv_rows(path: Path) -> list[dict[str, str]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as handle:  # type: ignore[operator]
        return list(csv.DictReader(handle))


def _total(rows: list[dict[str, str]], cost: str, currency: str) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        if row[cost].strip():
            totals[row[currency]] += Decimal(row[cost])
    return dict(totals)


def _jsonl_total(path: Path, cost: str, currency: str) -> dict[str, Decimal]:
    """``cost`` and ``currency`` are paths into each JSON line (``UnblendedCost.Amount``)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for line in path.read_text().splitlines():
        row = json.loads(line, parse_float=Decimal)

        def get(dotted: str, row: dict[str, object] = row) -> object:
            value: object = row
            for part in dotted.split("."):
                value = value[part]  # type: ignore[index]
            return value

        totals[str(get(currency))] += Decimal(str(get(cost)))
    return dict(totals)


def _gcp_total(path: Path) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for line in path.read_text().splitlines():
        row = json.loads(line, parse_float=Decimal)
        totals[row["currency"]] += row["cost"] + sum((c["amount"] for c in row["credits"]), Decimal(0))
    return dict(totals)


# (fixture, detected format, rows written, FOCUS metric the source's own cost equals, independent total)
CASES = [
    ("aws/cur2_commitments_2026-01.csv.gz", "aws_cur2", 13, "BilledCost",
     lambda p: _total(_csv_rows(p), "line_item_unblended_cost", "line_item_currency_code")),
    ("aws/aws_focus_1_2_with_aws_columns_2026-01.csv", "focus", 2, "BilledCost",
     lambda p: _total(_csv_rows(p), "BilledCost", "BillingCurrency")),
    ("azure/azure_ea_costdetails_anonymized_focusconverters.csv", "azure_cost_details", 27, "BilledCost",
     lambda p: _total(_csv_rows(p), "CostInBillingCurrency", "BillingCurrencyCode")),
    ("azure/mca_actual_2026-01.csv", "azure_cost_details", 6, "BilledCost",
     lambda p: _total(_csv_rows(p), "costInBillingCurrency", "billingCurrency")),
    ("azure/ea_amortized_2026-01.csv", "azure_cost_details_amortized", 4, "EffectiveCost",
     lambda p: _total(_csv_rows(p), "CostInBillingCurrency", "BillingCurrencyCode")),
    ("azure/legacy_usage_pretaxcost_2019-06.csv", "azure_cost_details", 2, "BilledCost",
     lambda p: _total(_csv_rows(p), "PreTaxCost", "Currency")),
    ("azure/focuscost_1_0_2026-01.csv", "focus", 2, "BilledCost",
     lambda p: _total(_csv_rows(p), "BilledCost", "BillingCurrency")),
    ("azure/cost_query_2026-01.jsonl", "azure_cost_query", 9, "BilledCost",
     lambda p: _jsonl_total(p, "Cost", "Currency")),
    ("aws/cost_explorer_2026-01.jsonl", "aws_cost_explorer", 5, "BilledCost",
     lambda p: _jsonl_total(p, "UnblendedCost.Amount", "UnblendedCost.Unit")),
    ("gcp/detailed_export_2026-01.jsonl", "gcp_billing_export", 7, "BilledCost", _gcp_total),
    ("gcp/gcp_focus_export_2026-01.csv", "focus", 1, "BilledCost",
     lambda p: _total(_csv_rows(p), "BilledCost", "BillingCurrency")),
    ("focus/oci_focus_1_0_2026-01.csv", "focus", 1, "BilledCost",
     lambda p: _total(_csv_rows(p), "BilledCost", "BillingCurrency")),
    ("focus/focus_1_1_generic_2025-06.csv", "focus", 2, "BilledCost",
     lambda p: _total(_csv_rows(p), "BilledCost", "BillingCurrency")),
]  # fmt: skip


def load(con: duckdb.DuckDBPyConnection, path: Path) -> str:
    source = open_source(con, path)
    con.execute(f"INSERT INTO focus_costs BY NAME SELECT * FROM ({focus_sql(source, source_id='test')})")
    return source.format_name


@pytest.mark.parametrize(("fixture", "fmt", "rows", "metric", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_format_keeps_its_source_total_exactly(
    con: duckdb.DuckDBPyConnection, fixture: str, fmt: str, rows: int, metric: str, expected: object
) -> None:
    path = FIXTURES / fixture
    assert load(con, path) == fmt
    assert con.execute("SELECT count(*) FROM focus_costs").fetchall() == [(rows,)]
    totals = dict(con.execute(f"SELECT BillingCurrency, sum({metric}) FROM focus_costs GROUP BY ALL").fetchall())
    assert totals == expected(path)  # type: ignore[operator]


@pytest.mark.parametrize("fixture", [c[0] for c in CASES])
def test_each_format_fills_mandatory_columns_with_allowed_values(con: duckdb.DuckDBPyConnection, fixture: str) -> None:
    load(con, FIXTURES / fixture)
    for column in MANDATORY_NON_NULL:
        assert con.execute(f"SELECT count(*) FROM focus_costs WHERE {column} IS NULL").fetchall() == [(0,)], column
    for column, allowed in ALLOWED_VALUES.items():
        found = {v for (v,) in con.execute(f"SELECT DISTINCT {column} FROM focus_costs").fetchall()} - {None}
        assert found <= set(allowed), (column, found - set(allowed))
    for category, subcategory in con.execute(
        "SELECT DISTINCT ServiceCategory, ServiceSubcategory FROM focus_costs"
    ).fetchall():
        assert subcategory in allowed_subcategories(category)
    # priced columns agree with their unit price and quantity (FOCUS defines them so)
    assert con.execute(
        "SELECT count(*) FROM focus_costs WHERE ListUnitPrice IS NOT NULL AND PricingQuantity IS NOT NULL "
        "AND abs(ListUnitPrice * PricingQuantity - ListCost) > 1e-9 * greatest(abs(ListCost), 1)"
    ).fetchall() == [(0,)]


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return con.execute(sql).fetchall()


def test_aws_commitments_bill_the_fee_and_amortise_it_into_usage(con: duckdb.DuckDBPyConnection) -> None:
    load(con, FIXTURES / "aws/cur2_commitments_2026-01.csv.gz")
    by_line = {
        line: (category, billed, effective, status, pricing)
        for line, category, billed, effective, status, pricing in _rows(
            con,
            "SELECT x_SourceLineId, ChargeCategory, BilledCost, EffectiveCost, CommitmentDiscountStatus, "
            "PricingCategory FROM focus_costs",
        )
    }
    assert by_line["a2"] == ("Usage", 0, Decimal("3.0"), "Used", "Committed")  # reserved usage
    assert by_line["a3"] == ("Purchase", Decimal("93.0"), 0, None, "Standard")  # the RI fee
    assert by_line["a3:unused"] == ("Usage", 0, Decimal("3.0"), "Unused", "Committed")
    assert by_line["a4"] == ("Usage", 0, Decimal("1.4"), "Used", "Committed")  # savings plan covered
    assert "a5" not in by_line  # the negation only cancels on-demand cost: dropped
    assert by_line["a8"][:3] == ("Tax", Decimal("20.36"), Decimal("20.36"))
    assert by_line["a9"][0] == by_line["a10"][0] == by_line["a11"][0] == "Credit"
    marketplace = _rows(con, "SELECT PublisherName, InvoiceIssuerName FROM focus_costs WHERE x_SourceLineId = 'a12'")
    assert marketplace == [("Grafana Labs", "AWS")]
    units = {u for (u,) in _rows(con, "SELECT DISTINCT PricingUnit FROM focus_costs WHERE PricingUnit IS NOT NULL")}
    assert {"Hours", "GB-Months"} <= units


def test_azure_mca_bills_to_the_billing_profile_and_converts_list_prices(con: duckdb.DuckDBPyConnection) -> None:
    load(con, FIXTURES / "azure/mca_actual_2026-01.csv")
    accounts = {a for (a,) in _rows(con, "SELECT DISTINCT BillingAccountId FROM focus_costs")}
    assert accounts == {"ABCD-EF12-GH3-IJKL"}
    on_demand = _rows(
        con,
        "SELECT ListUnitPrice, PricingCurrency, PricingCurrencyListUnitPrice, InvoiceId FROM focus_costs "
        "WHERE ResourceName = 'vm-web-1' AND ChargeCategory = 'Usage'",
    )
    assert on_demand == [(Decimal("0.166848"), "USD", Decimal("0.2112"), "G012345678")]  # 0.2112 USD x 0.79
    covered = _rows(con, "SELECT BilledCost, EffectiveCost FROM focus_costs WHERE ResourceName = 'vm-web-2'")
    assert covered == [(0, Decimal("2.496"))]  # effective price 0.104 x 24 hours
    refund = _rows(con, "SELECT ChargeCategory, ChargeClass, EffectiveCost FROM focus_costs WHERE BilledCost < 0")
    assert refund == [("Purchase", "Correction", 0)]


def test_azure_amortized_files_are_recognised_and_bill_nothing_for_covered_usage(
    con: duckdb.DuckDBPyConnection,
) -> None:
    load(con, FIXTURES / "azure/ea_amortized_2026-01.csv")
    rows = {
        (category, status): (billed, effective)
        for category, status, billed, effective in _rows(
            con, "SELECT ChargeCategory, CommitmentDiscountStatus, BilledCost, EffectiveCost FROM focus_costs"
        )
    }
    assert rows[("Usage", "Used")] == (0, Decimal("3.1584"))
    assert rows[("Usage", "Unused")] == (0, Decimal("0.3948"))
    assert rows[("Purchase", None)] == (0, 0)
    block = _rows(
        con,
        "SELECT PricingUnit, PricingQuantity, ConsumedQuantity, ListUnitPrice, ListCost FROM focus_costs "
        "WHERE ServiceName = 'Bandwidth'",
    )
    # 4.2 blocks of "10 GB" at 0.87 a block: 42 GB at 0.087, the cost unchanged
    assert block == [("GB", Decimal("42"), Decimal("42"), Decimal("0.087"), Decimal("3.654"))]


def test_gcp_promotional_credits_become_credit_rows_and_discounts_stay_on_their_row(
    con: duckdb.DuckDBPyConnection,
) -> None:
    load(con, FIXTURES / "gcp/detailed_export_2026-01.jsonl")
    credits = _rows(con, "SELECT BilledCost, ChargeDescription FROM focus_costs WHERE ChargeCategory = 'Credit'")
    assert credits == [(Decimal("-0.0736"), "Free Trial:Credit-01A2B3")]
    sud = _rows(con, "SELECT BilledCost, ListCost FROM focus_costs WHERE SkuId = 'CF4E-A0C7-E3BF'")
    assert sud == [(Decimal("0.0886"), Decimal("0.1108"))]  # 0.1108 less the sustained-use discount
    cud = _rows(
        con,
        "SELECT BilledCost, PricingCategory, CommitmentDiscountCategory, CommitmentDiscountStatus FROM focus_costs "
        "WHERE SkuId = '5C4B-8F2A-1D3E'",
    )
    assert cud == [(0, "Committed", "Usage", "Used")]
    correction = _rows(con, "SELECT ChargeCategory, ChargeClass FROM focus_costs WHERE BilledCost = -0.02")
    assert correction == [("Adjustment", "Correction")]
    starts = {s.isoformat() for (s,) in _rows(con, "SELECT DISTINCT BillingPeriodStart FROM focus_costs")}
    assert starts == {"2026-01-01T08:00:00+00:00"}  # invoice months run on Pacific time


def test_older_focus_versions_gain_the_1_2_columns(con: duckdb.DuckDBPyConnection) -> None:
    load(con, FIXTURES / "focus/oci_focus_1_0_2026-01.csv")
    row = _rows(
        con,
        "SELECT BillingAccountType, PricingCurrency, PricingCurrencyEffectiveCost, ServiceSubcategory, "
        "x_Extras->>'oci_CompartmentName', ConsumedUnit FROM focus_costs",
    )
    assert row == [("Billing Account", "GBP", Decimal("12.48"), "Other (Compute)", "wedsync-prod", "OCPU-Hours")]


def test_spreadsheet_money_is_read_and_unreadable_money_is_refused(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    simple = FIXTURES / "focus/spec_v1.2_examples/saas_examples/simple_agreements/simple_saas_agreements_c.csv"
    load(con, simple)
    assert _rows(con, "SELECT sum(BilledCost) FROM focus_costs") == [(Decimal("35800"),)]
    broken = tmp_path / "broken.csv"
    broken.write_text(simple.read_text(encoding="utf-8-sig").replace("$13,000.00", "thirteen thousand"))
    from analytics.focus.errors import NormalisationError

    with pytest.raises(NormalisationError) as refused:
        open_source(con, broken)
    assert refused.value.column == "BilledCost"
    assert "not numbers" in refused.value.problem


def test_a_typed_export_with_a_cost_that_is_not_a_number_is_refused(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    from analytics.focus.errors import NormalisationError

    gzipped = FIXTURES / "aws/cur2_commitments_2026-01.csv.gz"
    for bad in ("'nan'", "'inf'", "'1e25'"):
        parquet = tmp_path / f"cur2_{bad.strip(chr(39))}.parquet"
        con.execute(
            f"COPY (SELECT * REPLACE (CASE WHEN row_number() OVER () = 3 THEN {bad}::DOUBLE "
            f"ELSE CAST(line_item_unblended_cost AS DOUBLE) END AS line_item_unblended_cost) "
            f"FROM read_csv('{gzipped}', all_varchar = true)) TO '{parquet}' (FORMAT parquet)"
        )
        with pytest.raises(NormalisationError) as refused:
            open_source(con, parquet)
        assert refused.value.column == "line_item_unblended_cost"
        assert "1 value(s) are not numbers" in refused.value.problem
    good = tmp_path / "cur2_good.parquet"
    con.execute(
        f"COPY (SELECT * REPLACE (CAST(line_item_unblended_cost AS DOUBLE) AS line_item_unblended_cost) "
        f"FROM read_csv('{gzipped}', all_varchar = true)) TO '{good}' (FORMAT parquet)"
    )
    assert open_source(con, good).format_name == "aws_cur2"


def test_a_focus_amount_of_minus_two_is_kept_and_not_read_as_a_placeholder(tmp_path: Path) -> None:
    """Google writes "-2" for an unknown id; in an amount or a quantity it is minus two."""
    source = (FIXTURES / "focus/focus_1_1_generic_2025-06.csv").read_text(encoding="utf-8")
    assert ",-2.5," in source
    written = tmp_path / "minus_two.csv"
    written.write_text(source.replace(",-2.5,", ",-2,"), encoding="utf-8")
    with written.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    expected = sum(Decimal(r["BilledCost"]) for r in rows)
    out = convert([written], tmp_path / "out.parquet")
    billed, effective, minus_two = duckdb.execute(
        "SELECT sum(BilledCost), sum(EffectiveCost), count(*) FILTER (WHERE BilledCost = -2 AND ListCost = -2) "
        f"FROM read_parquet('{out.path}')"
    ).fetchall()[0]
    assert billed == expected
    assert effective == sum(Decimal(r["EffectiveCost"]) for r in rows)
    assert minus_two == sum(1 for r in rows if r["BilledCost"] == "-2")
    assert minus_two >= 1
