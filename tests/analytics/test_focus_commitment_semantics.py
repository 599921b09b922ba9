"""Commitment discounts as the FOCUS 1.2 worked examples show them, and our normalisers too.

The examples (FOCUS_Spec v1.2, specification/data) are partial files, so they are read as
they are rather than converted. The rules they illustrate are checked on them, and the same
rules are checked on what the AWS and Azure normalisers produce for commitments.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from analytics.focus.normalise import focus_sql, open_source

EXAMPLES = Path(__file__).parents[1] / "fixtures" / "focus" / "spec_v1.2_examples"
COMMITMENT_EXAMPLES = sorted(
    path
    for path in EXAMPLES.rglob("*.csv")
    if ("commitment" in path.parent.name and "usage" in path.name) or "utilization" in path.name
)
Row = dict[str, object]


def read_example(path: Path) -> list[Row]:
    con = duckdb.connect()
    rel = con.sql(f"SELECT * FROM read_csv('{path}', all_varchar = true, header = true, nullstr = 'null')")
    columns = rel.columns
    rows = [dict(zip(columns, values, strict=True)) for values in rel.fetchall()]
    for row in rows:
        for money in ("BilledCost", "EffectiveCost", "ConsumedQuantity"):
            if row.get(money) is not None:
                row[money] = Decimal(str(row[money]))
    return rows


def check_commitment_rules(rows: list[Row]) -> None:
    for row in rows:
        committed = row.get("CommitmentDiscountId") is not None
        if row["ChargeCategory"] == "Purchase" and committed:
            assert row["EffectiveCost"] == 0, row  # the purchase's cost is amortised into usage
            assert row.get("PricingCategory") != "Committed", row
        elif row["ChargeCategory"] == "Usage" and committed:
            assert row.get("PricingCategory") == "Committed", row
            assert row["BilledCost"] == 0, row  # paid for by the commitment, not billed again
            assert row.get("CommitmentDiscountStatus") in ("Used", "Unused"), row
        elif row["ChargeCategory"] == "Usage":
            assert row["BilledCost"] == row["EffectiveCost"], row


def amortisation_balances(rows: list[Row]) -> dict[object, tuple[Decimal, Decimal]]:
    """Per commitment: effective cost of its usage (used and unused) and billed cost of its fees."""
    sums: dict[object, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for row in rows:
        key = row.get("CommitmentDiscountId")
        if key is None:
            continue
        if row["ChargeCategory"] == "Usage":
            sums[key][0] += row["EffectiveCost"]  # type: ignore[operator]
        elif row["ChargeCategory"] == "Purchase":
            sums[key][1] += row["BilledCost"]  # type: ignore[operator]
    return {k: (v[0], v[1]) for k, v in sums.items()}


@pytest.mark.parametrize("example", COMMITMENT_EXAMPLES, ids=lambda p: p.stem)
def test_the_worked_examples_follow_the_commitment_rules(example: Path) -> None:
    check_commitment_rules(read_example(example))


@pytest.mark.parametrize("example", [p for p in COMMITMENT_EXAMPLES if "utilization" in p.name], ids=lambda p: p.stem)
def test_in_the_worked_examples_used_and_unused_effective_cost_adds_up_to_the_fee(example: Path) -> None:
    for used, billed in amortisation_balances(read_example(example)).values():
        assert used == billed


def normalised(con: duckdb.DuckDBPyConnection, fixture: str) -> list[Row]:
    source = open_source(con, Path(__file__).parents[1] / "fixtures" / fixture)
    rel = con.sql(f"SELECT * FROM ({focus_sql(source, source_id='test')})")
    return [dict(zip(rel.columns, values, strict=True)) for values in rel.fetchall()]


@pytest.mark.parametrize(
    "fixture", ["aws/cur2_commitments_2026-01.csv.gz", "azure/mca_actual_2026-01.csv", "azure/ea_amortized_2026-01.csv"]
)
def test_our_normalisers_follow_the_same_commitment_rules(con: duckdb.DuckDBPyConnection, fixture: str) -> None:
    check_commitment_rules([r for r in normalised(con, fixture) if r.get("ChargeClass") is None])


def test_a_savings_plans_daily_fee_equals_its_used_and_unused_effective_cost(con: duckdb.DuckDBPyConnection) -> None:
    rows = normalised(con, "aws/cur2_commitments_2026-01.csv.gz")
    plan = next(r["CommitmentDiscountId"] for r in rows if r.get("CommitmentDiscountType") == "Savings Plan")
    used, billed = amortisation_balances(rows)[plan]
    assert used == billed == Decimal("1.5")
