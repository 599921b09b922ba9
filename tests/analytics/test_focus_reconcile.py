"""Reconciliation like with like: each FOCUS metric against the source's own figure, known
differences explained with their cause, amount and line count, the rest refused."""

from __future__ import annotations

import csv
import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from analytics.focus.convert import convert
from analytics.focus.errors import NormalisationError
from analytics.focus.normalise import focus_sql, open_source
from analytics.focus.reconcile import MetricCheck, Reconciliation, amount_text, reconcile
from analytics.ingest import reconcile_file, replace_month

FIXTURES = Path(__file__).parents[1] / "fixtures"
PARTIAL_CUR = FIXTURES / "aws" / "cur_legacy_sp_covered_2023-06_koku.csv"
RI_WITHOUT_FEE = FIXTURES / "aws" / "cur_legacy_discounted_usage_without_rifee_2026-02.csv"
NEGATION_MISMATCH = FIXTURES / "aws" / "cur2_negation_mismatch_2026-02.csv"
CUR2_COMPLETE = FIXTURES / "aws" / "cur2_commitments_2026-01.csv.gz"
AZURE_ACTUAL = FIXTURES / "azure" / "mca_actual_2026-01.csv"
AZURE_SP_AMORTIZED = FIXTURES / "azure" / "ea_amortized_savings_plan_2026-02.csv"
GCP_CUD = FIXTURES / "gcp" / "cud_credits_without_fee_2026-02.jsonl"


def checked(con: duckdb.DuckDBPyConnection, path: Path) -> Reconciliation:
    source = open_source(con, path)
    con.execute(f"INSERT INTO focus_costs BY NAME SELECT * FROM ({focus_sql(source, source_id='test')})")
    return reconcile(con, source, focus_where="x_SourceFile = $1", params=[str(path)])


def explained(check: Reconciliation) -> dict[str, tuple[dict[str, Decimal], int]]:
    return {d.cause.code: (d.amounts, d.lines) for d in check.differences}


def csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def test_partial_cur_extract_converts_and_names_the_covered_usage_without_negation(tmp_path: Path) -> None:
    rows = csv_rows(PARTIAL_CUR)
    covered = [r for r in rows if r["lineItem/LineItemType"] == "SavingsPlanCoveredUsage"]
    unblended = sum((Decimal(r["lineItem/UnblendedCost"]) for r in covered), Decimal(0))
    assert not any(r["lineItem/LineItemType"] == "SavingsPlanNegation" for r in rows)

    result = convert([PARTIAL_CUR], tmp_path / "out.csv")

    assert result.rows == len(rows)
    assert result.inputs[0].totals == {"NOK": Decimal(0)}  # FOCUS bills covered usage at 0
    [notice] = result.notices
    assert notice.code == "difference-explained"
    assert notice.rows == len(covered) == 3
    assert notice.message == (
        f"BilledCost is {amount_text(unblended)} NOK below the unblended sum: 3 SavingsPlanCoveredUsage lines "
        "without their SavingsPlanNegation lines (FOCUS bills covered usage at 0)"
    )
    assert "30.00 NOK" in notice.message


def test_partial_cur_extract_difference_is_exact_per_currency(con: duckdb.DuckDBPyConnection) -> None:
    check = checked(con, PARTIAL_CUR)
    billed = next(c for c in check.checks if c.metric == "BilledCost")
    assert billed.source == {"NOK": Decimal(30)}
    assert billed.explained == {"NOK": Decimal(-30)}
    assert billed.focus == {"NOK": Decimal(0)}
    assert check.mismatches == {}
    assert explained(check) == {"covered-usage-without-negation": ({"NOK": Decimal(-30)}, 3)}


def test_covered_usage_with_its_negation_needs_no_explanation(con: duckdb.DuckDBPyConnection) -> None:
    check = checked(con, CUR2_COMPLETE)
    assert check.mismatches == {}
    assert {c.metric for c in check.checks} == {"BilledCost", "EffectiveCost"}
    assert explained(check) == {}


def test_discounted_usage_without_its_rifee_is_reported_with_its_amortised_amount(
    con: duckdb.DuckDBPyConnection,
) -> None:
    rows = [r for r in csv_rows(RI_WITHOUT_FEE) if r["lineItem/LineItemType"] == "DiscountedUsage"]
    amortised = sum((Decimal(r["reservation/EffectiveCost"]) for r in rows), Decimal(0))

    check = checked(con, RI_WITHOUT_FEE)

    assert check.mismatches == {}
    assert explained(check) == {"discounted-usage-without-rifee": ({"USD": amortised}, len(rows))}
    [notice] = check.notices
    assert notice.message.startswith(
        f"EffectiveCost is {amount_text(amortised)} USD above BilledCost: 3 DiscountedUsage"
    )


