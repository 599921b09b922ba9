"""Azure Cost Details' own figures for BilledCost and EffectiveCost, and why FOCUS may differ.

Both metrics are compared with the file's cost column; which of them it equals depends on the
dataset. An actual-cost file's cost is what the invoice bills: BilledCost equals it, and
EffectiveCost differs where a reservation or savings plan is involved (covered usage, billed
0, is priced at its effective price; a commitment purchase is amortised, so its EffectiveCost
is 0). An amortized file's cost is the amortised cost: EffectiveCost equals it, and BilledCost
differs on covered usage and unused-commitment rows (billed 0: the purchase carries the
money), while a purchase's amortised cost, if the file gives one, is not its EffectiveCost.
"""

from __future__ import annotations

from analytics.focus.formats.base import product_sql
from analytics.focus.reconcile import Cause, SourceTotals

COMMITTED_MODELS = "('Reservation', 'SavingsPlan', 'Savings Plan')"
ACTUAL = "the actual cost"
AMORTIZED = "the amortized cost"


ACTUAL_TOTALS = SourceTotals(
    currency="billing_currency",
    figures={"BilledCost": "cost", "EffectiveCost": "cost"},
    causes=(
        Cause(
            code="covered-usage-actual",
            metric="EffectiveCost",
            # billed at 0: a covered line that bills money is not explained, but refused
            condition=f"charge_type = 'Usage' AND pricing_model IN {COMMITTED_MODELS} AND cost = 0",
            amount=product_sql("COALESCE(effective_price, 0)", "COALESCE(quantity, 0)"),
            lines="Usage lines covered by a reservation or savings plan",
            reason="an actual-cost file bills them at 0; FOCUS gives them their effective price times quantity",
            against=ACTUAL,
        ),
        Cause(
            code="commitment-purchase-actual",
            metric="EffectiveCost",
            condition=f"charge_type IN ('Purchase', 'Refund') AND pricing_model IN {COMMITTED_MODELS}",
            amount="-cost",
            lines="reservation or savings-plan purchases and refunds",
            reason="FOCUS amortises a commitment into the usage it covers, so its purchase has EffectiveCost 0",
            against=ACTUAL,
        ),
    ),
)

AMORTIZED_TOTALS = SourceTotals(
    currency="billing_currency",
    figures={"BilledCost": "cost", "EffectiveCost": "cost"},
    causes=(
        Cause(
            code="covered-usage-amortized",
            metric="BilledCost",
            condition=f"charge_type = 'Usage' AND pricing_model IN {COMMITTED_MODELS}",
            amount="-cost",
            lines="Usage lines covered by a reservation or savings plan, at their amortised cost",
            reason="FOCUS bills covered usage at 0: the commitment's purchase carries the money",
            against=AMORTIZED,
        ),
        Cause(
            code="unused-commitment-amortized",
            metric="BilledCost",
            condition=(
                f"charge_type IN ('UnusedReservation', 'UnusedSavingsPlan') AND pricing_model IN {COMMITTED_MODELS}"
            ),
            amount="-cost",
            lines="UnusedReservation or UnusedSavingsPlan lines",
            reason="FOCUS bills unused commitment at 0: the commitment's purchase carries the money",
            against=AMORTIZED,
        ),
        Cause(
            code="commitment-purchase-amortized",
            metric="EffectiveCost",
            condition="charge_type IN ('Purchase', 'Refund') AND benefit_id IS NOT NULL",
            amount="-cost",
            lines="reservation or savings-plan purchases and refunds with a cost",
            reason="FOCUS amortises a commitment into the usage it covers, so its purchase has EffectiveCost 0",
            against=AMORTIZED,
        ),
    ),
)
