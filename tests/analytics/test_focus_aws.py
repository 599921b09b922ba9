"""AWS CUR (legacy CSV and CUR 2.0) to FOCUS 1.2."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from analytics.focus.errors import NormalisationError
from analytics.focus.formats.aws_cur import legacy_to_cur2
from analytics.focus.normalise import focus_sql, open_source, source_totals_sql
from analytics.focus.schema import ALLOWED_VALUES, COLUMN_NAMES, MANDATORY_NON_NULL
from clouds.sandbox.catalog import FlavourKey
from clouds.sandbox.create import write_exports
from clouds.sandbox.world import build_world

FIXTURES = Path(__file__).parents[1] / "fixtures"
LEGACY_SAMPLE = FIXTURES / "aws" / "aws_cur_legacy_anonymized_focusconverters.csv"


def load(con: duckdb.DuckDBPyConnection, path: Path) -> str:
    source = open_source(con, path)
    con.execute(f"INSERT INTO focus_costs BY NAME SELECT * FROM ({focus_sql(source, source_id='test')})")
    return source.format_name


def source_totals(con: duckdb.DuckDBPyConnection, path: Path) -> dict[str, Decimal]:
    sql = source_totals_sql(open_source(con, path))
    return dict(con.execute(f"SELECT currency, sum(cost) FROM ({sql}) GROUP BY ALL").fetchall())


def focus_totals(con: duckdb.DuckDBPyConnection) -> dict[str, Decimal]:
    return dict(con.execute("SELECT BillingCurrency, sum(BilledCost) FROM focus_costs GROUP BY ALL").fetchall())


@pytest.mark.parametrize(
    ("legacy", "cur2"),
    [
        ("lineItem/UnblendedCost", "line_item_unblended_cost"),
        ("bill/PayerAccountId", "bill_payer_account_id"),
        ("savingsPlan/SavingsPlanARN", "savings_plan_savings_plan_a_r_n"),
        ("product/regionCode", "product_region_code"),
        ("pricing/publicOnDemandCost", "pricing_public_on_demand_cost"),
        ("resourceTags/user:Name", None),
    ],
)
def test_legacy_column_names_become_cur2_names(legacy: str, cur2: str | None) -> None:
    assert legacy_to_cur2(legacy) == cur2


def test_legacy_sample_keeps_every_line_and_the_exact_invoice_total(con: duckdb.DuckDBPyConnection) -> None:
    assert load(con, LEGACY_SAMPLE) == "aws_cur_legacy"
    assert con.execute("SELECT count(*) FROM focus_costs").fetchall() == [(1281,)]
    # the file's own cost column, read with the csv module and summed as exact decimals
    with open(LEGACY_SAMPLE, newline="") as handle:
        raw = sum((Decimal(row["lineItem/UnblendedCost"]) for row in csv.DictReader(handle)), Decimal(0))
    assert raw == Decimal("1.6823086974")
    assert focus_totals(con) == {"USD": raw}
    assert source_totals(con, LEGACY_SAMPLE) == {"USD": raw}


def test_legacy_sample_tax_rows_follow_the_focus_rules_for_tax(con: duckdb.DuckDBPyConnection) -> None:
    load(con, LEGACY_SAMPLE)
    rows = con.execute(
        "SELECT count(*), count(PricingQuantity), count(ListUnitPrice), count(SkuId), count(PricingCategory), "
        "bool_and(ListCost = BilledCost), bool_and(EffectiveCost = BilledCost) "
        "FROM focus_costs WHERE ChargeCategory = 'Tax'"
    ).fetchall()
    assert rows == [(12, 0, 0, 0, 0, True, True)]


def test_legacy_sample_rows_use_only_allowed_values_and_fill_mandatory_columns(con: duckdb.DuckDBPyConnection) -> None:
    load(con, LEGACY_SAMPLE)
    for column in MANDATORY_NON_NULL:
        assert con.execute(f"SELECT count(*) FROM focus_costs WHERE {column} IS NULL").fetchall() == [(0,)], column
    for column, allowed in ALLOWED_VALUES.items():
        values = {v for (v,) in con.execute(f"SELECT DISTINCT {column} FROM focus_costs").fetchall()} - {None}
        assert values <= set(allowed), column
    services = dict(con.execute("SELECT DISTINCT ServiceName, ServiceCategory FROM focus_costs").fetchall())
    assert services["Amazon Simple Storage Service"] == "Storage"
    assert services["AWS Key Management Service"] == "Security"


def test_focus_columns_come_in_specification_order_before_the_x_columns(con: duckdb.DuckDBPyConnection) -> None:
    names = [row[0] for row in con.execute("DESCRIBE focus_costs").fetchall()]
    assert tuple(names[: len(COLUMN_NAMES)]) == COLUMN_NAMES
    assert all(name.startswith("x_") for name in names[len(COLUMN_NAMES) :])


def test_sandbox_cur2_export_normalises_to_its_own_total(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    world = build_world(3, date(2026, 2, 15), date(2026, 2, 1))
    written = write_exports(world, tmp_path)[FlavourKey.AWS][0]
    assert load(con, written) == "aws_cur2"
    assert focus_totals(con) == source_totals(con, written)
    tags = con.execute("SELECT Tags->>'team' FROM focus_costs WHERE Tags IS NOT NULL LIMIT 1").fetchall()
    assert tags[0][0] in {"platform", "data"}


def _cur2_file(path: Path, rows: list[dict[str, object]]) -> Path:
    base = {"bill_payer_account_id": "111122223333", "line_item_currency_code": "USD"}
    start, end = datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 6, tzinfo=UTC)
    records = [
        {
            **base,
            "bill_billing_period_start_date": datetime(2026, 1, 1, tzinfo=UTC),
            "bill_billing_period_end_date": datetime(2026, 2, 1, tzinfo=UTC),
            "line_item_usage_start_date": start,
            "line_item_usage_end_date": end,
            **row,
        }
        for row in rows
    ]
    columns = sorted({key for record in records for key in record})
    pq.write_table(pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in records]), path)
    return path


def test_savings_plan_covered_usage_is_billed_through_the_plan_not_twice(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    arn = "arn:aws:savingsplans::111122223333:savingsplan/sp-1"
    path = _cur2_file(
        tmp_path / "sp.parquet",
        [
            {"line_item_line_item_type": "SavingsPlanCoveredUsage", "line_item_unblended_cost": 10.0,
             "savings_plan_savings_plan_a_r_n": arn, "savings_plan_savings_plan_effective_cost": 7.0,
             "pricing_public_on_demand_cost": 10.0, "line_item_usage_amount": 100.0, "pricing_unit": "Hrs"},
            {"line_item_line_item_type": "SavingsPlanNegation", "line_item_unblended_cost": -10.0,
             "savings_plan_savings_plan_a_r_n": arn},
            {"line_item_line_item_type": "SavingsPlanRecurringFee", "line_item_unblended_cost": 7.5,
             "savings_plan_savings_plan_a_r_n": arn, "savings_plan_total_commitment_to_date": 7.5,
             "savings_plan_used_commitment": 7.0},
        ],
    )  # fmt: skip
    load(con, path)
    rows = con.execute(
        "SELECT ChargeCategory, BilledCost, EffectiveCost, PricingCategory, CommitmentDiscountCategory, "
        "CommitmentDiscountStatus FROM focus_costs ORDER BY ChargeCategory, CommitmentDiscountStatus"
    ).fetchall()
    assert rows == [
        ("Purchase", Decimal("7.5"), Decimal("0"), "Standard", "Spend", None),
        ("Usage", Decimal("0"), Decimal("0.5"), "Committed", "Spend", "Unused"),
        ("Usage", Decimal("0"), Decimal("7"), "Committed", "Spend", "Used"),
    ]
    # over the plan's life, effective cost (used + unused) equals what was billed for it
    assert con.execute("SELECT sum(EffectiveCost) FROM focus_costs").fetchall() == [(Decimal("7.5"),)]
    assert focus_totals(con) == source_totals(con, path) == {"USD": Decimal("7.5")}


def test_a_file_without_a_cost_column_is_refused_naming_file_and_column(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    path = tmp_path / "broken.csv"
    header = [
        "bill/PayerAccountId", "bill/BillingPeriodStartDate", "bill/BillingPeriodEndDate", "lineItem/LineItemType",
        "lineItem/UsageStartDate", "lineItem/UsageEndDate", "lineItem/CurrencyCode",
    ]  # fmt: skip
    path.write_text(",".join(header) + "\n1,2026-01-01,2026-02-01,Usage,2026-01-01,2026-01-02,USD\n")
    with pytest.raises(NormalisationError) as refused:
        open_source(con, path)
    assert str(path) in str(refused.value)
    assert refused.value.column == "lineItem/UnblendedCost"
    assert "required column is missing" in refused.value.problem


def test_a_currency_that_is_not_iso_4217_is_refused(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "dollars.csv"
    header = [
        "bill/PayerAccountId", "bill/BillingPeriodStartDate", "bill/BillingPeriodEndDate", "lineItem/LineItemType",
        "lineItem/UsageStartDate", "lineItem/UsageEndDate", "lineItem/CurrencyCode", "lineItem/UnblendedCost",
    ]  # fmt: skip
    path.write_text(",".join(header) + "\n1,2026-01-01,2026-02-01,Usage,2026-01-01,2026-01-02,DOLLARS,1.5\n")
    with pytest.raises(NormalisationError) as refused:
        open_source(con, path)
    assert refused.value.column == "lineItem/CurrencyCode"
    assert "'DOLLARS' is not an ISO 4217 currency code" in str(refused.value)


def test_an_unknown_layout_is_refused(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / "other.csv"
    path.write_text("when,what,amount\n2026-01-01,coffee,3.50\n")
    with pytest.raises(NormalisationError, match="unrecognised billing layout"):
        open_source(con, path)