def test_discounted_usage_with_its_rifee_in_the_file_is_not_reported(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    rows = csv_rows(RI_WITHOUT_FEE)
    fee = dict(rows[0])
    fee.update({
        "identity/LineItemId": "fee1",
        "lineItem/LineItemType": "RIFee",
        "lineItem/UsageStartDate": "2026-02-01T00:00:00Z",
        "lineItem/UsageEndDate": "2026-03-01T00:00:00Z",
        "lineItem/UnblendedCost": "21.816",
        "lineItem/ResourceId": "",
        "reservation/EffectiveCost": "",
    })  # fmt: skip
    complete = tmp_path / "with_fee.csv"
    with open(complete, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([*rows, fee])

    check = checked(con, complete)

    assert check.mismatches == {}
    assert explained(check) == {}


def test_unexplained_difference_is_refused_naming_metric_amounts_and_difference(tmp_path: Path) -> None:
    rows = csv_rows(NEGATION_MISMATCH)
    gap = sum(
        (Decimal(r["line_item_unblended_cost"]) for r in rows if "SavingsPlan" in r["line_item_line_item_type"]),
        Decimal(0),
    )
    out = tmp_path / "out.parquet"

    with pytest.raises(NormalisationError) as refused:
        convert([NEGATION_MISMATCH], out)

    message = str(refused.value)
    assert "normalised BilledCost" in message
    assert f"unexplained difference {amount_text(-gap)} USD" in message
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_azure_actual_cost_explains_effective_cost_of_reservation_rows(con: duckdb.DuckDBPyConnection) -> None:
    rows = csv_rows(AZURE_ACTUAL)
    purchases = [r for r in rows if r["chargeType"] in ("Purchase", "Refund") and r["pricingModel"] == "Reservation"]

    check = checked(con, AZURE_ACTUAL)

    assert check.mismatches == {}
    differences = explained(check)
    assert differences["commitment-purchase-actual"] == (
        {"GBP": -sum((Decimal(r["costInBillingCurrency"]) for r in purchases), Decimal(0))},
        len(purchases),
    )
    covered = [r for r in rows if r["chargeType"] == "Usage" and r["pricingModel"] == "Reservation"]
    assert [r["unitOfMeasure"] for r in covered] == ["1 Hour"]  # no block to divide by
    assert differences["covered-usage-actual"] == (
        {
            "GBP": sum(
                Decimal(r["effectivePrice"]) * Decimal(r["quantity"]) - Decimal(r["costInBillingCurrency"])
                for r in covered
            )
        },
        len(covered),
    )


def test_azure_amortized_savings_plan_rows_are_explained_per_metric(con: duckdb.DuckDBPyConnection) -> None:
    rows = {
        r["ChargeType"] + "/" + r["PricingModel"]: Decimal(r["CostInBillingCurrency"])
        for r in csv_rows(AZURE_SP_AMORTIZED)
    }

    check = checked(con, AZURE_SP_AMORTIZED)

    assert check.mismatches == {}
    assert explained(check) == {
        "covered-usage-amortized": ({"EUR": -rows["Usage/SavingsPlan"]}, 1),
        "unused-commitment-amortized": ({"EUR": -rows["UnusedSavingsPlan/SavingsPlan"]}, 1),
        "commitment-purchase-amortized": ({"EUR": -rows["Purchase/SavingsPlan"]}, 1),
    }
    billed = next(c for c in check.checks if c.metric == "BilledCost")
    assert billed.focus == {"EUR": rows["Purchase/SavingsPlan"] + rows["Usage/OnDemand"]}


def test_gcp_cud_credits_without_the_commitment_fee_are_reported(con: duckdb.DuckDBPyConnection) -> None:
    credits = [
        Decimal(str(c["amount"]))
        for line in GCP_CUD.read_text().splitlines()
        for c in json.loads(line)["credits"]
        if c["type"].startswith("COMMITTED_USAGE_DISCOUNT")
    ]

    check = checked(con, GCP_CUD)

    assert check.mismatches == {}
    assert explained(check) == {"cud-credits-without-fee": ({"USD": sum(credits, Decimal(0))}, len(credits))}
    assert "3 lines with committed use discount credits" in check.notices[0].message


def test_gcp_cud_credits_with_the_commitment_fee_in_the_file_are_not_reported(
    con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    lines = GCP_CUD.read_text().splitlines()
    fee = json.loads(lines[0])
    fee["sku"] = {"id": "1D2C-3B4A-5F6E", "description": "Commitment v1: N2 Cpu in Americas for 3 Years"}
    fee["credits"] = []
    fee["cost"] = 0.7
    complete = tmp_path / "with_fee.jsonl"
    complete.write_text("\n".join([*lines, json.dumps(fee)]) + "\n")

    check = checked(con, complete)

    assert check.mismatches == {}
    assert explained(check) == {}


def test_totals_are_compared_to_the_last_decimal_and_per_currency() -> None:
    check = MetricCheck(
        "BilledCost",
        source={"USD": Decimal("10.004"), "EUR": Decimal("2.5")},
        explained={},
        focus={"USD": Decimal("10.000"), "EUR": Decimal("2.500000000000000000")},
    )
    # 0.004 rounds away at cents; it is still money the mapping lost
    assert check.mismatches == {"USD": (Decimal("10.004"), Decimal("10.000"))}
    refusal = Reconciliation("f.csv", (check,)).error()
    assert refusal is not None
    assert "unexplained difference -0.004 USD" in str(refusal)
    assert "EUR" not in str(refusal)


def test_ingest_reconcile_file_explains_the_partial_extract(con: duckdb.DuckDBPyConnection, tmp_path: Path) -> None:
    path = tmp_path / PARTIAL_CUR.name
    shutil.copy(PARTIAL_CUR, path)
    month = date(2023, 6, 1)
    replace_month(con, source_id="acct", month=month, files=[(path, None)])

    check = reconcile_file(con, open_source(con, path), source_id="acct", month=month)

    assert check.mismatches == {}
    assert [n.code for n in check.notices] == ["difference-explained"]
    assert check.notices[0].rows == 3


def test_amounts_are_written_exactly() -> None:
    assert amount_text(Decimal("30.000000000000000000")) == "30.00"
    assert amount_text(Decimal("0.1812")) == "0.1812"
    assert amount_text(Decimal("-1.47518")) == "-1.47518"
    assert amount_text(Decimal("1E+1")) == "10.00"


def test_azure_covered_usage_priced_per_block_reconciles_at_price_times_blocks(tmp_path: Path) -> None:
    """Azure counts Quantity in UnitOfMeasure blocks and prices per block: 2.4 blocks of
    "10 Hours" at 1.04 a block is worth 2.496, as 24 hours at 0.104 were."""
    with AZURE_ACTUAL.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    covered = next(r for r in rows if r["chargeType"] == "Usage" and r["pricingModel"] == "Reservation")
    assert (covered["unitOfMeasure"], covered["quantity"], covered["effectivePrice"]) == ("1 Hour", "24", "0.10400000")
    covered.update(unitOfMeasure="10 Hours", quantity="2.4", effectivePrice="1.04", PayGPrice="1.6684800")
    written = tmp_path / "mca_actual_blocks.csv"
    with written.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    converted = convert([written], tmp_path / "out.parquet")
    effective, quantity, unit = duckdb.execute(
        "SELECT EffectiveCost, PricingQuantity, PricingUnit FROM read_parquet(?) "
        "WHERE ChargeCategory = 'Usage' AND CommitmentDiscountStatus = 'Used'",
        [str(converted.path)],
    ).fetchall()[0]
    assert (effective, quantity, unit) == (Decimal("2.496"), Decimal(24), "Hours")
    explained = [n for n in converted.notices if n.code == "difference-explained"]
    assert any("2.496" in n.message for n in explained)


def test_an_azure_covered_usage_line_that_bills_money_is_refused_not_explained(tmp_path: Path) -> None:
    """Covered usage is billed 0 in an actual-cost file; one that bills 1.00 is not the known
    cause, and its money would otherwise be swapped for price x quantity under a notice.
    (Detected, such a file reads as amortized; forced as actual cost, it must be refused.)"""
    with AZURE_ACTUAL.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    covered = next(r for r in rows if r["chargeType"] == "Usage" and r["pricingModel"] == "Reservation")
    assert covered["costInBillingCurrency"] == "0"
    covered["costInBillingCurrency"] = "1.00"
    written = tmp_path / "mca_actual_covered_billed.csv"
    with written.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.raises(NormalisationError, match=r"EffectiveCost .*unexplained difference"):
        convert([written], tmp_path / "out.parquet", fmt="azure_cost_details")
    assert list(tmp_path.glob("out*")) == []
    assert list(tmp_path.glob(".out*")) == []
